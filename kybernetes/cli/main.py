"""The `kybernetes` command: one program, a subcommand per component, flags named as upstream names them."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import Sequence

from kybernetes import __version__

log = logging.getLogger("kybernetes")


def _setup_logging(verbosity: int) -> None:
    level = logging.DEBUG if verbosity >= 4 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname).1s %(name)s] %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _add_apiserver_flags(p: argparse.ArgumentParser) -> None:
    from kybernetes.apiserver.server import DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDR, default_data_dir

    p.add_argument("--data-dir", default=default_data_dir(),
                   help="directory for the database, PKI and kubeconfig (default: %(default)s)")
    p.add_argument("--bind-address", default="0.0.0.0", help="address to serve HTTPS on (default: %(default)s)")
    p.add_argument("--secure-port", type=int, default=6443, help="HTTPS port (default: %(default)s)")
    p.add_argument("--advertise-address", default="",
                   help="address the cluster reaches this apiserver at (default: the primary address)")
    p.add_argument("--service-cluster-ip-range", default=DEFAULT_SERVICE_CIDR,
                   help="CIDR Service ClusterIPs come from (default: %(default)s)")
    p.add_argument("--service-node-port-range", default=DEFAULT_NODE_PORT_RANGE,
                   help="port range NodePorts come from (default: %(default)s)")
    p.add_argument("--datastore-endpoint", default="",
                   help="storage: sqlite:///path/state.db (default: <data-dir>/db/state.db)")
    p.add_argument("--tls-san", action="append", default=[], help="extra name or IP for the serving certificate")
    p.add_argument("-v", "--v", type=int, default=2, help="log verbosity")


async def _serve_apiserver(args: argparse.Namespace, *, banner: bool) -> int:
    from kybernetes.apiserver.server import APIServer, APIServerConfig

    cfg = APIServerConfig(data_dir=os.path.abspath(args.data_dir), bind_address=args.bind_address,
                          secure_port=args.secure_port, advertise_address=args.advertise_address,
                          service_cluster_ip_range=args.service_cluster_ip_range,
                          service_node_port_range=args.service_node_port_range,
                          datastore_endpoint=args.datastore_endpoint, extra_sans=list(args.tls_san))
    os.makedirs(cfg.data_dir, mode=0o700, exist_ok=True)
    server = APIServer(cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    log.info("data dir %s; storage %s", cfg.data_dir, cfg.datastore_endpoint or "sqlite (embedded)")
    log.info("kubeconfig written to %s", server.kubeconfig_path)
    if banner:
        print(f"\nKybernetes {__version__} is serving the Kubernetes API at https://127.0.0.1:{server.port}\n"
              f"Point kubectl at it with:\n\n    export KUBECONFIG={server.kubeconfig_path}\n    kubectl get ns\n",
              file=sys.stderr, flush=True)
    await stop.wait()
    log.info("shutting down")
    await server.stop()
    return 0


def cmd_apiserver(args: argparse.Namespace) -> int:
    return asyncio.run(_serve_apiserver(args, banner=False))


def cmd_server(args: argparse.Namespace) -> int:
    return asyncio.run(_serve_apiserver(args, banner=True))


def cmd_snapshot_save(args: argparse.Namespace) -> int:
    from kybernetes.storage import db_path
    from kybernetes.storage.snapshot import SnapshotError, save_snapshot

    src = db_path(os.path.abspath(args.data_dir))
    if not os.path.exists(src):
        print(f"error: no database at {src}", file=sys.stderr)
        return 1
    try:
        info = save_snapshot(src, args.file)
    except SnapshotError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"Snapshot saved at {args.file} (revision {info.revision}, {info.size} bytes, sha256 {info.sha256})")
    return 0


def cmd_snapshot_restore(args: argparse.Namespace) -> int:
    from kybernetes.storage.snapshot import SnapshotError, restore_snapshot

    try:
        info = restore_snapshot(args.file, os.path.abspath(args.data_dir), force=args.force)
    except (SnapshotError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"Restored {args.file} (revision {info.revision}) into {os.path.abspath(args.data_dir)}; "
          "start the server on this data dir")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from kybernetes.apiserver.server import default_data_dir

    parser = argparse.ArgumentParser(prog="kybernetes", description="Kubernetes, written in Python.")
    parser.add_argument("--version", action="version", version=f"kybernetes {__version__} (Kubernetes v1.32)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("server", help="run a single-node cluster: every control-plane component and a local node",
                       description="Run the apiserver (with embedded SQLite storage) and, as their issues land, "
                                   "the scheduler, controllers, kubelet and proxy of a local node.")
    _add_apiserver_flags(p)
    p.set_defaults(func=cmd_server)

    p = sub.add_parser("apiserver", help="run the Kubernetes API server",
                       description="Serve the Kubernetes REST API over HTTPS with embedded storage.")
    _add_apiserver_flags(p)
    p.set_defaults(func=cmd_apiserver)

    snap = sub.add_parser("snapshot", help="save or restore a snapshot of the cluster's storage")
    ssub = snap.add_subparsers(dest="snapshot_command", metavar="ACTION")
    s = ssub.add_parser("save", help="write a consistent snapshot while the server runs")
    s.add_argument("file")
    s.add_argument("--data-dir", default=default_data_dir())
    s.set_defaults(func=cmd_snapshot_save)
    r = ssub.add_parser("restore", help="restore a snapshot into a data dir (server stopped)")
    r.add_argument("file")
    r.add_argument("--data-dir", default=default_data_dir())
    r.add_argument("--force", action="store_true", help="replace an existing database")
    r.set_defaults(func=cmd_snapshot_restore)
    snap.set_defaults(func=lambda a: (snap.print_help(), 1)[1])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    _setup_logging(getattr(args, "v", 2) or 2)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

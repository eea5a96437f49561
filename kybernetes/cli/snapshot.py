"""`kybernetes snapshot save|restore|ls|delete|prune` (as `k3s etcd-snapshot`), and the scheduled-snapshot flags
of `kybernetes server` and `kybernetes apiserver`."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
from typing import Any

import orjson

from kybernetes.apiserver.snapshots import DEFAULT_CRON, DEFAULT_RETENTION, SnapshotSchedule, key_companions
from kybernetes.storage.snapshot import SnapshotError
from kybernetes.storage.snapshot_dir import ON_DEMAND_PREFIX, SCHEDULED_PREFIX, default_snapshot_dir

# etcd's documented restore advice for Kubernetes (etcdutl snapshot restore --bump-revision --mark-compacted)
DEFAULT_BUMP_REVISION = 1_000_000_000


def _bool(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {value!r}")


# -- flags of the server ------------------------------------------------------------------------------------------

def add_schedule_flags(p: argparse.ArgumentParser) -> None:
    """--snapshot-cron, --snapshot-retention, --snapshot-dir, --snapshot-name, --disable-snapshots."""
    p.add_argument("--snapshot-cron", default=DEFAULT_CRON,
                   help="when to take scheduled snapshots of the datastore: a cron spec, or '@every <duration>' "
                        "such as '@every 30m' (default: %(default)s)")
    p.add_argument("--snapshot-retention", type=int, default=DEFAULT_RETENTION,
                   help="scheduled snapshots to keep; older ones are deleted (0: keep all; default: %(default)s)")
    p.add_argument("--snapshot-dir", default="", help="directory of snapshots (default: <data-dir>/snapshots)")
    p.add_argument("--snapshot-name", default=SCHEDULED_PREFIX,
                   help="name prefix of scheduled snapshots: <name>-<node>-<unix time> (default: %(default)s)")
    p.add_argument("--disable-snapshots", action="store_true", help="take no scheduled snapshots")


def schedule_from_args(args: argparse.Namespace) -> SnapshotSchedule | None:
    """The schedule the flags ask for (None with --disable-snapshots); a bad cron spec stops the start."""
    if args.disable_snapshots:
        return None
    schedule = SnapshotSchedule(cron=args.snapshot_cron, retention=args.snapshot_retention,
                                dir=os.path.abspath(args.snapshot_dir) if args.snapshot_dir else "",
                                name=args.snapshot_name, node_name=getattr(args, "node_name", "") or "")
    try:
        schedule.parsed()
    except ValueError as e:
        raise SystemExit(f"error: --snapshot-cron {args.snapshot_cron!r}: {e}") from e
    return schedule


# -- the snapshot command -------------------------------------------------------------------------------------------

def _directory(args: argparse.Namespace) -> str:
    return os.path.abspath(args.snapshot_dir or default_snapshot_dir(os.path.abspath(args.data_dir)))


def _fail(e: Exception) -> int:
    print(f"error: {e}", file=sys.stderr)
    return 1


def cmd_save(args: argparse.Namespace) -> int:
    """Into FILE (a KYBSNAP1 file, or etcd's own with an etcd datastore), or named into the snapshot dir."""
    from kybernetes.cli.secrets_encrypt import save_keys_beside
    from kybernetes.storage import db_path
    from kybernetes.storage.snapshot import save_etcd_snapshot, save_snapshot
    from kybernetes.storage.snapshot_dir import take_snapshot

    data_dir = os.path.abspath(args.data_dir)
    etcd = args.datastore_endpoint.startswith(("etcd://", "etcds://"))
    try:
        if not args.file:
            record = asyncio.run(take_snapshot(
                data_dir=data_dir, datastore_endpoint=args.datastore_endpoint, directory=_directory(args),
                prefix=args.name, node=args.node_name or socket.gethostname().lower(), scheduled=False))
            path, revision, size, sha = record.path, record.revision, record.size, record.sha256
        elif etcd:
            info = asyncio.run(save_etcd_snapshot(args.datastore_endpoint, args.file))
            path, revision, size, sha = args.file, info.revision, info.size, info.sha256
        else:
            src = db_path(data_dir)
            if not os.path.exists(src):
                return _fail(SnapshotError(f"no database at {src}"))
            info = save_snapshot(src, args.file)
            path, revision, size, sha = args.file, info.revision, info.size, info.sha256
    except (SnapshotError, OSError) as e:
        return _fail(e)
    kind = "etcd snapshot" if etcd else "Snapshot"
    print(f"{kind} saved at {path} (revision {revision}, {size} bytes, sha256 {sha})")
    keys = save_keys_beside(data_dir, path)
    if keys:
        print(f"Encryption keys saved at {keys}: restore needs them; keep them apart from the snapshot")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """A snapshot file, or a snapshot of the snapshot dir by name, into a data dir whose server is stopped."""
    from kybernetes.cli.secrets_encrypt import restore_keys_beside
    from kybernetes.storage.snapshot import restore_snapshot
    from kybernetes.storage.snapshot_dir import read_record, resolve_snapshot

    data_dir = os.path.abspath(args.data_dir)
    try:
        file = resolve_snapshot(_directory(args), args.file)
        record = read_record(os.path.dirname(os.path.abspath(file)), os.path.basename(file))
        if record is not None and record.backend == "etcd":
            raise SnapshotError(f"{file} is etcd's own snapshot: restore it into each etcd member with "
                                "`etcdutl snapshot restore FILE --data-dir DIR --bump-revision 1000000000 "
                                "--mark-compacted`, then start the servers")
        info = restore_snapshot(file, data_dir, force=args.force, bump_revision=args.bump_revision,
                                mark_compacted=args.mark_compacted)
    except (SnapshotError, OSError) as e:
        return _fail(e)
    keys = restore_keys_beside(file, data_dir)
    if keys:
        print(f"Encryption keys restored into {keys}")
    print(f"Restored {file} (revision {info.revision}) into {data_dir}; start the server on this data dir")
    return 0


def _created(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def cmd_ls(args: argparse.Namespace) -> int:
    """Name, location, size and creation time of every snapshot in the snapshot dir, oldest first."""
    from dataclasses import asdict

    from kybernetes.storage.snapshot_dir import list_snapshots

    records = list_snapshots(_directory(args))
    if args.output == "json":
        print(orjson.dumps([asdict(r) for r in records], option=orjson.OPT_INDENT_2).decode())
        return 0
    rows = [("Name", "Location", "Size", "Created")] + [
        (r.name, r.location, str(r.size), _created(r.created)) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3])
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from kybernetes.storage.snapshot_dir import delete_snapshot

    directory = _directory(args)
    for name in args.names:
        try:
            delete_snapshot(directory, name, key_companions())
        except (SnapshotError, OSError) as e:
            return _fail(e)
        print(f"Snapshot {name} deleted")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    """Keep the newest --snapshot-retention snapshots of the schedule named --name on this node."""
    from kybernetes.storage.snapshot_dir import prune_snapshots

    node = args.node_name or socket.gethostname().lower()
    try:
        pruned = prune_snapshots(_directory(args), args.name, node, args.snapshot_retention, key_companions())
    except (SnapshotError, OSError) as e:
        return _fail(e)
    for name in pruned:
        print(f"Snapshot {name} deleted")
    return 0


def _dir_flags(p: argparse.ArgumentParser, default_data_dir: str) -> None:
    p.add_argument("--data-dir", default=default_data_dir, help="the server's data dir (default: %(default)s)")
    p.add_argument("--snapshot-dir", default="", help="directory of snapshots (default: <data-dir>/snapshots)")


def add_parser(sub: Any, default_data_dir: str) -> None:
    """Register `snapshot` and its actions on the top-level subparsers."""
    snap = sub.add_parser("snapshot", help="save, list, restore, delete and prune snapshots of the cluster's storage",
                          description="Snapshots of the datastore, as `k3s etcd-snapshot`: the server takes "
                                      "them on its --snapshot-cron schedule into <data-dir>/snapshots.")
    ssub = snap.add_subparsers(dest="snapshot_command", metavar="ACTION")

    s = ssub.add_parser("save", help="write a consistent snapshot while the server runs",
                        description="Write a consistent snapshot to FILE, or without FILE into the snapshot dir "
                                    "as <name>-<node>-<unix time> (never pruned by the schedule).")
    s.add_argument("file", nargs="?", default="", help="where to write it (default: into the snapshot dir)")
    _dir_flags(s, default_data_dir)
    s.add_argument("--datastore-endpoint", default="", help="an etcd:// datastore: save etcd's own snapshot")
    s.add_argument("--name", default=ON_DEMAND_PREFIX, help="name prefix in the snapshot dir (default: %(default)s)")
    s.add_argument("--node-name", default="", help="node name in the snapshot's name (default: the hostname)")
    s.set_defaults(func=cmd_save)

    r = ssub.add_parser("restore", help="restore a snapshot into a data dir (server stopped)",
                        description="Restore a snapshot file, or a snapshot of the snapshot dir by name, into "
                                    "the data dir. Stop the server first; start it afterwards.")
    r.add_argument("file", help="a snapshot file, or the name of one in the snapshot dir")
    _dir_flags(r, default_data_dir)
    r.add_argument("--force", action="store_true", help="replace an existing database")
    r.add_argument("--bump-revision", type=int, default=DEFAULT_BUMP_REVISION,
                   help="move the store revision this far past the snapshot's, so resourceVersions are never "
                        "reused (default: %(default)s; 0 keeps the snapshot's)")
    r.add_argument("--mark-compacted", type=_bool, nargs="?", const=True, default=True,
                   help="compact at the new revision: clients watching from before the restore relist "
                        "(default: true)")
    r.set_defaults(func=cmd_restore)

    ls = ssub.add_parser("ls", aliases=["list"], help="list the snapshots of the snapshot dir")
    _dir_flags(ls, default_data_dir)
    ls.add_argument("-o", "--output", default="table", choices=["table", "json"])
    ls.set_defaults(func=cmd_ls)

    d = ssub.add_parser("delete", help="delete snapshots of the snapshot dir by name")
    d.add_argument("names", nargs="+", metavar="NAME")
    _dir_flags(d, default_data_dir)
    d.set_defaults(func=cmd_delete)

    p = ssub.add_parser("prune", help="delete the oldest scheduled snapshots beyond a retention count")
    _dir_flags(p, default_data_dir)
    p.add_argument("--snapshot-retention", type=int, default=DEFAULT_RETENTION, help="snapshots kept")
    p.add_argument("--name", default=SCHEDULED_PREFIX, help="the schedule's name prefix (default: %(default)s)")
    p.add_argument("--node-name", default="", help="the node whose snapshots to prune (default: the hostname)")
    p.set_defaults(func=cmd_prune)

    snap.set_defaults(func=lambda a: (snap.print_help(), 1)[1])

"""The `kybernetes` command: one program, a subcommand per component, flags named as upstream names them."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import Callable, Sequence

from kybernetes import __version__
from kybernetes.cli import agent, apiservers, kubelet_auth, secrets_encrypt, serverjoin, snapshot, token, version

log = logging.getLogger("kybernetes")

LOCAL_NODE_CHECK = "kybernetes/local-node-registered"


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
    p.add_argument("--service-cluster-ip-range", default=None,
                   help=f"CIDR Service ClusterIPs come from (default: {DEFAULT_SERVICE_CIDR}; "
                        "127.43.0.0/16 for `server` with the userspace proxy)")
    p.add_argument("--service-node-port-range", default=DEFAULT_NODE_PORT_RANGE,
                   help="port range NodePorts come from (default: %(default)s)")
    p.add_argument("--datastore-endpoint", default="",
                   help="storage: sqlite:///path/state.db (default: <data-dir>/db/state.db)")
    p.add_argument("--tls-san", action="append", default=[], help="extra name or IP for the serving certificate")
    apiservers.add_apiserver_flags(p)
    _add_authentication_flags(p)
    p.add_argument("--authorization-mode", default="Node,RBAC",
                   help="ordered authorizers: Node, RBAC, AlwaysAllow, AlwaysDeny (default: %(default)s)")
    p.add_argument("--enable-admission-plugins", action="append", default=[],
                   help="admission plugins to enable besides the default ones (comma-separated)")
    p.add_argument("--disable-admission-plugins", action="append", default=[],
                   help="admission plugins to disable though on by default (comma-separated)")
    p.add_argument("-v", "--v", type=int, default=2, help="log verbosity")
    _add_security_flags(p)
    snapshot.add_schedule_flags(p)


def _add_security_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--encryption-provider-config", default="",
                   help="EncryptionConfiguration file for encryption at rest (server default: a generated aescbc "
                        "key for secrets in <data-dir>/encryption-config.yaml)")
    p.add_argument("--audit-policy-file", default="", help="audit.k8s.io/v1 Policy file")
    p.add_argument("--audit-log-path", default="", help="file audit events are written to as JSON lines ('-': stdout)")
    p.add_argument("--audit-log-maxsize", type=int, default=0, help="megabytes before the audit log is rotated")
    p.add_argument("--audit-log-maxbackup", type=int, default=0, help="rotated audit logs kept (0: all)")


def _security_config(args: argparse.Namespace, data_dir: str, *, default_encryption: bool) -> dict:
    """Encryption and audit settings, their files checked now so a bad one stops the start with its reason."""
    import yaml

    from kybernetes.apiserver import audit, encryption

    enc = os.path.abspath(args.encryption_provider_config) if args.encryption_provider_config else ""
    policy = os.path.abspath(args.audit_policy_file) if args.audit_policy_file else ""
    try:
        if not enc and default_encryption:
            enc = encryption.ensure_default_config(data_dir)
        if enc:
            encryption.load_config(enc)
        if policy:
            audit.load_policy(policy)
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise SystemExit(f"error: {e}") from e
    return {"encryption_provider_config": enc, "audit_policy_file": policy,
            "audit_log_path": args.audit_log_path if args.audit_log_path in ("", "-")
            else os.path.abspath(args.audit_log_path),
            "audit_log_maxsize": args.audit_log_maxsize, "audit_log_maxbackup": args.audit_log_maxbackup}


def _bool_flag(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {value!r}")


def _add_authentication_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--token-auth-file", default="", help="static tokens: CSV lines token,user,uid[,\"group1,group2\"]")
    p.add_argument("--service-account-issuer", action="append", default=[],
                   help="issuer of service-account tokens (repeatable; the first signs; default: "
                        "https://kubernetes.default.svc.cluster.local)")
    p.add_argument("--service-account-key-file", action="append", default=[],
                   help="PEM public (or private) keys verifying service-account tokens (default: the PKI's)")
    p.add_argument("--service-account-signing-key-file", default="",
                   help="PEM private key signing service-account tokens (default: the PKI's)")
    p.add_argument("--api-audiences", default="", help="comma-separated audiences of the API (default: the issuer)")
    p.add_argument("--anonymous-auth", type=_bool_flag, nargs="?", const=True, default=True,
                   help="serve requests without credentials as system:anonymous (default: true)")


def _authentication_config(args: argparse.Namespace) -> dict:
    return {"token_auth_file": os.path.abspath(args.token_auth_file) if args.token_auth_file else "",
            "service_account_issuer": list(args.service_account_issuer),
            "service_account_key_file": [os.path.abspath(f) for f in args.service_account_key_file],
            "service_account_signing_key_file": os.path.abspath(args.service_account_signing_key_file)
            if args.service_account_signing_key_file else "",
            "api_audiences": [a for a in args.api_audiences.split(",") if a], "anonymous_auth": args.anonymous_auth}


async def _serve_apiserver(args: argparse.Namespace, *, banner: bool) -> int:
    from kybernetes.apiserver.server import DEFAULT_SERVICE_CIDR, APIServer, APIServerConfig

    args.service_cluster_ip_range = args.service_cluster_ip_range or DEFAULT_SERVICE_CIDR
    cfg = APIServerConfig(data_dir=os.path.abspath(args.data_dir), bind_address=args.bind_address,
                          secure_port=args.secure_port, advertise_address=args.advertise_address,
                          service_cluster_ip_range=args.service_cluster_ip_range,
                          service_node_port_range=args.service_node_port_range,
                          datastore_endpoint=args.datastore_endpoint, extra_sans=list(args.tls_san),
                          authorization_mode=args.authorization_mode, **_authentication_config(args),
                          enable_admission_plugins=list(args.enable_admission_plugins),
                          disable_admission_plugins=list(args.disable_admission_plugins))
    for k, v in apiservers.apiserver_config(args).items():
        setattr(cfg, k, v)
    os.makedirs(cfg.data_dir, mode=0o700, exist_ok=True)
    join = await serverjoin.prepare(args, cfg.data_dir) if banner else None  # before the PKI and keys are made
    for k, v in _security_config(args, cfg.data_dir, default_encryption=banner).items():
        setattr(cfg, k, v)
    cfg.snapshot_schedule = snapshot.schedule_from_args(args)
    server = APIServer(cfg)
    if banner and "kubelet" not in set(args.disable):
        # registered before serving: /readyz never passes before the cluster has a node
        server.readiness_checks[LOCAL_NODE_CHECK] = _local_node_readiness(args, server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    from kybernetes.gctune import freeze_startup_objects

    freeze_startup_objects()  # the watch cache's objects: a fifth of the apiserver's CPU went to full collections
    if join is not None:
        await join.publish(encryption_config=cfg.encryption_provider_config, datastore_endpoint=cfg.datastore_endpoint,
                           advertise=f"https://{cfg.advertise_address}:{server.port}")
    log.info("data dir %s; storage %s", cfg.data_dir, cfg.datastore_endpoint or "sqlite (embedded)")
    log.info("kubeconfig written to %s", server.kubeconfig_path)
    supervisor = None
    pins = None
    if banner:
        from kybernetes.cli.routes import RangePins

        # before any component runs: no packet for a service or pod address may leave this machine
        pins = RangePins(cfg.service_cluster_ip_range, args.cluster_cidr, record_dir=cfg.data_dir)
        await pins.pin()
        supervisor = await _start_components(args, server)
        node_check = server.readiness_checks.get(LOCAL_NODE_CHECK)
        if node_check is not None and not await _wait_until(node_check, 60.0):
            log.warning("%s; /readyz fails until it does", node_check()[1])
    if banner:
        print(f"\nKybernetes {__version__} is serving the Kubernetes API at {server.local_url}\n"
              f"Point kubectl at it with:\n\n    export KUBECONFIG={server.kubeconfig_path}\n    kubectl get ns\n",
              file=sys.stderr, flush=True)
    await stop.wait()
    log.info("shutting down")
    if supervisor is not None:
        await supervisor.stop()
    if pins is not None:
        await pins.unpin()
    await server.stop()
    return 0


def _local_node_readiness(args: argparse.Namespace, server) -> Callable[[], tuple[bool, str]]:  # noqa: ANN001
    """A /readyz check that passes once the server's own node has registered: the cluster can run pods."""
    import socket

    node = args.node_name or socket.gethostname().lower()
    key = f"/registry/core/nodes/{node}"

    def registered() -> tuple[bool, str]:
        cache = server.cache.caches.get("/registry/core/nodes/") if server.cache is not None else None
        return (True, "") if cache is not None and key in cache.objects else (False, f"node {node} has not registered")

    return registered


async def _wait_until(check: Callable[[], tuple[bool, str]], timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check()[0] and loop.time() < deadline:
        await asyncio.sleep(0.1)
    return check()[0]


async def _start_components(args: argparse.Namespace, server) -> object:  # noqa: ANN001
    """The all-in-one server's other components, each its own process talking HTTPS to the apiserver."""
    from kybernetes.cli.supervise import Supervisor

    from kybernetes.pki import components

    sup = Supervisor()
    disabled = set(args.disable)
    if "scheduler" not in disabled:
        sup.add("scheduler", ["scheduler", "--kubeconfig", _component_kubeconfig(server, *components.SCHEDULER),
                              *serverjoin.leader_elect_args(args)])
    ca = os.path.join(server.config.data_dir, "pki", "ca.crt")
    if "controller-manager" not in disabled:
        kubeconfig = _component_kubeconfig(server, *components.CONTROLLER_MANAGER)
        await _sync_controller_roles(server, args.use_service_account_credentials)
        sup.add("controller-manager", ["controller-manager", "--kubeconfig", kubeconfig, "--root-ca-file", ca,
                                       *serverjoin.leader_elect_args(args),
                                       "--cluster-cidr", args.cluster_cidr,
                                       f"--use-service-account-credentials={args.use_service_account_credentials}",
                                       "--node-monitor-grace-period", str(args.node_monitor_grace_period),
                                       "--service-account-private-key-file",
                                       args.service_account_signing_key_file or
                                       os.path.join(server.config.data_dir, "pki", "service-account.key")])
    dns_ip = await _start_dns(args, server, sup) if "dns" not in disabled else ""
    if "kubelet" not in disabled:
        sup.add("kubelet", _local_kubelet_args(args, server, "", ca) + (["--cluster-dns", dns_ip] if dns_ip else []))
    if "proxy" not in disabled:
        sup.add("proxy", _local_proxy_args(args, server, _component_kubeconfig(server, *components.PROXY)))
    await sup.start()
    return sup


async def _sync_controller_roles(server, per_controller: bool) -> None:  # noqa: ANN001
    """Without per-controller credentials the controller-manager's identity is bound to every controller role."""
    from kybernetes.client import RESTClient, load_kubeconfig
    from kybernetes.controllers.clientbuilder import sync_root_controller_roles

    try:
        async with RESTClient(load_kubeconfig(server.kubeconfig_path)) as admin:
            await sync_root_controller_roles(admin, grant=not per_controller)
    except Exception:  # noqa: BLE001 - the cluster still starts; the log says what the controllers lack
        log.exception("could not %s the controller roles of system:kube-controller-manager",
                      "remove" if per_controller else "grant")


async def _start_dns(args: argparse.Namespace, server, sup) -> str:  # noqa: ANN001
    """Publish kube-dns and add the `kybernetes dns` child; its ClusterIP for the kubelet ('' on failure)."""
    import socket

    from kybernetes.cli.podnet import dns_needs_gateway, node_gateway, publish_kube_dns_service
    from kybernetes.dns.addon import COREDNS_IDENTITY, cluster_dns_ip
    from kybernetes.dns.cli import prepare_local_dns

    async def start(address: str) -> str:
        try:
            ip, dns_args = await prepare_local_dns(
                admin_kubeconfig=server.kubeconfig_path,
                dns_kubeconfig=_component_kubeconfig(server, *COREDNS_IDENTITY),
                service_cidr=server.config.service_cluster_ip_range, node_ip=address)
        except Exception:  # noqa: BLE001 - the cluster runs without DNS rather than not at all
            log.exception("cluster DNS not started")
            return ""
        sup.add("dns", dns_args)
        return ip

    node_ip = args.node_ip or server.config.advertise_address
    if dns_needs_gateway(args.pod_network, node_ip):
        # pods cannot reach the node's loopback: serve at the node's bridge gateway once the bridge has it
        node = args.node_name or socket.gethostname().lower()

        published = asyncio.Event()  # /readyz waits for it: pods started once the cluster is ready resolve names
        server.readiness_checks["kybernetes/cluster-dns"] = lambda: (
            published.is_set(), "cluster DNS waits for the node's pod network (its bridge gateway)")

        async def on_gateway() -> None:
            try:
                await start(await node_gateway(kubeconfig=server.kubeconfig_path, node_name=node))
            finally:
                published.set()

        ip = cluster_dns_ip(server.config.service_cluster_ip_range)
        try:
            await publish_kube_dns_service(admin_kubeconfig=server.kubeconfig_path, cluster_ip=ip)
        except Exception:  # noqa: BLE001 - the cluster runs without DNS rather than not at all
            log.exception("cluster DNS not published")
            return ""
        sup.spawn(on_gateway())
        return ip
    return await start(node_ip)


def _component_kubeconfig(server, name: str, cn: str, orgs: tuple[str, ...] = ()) -> str:  # noqa: ANN001
    """A kubeconfig for one component's own identity (a client certificate from the cluster CA)."""
    from kybernetes.pki.components import ensure_component_kubeconfig

    return ensure_component_kubeconfig(server.config.data_dir, server.local_url, name, cn, orgs)


def _local_kubelet_args(args: argparse.Namespace, server, kubeconfig: str, ca: str) -> list[str]:  # noqa: ANN001
    """The server's own node: a kubelet with a serving certificate from the cluster CA and, unless a
    kubeconfig is given, its own identity system:node:<name> (group system:nodes)."""
    import socket

    from kybernetes.pki import components
    from kybernetes.pki.components import kubelet_identity
    from kybernetes.pki.kubelet import ensure_kubelet_pki

    node_name = args.node_name or socket.gethostname().lower()
    kubeconfig = kubeconfig or _component_kubeconfig(server, *kubelet_identity(node_name))
    node_ip = args.node_ip or server.config.advertise_address
    crt, key = ensure_kubelet_pki(server.config.data_dir, node_name, [node_ip, "127.0.0.1"], [node_name, "localhost"])
    return ["kubelet", "--kubeconfig", kubeconfig, "--hostname-override", node_name,
            "--root-dir", os.path.join(server.config.data_dir, "kubelet"), "--node-ip", node_ip,
            "--node-labels", "node-role.kubernetes.io/control-plane=", "--port", str(args.kubelet_port),
            "--tls-cert-file", crt, "--tls-private-key-file", key, "--client-ca-file", ca,
            "--pod-network", args.pod_network, "--cluster-cidr", args.cluster_cidr,
            "--service-cidr", server.config.service_cluster_ip_range] + (
            # routes to other nodes' pods need a watch of all Nodes: the node's proxy identity may list them
            ["--network-kubeconfig", _component_kubeconfig(server, *components.PROXY)]
            if args.pod_network == "bridge" else [])


def _choose_server_proxy_mode(args: argparse.Namespace) -> None:
    """`server`: settle the proxy mode, and with userspace ClusterIPs from a loopback range unless one was given."""
    if "proxy" in set(args.disable):
        return
    from kybernetes.proxy.options import LOOPBACK_SERVICE_CIDR, choose_mode

    args.proxy_mode, why = choose_mode(args.proxy_mode)
    log.info("proxy mode %s (%s)", args.proxy_mode, why)
    if args.proxy_mode == "userspace" and not args.service_cluster_ip_range:
        args.service_cluster_ip_range = LOOPBACK_SERVICE_CIDR
        log.info("userspace proxy: ClusterIPs come from the loopback range %s so host processes reach them",
                 LOOPBACK_SERVICE_CIDR)


def _local_proxy_args(args: argparse.Namespace, server, kubeconfig: str) -> list[str]:  # noqa: ANN001
    """The server's own node's proxy, in the mode chosen at startup; it removes its rules when it stops."""
    import socket

    return ["proxy", "--kubeconfig", kubeconfig, "--hostname-override", args.node_name or socket.gethostname().lower(),
            "--proxy-mode", args.proxy_mode, "--cluster-cidr", args.cluster_cidr,
            "--service-cluster-ip-range", server.config.service_cluster_ip_range, "--cleanup-on-exit"]


def cmd_dns(args: argparse.Namespace) -> int:
    from kybernetes.dns.cli import cmd_dns as run

    return run(args)


def cmd_proxy(args: argparse.Namespace) -> int:
    from kybernetes.proxy.app import cleanup_rules, run_proxy
    from kybernetes.proxy.options import ProxyOptions

    opts = ProxyOptions(mode=args.proxy_mode, hostname_override=args.hostname_override,
                        healthz_bind_address=args.healthz_bind_address, metrics_bind_address=args.metrics_bind_address,
                        nodeport_addresses=[c for c in args.nodeport_addresses.split(",") if c],
                        cluster_cidr=args.cluster_cidr, service_cluster_ip_range=args.service_cluster_ip_range,
                        min_sync_period=args.min_sync_period, sync_period=args.sync_period,
                        udp_idle_timeout=args.udp_timeout, cleanup_on_exit=args.cleanup_on_exit)
    if args.cleanup:
        asyncio.run(cleanup_rules(opts))
        return 0
    return asyncio.run(_run_until_signal(lambda stop: run_proxy(kubeconfig=args.kubeconfig, options=opts, stop=stop)))


def cmd_apiserver(args: argparse.Namespace) -> int:
    return asyncio.run(_serve_apiserver(args, banner=False))


def cmd_server(args: argparse.Namespace) -> int:
    from kybernetes.cli.podnet import settle_pod_network

    _choose_server_proxy_mode(args)
    if "kubelet" not in set(args.disable):
        settle_pod_network(args)
    return asyncio.run(_serve_apiserver(args, banner=True))


async def _run_until_signal(run) -> int:  # noqa: ANN001 - a coroutine function taking stop=
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run(stop)
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    from kybernetes.scheduler.app import run_scheduler

    return asyncio.run(_run_until_signal(lambda stop: run_scheduler(
        kubeconfig=args.kubeconfig, config_file=args.config or None, leader_elect=args.leader_elect,
        metrics_port=args.secure_port, stop=stop)))


def cmd_controller_manager(args: argparse.Namespace) -> int:
    from kybernetes.controllers.context import ControllerOptions
    from kybernetes.controllers.manager import run_controller_manager

    opts = ControllerOptions(cluster_cidr=args.cluster_cidr, node_monitor_grace_period=args.node_monitor_grace_period,
                             root_ca_file=args.root_ca_file, allocate_node_cidrs=args.allocate_node_cidrs,
                             extra={"service_account_private_key_file": args.service_account_private_key_file,
                                    "cluster_signing_cert_file": args.cluster_signing_cert_file,
                                    "cluster_signing_key_file": args.cluster_signing_key_file,
                                    "cluster_signing_duration": args.cluster_signing_duration})
    controllers = [c for c in args.controllers.split(",") if c] if args.controllers else None
    return asyncio.run(_run_until_signal(lambda stop: run_controller_manager(
        kubeconfig=args.kubeconfig, controllers=controllers, leader_elect=args.leader_elect, options=opts,
        metrics_port=args.secure_port, stop=stop,
        use_service_account_credentials=args.use_service_account_credentials)))


def _non_negative(value: str) -> float:
    number = float(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return number


def _key_values(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        for pair in item.split(","):
            if pair:
                k, _, v = pair.partition("=")
                out[k] = v
    return out


def cmd_kubelet(args: argparse.Namespace) -> int:
    from kybernetes.kubelet.kubelet import run_kubelet
    from kybernetes.kubelet.options import KubeletOptions

    opts = KubeletOptions(tls_cert_file=args.tls_cert_file, tls_private_key_file=args.tls_private_key_file,
                          client_ca_file=args.client_ca_file, server_address=args.address,
                          pod_network=args.pod_network, cluster_cidr=args.cluster_cidr, service_cidr=args.service_cidr,
                          network_kubeconfig=args.network_kubeconfig,
                          node_status_update_frequency=args.node_status_update_frequency,
                          node_lease_duration_seconds=args.node_lease_duration_seconds,
                          node_lease_renew_interval=args.node_lease_duration_seconds / 4,
                          event_record_qps=args.event_qps, event_burst=args.event_burst)
    for k, v in kubelet_auth.options_from(args).items():
        setattr(opts, k, v)
    if args.cluster_dns:
        opts.cluster_dns = [d for d in args.cluster_dns.split(",") if d]
    return asyncio.run(_run_until_signal(lambda stop: run_kubelet(
        kubeconfig=args.kubeconfig, node_name=args.hostname_override, root_dir=os.path.abspath(args.root_dir),
        pod_manifest_path=args.pod_manifest_path, kube_reserved=_key_values(args.kube_reserved) or None,
        system_reserved=_key_values(args.system_reserved) or None, node_labels=_key_values(args.node_labels) or None,
        node_ip=args.node_ip, server_port=args.port, stop=stop, options=opts)))


def cmd_killall(args: argparse.Namespace) -> int:
    from kybernetes.cli.killall import stop_all_containers

    runtime_dir = os.path.join(os.path.abspath(args.data_dir), "kubelet", "runtime")
    n = asyncio.run(stop_all_containers(runtime_dir))
    print(f"stopped {n} running container(s) under {runtime_dir}")
    return 0


def _add_pod_network_flag(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--pod-network", default=default, choices=["bridge", "host", "auto"],
                   help="pods' network: bridge (a namespace, veth and address from the node's podCIDR per pod; "
                        "Linux as root), host (the node's network), auto (bridge where it works, host elsewhere)")


def build_parser() -> argparse.ArgumentParser:
    from kybernetes.apiserver.server import default_data_dir
    parser = argparse.ArgumentParser(prog="kybernetes", description="Kubernetes, written in Python.")
    parser.add_argument("--version", action="version", version=version.version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("server", help="run a single-node cluster: every control-plane component and a local node",
                       description="Run the apiserver (with embedded SQLite storage), the scheduler, the "
                                   "controller-manager and a kubelet for this machine, each as its own process.")
    _add_apiserver_flags(p)
    p.add_argument("--disable", action="append", default=[], choices=["scheduler", "controller-manager", "kubelet", "proxy", "dns"],
                   help="do not start this component (repeatable)")
    p.add_argument("--node-name", default="", help="name of the server's own node (default: the hostname)")
    p.add_argument("--node-ip", default="", help="InternalIP of the server's node (default: the advertise address)")
    p.add_argument("--kubelet-port", type=int, default=10250, help="port of the local kubelet's HTTPS server")
    p.add_argument("--node-monitor-grace-period", type=float, default=40.0,
                   help="passed to the controller-manager: seconds without a node heartbeat before NotReady")
    p.add_argument("--use-service-account-credentials", type=_bool_flag, nargs="?", const=True, default=True,
                   help="passed to the controller-manager: each controller as its own kube-system ServiceAccount "
                        "(default: true)")
    p.add_argument("--proxy-mode", default="", choices=["", "userspace", "nftables"],
                   help="mode of the local proxy (default: nftables as root with nft, else userspace)")
    p.add_argument("--cluster-cidr", default="198.18.0.0/16", help="the pod CIDR (the proxy masquerades others)")
    _add_pod_network_flag(p, default="auto")
    serverjoin.add_flags(p)
    p.set_defaults(func=cmd_server)

    p = sub.add_parser("apiserver", help="run the Kubernetes API server",
                       description="Serve the Kubernetes REST API over HTTPS with embedded storage.")
    _add_apiserver_flags(p)
    p.set_defaults(func=cmd_apiserver)

    p = sub.add_parser("scheduler", help="run the scheduler: bind pending pods to nodes",
                       description="Watch pending pods and bind each to the most suitable node.")
    p.add_argument("--kubeconfig", required=True, help="kubeconfig of the apiserver to schedule for")
    p.add_argument("--config", default="", help="a KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) file")
    p.add_argument("--leader-elect", action="store_true", help="act only while holding the kube-scheduler Lease")
    p.add_argument("--secure-port", type=int, default=0, help="port of /healthz and /metrics (0: none)")
    p.add_argument("-v", "--v", type=int, default=2, help="log verbosity")
    p.set_defaults(func=cmd_scheduler)

    p = sub.add_parser("controller-manager", help="run the controllers that drive observed state to desired",
                       description="Run the control loops: replicas, rollouts, garbage collection, namespaces, "
                                   "nodes, endpoints, service accounts.")
    p.add_argument("--kubeconfig", required=True, help="kubeconfig of the apiserver")
    p.add_argument("--controllers", default="", help="comma-separated controllers: '*' all, 'name', '-name'")
    p.add_argument("--leader-elect", action="store_true", help="act only while holding the controller Lease")
    p.add_argument("--cluster-cidr", default="198.18.0.0/16", help="the pod CIDR nodes get /24s from")
    p.add_argument("--allocate-node-cidrs", action="store_true", default=True)
    p.add_argument("--node-monitor-grace-period", type=float, default=40.0,
                   help="seconds without a node heartbeat before it is marked NotReady/Unknown")
    p.add_argument("--root-ca-file", default="", help="CA published as the kube-root-ca.crt ConfigMap")
    p.add_argument("--service-account-private-key-file", default="",
                   help="PEM private key signing the tokens of service-account-token Secrets")
    p.add_argument("--cluster-signing-cert-file", default="",
                   help="CA certificate csrsigning issues kubernetes.io/* certificates with (default: --root-ca-file)")
    p.add_argument("--cluster-signing-key-file", default="",
                   help="its private key (default: the .key file beside the certificate)")
    p.add_argument("--cluster-signing-duration", type=float, default=365 * 24 * 3600.0,
                   help="seconds the certificates csrsigning issues are valid at most (default: one year)")
    p.add_argument("--use-service-account-credentials", type=_bool_flag, nargs="?", const=True, default=False,
                   help="run each controller as its own kube-system ServiceAccount, with a token from the "
                        "TokenRequest API (default: false, as upstream; `server` turns it on)")
    p.add_argument("--secure-port", type=int, default=0, help="port of /healthz and /metrics (0: none)")
    p.add_argument("-v", "--v", type=int, default=2, help="log verbosity")
    p.set_defaults(func=cmd_controller_manager)

    p = sub.add_parser("kubelet", help="run the node agent: register the node and run its pods",
                       description="Register this machine as a Node and run the pods bound to it through the "
                                   "process container runtime.")
    p.add_argument("--kubeconfig", required=True, help="kubeconfig of the apiserver")
    p.add_argument("--hostname-override", default="", help="the Node's name (default: the hostname)")
    p.add_argument("--root-dir", default=os.path.join(default_data_dir(), "kubelet"),
                   help="directory for pod volumes, logs and the runtime's state")
    p.add_argument("--node-ip", default="", help="the Node's InternalIP (default: the primary address)")
    p.add_argument("--node-labels", action="append", default=[], help="key=value[,key=value] labels to register with")
    p.add_argument("--kube-reserved", action="append", default=[], help="cpu=100m,memory=256Mi held back for system daemons")
    p.add_argument("--system-reserved", action="append", default=[], help="cpu=...,memory=... held back for the OS")
    p.add_argument("--pod-manifest-path", default="", help="directory of static pod manifests")
    p.add_argument("--cluster-dns", default="", help="comma-separated DNS server IPs for pods")
    p.add_argument("--address", default="0.0.0.0", help="address the kubelet server listens on")
    p.add_argument("--port", type=int, default=10250, help="port of the kubelet's HTTPS server")
    p.add_argument("--tls-cert-file", default="", help="serving certificate of the kubelet server")
    p.add_argument("--tls-private-key-file", default="", help="its key")
    p.add_argument("--client-ca-file", default="", help="CA that signs the certificates of clients (the apiserver)")
    kubelet_auth.add_flags(p)
    _add_pod_network_flag(p, default="auto")
    p.add_argument("--cluster-cidr", default="198.18.0.0/16", help="the pod CIDR (traffic leaving it is masqueraded)")
    p.add_argument("--service-cidr", default="198.19.0.0/16", help="the service CIDR (not masqueraded)")
    p.add_argument("--network-kubeconfig", default="",
                   help="kubeconfig of an identity that may list/watch Nodes (e.g. the node's kube-proxy): with it "
                        "the bridge network routes to other nodes' podCIDRs (host-gw)")
    p.add_argument("--node-status-update-frequency", type=float, default=10.0,
                   help="seconds between computations of the node's status (default: %(default)s)")
    p.add_argument("--node-lease-duration-seconds", type=int, default=40,
                   help="the node Lease's duration; renewed every quarter of it, as upstream (default: %(default)s)")
    p.add_argument("--event-qps", type=_non_negative, default=50.0,
                   help="events written a second once --event-burst is used up; 0: no limit (default: %(default)s)")
    p.add_argument("--event-burst", type=int, default=100,
                   help="events written at once before --event-qps applies (default: %(default)s)")
    p.add_argument("-v", "--v", type=int, default=2, help="log verbosity")
    p.set_defaults(func=cmd_kubelet)

    p = sub.add_parser("proxy", help="run the service proxy: route Service traffic to ready endpoints",
                       description="Watch Services and EndpointSlices and route ClusterIP, NodePort and "
                                   "LoadBalancer traffic to ready endpoints (userspace forwarders or nftables).")
    p.add_argument("--kubeconfig", default="", help="kubeconfig of the apiserver")
    p.add_argument("--proxy-mode", default="", choices=["", "userspace", "nftables"],
                   help="userspace or nftables (default: nftables as root with nft, else userspace)")
    p.add_argument("--hostname-override", default="", help="this node's name (default: the hostname)")
    p.add_argument("--healthz-bind-address", default="0.0.0.0:10256", help="ip:port of /healthz ('' to disable)")
    p.add_argument("--metrics-bind-address", default="127.0.0.1:10249", help="ip:port of /metrics ('' to disable)")
    p.add_argument("--nodeport-addresses", default="",
                   help="comma-separated CIDRs (or 'primary') whose local addresses serve NodePorts")
    p.add_argument("--cluster-cidr", default="", help="the pod CIDR: traffic from outside it to ClusterIPs is "
                                                      "masqueraded (nftables)")
    p.add_argument("--service-cluster-ip-range", default="",
                   help="the Service CIDR, pinned by a local route in nftables mode")
    p.add_argument("--min-sync-period", type=float, default=1.0, help="seconds between syncs, at least")
    p.add_argument("--sync-period", type=float, default=30.0, help="seconds between syncs, at most")
    p.add_argument("--udp-timeout", type=float, default=30.0, help="idle seconds before a userspace UDP flow closes")
    p.add_argument("--cleanup-on-exit", action="store_true", help="remove the nftables table and route on exit")
    p.add_argument("--cleanup", action="store_true", help="remove the nftables table and route, then exit")
    p.add_argument("-v", "--v", type=int, default=2, help="log verbosity")
    p.set_defaults(func=cmd_proxy)

    from kybernetes.dns.cli import add_dns_flags

    p = sub.add_parser("dns", help="run the cluster DNS: Service and pod names as CoreDNS's kubernetes plugin",
                       description="Answer DNS queries for the cluster domain from Services, EndpointSlices and "
                                   "Pods over UDP and TCP; forward other names to upstream resolvers.")
    add_dns_flags(p)
    p.set_defaults(func=cmd_dns)

    p = sub.add_parser("killall", help="stop every container the server's node left running",
                       description="Pods' containers outlive restarts of the server (the kubelet adopts them); "
                                   "run this after stopping the server to stop them all.")
    p.add_argument("--data-dir", default=default_data_dir())
    p.set_defaults(func=cmd_killall)

    snapshot.add_parser(sub, default_data_dir())
    version.add_parser(sub)

    secrets_encrypt.add_parser(sub, default_data_dir())
    agent.add_parser(sub, default_data_dir())
    token.add_parser(sub, default_data_dir())
    apiservers.add_client_flags(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    apiservers.apply_client_flags(args)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    _setup_logging(getattr(args, "v", 2) or 2)
    if getattr(args, "v", None) is not None:  # a long-running component
        from kybernetes.version import log_version

        log_version(args.command, log)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

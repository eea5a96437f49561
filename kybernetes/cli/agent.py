"""`kybernetes agent --server URL --token T`: join this machine to a cluster as a worker node.

Discovery and TLS bootstrap as kubeadm's join and the kubelet's: the CA is learnt from the signed cluster-info
ConfigMap (pinned by --ca-cert-hash), the bootstrap token is used only to submit the kubelet's client
CertificateSigningRequest, and everything after that authenticates with issued certificates: the kubelet's
client (system:node:<name>) and serving certificates and kube-proxy's client certificate (system:kube-proxy).
Each is rotated at 70-90% of its lifetime; the component using it is restarted to pick it up. Then a kubelet
and a proxy run as child processes, as `kybernetes server` runs its own.

High availability (k3s's agent load balancer, in the clients): `--server` may be given several times, and the
agent learns the live apiservers from the `kubernetes` Endpoints (kybernetes.agent.apiservers). Its own clients
fail over between them, and its kubelet and proxy get them all as `--server` flags plus `--discover-servers`,
so losing the apiserver the node joined through does not lose the node.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kybernetes.agent.apiservers import KUBERNETES_ENDPOINTS, APIServers, child_server_flags
from kybernetes.cli.supervise import Supervisor
from kybernetes.client import ApiError, ClientConfig, RESTClient, resource_path
from kybernetes.kubelet.certificate.bootstrap import write_kubeconfig
from kybernetes.kubelet.certificate.csr import Request, Template
from kybernetes.kubelet.certificate.manager import CertificateManager
from kybernetes.kubelet.certificate.store import FileStore, KeyPair
from kybernetes.pki import csr as csrs
from kybernetes.pki.ca import ca_cert_hash, key_to_pem
from kybernetes.pki.files import read_or_none, write_public

log = logging.getLogger("kybernetes.agent")

KUBE_PROXY_USER = "system:kube-proxy"
DISCOVERY_REQUEST_TIMEOUT = 10.0

ArgsFor = Callable[[list[str]], list[str]]  # a child's command line for an order of the apiservers
DEFAULT_SERVICE_CIDR = "198.19.0.0/16"


@dataclass
class AgentConfig:
    """The agent's flags, resolved."""

    server: str  # the first --server: the one a first join discovers the cluster through
    token: str
    data_dir: str
    node_name: str
    node_ip: str
    ca_cert_hashes: list[str] = field(default_factory=list)
    kubelet_port: int = 10250
    node_labels: list[str] = field(default_factory=list)
    disable: set[str] = field(default_factory=set)
    proxy_mode: str = ""
    pod_network: str = "host"
    cluster_cidr: str = "198.18.0.0/16"
    service_cidr: str = DEFAULT_SERVICE_CIDR
    cluster_dns: str = ""
    discovery_timeout: float = 300.0
    certificate_timeout: float = 900.0
    servers: list[str] = field(default_factory=list)  # further --server apiservers

    def apiservers(self) -> list[str]:
        """Every --server, the first first."""
        return list(dict.fromkeys([self.server, *self.servers]))

    @property
    def pki_dir(self) -> str:
        return os.path.join(self.data_dir, "pki")

    @property
    def ca_file(self) -> str:
        return os.path.join(self.pki_dir, "ca.crt")

    @property
    def kubelet_kubeconfig(self) -> str:
        return os.path.join(self.data_dir, "kubelet.kubeconfig")

    @property
    def proxy_kubeconfig(self) -> str:
        return os.path.join(self.data_dir, "kube-proxy.kubeconfig")

    @property
    def needs_proxy_identity(self) -> bool:
        """kube-proxy's credential: for the proxy, and for the bridge network's watch of all Nodes (host-gw)."""
        return "proxy" not in self.disable or ("kubelet" not in self.disable and self.pod_network != "host")


class JoinError(Exception):
    """The agent cannot join: no trusted CA, no usable credential and no token, a CA that is not pinned."""


async def trusted_ca(cfg: AgentConfig) -> bytes:
    """The cluster CA: the one saved at an earlier join (checked against the pins), else token discovery."""
    saved = read_or_none(cfg.ca_file)
    if saved is not None:
        if cfg.ca_cert_hashes and ca_cert_hash(saved) not in [h.lower() for h in cfg.ca_cert_hashes]:
            raise JoinError(f"the CA saved in {cfg.ca_file} ({ca_cert_hash(saved)}) is not among --ca-cert-hash")
        return saved
    if not cfg.token:
        raise JoinError("this node has not joined yet: --token is required")
    from kybernetes.clusterbootstrap.discovery import discover

    info = await discover(cfg.server, cfg.token, cfg.ca_cert_hashes, timeout=cfg.discovery_timeout)
    write_public(cfg.ca_file, info.ca_pem)
    log.info("cluster CA %s trusted (cluster-info of %s)", ca_cert_hash(info.ca_pem), cfg.server)
    return info.ca_pem


class NodeCredentials:
    """The node's three certificate managers and the clients they request through (over every known apiserver)."""

    def __init__(self, cfg: AgentConfig, ca_pem: bytes, servers: APIServers | None = None) -> None:
        self.cfg = cfg
        self.ca_pem = ca_pem
        self.servers = servers or APIServers(cfg.apiservers())
        node_user = csrs.NODE_USER_PREFIX + cfg.node_name
        client_usages = (csrs.USAGE_DIGITAL_SIGNATURE, csrs.USAGE_CLIENT_AUTH)
        self.kubelet_client = CertificateManager(
            name="kubelet-client", store=FileStore(cfg.pki_dir, "kubelet-client"), ca_pem=ca_pem,
            request=Request(Template(node_user, (csrs.NODES_GROUP,)), csrs.KUBE_APISERVER_CLIENT_KUBELET,
                            client_usages, name_prefix="node-csr-"),
            client_for=self._client_for_kubelet_client, request_timeout=cfg.certificate_timeout)
        self.kubelet_serving = CertificateManager(
            name="kubelet-serving", store=FileStore(cfg.pki_dir, "kubelet-server"), ca_pem=ca_pem,
            request=Request(Template(node_user, (csrs.NODES_GROUP,), (cfg.node_name,), (cfg.node_ip,)),
                            csrs.KUBELET_SERVING, (csrs.USAGE_DIGITAL_SIGNATURE, csrs.USAGE_SERVER_AUTH)),
            client_for=self.node_client, request_timeout=cfg.certificate_timeout)
        self.proxy_client = CertificateManager(
            name="kube-proxy-client", store=FileStore(cfg.pki_dir, "kube-proxy-client"), ca_pem=ca_pem,
            request=Request(Template(KUBE_PROXY_USER), csrs.KUBE_APISERVER_CLIENT, client_usages),
            client_for=self.node_client, request_timeout=cfg.certificate_timeout)

    def managers(self) -> list[CertificateManager]:
        out = [self.kubelet_client]
        if "kubelet" not in self.cfg.disable:
            out.append(self.kubelet_serving)
        if self.cfg.needs_proxy_identity:
            out.append(self.proxy_client)
        return out

    async def _client_for_kubelet_client(self) -> RESTClient:
        """Renewal as the node itself (selfnodeclient); the bootstrap token only while there is no usable cert."""
        if self.kubelet_client.usable():
            return await self.node_client()
        if not self.cfg.token:
            raise JoinError("no usable kubelet client certificate and no --token to bootstrap one")
        return RESTClient(self.servers.client_config(ca_data=self.ca_pem, token=self.cfg.token,
                                                     user_agent="kybernetes-agent/bootstrap"))

    def node_config(self, server: str | None = None) -> ClientConfig:
        """The node's credential (its kubelet client certificate) on every known apiserver, or on `server` only."""
        pair: KeyPair | None = self.kubelet_client.current
        if pair is None:
            raise JoinError("no kubelet client certificate yet")
        fields = {"ca_data": self.ca_pem, "cert_data": pair.cert_pem, "key_data": key_to_pem(pair.key),
                  "user_agent": "kybernetes-agent"}
        return ClientConfig(server=server, **fields) if server else self.servers.client_config(**fields)

    async def node_client(self) -> RESTClient:
        return RESTClient(self.node_config())

    async def kubernetes_endpoints(self, server: str) -> dict[str, Any]:
        """The `kubernetes` Endpoints read from one apiserver (a node may get endpoints, as upstream's system:node)."""
        async with RESTClient(self.node_config(server), timeout=DISCOVERY_REQUEST_TIMEOUT) as client:
            return await client.get(KUBERNETES_ENDPOINTS)

    async def ensure(self) -> None:
        """Every certificate usable, the client one first (the others are requested with it)."""
        for m in self.managers():
            await m.ensure()
        write_kubeconfig(self.cfg.kubelet_kubeconfig, server=self.cfg.server, ca_pem=self.ca_pem,
                         cert_file=self.kubelet_client.store.current_path, user=csrs.NODE_USER_PREFIX +
                         self.cfg.node_name)
        if self.cfg.needs_proxy_identity:
            write_kubeconfig(self.cfg.proxy_kubeconfig, server=self.cfg.server, ca_pem=self.ca_pem,
                             cert_file=self.proxy_client.store.current_path, user=KUBE_PROXY_USER)


async def cluster_dns_ip(creds: NodeCredentials) -> str:
    """The ClusterIP of kube-system/kube-dns, '' when the cluster has no DNS."""
    try:
        async with await creds.node_client() as client:
            svc = await client.get(resource_path("", "v1", "services", "kube-system", "kube-dns"))
    except (ApiError, OSError) as e:
        log.info("no cluster DNS found (%s)", e)
        return ""
    ip = (svc.get("spec") or {}).get("clusterIP") or ""
    return "" if ip == "None" else ip


def kubelet_args(cfg: AgentConfig, serving_file: str, cluster_dns: str,
                 servers: list[str] | None = None) -> list[str]:
    """The node's kubelet, as `kybernetes server` starts its own (kybernetes.cli.main._local_kubelet_args)."""
    args = ["kubelet", "--kubeconfig", cfg.kubelet_kubeconfig, "--hostname-override", cfg.node_name,
            "--root-dir", os.path.join(cfg.data_dir, "kubelet"), "--node-ip", cfg.node_ip,
            "--port", str(cfg.kubelet_port), "--tls-cert-file", serving_file, "--tls-private-key-file", serving_file,
            "--client-ca-file", cfg.ca_file, "--pod-network", cfg.pod_network, "--cluster-cidr", cfg.cluster_cidr,
            "--service-cidr", cfg.service_cidr]
    if cfg.pod_network != "host":
        # routes to the other nodes' pods (host-gw) come from a watch of all Nodes, which the node's own identity
        # may not make (Node authorizer): kube-proxy's credential may
        args += ["--network-kubeconfig", cfg.proxy_kubeconfig]
    for labels in cfg.node_labels:
        args += ["--node-labels", labels]
    if cluster_dns:
        args += ["--cluster-dns", cluster_dns]
    return args + child_server_flags(servers or cfg.apiservers())


def proxy_args(cfg: AgentConfig, servers: list[str] | None = None) -> list[str]:
    """The node's proxy, as `kybernetes server` starts its own (kybernetes.cli.main._local_proxy_args)."""
    return ["proxy", "--kubeconfig", cfg.proxy_kubeconfig, "--hostname-override", cfg.node_name,
            "--proxy-mode", cfg.proxy_mode, "--cluster-cidr", cfg.cluster_cidr,
            "--service-cluster-ip-range", cfg.service_cidr,
            "--cleanup-on-exit"] + child_server_flags(servers or cfg.apiservers())


async def run_agent(cfg: AgentConfig, stop: asyncio.Event) -> None:
    """Join, start the kubelet and the proxy, keep the certificates rotated until `stop`."""
    from kybernetes.cli.routes import RangePins

    os.makedirs(cfg.pki_dir, mode=0o700, exist_ok=True)
    ca_pem = await trusted_ca(cfg)
    servers = APIServers(cfg.apiservers())
    creds = NodeCredentials(cfg, ca_pem, servers)
    await creds.ensure()
    try:  # the children start knowing every live apiserver, not just the one(s) given
        await servers.refresh(creds.kubernetes_endpoints)
    except Exception as e:  # noqa: BLE001 - the children discover them themselves too
        log.warning("reading the kubernetes endpoints: %s", e)
    log.info("node %s has its certificates; starting its components (apiservers %s)", cfg.node_name,
             ", ".join(servers.ordered()))
    pins = RangePins(cfg.service_cidr, cfg.cluster_cidr, record_dir=cfg.data_dir)
    if cfg.pod_network != "host" and "kubelet" not in cfg.disable:
        await pins.pin()  # as the server does: no packet for a pod or service address that does not exist leaves
    sup = Supervisor()
    children: dict[str, ArgsFor] = {}  # each child's command line for an apiserver order
    if "kubelet" not in cfg.disable:
        dns = cfg.cluster_dns or await cluster_dns_ip(creds)
        serving = creds.kubelet_serving.store.current_path
        children["kubelet"] = lambda order: kubelet_args(cfg, serving, dns, order)
    if "proxy" not in cfg.disable:
        children["proxy"] = lambda order: proxy_args(cfg, order)
    for name, args_for in children.items():
        sup.add(name, args_for(servers.ordered()))
    servers.on_change = lambda order: follow_servers(sup, children, order)
    await sup.start()

    def restarter(*components: str) -> Any:
        async def on_rotated(_: KeyPair) -> None:
            for component in components:
                sup.restart(component)
        return on_rotated

    creds.kubelet_client.on_rotated = restarter("kubelet")
    creds.kubelet_serving.on_rotated = restarter("kubelet")
    # kube-proxy's credential also serves the kubelet's watch of Nodes (--network-kubeconfig)
    creds.proxy_client.on_rotated = restarter("proxy", *(["kubelet"] if cfg.pod_network != "host" else []))
    rotations = [asyncio.create_task(m.run(), name=f"rotate {m.name}") for m in creds.managers()]
    rotations.append(asyncio.create_task(servers.refresh_forever(creds.kubernetes_endpoints), name="apiservers"))
    print(f"\nKybernetes agent: node {cfg.node_name} joined {cfg.server} "
          f"(apiservers: {', '.join(servers.ordered())})\n", file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        for t in rotations:
            t.cancel()
        await asyncio.gather(*rotations, return_exceptions=True)
        await sup.stop()
        await pins.unpin()


def follow_servers(sup: Supervisor, children: dict[str, ArgsFor], order: list[str]) -> None:
    """Give the children's next (re)start the current apiserver order (running ones fail over by themselves)."""
    for c in sup.components:
        if c.name in children:
            c.args = children[c.name](order)


def address_toward(server: str) -> str:
    """This machine's source address toward the apiserver (a UDP connect sends nothing): the address the
    control plane and the other nodes reach this node at; '' when the server's host does not resolve or route."""
    url = urlsplit(server)
    try:
        infos = socket.getaddrinfo(url.hostname or "", url.port or 6443, socket.AF_INET, socket.SOCK_DGRAM)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(infos[0][4])
            return s.getsockname()[0]
    except (OSError, IndexError):
        return ""


def default_node_ip(server: str) -> str:
    """--node-ip's default: the address toward the server, else the primary address (kubelet's default)."""
    from kybernetes.kubelet.nodestatus import primary_ip

    return address_toward(server) or primary_ip()


def config_from_args(args: argparse.Namespace) -> AgentConfig:
    proxy_mode = args.proxy_mode
    if "proxy" not in set(args.disable):
        from kybernetes.proxy.options import choose_mode

        proxy_mode, why = choose_mode(args.proxy_mode)
        log.info("proxy mode %s (%s)", proxy_mode, why)
    servers = list(dict.fromkeys(s.strip().rstrip("/") for item in args.server for s in item.split(",")
                                 if s.strip()))
    if not servers:
        raise SystemExit("error: --server is required")
    return AgentConfig(server=servers[0], servers=servers[1:], token=args.token,
                       data_dir=os.path.abspath(args.data_dir),
                       node_name=(args.node_name or socket.gethostname()).lower(),
                       node_ip=args.node_ip or default_node_ip(servers[0]), ca_cert_hashes=list(args.ca_cert_hash),
                       kubelet_port=args.kubelet_port, node_labels=list(args.node_labels), disable=set(args.disable),
                       proxy_mode=proxy_mode, pod_network=args.pod_network, cluster_cidr=args.cluster_cidr,
                       service_cidr=args.service_cidr, cluster_dns=args.cluster_dns,
                       discovery_timeout=args.discovery_timeout)


def cmd_agent(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_agent(cfg, stop)
        return 0

    try:
        return asyncio.run(main())
    except JoinError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - discovery and CSR failures end the agent with their reason
        from kybernetes.clusterbootstrap.discovery import DiscoveryError
        from kybernetes.kubelet.certificate.csr import CertificateRequestError

        if isinstance(e, (DiscoveryError, CertificateRequestError)):
            print(f"error: {e}", file=sys.stderr)
            return 1
        raise


def add_parser(sub: Any, default_data_dir: str) -> None:
    p = sub.add_parser("agent", help="join this machine to a cluster as a worker node (kubelet + proxy)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True, action="append", default=[], metavar="URL",
                   help="an apiserver of the cluster: https://HOST:6443 (repeatable or comma-separated; the first "
                        "is the one a first join discovers the cluster through; the others, and the live "
                        "apiservers of the kubernetes endpoints, are failed over to)")
    p.add_argument("--token", default=os.environ.get("KYBERNETES_TOKEN", ""),
                   help="bootstrap token from `kybernetes token create` (env KYBERNETES_TOKEN; not needed once "
                        "joined)")
    p.add_argument("--ca-cert-hash", action="append", default=[],
                   help="sha256:<hex> of the cluster CA's public key, as printed by `token create` (repeatable; "
                        "without it the CA is trusted on the token's signature alone)")
    p.add_argument("--data-dir", default=os.path.join(default_data_dir, "agent"),
                   help="directory for certificates, kubeconfigs and the kubelet's state (default: %(default)s)")
    p.add_argument("--node-name", default="", help="the Node's name (default: the hostname)")
    p.add_argument("--node-ip", default="",
                   help="the Node's InternalIP (default: this machine's address toward --server)")
    p.add_argument("--node-labels", action="append", default=[], help="key=value[,key=value] labels to register with")
    p.add_argument("--kubelet-port", type=int, default=10250, help="port of the kubelet's HTTPS server")
    p.add_argument("--disable", action="append", default=[], choices=["kubelet", "proxy"],
                   help="do not start this component (repeatable)")
    p.add_argument("--proxy-mode", default="", choices=["", "userspace", "nftables"],
                   help="mode of the proxy (default: nftables as root with nft, else userspace)")
    p.add_argument("--pod-network", default="host", choices=["bridge", "host", "auto"],
                   help="pods' network (see `kybernetes kubelet --help`)")
    p.add_argument("--cluster-cidr", default="198.18.0.0/16", help="the cluster's pod CIDR")
    p.add_argument("--service-cidr", default=DEFAULT_SERVICE_CIDR, help="the cluster's Service CIDR")
    p.add_argument("--cluster-dns", default="", help="DNS server IP for pods (default: the kube-dns ClusterIP)")
    p.add_argument("--discovery-timeout", type=float, default=300.0,
                   help="seconds to wait for a trustworthy cluster-info (default: %(default)s)")
    p.add_argument("-v", "--v", type=int, default=2, help="log verbosity")
    p.set_defaults(func=cmd_agent)

"""BridgeNetwork: each pod its own network namespace (`kyb-<uid8>`), a veth into the node bridge and an
address from the node's podCIDR (ipam.py), with the bridge's address (the podCIDR's first) as default route.

The bridge (`kybr<id>`) and the nft table (`kybernetes-net-<id>`) are named after the kubelet's root_dir (`id`: 6 hex
digits of its hash), so several clusters on one machine (test suites run several) each keep their own; the
podCIDR is refused (NetworkUnavailable) when an address of another interface already lies inside it.

Built with iproute2. Every step is idempotent and checks the kernel first, so `setup` after a kubelet restart
finds the namespace and veth it made before and changes nothing, and after a machine restart (the namespaces
are gone, the reservations are not) makes them again with the same address. `teardown` removes the namespace
(and with it the veth pair), the address reservation and the pod's hostPort rules.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import os

import orjson

from kybernetes.kubelet.network import iproute
from kybernetes.kubelet.network.ipam import IPAM, IPAMExhausted
from kybernetes.kubelet.network.plugin import BRIDGE, NetworkNotReady, PodNetworkStatus
from kybernetes.kubelet.network.routes import TABLE, HostGatewayRoutes, NetTable

log = logging.getLogger(__name__)
NETNS_DIR = "/run/netns"
NETNS_PREFIX = "kyb-"
VETH_PREFIX = "kyb"
BRIDGE_PREFIX = "kybr"  # 'r' is no hex digit: a bridge name never equals a pod's veth name
FORWARD_SAVED = "/run/kybernetes/ip_forward"
CONFIG = "config.json"


def network_id(root_dir: str) -> str:
    """6 hex digits naming one kubelet's node network (from its root_dir)."""
    return hashlib.sha256(os.path.abspath(root_dir).encode()).hexdigest()[:6]


def bridge_name(root_dir: str) -> str:
    return BRIDGE_PREFIX + network_id(root_dir)


def table_name(root_dir: str) -> str:
    return f"{TABLE}-{network_id(root_dir)}"


def links() -> set[str]:
    """The links of this process's network namespace (/proc/self/net/dev: right under `nsenter --net` too,
    where /sys/class/net still shows the namespace sysfs was mounted in)."""
    with open("/proc/self/net/dev") as f:
        return {line.split(":", 1)[0].strip() for line in f.readlines()[2:]}


def link_exists(name: str) -> bool:
    return name in links()


def _forward_saved() -> str:
    """Where enable_forwarding keeps the value it found, one file per network namespace."""
    return f"{FORWARD_SAVED}.{os.stat('/proc/self/ns/net').st_ino}"


def short(uid: str) -> str:
    return uid.replace("-", "")[:8]


def netns_name(uid: str) -> str:
    return NETNS_PREFIX + short(uid)


def veth_name(uid: str) -> str:
    return VETH_PREFIX + short(uid)


class BridgeNetwork:
    """The `bridge` PodNetwork (plugin.py has the contract)."""

    name = BRIDGE

    def __init__(self, root_dir: str, *, cluster_cidr: str = "198.18.0.0/16", service_cidr: str = "198.19.0.0/16",
                 bridge: str = "", table: NetTable | None = None) -> None:
        self.dir = os.path.join(root_dir, "network")
        self.bridge = bridge or bridge_name(root_dir)
        self.cluster_cidr = cluster_cidr
        self.table = table or NetTable(cluster_cidr=cluster_cidr, service_cidr=service_cidr, bridge=self.bridge,
                                       state_dir=os.path.join(self.dir, "hostports"), table=table_name(root_dir))
        self.pod_cidr = ""
        self.ipam: IPAM | None = None
        self._ips: dict[str, str] = {}  # pod UID -> its reserved address in the current podCIDR
        self._error = "no podCIDR assigned to the node yet"

    # ------------------------------------------------------------------------------------------ node
    def ready(self) -> tuple[bool, str]:
        return (self.ipam is not None and not self._error), self._error

    async def set_pod_cidr(self, cidr: str) -> None:
        """Configure the bridge for the node's podCIDR (idempotent): bridge up with the first address,
        forwarding on, the masquerade and hostPort table in place."""
        if cidr == self.pod_cidr and not self._error:
            return
        net = ipaddress.ip_network(cidr, strict=False)
        gateway = f"{net.network_address + 1}/{net.prefixlen}"
        try:
            clash = await self._overlap(net)
            if clash:
                self._error = f"podCIDR {cidr} overlaps {clash} (another cluster on this machine?)"
                log.error("%s", self._error)
                return
            if not link_exists(self.bridge):
                await iproute.ip("link", "add", self.bridge, "type", "bridge", check=False)
            if self.pod_cidr and self.pod_cidr != cidr:
                await iproute.ip("addr", "flush", "dev", self.bridge, check=False)
            await iproute.ip_batch([f"addr replace {gateway} dev {self.bridge}", f"link set {self.bridge} up"])
            enable_forwarding()  # service DNAT from pod to pod, and pod traffic to other nodes, is forwarded
            await self.table.ensure()
        except (iproute.CommandError, OSError) as e:
            self._error = f"setting up bridge {self.bridge} for {cidr}: {e}"
            log.error("%s", self._error)
            return
        if cidr != self.pod_cidr:
            self._ips.clear()
        self.pod_cidr = cidr
        self.ipam = IPAM(os.path.join(self.dir, "ipam"), cidr)
        self._save_config()
        self._error = ""
        log.info("pod network bridge %s ready: %s, gateway %s", self.bridge, cidr, gateway)

    def _save_config(self) -> None:
        """What remove_node_network needs to find this network again: <dir>/config.json."""
        body = orjson.dumps({"bridge": self.bridge, "table": self.table.table, "clusterCIDR": self.cluster_cidr,
                             "podCIDR": self.pod_cidr})
        path = os.path.join(self.dir, CONFIG)
        with contextlib.suppress(FileNotFoundError), open(path, "rb") as f:
            if f.read() == body:
                return
        with open(path + ".tmp", "wb") as f:
            f.write(body)
        os.replace(path + ".tmp", path)

    async def _overlap(self, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
        """'<address> on <link>' when another link has an address inside `net` ('' when none does)."""
        for line in (await iproute.ip("-o", "-4", "addr", "show", check=False)).splitlines():
            words = line.split()
            if len(words) >= 4 and words[1] != self.bridge and words[2] == "inet":
                if ipaddress.ip_interface(words[3]).ip in net:
                    return f"{words[3]} on {words[1]}"
        return ""

    # ------------------------------------------------------------------------------------------ pods
    def netns_path(self, uid: str) -> str:
        return os.path.join(NETNS_DIR, netns_name(uid))

    def has_netns(self, uid: str) -> bool:
        return os.path.exists(self.netns_path(uid))

    def pod_ip(self, uid: str) -> str | None:
        if uid in self._ips:  # asked at every status update of every pod: the reservations are read once
            return self._ips[uid]
        if self.ipam is not None:
            ip = self.ipam.get(uid)
            if ip:
                self._ips[uid] = ip
            return ip
        # before the podCIDR is known again (a restarted kubelet): the pod's reservation as it stands
        return next((ip for ip, who in IPAM(os.path.join(self.dir, "ipam"), "0.0.0.0/32").reservations().items()
                     if who == uid), None)

    async def setup(self, uid: str, *, port_mappings: list[tuple[str, int, int, str]] = ()) -> PodNetworkStatus:
        """The pod's namespace, veth, address and routes (made or checked); port_mappings are
        (protocol, container_port, host_port, host_ip)."""
        ok, why = self.ready()
        if not ok or self.ipam is None:
            raise NetworkNotReady(why)
        try:
            ip = self._ips.get(uid) or self.ipam.allocate(uid)
            self._ips[uid] = ip
        except IPAMExhausted as e:
            raise NetworkNotReady(str(e)) from e
        ns, host = netns_name(uid), veth_name(uid)
        net = self.ipam.network
        try:
            # two `ip` processes for a new pod: one on the node's side, one inside the pod's namespace
            node_side = []
            if not self.has_netns(uid):
                node_side.append(f"netns add {ns}")
            elif not link_exists(host):
                await iproute.ip("-n", ns, "link", "del", "eth0", check=False)  # half of a pair made before
            if not link_exists(host):
                node_side.append(f"link add {host} type veth peer name eth0 netns {ns}")
            # hairpin: a pod reaching itself through its Service gets the frame back out the port it came in on
            await iproute.ip_batch([*node_side, f"link set {host} master {self.bridge}",
                                    f"link set {host} type bridge_slave hairpin on", f"link set {host} up"])
            await iproute.ip_batch([f"addr replace {ip}/{net.prefixlen} dev eth0", "link set eth0 up",
                                    "link set lo up", f"route replace default via {self.ipam.gateway}"], netns=ns)
            await self.table.set_host_ports(uid, ip, list(port_mappings))
        except iproute.CommandError as e:
            raise NetworkNotReady(f"setting up the network of pod {uid}: {e}") from e
        return PodNetworkStatus(self.netns_path(uid), ip)

    async def teardown(self, uid: str) -> None:
        """Remove the pod's namespace, veth, hostPorts and address reservation (idempotent)."""
        await self.table.set_host_ports(uid, "", [])
        if self.has_netns(uid):
            await iproute.ip("netns", "del", netns_name(uid), check=False)
        if link_exists(veth_name(uid)):
            await iproute.ip("link", "del", veth_name(uid), check=False)
        self._ips.pop(uid, None)
        if self.ipam is not None:
            self.ipam.release(uid)
        else:  # not configured yet (no podCIDR after a restart): release from the directory directly
            IPAM(os.path.join(self.dir, "ipam"), "0.0.0.0/32").release(uid)

    async def gc(self, keep: set[str]) -> None:
        """Tear down the networking of every pod not in `keep` that this kubelet set up (its reservations and
        hostPort files are the record: namespaces and veths of other kubelets on the machine are left alone)."""
        ipam = IPAM(os.path.join(self.dir, "ipam"), self.pod_cidr or "0.0.0.0/32")
        for owner in set(ipam.reservations().values()) | set(self.table.host_port_owners()):
            if owner not in keep:
                log.info("releasing the network of pod %s (no sandbox left)", owner)
                await self.teardown(owner)

    async def close(self) -> None:
        """Nothing to stop: pods keep their networking while the kubelet is down."""
        return None


def enable_forwarding() -> None:
    """Turn IPv4 forwarding on, keeping the value found first (machine-wide) so the last node network removed
    puts it back."""
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        current = f.read().strip()
    if current == "1":
        return
    saved = _forward_saved()
    if os.path.isdir("/run") and not os.path.exists(saved):
        os.makedirs(os.path.dirname(saved), exist_ok=True)
        with open(saved, "w") as f:
            f.write(current)
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("1")


def _restore_forwarding() -> None:
    """Put ip_forward back as enable_forwarding found it, once no kybernetes bridge is left on the machine."""
    saved = _forward_saved()
    if not os.path.exists(saved) or any(n.startswith(BRIDGE_PREFIX) for n in links()):
        return
    with open(saved) as f:
        value = f.read().strip() or "0"
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write(value)
    os.unlink(saved)


async def remove_node_network(root_dir: str) -> int:
    """Tear down one kubelet's node network (uninstall, `kybernetes killall`, tests): the namespace, veth,
    hostPorts and reservation of every pod it set up, its bridge, its nft table and its host-gw routes.
    Returns how many pods' networking was removed (nothing is done where no network was set up)."""
    directory = os.path.join(root_dir, "network")
    try:
        with open(os.path.join(directory, CONFIG), "rb") as f:
            config = orjson.loads(f.read())
    except (FileNotFoundError, orjson.JSONDecodeError):
        config = {}
    if not config and not os.path.isdir(directory):
        return 0
    net = BridgeNetwork(root_dir, cluster_cidr=config.get("clusterCIDR") or "198.18.0.0/16",
                        bridge=config.get("bridge", ""))
    owners = set(IPAM(os.path.join(net.dir, "ipam"), "0.0.0.0/32").reservations().values())
    owners |= set(net.table.host_port_owners())
    for uid in owners:
        await net.teardown(uid)
    await iproute.ip("link", "del", net.bridge, check=False)
    await net.table.remove()
    await HostGatewayRoutes("", net.cluster_cidr).remove_all()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(directory, CONFIG))
    _restore_forwarding()
    return len(owners)

"""BridgeNetwork: each pod its own network namespace (`kyb-<uid8>`), a veth into the node bridge `kyb0` and an
address from the node's podCIDR (ipam.py), with the bridge's address (the podCIDR's first) as default route.

Built with iproute2. Every step is idempotent and checks the kernel first, so `setup` after a kubelet restart
finds the namespace and veth it made before and changes nothing, and after a machine restart (the namespaces
are gone, the reservations are not) makes them again with the same address. `teardown` removes the namespace
(and with it the veth pair), the address reservation and the pod's hostPort rules.
"""

from __future__ import annotations

import ipaddress
import logging
import os

from kybernetes.kubelet.network import iproute
from kybernetes.kubelet.network.ipam import IPAM, IPAMExhausted
from kybernetes.kubelet.network.plugin import BRIDGE, NetworkNotReady, PodNetworkStatus
from kybernetes.kubelet.network.routes import HostGatewayRoutes, NetTable

log = logging.getLogger(__name__)
NETNS_DIR = "/run/netns"
NETNS_PREFIX = "kyb-"
VETH_PREFIX = "kyb"
BRIDGE_NAME = "kyb0"


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
                 bridge: str = BRIDGE_NAME, table: NetTable | None = None) -> None:
        self.dir = os.path.join(root_dir, "network")
        self.bridge = bridge
        self.cluster_cidr = cluster_cidr
        self.table = table or NetTable(cluster_cidr=cluster_cidr, service_cidr=service_cidr, bridge=bridge,
                                       state_dir=os.path.join(self.dir, "hostports"))
        self.pod_cidr = ""
        self.ipam: IPAM | None = None
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
            if not os.path.exists(f"/sys/class/net/{self.bridge}"):
                await iproute.ip("link", "add", self.bridge, "type", "bridge", check=False)
            if self.pod_cidr and self.pod_cidr != cidr:
                await iproute.ip("addr", "flush", "dev", self.bridge, check=False)
            await iproute.ip_batch([f"addr replace {gateway} dev {self.bridge}", f"link set {self.bridge} up"])
            with open("/proc/sys/net/ipv4/ip_forward", "w") as f:  # service DNAT from pod to pod is forwarded
                f.write("1")
            await self.table.ensure()
        except (iproute.CommandError, OSError) as e:
            self._error = f"setting up bridge {self.bridge} for {cidr}: {e}"
            log.error("%s", self._error)
            return
        self.pod_cidr = cidr
        self.ipam = IPAM(os.path.join(self.dir, "ipam"), cidr)
        self._error = ""
        log.info("pod network bridge %s ready: %s, gateway %s", self.bridge, cidr, gateway)

    # ------------------------------------------------------------------------------------------ pods
    def netns_path(self, uid: str) -> str:
        return os.path.join(NETNS_DIR, netns_name(uid))

    def has_netns(self, uid: str) -> bool:
        return os.path.exists(self.netns_path(uid))

    def pod_ip(self, uid: str) -> str | None:
        if self.ipam is not None:
            return self.ipam.get(uid)
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
            ip = self.ipam.allocate(uid)
        except IPAMExhausted as e:
            raise NetworkNotReady(str(e)) from e
        ns, host = netns_name(uid), veth_name(uid)
        net = self.ipam.network
        try:
            if not self.has_netns(uid):
                await iproute.ip("netns", "add", ns)
            if not os.path.exists(f"/sys/class/net/{host}"):
                await iproute.ip("-n", ns, "link", "del", "eth0", check=False)  # half of a pair made before
                await iproute.ip("link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns)
            await iproute.ip_batch([f"link set {host} master {self.bridge}", f"link set {host} up"])
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
        if os.path.exists(f"/sys/class/net/{veth_name(uid)}"):
            await iproute.ip("link", "del", veth_name(uid), check=False)
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


async def remove_node_network(bridge: str = BRIDGE_NAME, table: NetTable | None = None) -> None:
    """Delete the bridge, the nft table and the host-gw routes (for tests and uninstall; pods' namespaces
    are gc's job)."""
    await iproute.ip("link", "del", bridge, check=False)
    await (table or NetTable()).remove()
    await HostGatewayRoutes("").remove_all()

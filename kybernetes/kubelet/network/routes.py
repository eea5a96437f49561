"""What the pod network keeps on the node beside the pods: the nftables table `ip kybernetes-net`
(masquerade of pod traffic leaving the cluster range, hostPort DNAT) and host-gw routes to other nodes' podCIDRs.

The table is owned whole by this module and rewritten in one nft transaction; the pods' hostPorts are kept
as one JSON file per pod under `state_dir`, so a restarted kubelet rewrites the same rules. Routes to other
nodes carry the routing protocol ROUTE_PROTO, so the ones this node made are found (and removed) again.
"""

from __future__ import annotations

import ipaddress
import logging
import os

import orjson

from kybernetes.kubelet.network import iproute

log = logging.getLogger(__name__)
TABLE = "kybernetes-net"
ROUTE_PROTO = "75"  # 'proto' of the host-gw routes this kubelet installs


class NetTable:
    def __init__(self, *, cluster_cidr: str = "198.18.0.0/16", service_cidr: str = "198.19.0.0/16",
                 bridge: str = "kyb0", state_dir: str = "", table: str = TABLE) -> None:
        self.cluster_cidr = cluster_cidr
        self.service_cidr = service_cidr
        self.bridge = bridge
        self.state_dir = state_dir
        self.table = table
        if state_dir:
            os.makedirs(state_dir, exist_ok=True)

    def _base(self) -> str:
        c, s, br = self.cluster_cidr, self.service_cidr, self.bridge
        return f"""
table ip {self.table} {{
  chain postrouting {{
    type nat hook postrouting priority 100; policy accept;
    ip saddr {c} ip daddr != {c} ip daddr != {s} oifname != "{br}" masquerade
    iifname "{br}" oifname "{br}" ct status dnat masquerade
  }}
  chain prerouting {{
    type nat hook prerouting priority -100; policy accept;
    fib daddr type local jump hostports
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    fib daddr type local ip daddr != 127.0.0.0/8 jump hostports
  }}
  chain hostports {{
  }}
}}
"""

    async def ensure(self) -> None:
        """Create (or re-create) the whole table with the hostPort rules of the state files."""
        await iproute.nft(f"table ip {self.table}\ndelete table ip {self.table}\n{self._base()}{self._rules()}")

    async def remove(self) -> None:
        await iproute.nft(f"table ip {self.table}\ndelete table ip {self.table}\n", check=False)

    def _path(self, uid: str) -> str:
        return os.path.join(self.state_dir, f"{uid}.json")

    def host_port_owners(self) -> list[str]:
        if not self.state_dir or not os.path.isdir(self.state_dir):
            return []
        return [n[:-5] for n in os.listdir(self.state_dir) if n.endswith(".json")]

    def _rules(self) -> str:
        lines = []
        for uid in sorted(self.host_port_owners()):
            try:
                with open(self._path(uid), "rb") as f:
                    entry = orjson.loads(f.read())
            except (FileNotFoundError, orjson.JSONDecodeError):
                continue
            for proto, container_port, host_port, host_ip in entry["ports"]:
                match = f"ip daddr {host_ip} " if host_ip and host_ip != "0.0.0.0" else ""
                lines.append(f'add rule ip {self.table} hostports {match}{proto.lower()} dport {int(host_port)} '
                             f'dnat to {entry["ip"]}:{int(container_port)} comment "{uid}"')
        return f"flush chain ip {self.table} hostports\n" + "\n".join(lines) + "\n"

    async def set_host_ports(self, uid: str, ip: str, ports: list[tuple[str, int, int, str]]) -> None:
        """The pod's hostPort mappings (protocol, container_port, host_port, host_ip); [] removes them."""
        if not self.state_dir:
            return
        ports = [p for p in ports if p[2]]
        path = self._path(uid)
        had = os.path.exists(path)
        if not ports and not had:
            return
        if ports:
            body = orjson.dumps({"ip": ip, "ports": [list(p) for p in ports]})
            if had:
                with open(path, "rb") as f:
                    if f.read() == body:
                        return
            with open(path + ".tmp", "wb") as f:
                f.write(body)
            os.replace(path + ".tmp", path)
        else:
            os.unlink(path)
        await iproute.nft(self._rules())


def desired_routes(nodes: list[dict], self_name: str, cluster_cidr: str) -> dict[str, str]:
    """{podCIDR: node InternalIP} of every other node whose podCIDR is in the cluster range."""
    cluster = ipaddress.ip_network(cluster_cidr, strict=False)
    out = {}
    for node in nodes:
        if node["metadata"]["name"] == self_name:
            continue
        cidr = (node.get("spec") or {}).get("podCIDR")
        addrs = [a["address"] for a in (node.get("status") or {}).get("addresses") or [] if a.get("type") == "InternalIP"]
        if not cidr or not addrs or ipaddress.ip_address(addrs[0]).is_loopback:
            continue  # a loopback address is this machine, not a gateway to another node
        try:
            if not ipaddress.ip_network(cidr, strict=False).subnet_of(cluster):
                continue
        except (ValueError, TypeError):
            continue
        out[str(ipaddress.ip_network(cidr, strict=False))] = addrs[0]
    return out


class HostGatewayRoutes:
    """Routes to the other nodes' podCIDRs via their addresses (host-gw), kept equal to `sync`'s input.
    (An address of the cluster range needs no masquerade to cross nodes: NetTable masquerades only traffic
    leaving the range.)"""

    def __init__(self, self_name: str, cluster_cidr: str = "198.18.0.0/16") -> None:
        self.self_name = self_name
        self.cluster_cidr = cluster_cidr

    async def current(self) -> dict[str, str]:
        """{podCIDR: via} of the host-gw routes inside this cluster's range (another cluster on the machine
        has its own range, and keeps its routes)."""
        cluster = ipaddress.ip_network(self.cluster_cidr, strict=False)
        out = {}
        for line in (await iproute.ip("-o", "route", "show", "proto", ROUTE_PROTO, check=False)).splitlines():
            words = line.split()
            if len(words) >= 3 and words[1] == "via":
                try:
                    inside = ipaddress.ip_network(words[0], strict=False).subnet_of(cluster)
                except (ValueError, TypeError):
                    inside = False
                if inside:
                    out[words[0]] = words[2]
        return out

    async def sync(self, nodes: list[dict]) -> None:
        want = desired_routes(nodes, self.self_name, self.cluster_cidr)
        have = await self.current()
        for cidr in set(have) - set(want):
            await iproute.ip("route", "del", cidr, "proto", ROUTE_PROTO, check=False)
        for cidr, via in want.items():
            if have.get(cidr) != via:
                try:
                    await iproute.ip("route", "replace", cidr, "via", via, "proto", ROUTE_PROTO)
                except iproute.CommandError as e:
                    log.warning("route to pods of %s via %s: %s", cidr, via, e)

    async def remove_all(self) -> None:
        for cidr in await self.current():
            await iproute.ip("route", "del", cidr, "proto", ROUTE_PROTO, check=False)

"""Which of this machine's IPv4 addresses serve NodePorts and LoadBalancer ports (--nodeport-addresses)."""

from __future__ import annotations

import ipaddress
import socket

from kybernetes.proxy.types import Obj


def local_ipv4_addresses() -> list[str]:
    """Every IPv4 address on this machine's interfaces (in this network namespace)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return ["127.0.0.1"]
    out = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and a.address not in out:
                out.append(a.address)
    return out


def node_object_ips(node: Obj | None) -> list[str]:
    """The Node's InternalIP and ExternalIP addresses (IPv4)."""
    out: list[str] = []
    for a in ((node or {}).get("status") or {}).get("addresses") or []:
        if a.get("type") in ("InternalIP", "ExternalIP") and ":" not in (a.get("address") or ":"):
            if a["address"] not in out:
                out.append(a["address"])
    return out


def nodeport_addresses(cidrs: list[str], node_ips: list[str], local: list[str] | None = None) -> list[str]:
    """Addresses to serve NodePorts on.

    With CIDRs (upstream's --nodeport-addresses; "primary" means the Node's own IPs): the local addresses
    inside them. Without: the Node's IPs, else every local address but loopback.
    """
    local = local_ipv4_addresses() if local is None else local
    nets = []
    for c in cidrs:
        if c == "primary":
            nets += [ipaddress.ip_network(ip) for ip in node_ips]
        elif ":" not in c:
            nets.append(ipaddress.ip_network(c, strict=False))
    if nets:
        return [a for a in local if any(ipaddress.ip_address(a) in n for n in nets)]
    if node_ips:
        return [ip for ip in node_ips if ip in local] or list(node_ips)
    return [a for a in local if not a.startswith("127.")]

"""Service ClusterIP and NodePort allocation: each address and port handed out once, never twice."""

from __future__ import annotations

import ipaddress
import random
from typing import Any, Iterable

from kybernetes.api import errors


class IPAllocator:
    """Allocates ClusterIPs from the service CIDR; the first address is the `kubernetes` Service's."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        self.used: set[str] = set()
        first = int(self.network.network_address) + 1
        last = int(self.network.broadcast_address) - 1
        self._first, self._last = first, last

    @property
    def kubernetes_ip(self) -> str:
        return str(ipaddress.ip_address(self._first))

    def contains(self, ip: str) -> bool:
        try:
            return ipaddress.ip_address(ip) in self.network
        except ValueError:
            return False

    def reset(self, in_use: Iterable[str]) -> None:
        self.used = {ip for ip in in_use if ip and ip != "None"}

    def allocate(self, field: str = "spec.clusterIPs") -> str:
        size = self._last - self._first + 1
        if len(self.used) >= size:
            raise errors.StatusError(500, "InternalError",
                                     "Internal error occurred: failed to allocate a serviceIP: range is full")
        # upstream keeps the lower band for static choices; choose randomly in the upper part first
        while True:
            n = random.randint(self._first + min(16, size - 1), self._last) if size > 32 else random.randint(self._first, self._last)
            ip = str(ipaddress.ip_address(n))
            if ip not in self.used:
                self.used.add(ip)
                return ip

    def allocate_specific(self, ip: str, field: str = "spec.clusterIPs", name: str = "",
                          requested: list[str] | None = None) -> None:
        """Take ip; a 422 like upstream's names the Service and shows the requested clusterIPs."""
        if not self.contains(ip):
            why = (f"the provided IP ({ip}) is not in the valid range. The range of valid IPs is {self.network}")
        elif ip in self.used:
            why = "provided IP is already allocated"
        else:
            self.used.add(ip)
            return
        shown = "[]string{" + ", ".join(f'"{v}"' for v in (requested or [ip])) + "}"
        raise errors.invalid_object("", "Service", name, [errors.FieldError(
            "FieldValueInvalid", field, detail=f"{shown}: failed to allocate IP {ip}: {why}")])

    def release(self, ip: str | None) -> None:
        if ip:
            self.used.discard(ip)


class PortAllocator:
    """Allocates NodePorts from the node-port range (30000-32767 by default)."""

    def __init__(self, port_range: str = "30000-32767") -> None:
        lo, _, hi = port_range.partition("-")
        self.lo, self.hi = int(lo), int(hi or lo)
        self.used: set[int] = set()

    def reset(self, in_use: Iterable[int]) -> None:
        self.used = set(in_use)

    def allocate(self) -> int:
        if len(self.used) >= self.hi - self.lo + 1:
            raise errors.StatusError(500, "InternalError",
                                     "Internal error occurred: failed to allocate a nodePort: range is full")
        while True:
            p = random.randint(self.lo, self.hi)
            if p not in self.used:
                self.used.add(p)
                return p

    def allocate_specific(self, port: int, field: str, name: str = "") -> None:
        if not self.lo <= port <= self.hi:
            raise errors.invalid_object("", "Service", name, [errors.invalid(
                field, port, f"provided port is not in the valid range. The range of valid ports is {self.lo}-{self.hi}")])
        if port in self.used:
            raise errors.invalid_object("", "Service", name, [errors.invalid(
                field, port, "provided port is already allocated")])
        self.used.add(port)

    def release(self, port: int | None) -> None:
        if port:
            self.used.discard(port)


def service_ips(svc: dict[str, Any]) -> list[str]:
    spec = svc.get("spec") or {}
    ips = list(spec.get("clusterIPs") or [])
    if spec.get("clusterIP") and spec["clusterIP"] not in ips:
        ips.insert(0, spec["clusterIP"])
    return [ip for ip in ips if ip and ip != "None"]


def service_node_ports(svc: dict[str, Any]) -> list[int]:
    spec = svc.get("spec") or {}
    out = [p["nodePort"] for p in spec.get("ports") or [] if isinstance(p, dict) and p.get("nodePort")]
    if spec.get("healthCheckNodePort"):
        out.append(spec["healthCheckNodePort"])
    return out

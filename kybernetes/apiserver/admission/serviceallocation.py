"""Service ClusterIP and NodePort allocation (upstream does this in the Service registry, before storage)."""

from __future__ import annotations

from typing import Any, Callable

from kybernetes.apiserver.allocators import IPAllocator, PortAllocator, service_ips, service_node_ports

Rollback = Callable[[], None]


class ServiceAllocation:
    """Gives Services their ClusterIP and NodePorts on create and update, and takes them back on delete."""

    def __init__(self, ips: IPAllocator, ports: PortAllocator) -> None:
        self.ips = ips
        self.ports = ports

    def sync(self, services: list[dict[str, Any]]) -> None:
        """Rebuild the allocators' in-use sets from the stored Services."""
        self.ips.reset(ip for s in services for ip in service_ips(s))
        self.ports.reset(p for s in services for p in service_node_ports(s))

    def release(self, svc: dict[str, Any]) -> None:
        for ip in service_ips(svc):
            self.ips.release(ip)
        for p in service_node_ports(svc):
            self.ports.release(p)

    def allocate(self, svc: dict[str, Any], old: dict[str, Any] | None) -> Rollback:
        spec = svc.setdefault("spec", {})
        name = (svc.get("metadata") or {}).get("name", "")
        stype = spec.get("type", "ClusterIP")
        taken_ips: list[str] = []
        taken_ports: list[int] = []
        freed_ports: list[int] = []

        def rollback() -> None:
            for ip in taken_ips:
                self.ips.release(ip)
            for p in taken_ports:
                self.ports.release(p)
            self.ports.used.update(freed_ports)

        try:
            old_spec = (old or {}).get("spec") or {}
            if stype == "ExternalName":
                if old is not None:
                    for ip in service_ips(old):
                        self.ips.release(ip)
                spec.pop("clusterIP", None)
                spec.pop("clusterIPs", None)
            elif old is not None and service_ips(old) and old_spec.get("type") != "ExternalName":
                # clusterIP is immutable: keep it (validation reports an attempt to change it)
                if not spec.get("clusterIP"):
                    spec["clusterIP"] = old_spec.get("clusterIP")
                    spec["clusterIPs"] = list(old_spec.get("clusterIPs") or [old_spec.get("clusterIP")])
            elif spec.get("clusterIP") == "None" or (spec.get("clusterIPs") or [None])[0] == "None":
                spec["clusterIP"] = "None"
                spec["clusterIPs"] = ["None"]
            else:
                want = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
                if want:
                    self.ips.allocate_specific(want, name=name, requested=list(spec.get("clusterIPs") or [want]))
                    ip = want
                else:
                    ip = self.ips.allocate()
                taken_ips.append(ip)
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
            if stype != "ExternalName":
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
            old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                         for p in old_spec.get("ports") or [] if isinstance(p, dict)}
            old_held = set(service_node_ports(old)) if old else set()
            needs_node_ports = stype == "NodePort" or (
                stype == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True))
            kept: set[int] = set()
            for i, port in enumerate(spec.get("ports") or []):
                if not isinstance(port, dict):
                    continue
                if not needs_node_ports:
                    if stype in ("ClusterIP", "ExternalName"):
                        port.pop("nodePort", None)
                    if port.get("nodePort"):
                        kept.add(port["nodePort"])
                    continue
                want = port.get("nodePort")
                if not want:
                    previous = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
                    if previous and previous not in kept:
                        port["nodePort"] = previous
                        kept.add(previous)
                        continue
                    port["nodePort"] = self.ports.allocate()
                    taken_ports.append(port["nodePort"])
                elif want in old_held and want not in kept:
                    kept.add(want)
                else:
                    self.ports.allocate_specific(want, f"spec.ports[{i}].nodePort", name)
                    taken_ports.append(want)
                    kept.add(want)
            for p in old_held - kept - set(taken_ports):
                if p != spec.get("healthCheckNodePort"):
                    self.ports.release(p)
                    freed_ports.append(p)
        except Exception:
            rollback()
            raise
        return rollback

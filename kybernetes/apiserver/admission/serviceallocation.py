"""Service ClusterIP and NodePort allocation (upstream does this in the Service registry, before storage)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Coroutine

from kybernetes.apiserver.allocators import IPAllocator, PortAllocator, service_ips, service_node_ports

Rollback = Callable[[], None]

log = logging.getLogger(__name__)


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

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until queued releases are in storage (another apiserver may hand the address out next)."""
        for allocator in (self.ips, self.ports):
            flush = getattr(allocator.range, "flush", None)
            if flush is not None:
                try:
                    await asyncio.wait_for(flush(), timeout)
                except Exception:  # noqa: BLE001 - the repair loop frees what a failed release leaves
                    log.warning("service allocation: releases not yet written", exc_info=True)

    async def allocate(self, svc: dict[str, Any], old: dict[str, Any] | None, *, dry_run: bool = False) -> Rollback:
        """Fill in the ClusterIP and NodePorts; a dry run takes nothing and only checks against what is known."""
        spec = svc.setdefault("spec", {})
        name = (svc.get("metadata") or {}).get("name", "")
        stype = spec.get("type", "ClusterIP")
        taken_ips: list[str] = []
        taken_ports: list[int] = []
        freed_ports: list[int] = []
        freed_ips: list[str] = []
        jobs: list[tuple[Coroutine[Any, Any, Any], Callable[[Any], None]]] = []  # allocations, then their results
        jobs_done = False

        def set_ip(ip: str) -> None:
            if not dry_run:
                taken_ips.append(ip)
            spec["clusterIP"] = ip
            spec["clusterIPs"] = [ip]

        def set_port(port: dict[str, Any]) -> Callable[[int], None]:
            def apply(value: int) -> None:
                if not dry_run:
                    taken_ports.append(value)
                port["nodePort"] = value
            return apply

        def rollback() -> None:
            for ip in taken_ips:
                self.ips.release(ip)
            for p in taken_ports:
                self.ports.release(p)
            for p in freed_ports:
                self.ports.retake(p)
            for ip in freed_ips:
                self.ips.retake(ip)

        try:
            old_spec = (old or {}).get("spec") or {}
            if stype == "ExternalName":
                if old is not None and not dry_run:
                    for ip in service_ips(old):
                        self.ips.release(ip)
                        freed_ips.append(ip)
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
                    requested = list(spec.get("clusterIPs") or [want])
                    jobs.append((self._specific(self.ips.allocate_specific(want, name=name, requested=requested,
                                                                           dry_run=dry_run), want), set_ip))
                else:
                    jobs.append((self.ips.allocate(dry_run=dry_run), set_ip))
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
                    jobs.append((self.ports.allocate(dry_run=dry_run), set_port(port)))
                elif want in old_held and want not in kept:
                    kept.add(want)
                else:
                    jobs.append((self._specific(self.ports.allocate_specific(
                        want, f"spec.ports[{i}].nodePort", name, dry_run=dry_run), want), set_port(port)))
                    kept.add(want)
            # every allocation at once: with shared ranges their writes go out together
            jobs_done = True  # handed to gather, which runs or cancels them
            results = await asyncio.gather(*(job for job, _ in jobs), return_exceptions=True)
            for (_, apply), result in zip(jobs, results):
                if not isinstance(result, BaseException):
                    apply(result)
            failed = next((r for r in results if isinstance(r, BaseException)), None)
            if failed is not None:
                raise failed
            for p in old_held - kept - set(taken_ports):
                if p != spec.get("healthCheckNodePort") and not dry_run:
                    self.ports.release(p)
                    freed_ports.append(p)
        except BaseException:
            if not jobs_done:
                for job, _ in jobs:
                    job.close()
            rollback()
            raise
        return rollback

    @staticmethod
    async def _specific(check: Coroutine[Any, Any, None], value: Any) -> Any:
        await check
        return value

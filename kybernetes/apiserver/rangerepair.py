"""The repair loops of the shared Service ranges (upstream's ipallocator and portallocator repair controllers):
at start and every few minutes, rebuild each stored bitmap from the Services that exist, so allocations lost to
a crash are freed (after a grace of several runs) and addresses held by Services but missing are marked."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from kybernetes.apiserver.allocators import IPAllocator, PortAllocator, service_ips, service_node_ports
from kybernetes.apiserver.rangeallocation import (NODE_PORTS_KEY, SERVICE_IPS_KEY, Bitmap, RangeMismatchError,
                                                  StoredRange)

if TYPE_CHECKING:
    from kybernetes.apiserver.server import APIServer

log = logging.getLogger(__name__)

REPAIR_INTERVAL = 180.0  # upstream's 3 minutes
LEAK_RUNS = 3  # upstream's numRepairsBeforeLeakCleanup: runs an offset must be seen unused before it is freed
SERVICES_PREFIX = "/registry/core/services/"

InUse = Callable[[], dict[int, list[str]]]  # offset -> the Services (namespace/name) holding it


@dataclass
class RangeRepair:
    """Rebuilds one stored range from what is in use; an offset allocated but unused is freed after LEAK_RUNS."""

    stored: StoredRange
    in_use: InUse
    wait_fresh: Callable[[int], Awaitable[Any]]  # until the Services read reflect at least this store revision
    what: str = "range"
    leak_runs: int = LEAK_RUNS
    leaks: Counter[int] = field(default_factory=Counter)

    async def run_once(self) -> bool:
        """One repair; False if another writer changed the range meanwhile (the next run tries again)."""
        async with self.stored.lock:
            try:
                revision = await self.stored.load()
            except RangeMismatchError as e:
                log.warning("%s: %s; rebuilding it for this range", self.what, e)
                _, kv = await self.stored.store.get(self.stored.key)
                self.stored.revision = kv.mod_revision if kv is not None else 0
                self.stored.bitmap = Bitmap(self.stored.size)
                revision = await self.stored.store.current_revision()
            # read the range first, then the Services: an allocation made after the read fails the write below
            await self.wait_fresh(revision)
            holders = self.in_use()
            snapshot = self.stored.bitmap
            rebuilt = Bitmap(self.stored.size)
            for offset, names in holders.items():
                rebuilt.set(offset)
                if len(names) > 1:
                    log.warning("%s: offset %d is held by several Services: %s", self.what, offset, ", ".join(names))
                elif not snapshot.has(offset) and self.stored.revision:
                    log.warning("%s: offset %d of %s was not marked allocated; repaired", self.what, offset, names[0])
            for offset in list(self.leaks):
                if offset in holders or not snapshot.has(offset):
                    del self.leaks[offset]
            for offset in snapshot.offsets():
                if offset in holders:
                    continue
                self.leaks[offset] += 1
                if self.leaks[offset] < self.leak_runs:
                    rebuilt.set(offset)  # maybe a Service being created right now: keep it for a while
                else:
                    del self.leaks[offset]
                    log.info("%s: offset %d allocated but unused for %d repairs; released", self.what, offset,
                             self.leak_runs)
            if rebuilt.bits == snapshot.bits and self.stored.revision:
                return True
            return await self.stored.write(rebuilt)

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self.run_once():
                    log.info("%s: changed during repair; trying again next run", self.what)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - storage trouble: the next run tries again
                log.warning("%s: repair failed", self.what, exc_info=True)


def ip_holders(ips: IPAllocator, services: list[dict[str, Any]]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for svc in services:
        md = svc.get("metadata") or {}
        for ip in service_ips(svc):
            offset = ips.offset_of(ip)
            if offset is None:
                log.warning("Service %s/%s: ClusterIP %s is not within the service CIDR %s; please recreate it",
                            md.get("namespace"), md.get("name"), ip, ips.cidr)
                continue
            out.setdefault(offset, []).append(f"{md.get('namespace')}/{md.get('name')}")
    return out


def port_holders(ports: PortAllocator, services: list[dict[str, Any]]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for svc in services:
        md = svc.get("metadata") or {}
        for port in set(service_node_ports(svc)):
            offset = ports.offset_of(port)
            if offset is None:
                log.warning("Service %s/%s: NodePort %s is not within the range %s; please recreate it",
                            md.get("namespace"), md.get("name"), port, ports.port_range)
                continue
            out.setdefault(offset, []).append(f"{md.get('namespace')}/{md.get('name')}")
    return out


class ServiceRanges:
    """The apiserver's two shared ranges and their repair loops."""

    def __init__(self, server: APIServer, *, interval: float = REPAIR_INTERVAL) -> None:
        self.server = server
        self.interval = interval
        ips, ports = server.ips, server.ports
        self.ip_range = StoredRange(server.store, SERVICE_IPS_KEY, ips.cidr, ips.size, ips.rand)
        self.port_range = StoredRange(server.store, NODE_PORTS_KEY, ports.port_range, ports.size, ports.rand)
        self.repairs = [
            RangeRepair(self.ip_range, lambda: ip_holders(ips, self._services()), self._wait_fresh,
                        what="service IPs"),
            RangeRepair(self.port_range, lambda: port_holders(ports, self._services()), self._wait_fresh,
                        what="service node ports"),
        ]
        self._tasks: list[asyncio.Task[None]] = []

    def _services(self) -> list[dict[str, Any]]:
        cache = self.server.cache.caches.get(SERVICES_PREFIX)
        return list(cache.objects.values()) if cache is not None else []

    async def _wait_fresh(self, revision: int) -> None:
        if not await self.server.cache.wait_for_revision(revision, 10.0):
            raise TimeoutError(f"the watch cache did not reach revision {revision}")

    async def start(self) -> None:
        """Repair both ranges now (so they hold every existing Service), then allocate from them."""
        for repair in self.repairs:
            for _ in range(5):
                if await repair.run_once():
                    break
        self.server.ips.attach(self.ip_range)
        self.server.ports.attach(self.port_range)
        self._tasks = [asyncio.create_task(r.run(self.interval), name=f"repair {r.what}") for r in self.repairs]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(self.ip_range.close(), self.port_range.close())

"""The mode-independent proxier: informer handlers feed change trackers; a bounded-rate loop syncs a backend."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from kybernetes.proxy.endpointschangetracker import EndpointsChangeTracker
from kybernetes.proxy.healthz import ProxyHealth
from kybernetes.proxy.metrics import ProxyMetrics
from kybernetes.proxy.runner import BoundedFrequencyRunner
from kybernetes.proxy.servicechangetracker import ServiceChangeTracker
from kybernetes.proxy.types import EndpointsMap, Obj, ServicePortMap, UpdateResult

log = logging.getLogger(__name__)


@dataclass
class SyncState:
    """Everything one sync of a backend needs; `full` asks it to rewrite everything, not just what changed."""

    service_map: ServicePortMap
    endpoints_map: EndpointsMap
    result: UpdateResult
    node_ips: list[str] = field(default_factory=list)
    full: bool = False


class ProxyBackend(Protocol):
    """A proxy mode. `sync` must be idempotent; raising makes the proxier retry with a full sync."""

    mode: str

    async def sync(self, state: SyncState) -> None: ...

    async def cleanup(self) -> None: ...


class Proxier:
    """Holds the ServicePortMap and EndpointsMap; handlers record changes, `sync_proxy_rules` applies them."""

    def __init__(self, backend: ProxyBackend, *, node_name: str = "", min_sync_period: float = 1.0,
                 sync_period: float = 30.0, metrics: ProxyMetrics | None = None,
                 node_ips: list[str] | None = None) -> None:
        self.backend = backend
        self.node_name = node_name
        self.metrics = metrics or ProxyMetrics()
        self.service_changes = ServiceChangeTracker()
        self.endpoints_changes = EndpointsChangeTracker(node_name)
        self.service_map: ServicePortMap = {}
        self.endpoints_map: EndpointsMap = {}
        self.node_ips = list(node_ips or [])
        self._node_ips_changed = False
        self._services_synced = False
        self._slices_synced = False
        self._need_full = True
        self.health = ProxyHealth(stale_after=max(2 * sync_period, 10.0), pending=self._pending)
        self.runner = BoundedFrequencyRunner(f"{backend.mode}-proxier", self.sync_proxy_rules,
                                             min_interval=min_sync_period, max_interval=sync_period)
        self.synced_event = asyncio.Event()  # set after every successful sync (tests wait on it)

    def _pending(self) -> bool:
        return bool(self.service_changes.pending() or self.endpoints_changes.pending())

    # -- informer handlers -------------------------------------------------------------------------------------

    def on_service_add(self, svc: Obj) -> None:
        self.on_service_update(None, svc)

    def on_service_update(self, old: Obj | None, new: Obj | None) -> None:
        if self.service_changes.update(old, new) and self._services_synced and self._slices_synced:
            self.runner.run()

    def on_service_delete(self, svc: Obj) -> None:
        self.on_service_update(svc, None)

    def on_endpointslice_add(self, s: Obj) -> None:
        if self.endpoints_changes.update(s) and self._services_synced and self._slices_synced:
            self.runner.run()

    def on_endpointslice_update(self, _old: Obj, new: Obj) -> None:
        self.on_endpointslice_add(new)

    def on_endpointslice_delete(self, s: Obj) -> None:
        if self.endpoints_changes.update(s, removed=True) and self._services_synced and self._slices_synced:
            self.runner.run()

    def set_node_ips(self, ips: list[str]) -> None:
        """The addresses NodePorts and LoadBalancer ports are served on (changes trigger a full sync)."""
        if sorted(ips) != sorted(self.node_ips):
            self.node_ips = list(ips)
            self._need_full = True
            self.runner.run()

    def on_services_synced(self) -> None:
        self._services_synced = True
        self._maybe_first_sync()

    def on_endpointslices_synced(self) -> None:
        self._slices_synced = True
        self._maybe_first_sync()

    def _maybe_first_sync(self) -> None:
        if self._services_synced and self._slices_synced:
            self.runner.run()

    # -- sync --------------------------------------------------------------------------------------------------

    async def sync_proxy_rules(self) -> None:
        """Fold pending changes into the maps and have the backend program them (full on first/after error)."""
        if not (self._services_synced and self._slices_synced):
            return
        start = time.perf_counter()
        updated, deleted_udp = self.service_changes.apply(self.service_map)
        changed, stale, newly_active = self.endpoints_changes.apply(self.endpoints_map)
        result = UpdateResult(updated_services=updated | changed, deleted_udp_cluster_ips=deleted_udp,
                              stale_udp_endpoints=stale, newly_active_udp_services=newly_active)
        full = self._need_full
        state = SyncState(self.service_map, self.endpoints_map, result, list(self.node_ips), full)
        try:
            await self.backend.sync(state)
        except Exception:
            self._need_full = True
            self.metrics.sync_failures.inc()
            raise
        self._need_full = False
        elapsed = time.perf_counter() - start
        self.metrics.sync_duration.observe(elapsed)
        (self.metrics.full_sync_duration if full else self.metrics.partial_sync_duration).observe(elapsed)
        self.metrics.last_sync.set_to_current_time()
        self.metrics.services.set(len(self.service_map))
        self.metrics.endpoints.set(sum(len(v) for v in self.endpoints_map.values()))
        self.health.updated()
        log.debug("%s sync (%s): %d service ports, %d changed Services, %.1f ms", self.backend.mode,
                  "full" if full else "partial", len(self.service_map), len(result.updated_services),
                  elapsed * 1000)
        self.synced_event.set()

    async def wait_synced(self, timeout: float = 5.0) -> None:
        """Wait for the next successful sync after now (tests)."""
        self.synced_event.clear()
        await asyncio.wait_for(self.synced_event.wait(), timeout)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        try:
            await self.runner.loop(stop)
        finally:
            await self.backend.cleanup()

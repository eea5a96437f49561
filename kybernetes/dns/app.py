"""`kybernetes dns`: informers on Services, EndpointSlices and Pods feeding a cluster DNS server, plus /health."""

from __future__ import annotations

import asyncio
import logging
import time

from kybernetes.client import RESTClient, SharedInformerFactory, load_kubeconfig
from kybernetes.dns.forward import Forwarder, parse_upstream
from kybernetes.dns.health import HealthServer
from kybernetes.dns.metrics import DNSMetrics
from kybernetes.dns.records import INDEXERS, ClusterRecords
from kybernetes.dns.server import DNSServer

log = logging.getLogger(__name__)

SYNC_TIMEOUT = 5.0  # as CoreDNS: serve after this long even if the caches have not synced


class ClusterDNS:
    """One cluster DNS server: start() syncs the caches and listens; stop() ends it. `addresses` once started."""

    def __init__(self, client: RESTClient, *, listen: list[tuple[str, int]], cluster_domain: str = "cluster.local",
                 upstream: list[str] | None = None, pods: str = "insecure",
                 health_listen: tuple[str, int] | None = None, sync_timeout: float = SYNC_TIMEOUT) -> None:
        self.listen = list(listen)
        self.health_listen = health_listen
        self.sync_timeout = sync_timeout
        self.factory = SharedInformerFactory(client)
        self.services = self.factory.informer_for("", "v1", "services")
        self.slices = self.factory.informer_for("discovery.k8s.io", "v1", "endpointslices")
        self.pods = self.factory.informer_for("", "v1", "pods") if pods != "disabled" else None
        self.services.add_indexers(INDEXERS["services"])
        self.slices.add_indexers(INDEXERS["endpointslices"])
        if self.pods is not None:
            self.pods.add_indexers(INDEXERS["pods"])
        self.records = ClusterRecords(services=self.services.store, endpointslices=self.slices.store,
                                      pods=self.pods.store if self.pods is not None else None,
                                      zone=cluster_domain, pods_mode=pods)
        self.metrics = DNSMetrics(server="dns://" + ",".join(f"{h}:{p}" for h, p in self.listen))
        upstreams = [parse_upstream(u) for u in upstream or () if u]
        forwarder = Forwarder(upstreams, metrics=self.metrics) if upstreams else None
        self.server = DNSServer(self.records, forwarder=forwarder, metrics=self.metrics)
        self.health = HealthServer(self.metrics, self.ready)
        for informer in self.factory.informers():
            informer.add_event_handler(on_add=self._changed, on_update=self._changed, on_delete=self._changed)

    def _changed(self, *_: object) -> None:
        """Move the SOA serial (CoreDNS: the time of the last change)."""
        self.records.serial = max(self.records.serial + 1, int(time.time()))

    def ready(self) -> bool:
        return all(i.has_synced() for i in self.factory.informers())

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return list(self.server.addresses)

    async def start(self) -> None:
        if self.health_listen is not None:
            await self.health.start(*self.health_listen)
        self.factory.start()
        if not await self.factory.wait_for_cache_sync(self.sync_timeout):
            log.warning("caches not synced after %.0fs: serving anyway", self.sync_timeout)
        self.metrics.ready.set(1 if self.ready() else 0)
        await self.server.start(self.listen)
        log.info("cluster DNS for %s serving on %s; upstream %s", self.records.zone,
                 ", ".join(f"{h}:{p}" for h, p in self.addresses),
                 ", ".join(f"{h}:{p}" for h, p in self.server.forwarder.upstreams)
                 if self.server.forwarder else "none (other names REFUSED)")

    async def stop(self) -> None:
        await self.server.stop()
        await self.factory.shutdown()
        await self.health.stop()


async def run_dns(*, kubeconfig: str, listen: list[tuple[str, int]], cluster_domain: str = "cluster.local",
                  upstream: list[str] | None = None, stop: asyncio.Event | None = None,
                  health_listen: tuple[str, int] | None = None, pods: str = "insecure") -> None:
    """Serve cluster DNS on `listen` (UDP and TCP) until `stop` is set. Names outside `cluster_domain` go to
    `upstream` ("ip" or "ip:port"); with none they are REFUSED. `health_listen`: /health, /ready, /metrics."""
    stop = stop or asyncio.Event()
    async with RESTClient(load_kubeconfig(kubeconfig or None)) as client:
        server = ClusterDNS(client, listen=listen, cluster_domain=cluster_domain, upstream=upstream, pods=pods,
                            health_listen=health_listen)
        await server.start()
        try:
            await stop.wait()
        finally:
            await server.stop()

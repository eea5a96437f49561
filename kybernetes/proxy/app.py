"""`kybernetes proxy`: informers on Services, EndpointSlices and Nodes wired to a proxier, plus /healthz, /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from kybernetes.client import RESTClient, SharedInformerFactory, load_kubeconfig
from kybernetes.proxy.healthz import ProxyServers
from kybernetes.proxy.lbstatus import LoadBalancerStatusController
from kybernetes.proxy.metrics import ProxyMetrics
from kybernetes.proxy.nodeaddresses import node_object_ips, nodeport_addresses
from kybernetes.proxy.options import ProxyOptions, choose_mode
from kybernetes.proxy.proxier import Proxier, ProxyBackend
from kybernetes.proxy.types import Obj

log = logging.getLogger(__name__)


def make_backend(mode: str, options: ProxyOptions, metrics: ProxyMetrics) -> ProxyBackend:
    if mode == "nftables":
        from kybernetes.proxy.nftables.proxier import NFTablesProxier

        return NFTablesProxier(service_cidr=options.service_cluster_ip_range, cluster_cidr=options.cluster_cidr,
                               metrics=metrics, cleanup_on_exit=options.cleanup_on_exit)
    from kybernetes.proxy.userspace.proxier import UserspaceProxier

    return UserspaceProxier(metrics=metrics, udp_idle_timeout=options.udp_idle_timeout)


class ProxyServer:
    """One node's proxy: start() lists and watches, syncs the backend, serves health and metrics; stop() ends it."""

    def __init__(self, client: RESTClient, options: ProxyOptions, *, backend: ProxyBackend | None = None,
                 run_lb_controller: bool = True) -> None:
        self.client = client
        self.options = options
        self.node_name = options.hostname_override or socket.gethostname().lower()
        self.metrics = ProxyMetrics()
        if backend is None:
            mode, why = choose_mode(options.mode)
            log.info("using proxy mode %s (%s)", mode, why)
            backend = make_backend(mode, options, self.metrics)
        else:
            backend.metrics = self.metrics  # type: ignore[attr-defined]
        self.backend = backend
        self.proxier = Proxier(backend, node_name=self.node_name, min_sync_period=options.min_sync_period,
                               sync_period=options.sync_period, metrics=self.metrics)
        self.factory = SharedInformerFactory(client)
        self.services = self.factory.informer_for("", "v1", "services")
        self.slices = self.factory.informer_for("discovery.k8s.io", "v1", "endpointslices")
        self.nodes = self.factory.informer_for("", "v1", "nodes")
        self.servers = ProxyServers(self.proxier.health, self.metrics)
        self.lb = LoadBalancerStatusController(client, self.services, self.nodes) if run_lb_controller else None
        self._tasks: list[asyncio.Task[None]] = []

    def _node_ips(self) -> list[str]:
        node = self.nodes.store.get(self.node_name)
        return nodeport_addresses(self.options.nodeport_addresses, node_object_ips(node))

    def _on_node(self, *objs: Obj) -> None:
        if any((o.get("metadata") or {}).get("name") == self.node_name for o in objs):
            self.proxier.set_node_ips(self._node_ips())

    async def start(self) -> None:
        p = self.proxier
        svc_reg = self.services.add_event_handler(on_add=p.on_service_add, on_update=p.on_service_update,
                                                  on_delete=p.on_service_delete)
        eps_reg = self.slices.add_event_handler(on_add=p.on_endpointslice_add, on_update=p.on_endpointslice_update,
                                                on_delete=p.on_endpointslice_delete)
        self.nodes.add_event_handler(on_add=self._on_node, on_update=self._on_node, on_delete=self._on_node)
        await self.servers.start(healthz_addr=self.options.healthz_bind_address,
                                 metrics_addr=self.options.metrics_bind_address)
        self.factory.start()
        self._tasks.append(asyncio.create_task(p.run(), name="proxier"))
        if self.lb is not None:
            self._tasks.append(asyncio.create_task(self.lb.run(), name="lb-status"))
        await self.nodes.wait_for_sync()
        p.node_ips = self._node_ips()
        await svc_reg.wait_for_sync()
        p.on_services_synced()
        await eps_reg.wait_for_sync()
        p.on_endpointslices_synced()
        log.info("proxy for node %s: NodePorts on %s", self.node_name, ", ".join(p.node_ips) or "(none)")

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        await self.factory.shutdown()
        await self.servers.stop()


async def run_proxy(*, kubeconfig: str, options: ProxyOptions, stop: asyncio.Event) -> None:
    """The `kybernetes proxy` program: run until `stop` is set."""
    async with RESTClient(load_kubeconfig(kubeconfig or None)) as client:
        server = ProxyServer(client, options)
        await server.start()
        try:
            await stop.wait()
        finally:
            await server.stop()


async def cleanup_rules(options: ProxyOptions) -> None:
    """`kybernetes proxy --cleanup`: remove the nftables table and pinned route, then exit."""
    from kybernetes.proxy.nftables.proxier import NFTablesProxier

    await NFTablesProxier(service_cidr=options.service_cluster_ip_range).delete_all()

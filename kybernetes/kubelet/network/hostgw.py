"""HostGatewaySync: the node's routes to the other nodes' podCIDRs (host-gw), kept current from a watch of every Node.

A kubelet's own credential may read only its own Node (the Node authorizer), so the watch runs under a separate
identity allowed to list Nodes (like flannel's service account): `--network-kubeconfig`, which `kybernetes server`
points at the node's proxy credential (system:kube-proxy, ClusterRole system:node-proxier).
"""

from __future__ import annotations

import asyncio
import logging

from kybernetes.client.config import load_kubeconfig
from kybernetes.client.informer import SharedInformerFactory
from kybernetes.client.rest import RESTClient
from kybernetes.kubelet.network.routes import HostGatewayRoutes

log = logging.getLogger(__name__)
RESYNC_PERIOD = 30.0  # routes are compared with the Nodes at least this often (someone may have deleted one)


class HostGatewaySync:
    """Level-triggered: every Node change (and every RESYNC_PERIOD) recomputes all routes from the informer cache."""

    def __init__(self, *, kubeconfig: str, node_name: str, cluster_cidr: str,
                 routes: HostGatewayRoutes | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.routes = routes or HostGatewayRoutes(node_name, cluster_cidr)
        self._dirty = asyncio.Event()

    async def run(self) -> None:
        """Watch Nodes and sync routes until cancelled (routes stay: pods keep reaching each other meanwhile)."""
        client = RESTClient(load_kubeconfig(self.kubeconfig))
        informers = SharedInformerFactory(client)
        nodes = informers.informer_for("", "v1", "nodes")
        nodes.add_event_handler(on_add=lambda n: self._dirty.set(), on_update=lambda old, new: self._dirty.set(),
                                on_delete=lambda n: self._dirty.set())
        informers.start()
        try:
            await informers.wait_for_cache_sync()
            log.info("host-gw routes to other nodes' podCIDRs kept from the Node objects")
            while True:
                try:
                    await asyncio.wait_for(self._dirty.wait(), RESYNC_PERIOD)
                except asyncio.TimeoutError:
                    pass
                self._dirty.clear()
                try:
                    await self.routes.sync(nodes.store.list())
                except Exception:  # noqa: BLE001 - again on the next change or resync
                    log.exception("host-gw routes")
                    await asyncio.sleep(1.0)
                    self._dirty.set()
        finally:
            await informers.shutdown()
            await client.close()

"""A k3s-style service load balancer: LoadBalancer Services get the nodes' addresses as their ingress."""

from __future__ import annotations

import asyncio
import logging

from kybernetes.client import ApiError, RESTClient, SharedInformer, resource_path
from kybernetes.proxy.nodeaddresses import node_object_ips
from kybernetes.proxy.types import Obj

log = logging.getLogger(__name__)


def _ready(node: Obj) -> bool:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return True  # a node without conditions yet counts


def desired_ingress(nodes: list[Obj]) -> list[dict[str, str]]:
    """One ingress entry per address of every ready node, sorted (ExternalIP preferred, else InternalIP)."""
    ips: set[str] = set()
    for n in nodes:
        if n.get("spec", {}).get("unschedulable") or not _ready(n):
            continue
        addrs = ((n.get("status") or {}).get("addresses") or [])
        ext = [a["address"] for a in addrs if a.get("type") == "ExternalIP" and ":" not in a.get("address", ":")]
        ips.update(ext or node_object_ips(n))
    return [{"ip": ip} for ip in sorted(ips)]


class LoadBalancerStatusController:
    """Sets status.loadBalancer.ingress of LoadBalancer Services without a loadBalancerClass (idempotent)."""

    def __init__(self, client: RESTClient, services: SharedInformer, nodes: SharedInformer) -> None:
        self.client = client
        self.services = services
        self.nodes = nodes
        self._wake = asyncio.Event()
        services.add_event_handler(on_add=self._kick, on_update=lambda _o, _n: self._kick(),
                                   on_delete=self._kick)
        nodes.add_event_handler(on_add=self._kick, on_update=self._node_update, on_delete=self._kick)

    def _kick(self, *_a: object) -> None:
        self._wake.set()

    def _node_update(self, old: Obj, new: Obj) -> None:
        if node_object_ips(old) != node_object_ips(new) or _ready(old) != _ready(new):
            self._wake.set()

    async def reconcile(self) -> None:
        want = desired_ingress(self.nodes.store.list())
        for svc in self.services.store.list():
            spec = svc.get("spec") or {}
            if spec.get("type") != "LoadBalancer" or spec.get("loadBalancerClass"):
                continue
            have = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if [i.get("ip") for i in have] == [i["ip"] for i in want]:
                continue
            meta = svc["metadata"]
            path = resource_path("", "v1", "services", meta["namespace"], meta["name"]) + "/status"
            try:
                await self.client.patch(path, {"status": {"loadBalancer": {"ingress": want}}}, "merge")
                log.info("service %s/%s: load balancer ingress %s", meta["namespace"], meta["name"],
                         ",".join(i["ip"] for i in want) or "(none)")
            except ApiError as e:
                if not e.not_found:
                    log.warning("service %s/%s: cannot set load balancer status: %s", meta["namespace"],
                                meta["name"], e)

    async def run(self) -> None:
        await self.services.wait_for_sync()
        await self.nodes.wait_for_sync()
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.reconcile()
            except (ApiError, OSError) as e:
                log.warning("load balancer status: %s; retrying", e)
                await asyncio.sleep(1)
                self._wake.set()

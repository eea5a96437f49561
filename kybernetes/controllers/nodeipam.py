"""Node IPAM: each Node gets spec.podCIDR(s) from the cluster CIDR, released on delete, rebuilt on start."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

from kybernetes.client import ApiError, resource_path
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class CIDRRangeFull(Exception):
    """Every sub-CIDR of the cluster CIDR is in use."""


class CIDRSet:
    """The /mask sub-networks of one cluster CIDR, handed out in order from a rotating cursor (upstream's cidrset)."""

    def __init__(self, cluster_cidr: str, node_mask_size: int) -> None:
        self.cluster = ipaddress.ip_network(cluster_cidr, strict=False)
        if node_mask_size < self.cluster.prefixlen or node_mask_size > self.cluster.max_prefixlen:
            raise ValueError(f"node CIDR mask size {node_mask_size} does not fit in {self.cluster}")
        self.mask = node_mask_size
        self.max_cidrs = 1 << (node_mask_size - self.cluster.prefixlen)
        self._used: set[int] = set()
        self._next = 0

    def _index(self, cidr: str) -> int:
        net = ipaddress.ip_network(cidr, strict=False)
        if net.version != self.cluster.version or not net.subnet_of(self.cluster):  # type: ignore[arg-type]
            raise ValueError(f"{cidr} is not within the cluster CIDR {self.cluster}")
        if net.prefixlen != self.mask:
            raise ValueError(f"{cidr} does not have mask size {self.mask}")
        return (int(net.network_address) - int(self.cluster.network_address)) >> (self.cluster.max_prefixlen - self.mask)

    def _cidr(self, index: int) -> str:
        base = int(self.cluster.network_address) + (index << (self.cluster.max_prefixlen - self.mask))
        return str(ipaddress.ip_network((base, self.mask)))

    def allocate_next(self) -> str:
        """The next free sub-CIDR; raises CIDRRangeFull."""
        for i in range(self.max_cidrs):
            idx = (self._next + i) % self.max_cidrs
            if idx not in self._used:
                self._used.add(idx)
                self._next = (idx + 1) % self.max_cidrs
                return self._cidr(idx)
        raise CIDRRangeFull(f"CIDR allocation failed; there are no remaining CIDRs left to allocate in {self.cluster}")

    def occupy(self, cidr: str) -> None:
        """Mark `cidr` as used (a node already has it)."""
        self._used.add(self._index(cidr))

    def release(self, cidr: str) -> None:
        self._used.discard(self._index(cidr))

    def in_use(self, cidr: str) -> bool:
        return self._index(cidr) in self._used

    def __len__(self) -> int:
        return len(self._used)


def node_cidrs(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    return list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))


class NodeIpamController:
    """The range allocator: assigns one podCIDR per node; the set is rebuilt from existing nodes before work."""

    name = "nodeipam"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.recorder = ctx.recorder("cidrAllocator")
        self.cidrs = CIDRSet(ctx.options.cluster_cidr, ctx.options.node_cidr_mask_size)
        self.assigned: dict[str, str] = {}  # node name -> the CIDR this allocator holds for it
        self.nodes = ctx.informers.informer_for("", "v1", "nodes")
        self.worker = QueueWorker(self.name, self.reconcile)
        self.nodes.add_event_handler(on_add=self.worker.enqueue_object, on_update=self.worker.enqueue_object,
                                     on_delete=self.worker.enqueue_object)

    def occupy_existing(self) -> None:
        """Rebuild the allocation map from the nodes in the cache (on start, before any allocation)."""
        for node in self.nodes.store.list():
            for cidr in node_cidrs(node):
                try:
                    self.cidrs.occupy(cidr)
                    self.assigned[node["metadata"]["name"]] = cidr
                except ValueError as e:
                    log.warning("%s: node %s: %s", self.name, node["metadata"]["name"], e)

    async def reconcile(self, key: str) -> Result:
        node = self.nodes.store.get_by_key(key)
        held = self.assigned.get(key)
        if node is None:
            if held is not None:
                self.cidrs.release(held)
                del self.assigned[key]
            return Result()
        have = node_cidrs(node)
        if have:
            if held is not None and held not in have:
                self.cidrs.release(held)  # someone else set it; keep what the node says
            self.assigned.pop(key, None)
            for cidr in have:
                try:
                    if not self.cidrs.in_use(cidr):
                        self.cidrs.occupy(cidr)
                    self.assigned[key] = cidr
                except ValueError:
                    pass
            return Result()
        if held is None:  # never twice: a node we already gave a CIDR keeps it even if the cache lags
            try:
                held = self.cidrs.allocate_next()
            except CIDRRangeFull as e:
                self.recorder.event(node, "Normal", "CIDRNotAvailable",
                                    f"Node {key} status is now: CIDRNotAvailable")
                log.error("%s: %s", self.name, e)
                return Result(requeue_after=30.0)
            self.assigned[key] = held
        try:
            await self.client.patch(resource_path("", "v1", "nodes", name=key),
                                    {"spec": {"podCIDR": held, "podCIDRs": [held]}})
        except ApiError as e:
            if e.not_found:
                self.cidrs.release(held)
                self.assigned.pop(key, None)
                return Result()
            raise
        return Result()

    async def run(self, workers: int) -> None:
        if not self.ctx.options.allocate_node_cidrs:
            await asyncio.Event().wait()  # disabled (--allocate-node-cidrs=false): idle until cancelled
        self.ctx.informers.start()
        await self.ctx.informers.wait_for_cache_sync()
        self.occupy_existing()
        await self.worker.run(workers)


CONTROLLER = NodeIpamController

"""EndpointSlice mirroring: custom Endpoints of selector-less Services copied into EndpointSlices."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kybernetes.client import ApiError, meta_namespace_key, split_key
from kybernetes.controllers import endpointutil as eu
from kybernetes.controllers.context import ControllerContext
from kybernetes.controllers.endpointslice import (GROUP, PLURAL, VERSION, PortsKey, SlicePlan, SliceTracker,
                                                  address_type, apply_plan, plan_slices, ports_key, service_index)
from kybernetes.controllers.base import QueueWorker, Result

log = logging.getLogger(__name__)

Obj = dict[str, Any]

CONTROLLER_NAME = "endpointslicemirroring-controller.k8s.io"
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"
MAX_ENDPOINTS_PER_SLICE = 1000  # upstream's --mirroring-max-endpoints-per-subset


def should_mirror(endpoints: Obj | None, service: Obj | None) -> bool:
    """Mirror when the Endpoints exist, are not labelled skip-mirror, and their Service has no selector."""
    if endpoints is None or service is None:
        return False
    if ((endpoints.get("metadata") or {}).get("labels") or {}).get(SKIP_MIRROR_LABEL) == "true":
        return False
    return not (service.get("spec") or {}).get("selector")


def _address_to_endpoint(addr: Obj, ready: bool) -> Obj:
    ep: Obj = {"addresses": [addr["ip"]], "conditions": {"ready": ready}}
    for f in ("nodeName", "hostname"):
        if addr.get(f):
            ep[f] = addr[f]
    if addr.get("targetRef"):
        ep["targetRef"] = {k: v for k, v in addr["targetRef"].items() if v}
    return ep


def mirrored_endpoints(endpoints: Obj) -> dict[str, dict[PortsKey, tuple[list[Obj], list[Obj]]]]:
    """addressType -> port-set key -> (ports, endpoints) from the Endpoints' subsets."""
    out: dict[str, dict[PortsKey, tuple[list[Obj], list[Obj]]]] = {}
    for subset in endpoints.get("subsets") or []:
        ports = [{k: v for k, v in {"name": p.get("name", ""), "port": p.get("port"),
                                    "protocol": p.get("protocol") or "TCP",
                                    "appProtocol": p.get("appProtocol")}.items() if v is not None}
                 for p in subset.get("ports") or []]
        key = ports_key(ports)
        for field, ready in (("addresses", True), ("notReadyAddresses", False)):
            for addr in subset.get(field) or []:
                if not addr.get("ip"):
                    continue
                group = out.setdefault(address_type(addr["ip"]), {})
                group.setdefault(key, (ports, []))[1].append(_address_to_endpoint(addr, ready))
    return out


class EndpointSliceMirroringController:
    """Keeps mirrored EndpointSlices (owned by the Endpoints) in step with custom Endpoints."""

    name = "endpointslicemirroring"
    index_name = "endpointslicemirroring-service"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.recorder = ctx.recorder("endpointslice-mirroring-controller")
        self.services = ctx.informers.informer_for("", "v1", "services")
        self.endpoints = ctx.informers.informer_for("", "v1", "endpoints")
        self.slices = ctx.informers.informer_for(GROUP, VERSION, PLURAL)
        try:
            self.slices.add_indexers({self.index_name: service_index(CONTROLLER_NAME)})
        except ValueError:
            pass
        self.worker = QueueWorker("endpointslicemirroring", self.reconcile)
        self.tracker = SliceTracker()
        for inf in (self.services, self.endpoints):
            inf.add_event_handler(on_add=self._enqueue, on_update=lambda o, n: self._enqueue(n),
                                  on_delete=self._enqueue)
        self.slices.add_event_handler(on_add=self._slice_changed, on_update=lambda o, n: self._slice_changed(n),
                                      on_delete=self._slice_changed)

    def _enqueue(self, obj: Obj) -> None:
        self.worker.enqueue(meta_namespace_key(obj))

    def _slice_changed(self, s: Obj) -> None:
        for key in service_index(CONTROLLER_NAME)(s):
            self.worker.enqueue(key)

    def _build(self, endpoints: Obj, addr_type: str) -> Callable[[list[Obj], list[Obj]], Obj]:
        md = endpoints["metadata"]
        labels = {k: v for k, v in (md.get("labels") or {}).items()}
        labels[eu.SERVICE_NAME_LABEL] = md["name"]
        labels[eu.MANAGED_BY_LABEL] = CONTROLLER_NAME
        owner = eu.owner_ref(endpoints, "v1", "Endpoints")

        def build(ports: list[Obj], eps: list[Obj]) -> Obj:
            return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"generateName": md["name"] + "-", "namespace": md.get("namespace"),
                                 "labels": dict(labels), "ownerReferences": [owner]},
                    "addressType": addr_type, "endpoints": eps, "ports": ports}
        return build

    async def reconcile(self, key: str) -> Result:
        namespace, _ = split_key(key)
        if self.tracker.stale(key, namespace, self.slices.store):
            return Result(requeue_after=0.2)
        endpoints = self.endpoints.store.get_by_key(key)
        service = self.services.store.get_by_key(key)
        existing = [s for s in self.slices.store.by_index(self.index_name, key)
                    if not s["metadata"].get("deletionTimestamp")]
        written: dict[str, int] = {}
        try:
            desired = mirrored_endpoints(endpoints) if should_mirror(endpoints, service) else {}
            for addr_type in sorted(set(desired) | {s.get("addressType", "IPv4") for s in existing}):
                mine = [s for s in existing if s.get("addressType", "IPv4") == addr_type]
                groups = desired.get(addr_type)
                if groups and endpoints is not None:
                    plan = plan_slices(mine, groups, self._build(endpoints, addr_type),
                                       max_per_slice=MAX_ENDPOINTS_PER_SLICE)
                else:
                    plan = SlicePlan(delete=mine)
                written.update(await apply_plan(self.client, namespace, plan))
        except ApiError as e:
            if e.code == 403 and "being terminated" in e.message:
                return Result()
            if e.conflict:
                return Result(requeue=True)
            if endpoints is not None:
                self.recorder.event(endpoints, "Warning", "FailedToUpdateEndpointSlices",
                                    f"Error updating EndpointSlices for Endpoints {key}: {e.message}")
            raise
        finally:
            if written:
                self.tracker.record(key, written)
        return Result()

    async def run(self, workers: int) -> None:
        self.ctx.informers.start()
        await self.ctx.informers.wait_for_cache_sync()
        await self.worker.run(workers)


CONTROLLER = EndpointSliceMirroringController

"""EndpointSlice controller: EndpointSlices (IPv4, at most 100 endpoints each) per Service with a selector."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kybernetes.client import ApiError, meta_namespace_key, resource_path, split_key
from kybernetes.controllers import endpointutil as eu
from kybernetes.controllers.context import ControllerContext
from kybernetes.controllers.base import QueueWorker, Result

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PortsKey = tuple[tuple[str, int, str, str], ...]

CONTROLLER_NAME = "endpointslice-controller.k8s.io"
MAX_ENDPOINTS_PER_SLICE = 100
ZONE_LABEL = "topology.kubernetes.io/zone"
GROUP, VERSION, PLURAL = "discovery.k8s.io", "v1", "endpointslices"


def ports_key(ports: list[Obj]) -> PortsKey:
    return tuple(sorted((p.get("name", ""), p.get("port", 0), p.get("protocol", "TCP"), p.get("appProtocol", ""))
                        for p in ports))


def address_type(ip: str) -> str:
    return "IPv6" if ":" in ip else "IPv4"


def pod_to_endpoint(pod: Obj, service: Obj, node: Obj | None) -> Obj:
    """Upstream's podToEndpoint: ready only when serving and not terminating (unless publishNotReadyAddresses)."""
    serving = eu.is_pod_ready(pod)
    terminating = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses")) or (serving and not terminating)
    ep: Obj = {"addresses": [eu.pod_ip(pod)],
               "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
               "targetRef": eu.object_ref(pod, "Pod")}
    node_name = (pod.get("spec") or {}).get("nodeName")
    if node_name:
        ep["nodeName"] = node_name
    zone = ((node or {}).get("metadata") or {}).get("labels", {}).get(ZONE_LABEL)
    if zone:
        ep["zone"] = zone
    if eu.should_set_hostname(pod, service):
        ep["hostname"] = pod["spec"]["hostname"]
    return ep


def desired_endpoints(service: Obj, pods: list[Obj], nodes: dict[str, Obj],
                      addr_type: str = "IPv4") -> dict[PortsKey, tuple[list[Obj], list[Obj]]]:
    """Endpoints of the Service's pods grouped by the port set they resolve to: key -> (ports, endpoints)."""
    service_ports = (service.get("spec") or {}).get("ports") or []
    groups: dict[PortsKey, tuple[list[Obj], list[Obj]]] = {}
    for pod in pods:
        if not eu.should_pod_be_in_endpoints(pod, True) or address_type(eu.pod_ip(pod)) != addr_type:
            continue
        ports = []
        for sp in service_ports:
            num = eu.find_port(pod, sp)
            if num is not None:
                ports.append(eu.endpoint_port(sp, num))
        if service_ports and not ports:
            continue
        key = ports_key(ports)
        node = nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        groups.setdefault(key, (sorted(ports, key=lambda p: (p["name"], p["port"])), []))[1].append(
            pod_to_endpoint(pod, service, node))
    for _, eps in groups.values():
        eps.sort(key=lambda e: (e["addresses"][0], (e.get("targetRef") or {}).get("name", "")))
    return groups


@dataclass
class SlicePlan:
    """What to write for one Service: new slices, changed slices (with resourceVersion), slices to delete."""

    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)


def _slice_changed(cur: Obj, want: Obj) -> bool:
    return (eu.prune(cur.get("endpoints") or []) != eu.prune(want.get("endpoints") or [])
            or eu.prune(cur.get("ports") or []) != eu.prune(want.get("ports") or [])
            or (cur.get("metadata") or {}).get("labels") != want["metadata"].get("labels")
            or cur.get("addressType") != want.get("addressType")
            or ((cur.get("metadata") or {}).get("annotations") or {}) != (want["metadata"].get("annotations") or {}))


def plan_slices(existing: list[Obj], desired: dict[PortsKey, tuple[list[Obj], list[Obj]]],
                build: Callable[[list[Obj], list[Obj]], Obj], *,
                max_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> SlicePlan:
    """Pack each port set's endpoints into slices of at most `max_per_slice`, reusing existing slices first.

    With no endpoints at all one empty placeholder slice is kept, as upstream does.
    """
    if not desired:
        desired = {(): ([], [])}
    by_key: dict[PortsKey, list[Obj]] = {}
    for s in sorted(existing, key=lambda s: s["metadata"]["name"]):
        by_key.setdefault(ports_key(s.get("ports") or []), []).append(s)
    plan = SlicePlan()
    wanted: list[Obj] = []  # bodies without a slice to reuse yet
    for key, (ports, eps) in sorted(desired.items()):
        chunks = [eps[i:i + max_per_slice] for i in range(0, len(eps), max_per_slice)] or [[]]
        current = by_key.pop(key, [])
        for i, chunk in enumerate(chunks):
            body = build(ports, chunk)
            if i < len(current):
                _reuse(current[i], body, plan)
            else:
                wanted.append(body)
        if len(current) > len(chunks):
            by_key[key] = current[len(chunks):]
    spare = [s for slices in by_key.values() for s in slices]
    for body in wanted:
        if spare:
            _reuse(spare.pop(0), body, plan)
        else:
            plan.create.append(body)
    plan.delete.extend(spare)
    return plan


def _reuse(cur: Obj, body: Obj, plan: SlicePlan) -> None:
    if _slice_changed(cur, body):
        body["metadata"]["name"] = cur["metadata"]["name"]
        body["metadata"].pop("generateName", None)
        body["metadata"]["resourceVersion"] = cur["metadata"].get("resourceVersion")
        plan.update.append(body)


def service_slice_labels(service: Obj, managed_by: str) -> dict[str, str]:
    labels = {k: v for k, v in ((service.get("metadata") or {}).get("labels") or {}).items()
              if k not in (eu.SERVICE_NAME_LABEL, eu.MANAGED_BY_LABEL)}
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[eu.HEADLESS_LABEL] = ""
    labels[eu.SERVICE_NAME_LABEL] = service["metadata"]["name"]
    labels[eu.MANAGED_BY_LABEL] = managed_by
    return labels


async def apply_plan(client: Any, namespace: str, plan: SlicePlan) -> dict[str, int]:
    """Write a plan: creates and updates first, deletes last, so readers never see a gap.

    Returns name -> resourceVersion written (-1 for deleted), for the caller's stale-cache check.
    """
    written: dict[str, int] = {}
    for body in plan.create:
        out = await client.create(resource_path(GROUP, VERSION, PLURAL, namespace), body)
        written[out["metadata"]["name"]] = int(out["metadata"]["resourceVersion"])
    for body in plan.update:
        out = await client.update(resource_path(GROUP, VERSION, PLURAL, namespace, body["metadata"]["name"]), body)
        written[out["metadata"]["name"]] = int(out["metadata"]["resourceVersion"])
    for s in plan.delete:
        try:
            await client.delete(resource_path(GROUP, VERSION, PLURAL, namespace, s["metadata"]["name"]))
        except ApiError as e:
            if not e.not_found:
                raise
        written[s["metadata"]["name"]] = -1
    return written


class SliceTracker:
    """Upstream's endpointSliceTracker, reduced: which of our own writes the informer cache has not shown yet."""

    def __init__(self) -> None:
        self._written: dict[str, dict[str, int]] = {}

    def record(self, key: str, written: dict[str, int]) -> None:
        self._written.setdefault(key, {}).update(written)

    def stale(self, key: str, namespace: str, store: Any) -> bool:
        """True while the cache lacks a slice we wrote for `key` or still holds one we deleted."""
        pending = self._written.get(key)
        if not pending:
            return False
        for name, rv in list(pending.items()):
            cur = store.get(name, namespace)
            seen = int(cur["metadata"].get("resourceVersion") or 0) if cur is not None else -1
            if (rv < 0 and cur is None) or (rv >= 0 and seen >= rv):
                del pending[name]
        if not pending:
            del self._written[key]
        return bool(pending)


def service_index(managed_by: str) -> Callable[[Obj], list[str]]:
    """Index slices by 'namespace/service' when managed by `managed_by`."""
    def index(s: Obj) -> list[str]:
        labels = (s.get("metadata") or {}).get("labels") or {}
        svc = labels.get(eu.SERVICE_NAME_LABEL)
        if not svc or labels.get(eu.MANAGED_BY_LABEL) != managed_by:
            return []
        return [f"{s['metadata'].get('namespace', '')}/{svc}"]
    return index


class EndpointSliceController:
    """Keeps EndpointSlices owned by each selector Service in step with its pods."""

    name = "endpointslice"
    index_name = "endpointslice-controller-service"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.recorder = ctx.recorder("endpoint-slice-controller")
        self.services = ctx.informers.informer_for("", "v1", "services")
        self.pods = ctx.informers.informer_for("", "v1", "pods")
        self.nodes = ctx.informers.informer_for("", "v1", "nodes")
        self.slices = ctx.informers.informer_for(GROUP, VERSION, PLURAL)
        try:
            self.slices.add_indexers({self.index_name: service_index(CONTROLLER_NAME)})
        except ValueError:
            pass
        self.worker = QueueWorker("endpointslice", self.reconcile)
        self.tracker = SliceTracker()
        self.services.add_event_handler(on_add=self._enqueue, on_update=lambda o, n: self._enqueue(n),
                                        on_delete=self._enqueue)
        self.pods.add_event_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                                    on_delete=self._pod_changed)
        self.slices.add_event_handler(on_add=self._slice_changed, on_update=lambda o, n: self._slice_changed(n),
                                      on_delete=self._slice_changed)

    def _enqueue(self, obj: Obj) -> None:
        self.worker.enqueue(meta_namespace_key(obj))

    def _slice_changed(self, s: Obj) -> None:
        for key in service_index(CONTROLLER_NAME)(s):
            self.worker.enqueue(key)

    def _pod_changed(self, pod: Obj) -> None:
        for svc in self.services.store.list((pod.get("metadata") or {}).get("namespace", "")):
            if eu.service_selects(svc, pod):
                self._enqueue(svc)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if old.get("metadata", {}).get("resourceVersion") != new.get("metadata", {}).get("resourceVersion"):
            self._pod_changed(old)
            self._pod_changed(new)

    def _build(self, service: Obj, pods: list[Obj]) -> Callable[[list[Obj], list[Obj]], Obj]:
        md = service["metadata"]
        labels = service_slice_labels(service, CONTROLLER_NAME)
        when = eu.trigger_time(service, pods)
        owner = eu.owner_ref(service, "v1", "Service")

        def build(ports: list[Obj], endpoints: list[Obj]) -> Obj:
            meta: Obj = {"generateName": md["name"] + "-", "namespace": md.get("namespace"),
                         "labels": dict(labels), "ownerReferences": [owner]}
            if when:
                meta["annotations"] = {eu.TRIGGER_TIME_ANNOTATION: when}
            return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta,
                    "addressType": "IPv4", "endpoints": endpoints, "ports": ports}
        return build

    async def reconcile(self, key: str) -> Result:
        namespace, _ = split_key(key)
        service = self.services.store.get_by_key(key)
        if service is None or not (service.get("spec") or {}).get("selector"):
            return Result()  # the garbage collector removes slices of deleted Services through ownerReferences
        if self.tracker.stale(key, namespace, self.slices.store):
            return Result(requeue_after=0.2)
        uid = service["metadata"].get("uid")
        existing = [s for s in self.slices.store.by_index(self.index_name, key)
                    if s.get("addressType") == "IPv4" and not s["metadata"].get("deletionTimestamp")
                    and all(r.get("uid") == uid for r in s["metadata"].get("ownerReferences") or [])]
        pods = eu.selected_pods(service, self.pods.store.list(namespace))
        nodes = {n["metadata"]["name"]: n for n in self.nodes.store.list()}
        desired = desired_endpoints(service, pods, nodes)
        plan = plan_slices(existing, desired, self._build(service, pods))
        if not (plan.create or plan.update or plan.delete):
            return Result()
        try:
            self.tracker.record(key, await apply_plan(self.client, namespace, plan))
        except ApiError as e:
            if e.code == 403 and "being terminated" in e.message:
                return Result()
            if e.conflict:
                return Result(requeue=True)
            self.recorder.event(service, "Warning", "FailedToUpdateEndpointSlices",
                                f"Error updating Endpoint Slices for Service {key}: {e.message}")
            raise
        return Result()

    async def run(self, workers: int) -> None:
        self.ctx.informers.start()
        await self.ctx.informers.wait_for_cache_sync()
        await self.worker.run(workers)


CONTROLLER = EndpointSliceController

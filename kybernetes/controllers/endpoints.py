"""Endpoints controller: one Endpoints object per Service with a selector, from its pods' IPs and readiness."""

from __future__ import annotations

import logging
from typing import Any

from kybernetes.client import ApiError, meta_namespace_key, resource_path, split_key
from kybernetes.controllers import endpointutil as eu
from kybernetes.controllers.context import ControllerContext
from kybernetes.controllers.base import QueueWorker, Result

log = logging.getLogger(__name__)

Obj = dict[str, Any]


def _port_key(p: Obj) -> tuple[str, int, str, str]:
    return (p.get("name", ""), p.get("port", 0), p.get("protocol", "TCP"), p.get("appProtocol", ""))


def pod_address(pod: Obj, service: Obj) -> Obj:
    """The EndpointAddress of a pod: ip, nodeName, targetRef (and hostname for a matching subdomain)."""
    addr: Obj = {"ip": eu.pod_ip(pod), "targetRef": eu.object_ref(pod, "Pod")}
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        addr["nodeName"] = node
    if eu.should_set_hostname(pod, service):
        addr["hostname"] = pod["spec"]["hostname"]
    return addr


def compute_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The Endpoints subsets for `service` from candidate `pods` (already selected), repacked by port set."""
    spec = service.get("spec") or {}
    tolerate = bool(spec.get("publishNotReadyAddresses"))
    service_ports = spec.get("ports") or []
    groups: dict[frozenset[tuple[str, int, str, str]], dict[str, list[Obj]]] = {}
    for pod in pods:
        if not eu.should_pod_be_in_endpoints(pod, tolerate):
            continue
        ports: list[Obj] = []
        for sp in service_ports:
            num = eu.find_port(pod, sp)
            if num is not None:
                ports.append(eu.endpoint_port(sp, num))
        if service_ports and not ports:
            continue  # no port resolves on this pod (e.g. a named port it lacks)
        if not service_ports and spec.get("clusterIP") != "None":
            continue
        ready = tolerate or eu.is_pod_ready(pod)
        key = frozenset(_port_key(p) for p in ports)
        g = groups.setdefault(key, {"addresses": [], "notReadyAddresses": [], "ports": ports})
        g["addresses" if ready else "notReadyAddresses"].append(pod_address(pod, service))
    subsets = []
    for g in groups.values():
        subset: Obj = {}
        for field in ("addresses", "notReadyAddresses"):
            if g[field]:
                subset[field] = sorted(g[field], key=lambda a: (a["ip"], a["targetRef"]["uid"]))
        if g["ports"]:
            subset["ports"] = sorted(g["ports"], key=_port_key)
        subsets.append(subset)
    subsets.sort(key=lambda s: [_port_key(p) for p in s.get("ports", [])])
    return subsets


def desired_labels(service: Obj) -> dict[str, str]:
    labels = dict((service.get("metadata") or {}).get("labels") or {})
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[eu.HEADLESS_LABEL] = ""
    else:
        labels.pop(eu.HEADLESS_LABEL, None)
    return labels


def endpoints_up_to_date(current: Obj, subsets: list[Obj], labels: dict[str, str]) -> bool:
    return eu.prune(current.get("subsets") or []) == eu.prune(subsets) and \
        ((current.get("metadata") or {}).get("labels") or {}) == labels


class EndpointsController:
    """Keeps Endpoints in step with Services' selected pods (the `kubernetes` Service is the apiserver's)."""

    name = "endpoint"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.recorder = ctx.recorder("endpoint-controller")
        self.services = ctx.informers.informer_for("", "v1", "services")
        self.pods = ctx.informers.informer_for("", "v1", "pods")
        self.endpoints = ctx.informers.informer_for("", "v1", "endpoints")
        self.worker = QueueWorker("endpoint", self.reconcile)
        self.services.add_event_handler(on_add=self._enqueue, on_update=lambda o, n: self._enqueue(n),
                                        on_delete=self._enqueue)
        self.pods.add_event_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                                    on_delete=self._pod_changed)
        self.endpoints.add_event_handler(on_delete=self._enqueue)

    def _enqueue(self, obj: Obj) -> None:
        self.worker.enqueue(meta_namespace_key(obj))

    def _pod_changed(self, pod: Obj) -> None:
        for svc in self.services.store.list((pod.get("metadata") or {}).get("namespace", "")):
            if eu.service_selects(svc, pod):
                self._enqueue(svc)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if old.get("metadata", {}).get("resourceVersion") == new.get("metadata", {}).get("resourceVersion"):
            return
        self._pod_changed(old)
        self._pod_changed(new)

    async def reconcile(self, key: str) -> Result:
        namespace, name = split_key(key)
        if (namespace, name) == ("default", "kubernetes"):
            return Result()  # the apiserver maintains it
        service = self.services.store.get_by_key(key)
        current = self.endpoints.store.get_by_key(key)
        if service is None:
            if current is not None:
                try:
                    await self.client.delete(resource_path("", "v1", "endpoints", namespace, name))
                except ApiError as e:
                    if not e.not_found:
                        raise
            return Result()
        if not (service.get("spec") or {}).get("selector"):
            return Result()  # Endpoints of selector-less Services are the user's
        pods = eu.selected_pods(service, self.pods.store.list(namespace))
        subsets = compute_subsets(service, pods)
        labels = desired_labels(service)
        if current is not None and endpoints_up_to_date(current, subsets, labels):
            return Result()
        annotations = dict(((current or {}).get("metadata") or {}).get("annotations") or {})
        when = eu.trigger_time(service, pods)
        if when:
            annotations[eu.TRIGGER_TIME_ANNOTATION] = when
        else:
            annotations.pop(eu.TRIGGER_TIME_ANNOTATION, None)
        body: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                     "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
                     "subsets": subsets}
        try:
            if current is None:
                await self.client.create(resource_path("", "v1", "endpoints", namespace), body)
            else:
                body["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
                await self.client.update(resource_path("", "v1", "endpoints", namespace, name), body)
        except ApiError as e:
            if e.code == 403 and e.reason == "Forbidden" and "being terminated" in e.message:
                return Result()  # the namespace is going away
            if e.conflict or (current is None and e.code == 409):
                return Result(requeue=True)
            verb = "create" if current is None else "update"
            self.recorder.event(service, "Warning", "FailedToCreateEndpoint" if current is None
                                else "FailedToUpdateEndpoint", f"Failed to {verb} endpoint {key}: {e.message}")
            raise
        return Result()

    async def run(self, workers: int) -> None:
        self.ctx.informers.start()
        await self.ctx.informers.wait_for_cache_sync()
        await self.worker.run(workers)


CONTROLLER = EndpointsController

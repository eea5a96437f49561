"""Pod garbage collector: terminated pods beyond a threshold, pods of vanished nodes, unscheduled terminating pods."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kybernetes.api import meta
from kybernetes.client import ApiError, Clock, RealClock, resource_path
from kybernetes.controllers.context import ControllerContext

log = logging.getLogger(__name__)

Obj = dict[str, Any]

GC_CHECK_PERIOD = 20.0
QUARANTINE_TIME = 40.0


def is_terminated(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _evicted(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("reason") == "Evicted"


def terminated_pods_to_delete(pods: list[Obj], threshold: int) -> list[Obj]:
    """Terminated pods beyond `threshold`, evicted ones first, then oldest first (0 disables)."""
    if threshold <= 0:
        return []
    terminated = [p for p in pods if is_terminated(p)]
    excess = len(terminated) - threshold
    if excess <= 0:
        return []
    terminated.sort(key=lambda p: (not _evicted(p), (p.get("metadata") or {}).get("creationTimestamp") or "",
                                   (p.get("metadata") or {}).get("name", "")))
    return terminated[:excess]


def orphaned_node_names(pods: list[Obj], nodes: set[str]) -> set[str]:
    """Names of nodes that pods are bound to but that are not in the node cache."""
    return {n for p in pods if (n := (p.get("spec") or {}).get("nodeName")) and n not in nodes}


def unscheduled_terminating(pods: list[Obj]) -> list[Obj]:
    return [p for p in pods if (p.get("metadata") or {}).get("deletionTimestamp")
            and not (p.get("spec") or {}).get("nodeName")]


class PodGCController:
    """A periodic sweep (upstream's gcCheckPeriod) over the pod and node caches."""

    name = "podgc"

    def __init__(self, ctx: ControllerContext, *, clock: Clock | None = None) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.clock = clock or RealClock()
        self.threshold = ctx.options.terminated_pod_gc_threshold
        self.period = float(ctx.options.extra.get("podgc_period", GC_CHECK_PERIOD))
        self.quarantine = float(ctx.options.extra.get("podgc_quarantine", QUARANTINE_TIME))
        self.pods = ctx.informers.informer_for("", "v1", "pods")
        self.nodes = ctx.informers.informer_for("", "v1", "nodes")
        self.missing_since: dict[str, float] = {}  # node name -> when it was first seen missing

    async def gc(self) -> None:
        """One sweep."""
        pods = self.pods.store.list()
        for pod in terminated_pods_to_delete(pods, self.threshold):
            await self.delete_pod(pod, None)
        await self.gc_orphaned(pods)
        for pod in unscheduled_terminating(pods):
            await self.delete_pod(pod, None)

    async def gc_orphaned(self, pods: list[Obj]) -> None:
        nodes = {n["metadata"]["name"] for n in self.nodes.store.list()}
        missing = orphaned_node_names(pods, nodes)
        now = self.clock.now()
        for name in list(self.missing_since):
            if name not in missing:
                del self.missing_since[name]
        for name in missing:
            first = self.missing_since.setdefault(name, now)
            if now - first < self.quarantine:
                continue
            try:  # verify with the apiserver before deleting: the cache may lag
                await self.client.get(resource_path("", "v1", "nodes", name=name))
                continue
            except ApiError as e:
                if not e.not_found:
                    continue
            for pod in pods:
                if (pod.get("spec") or {}).get("nodeName") == name:
                    await self.delete_pod(pod, {"type": "DisruptionTarget", "status": "True",
                                                "reason": "DeletionByPodGC",
                                                "message": "PodGC: node no longer exists"})

    async def delete_pod(self, pod: Obj, condition: Obj | None) -> None:
        """Force-delete (grace 0); pods not yet terminal are first marked Failed, as upstream does."""
        md = pod["metadata"]
        ns, name = md.get("namespace", ""), md["name"]
        log.info("%s: deleting pod %s/%s", self.name, ns, name)
        try:
            if condition is not None and not is_terminated(pod):
                cond = dict(condition, lastTransitionTime=meta.now_rfc3339())
                await self.client.patch(resource_path("", "v1", "pods", ns, name, "status"),
                                        {"status": {"phase": "Failed", "conditions": [cond]}}, "strategic")
            await self.client.delete(resource_path("", "v1", "pods", ns, name),
                                     body={"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                                           "preconditions": {"uid": md.get("uid")}})
        except ApiError as e:
            if not (e.not_found or e.conflict):
                log.warning("%s: deleting pod %s/%s: %s", self.name, ns, name, e)

    async def run(self, workers: int) -> None:
        self.ctx.informers.start()
        await self.ctx.informers.wait_for_cache_sync()
        while True:
            try:
                await self.gc()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 -- one bad sweep must not end the loop
                log.exception("%s: sweep failed", self.name)
            await asyncio.sleep(self.period)


CONTROLLER = PodGCController

"""ResourceQuota controller: keeps each quota's status.hard (= spec.hard) and status.used current, recomputing a
namespace's quotas whenever a tracked object there changes, and every sync period for the others."""

from __future__ import annotations

import logging
from typing import Any, Iterable

from kybernetes.api import quota
from kybernetes.client import ApiError, resource_path
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext

log = logging.getLogger(__name__)

Obj = dict[str, Any]

# resources watched through shared informers (changes re-sync their namespace's quotas at once)
WATCHED: tuple[tuple[str, str, str], ...] = (
    ("", "v1", "pods"), ("", "v1", "services"), ("", "v1", "configmaps"), ("", "v1", "secrets"),
    ("", "v1", "persistentvolumeclaims"), ("", "v1", "replicationcontrollers"),
)
SYNC_PERIOD = 30.0  # upstream's --resource-quota-sync-period is 5m; counts of unwatched resources refresh here


def desired_status(q: Obj, used: quota.ResourceList) -> Obj:
    hard = (q.get("spec") or {}).get("hard") or {}
    return {"hard": dict(hard), "used": {k: quota.format_quantity(k, used.get(k, 0)) for k in hard}}  # type: ignore[arg-type]


def status_equal(a: Obj | None, b: Obj) -> bool:
    a = a or {}
    return (a.get("hard") or {}) == b["hard"] and {k: quota.quantity(v) for k, v in (a.get("used") or {}).items()} \
        == {k: quota.quantity(v) for k, v in b["used"].items()}


class ResourceQuotaController:
    """reconcile(namespace/name of a quota): recompute its usage and write status when it changed."""

    name = "resourcequota"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.quotas = ctx.informers.informer_for("", "v1", "resourcequotas")
        self.watched = {(g, p): ctx.informers.informer_for(g, v, p) for g, v, p in WATCHED}
        self.worker = QueueWorker(self.name, self.reconcile)
        self.quotas.add_event_handler(on_add=self.worker.enqueue_object, on_update=self._quota_updated)
        for informer in self.watched.values():
            informer.add_event_handler(on_add=self._object_changed, on_update=lambda o, n: self._object_changed(n),
                                       on_delete=self._object_changed)

    def _quota_updated(self, old: Obj, new: Obj) -> None:
        if (old.get("spec") or {}) != (new.get("spec") or {}) or not new.get("status"):
            self.worker.enqueue_object(new)

    def _object_changed(self, obj: Obj) -> None:
        ns = (obj.get("metadata") or {}).get("namespace")
        if ns:
            for q in self.quotas.store.list(ns):
                self.worker.enqueue_object(q)

    async def _list(self, namespace: str, group: str, plural: str) -> Iterable[Obj]:
        informer = self.watched.get((group, plural))
        if informer is not None:
            return informer.store.list(namespace)
        try:
            version = "v1"
            if group:
                version = (await self.client.get(f"/apis/{group}")).get("preferredVersion", {}).get("version", "v1")
            return (await self.client.list(resource_path(group, version, plural, namespace))).get("items") or []
        except ApiError as e:
            if e.code == 404:
                return []
            raise

    async def reconcile(self, key: str) -> Result:
        q = self.quotas.store.get_by_key(key)
        if q is None:
            return Result()
        ns = q["metadata"]["namespace"]
        hard = (q.get("spec") or {}).get("hard") or {}
        lists: dict[tuple[str, str], list[Obj]] = {}
        for name in hard:
            target = quota.RESOURCES_FOR(name)
            if target is not None and target not in lists:
                lists[target] = list(await self._list(ns, *target))
        used = quota.namespace_usage(hard, lambda g, p: lists.get((g, p), []))
        status = desired_status(q, used)
        if not status_equal(q.get("status"), status):
            body = dict(q, status=status)
            try:
                await self.client.update(resource_path("", "v1", "resourcequotas", ns, q["metadata"]["name"],
                                                       "status"), body)
            except ApiError as e:
                if e.code in (404, 409):
                    return Result(requeue=e.code == 409)
                raise
        return Result(requeue_after=SYNC_PERIOD)

    async def run(self, workers: int) -> None:
        self.ctx.informers.start()
        await self.ctx.informers.wait_for_cache_sync()
        await self.worker.run(workers)


CONTROLLER = ResourceQuotaController

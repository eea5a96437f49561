"""DeploymentController: informer wiring, ReplicaSet claiming, and the syncDeployment dispatch (pause,
rollback, scaling event, Recreate or RollingUpdate), as upstream's deployment controller."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from kybernetes.api.selectors import label_selector_from_dict
from kybernetes.client import ApiError, meta_namespace_key, resource_path
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext
from kybernetes.controllers.controller_utils import (ControllerRefManager, get_controller_of, is_being_deleted,
                                                     now_epoch)
from kybernetes.controllers.deployment import recreate, rollback, rolling, sync
from kybernetes.controllers.deployment.util import is_rolling_update

log = logging.getLogger(__name__)

Obj = dict[str, Any]


def deep_copy(obj: Obj) -> Obj:
    return orjson.loads(orjson.dumps(obj))


class DeploymentController:
    """Drives each Deployment's ReplicaSets towards its template and replica count."""

    name = "deployment"
    kind = "Deployment"

    def __init__(self, ctx: ControllerContext, *, clock: Callable[[], float] = now_epoch) -> None:
        self.client = ctx.client
        self.recorder = ctx.recorder("deployment-controller")
        self.workers = ctx.options.concurrent_deployment_syncs
        self.clock = clock
        self.worker = QueueWorker(self.name, self.reconcile)
        self.d_informer = ctx.informers.informer_for("apps", "v1", "deployments")
        self.rs_informer = ctx.informers.informer_for("apps", "v1", "replicasets")
        self.pod_informer = ctx.informers.informer_for("", "v1", "pods")
        self.d_informer.add_event_handler(on_add=self.worker.enqueue_object, on_update=self.worker.enqueue_object,
                                          on_delete=self.worker.enqueue_object)
        self.rs_informer.add_event_handler(on_add=self._add_rs, on_update=self._update_rs,
                                           on_delete=self._delete_rs)
        self.pod_informer.add_event_handler(on_delete=self._delete_pod)

    async def run(self, workers: int = 0) -> None:
        await self.worker.run(workers or self.workers)

    # -- event handlers -----------------------------------------------------------------------------------------

    def _resolve(self, namespace: str, ref: Obj | None) -> Obj | None:
        if ref is None or ref.get("kind") != self.kind:
            return None
        d = self.d_informer.store.get(ref.get("name", ""), namespace)
        if d is None or d["metadata"].get("uid") != ref.get("uid"):
            return None
        return d

    def _deployments_for_rs(self, rs: Obj) -> list[Obj]:
        labels = rs["metadata"].get("labels") or {}
        out = []
        for d in self.d_informer.store.list(rs["metadata"].get("namespace", "")):
            try:
                sel = label_selector_from_dict((d.get("spec") or {}).get("selector"))
            except ValueError:
                continue
            if not sel.empty() and sel.matches(labels):
                out.append(d)
        return out

    def _enqueue_owner_or_matches(self, rs: Obj) -> None:
        ref = get_controller_of(rs)
        if ref is not None:
            d = self._resolve(rs["metadata"].get("namespace", ""), ref)
            if d is not None:
                self.worker.enqueue(meta_namespace_key(d))
            return
        for d in self._deployments_for_rs(rs):
            self.worker.enqueue(meta_namespace_key(d))

    def _add_rs(self, rs: Obj) -> None:
        self._enqueue_owner_or_matches(rs)

    def _update_rs(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        old_ref, cur_ref = get_controller_of(old), get_controller_of(new)
        if old_ref != cur_ref and old_ref is not None:
            d = self._resolve(old["metadata"].get("namespace", ""), old_ref)
            if d is not None:
                self.worker.enqueue(meta_namespace_key(d))
        if cur_ref is not None or old["metadata"].get("labels") != new["metadata"].get("labels") \
                or old_ref != cur_ref:
            self._enqueue_owner_or_matches(new)

    def _delete_rs(self, rs: Obj) -> None:
        d = self._resolve(rs["metadata"].get("namespace", ""), get_controller_of(rs))
        if d is not None:
            self.worker.enqueue(meta_namespace_key(d))

    def _delete_pod(self, pod: Obj) -> None:
        """A Recreate rollout waits for old pods to be gone: look again when one goes."""
        ns = pod["metadata"].get("namespace", "")
        ref = get_controller_of(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.rs_informer.store.get(ref.get("name", ""), ns)
        d = self._resolve(ns, get_controller_of(rs)) if rs is not None else None
        if d is not None and not is_rolling_update(d):
            self.worker.enqueue(meta_namespace_key(d))

    # -- client operations (objects are updated in place with what the apiserver stored) ----------------------

    def _d_path(self, d: Obj, subresource: str | None = None) -> str:
        return resource_path("apps", "v1", "deployments", d["metadata"]["namespace"], d["metadata"]["name"],
                             subresource)

    def _rs_path(self, namespace: str, name: str | None = None) -> str:
        return resource_path("apps", "v1", "replicasets", namespace, name)

    async def update_deployment_status(self, d: Obj) -> None:
        stored = await self.client.update(self._d_path(d, "status"), d)
        d.clear()
        d.update(stored)

    async def update_deployment(self, d: Obj) -> None:
        stored = await self.client.update(self._d_path(d), d)
        d.clear()
        d.update(stored)

    async def update_rs(self, rs: Obj) -> None:
        stored = await self.client.update(self._rs_path(rs["metadata"]["namespace"], rs["metadata"]["name"]), rs)
        rs.clear()
        rs.update(stored)

    async def create_rs(self, rs: Obj) -> Obj:
        return await self.client.create(self._rs_path(rs["metadata"]["namespace"]), rs)

    async def delete_rs(self, rs: Obj) -> None:
        try:
            await self.client.delete(self._rs_path(rs["metadata"]["namespace"], rs["metadata"]["name"]))
        except ApiError as e:
            if not e.not_found:
                raise

    def event(self, d: Obj, event_type: str, reason: str, message: str) -> None:
        self.recorder.event(d, event_type, reason, message)

    # -- reconcile ------------------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result:
        cached = self.d_informer.store.get_by_key(key)
        if cached is None:
            return Result()
        d = deep_copy(cached)
        selector_dict = (d.get("spec") or {}).get("selector")
        try:
            selector = label_selector_from_dict(selector_dict)
        except ValueError as e:
            log.error("deployment %s: invalid selector: %s", key, e)
            return Result()
        if selector.empty():
            self.event(d, "Warning", "SelectingAll",
                       "This deployment is selecting all pods. A non-empty selector is required.")
            if int((d.get("status") or {}).get("observedGeneration") or 0) < int(d["metadata"].get("generation") or 0):
                d.setdefault("status", {})["observedGeneration"] = d["metadata"].get("generation")
                await self.update_deployment_status(d)
            return Result()
        rs_list = await self._replica_sets_for(d, selector)
        if is_being_deleted(d):
            return await sync.sync_status_only(self, d, rs_list)
        await sync.check_paused_conditions(self, d)
        if (d.get("spec") or {}).get("paused"):
            return await sync.sync(self, d, rs_list)
        if rollback.get_rollback_to(d) is not None:
            return await rollback.rollback(self, d, rs_list)
        if await sync.is_scaling_event(self, d, rs_list):
            return await sync.sync(self, d, rs_list)
        if is_rolling_update(d):
            return await rolling.rollout_rolling(self, d, rs_list)
        return await recreate.rollout_recreate(self, d, rs_list, self._pod_map(d, rs_list))

    async def _replica_sets_for(self, d: Obj, selector: Any) -> list[Obj]:
        """The Deployment's ReplicaSets (deep copies), adopting matching orphans and releasing strays."""
        ns = d["metadata"]["namespace"]

        async def can_adopt() -> bool:
            try:
                fresh = await self.client.get(self._d_path(d))
            except ApiError as e:
                if e.not_found:
                    return False
                raise
            return fresh["metadata"].get("uid") == d["metadata"]["uid"] and not is_being_deleted(fresh)

        mgr = ControllerRefManager(self.client, d, selector, api_version="apps/v1", kind=self.kind,
                                   path_of=lambda rs: self._rs_path(ns, rs["metadata"]["name"]),
                                   can_adopt=can_adopt)
        claimed = await mgr.claim(self.rs_informer.store.list(ns))
        return [deep_copy(rs) for rs in claimed]

    def _pod_map(self, d: Obj, rs_list: list[Obj]) -> dict[str, list[Obj]]:
        """Pods by the uid of the ReplicaSet (of rs_list) controlling them."""
        uids = {rs["metadata"]["uid"] for rs in rs_list}
        out: dict[str, list[Obj]] = {uid: [] for uid in uids}
        for pod in self.pod_informer.store.list(d["metadata"]["namespace"]):
            ref = get_controller_of(pod)
            if ref is not None and ref.get("uid") in uids:
                out[ref["uid"]].append(pod)
        return out


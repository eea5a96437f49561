"""ReplicaSet and ReplicationController controllers: keep spec.replicas pods running, as upstream's
ReplicaSetController (the RC manager is the same code on core/v1 replicationcontrollers)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kybernetes.api.meta import now_rfc3339
from kybernetes.api.selectors import LabelSelector, label_selector_from_dict
from kybernetes.client import ApiError, meta_namespace_key, resource_path
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext
from kybernetes.controllers.controller_utils import (ControllerRefManager, get_controller_of, get_pods_to_delete,
                                                     is_being_deleted, is_pod_active, is_pod_available,
                                                     is_pod_ready, new_controller_ref, now_epoch,
                                                     pod_from_template, slow_start_batch)
from kybernetes.controllers.expectations import UIDTrackingControllerExpectations

log = logging.getLogger(__name__)

Obj = dict[str, Any]

BURST_REPLICAS = 500  # upstream's burstReplicas: at most this many creates/deletes per sync
REPLICA_FAILURE = "ReplicaFailure"


class ReplicaSetController:
    """Creates and deletes pods so each ReplicaSet has spec.replicas active pods it controls."""

    name = "replicaset"
    group, version, plural, kind = "apps", "v1", "replicasets", "ReplicaSet"

    def __init__(self, ctx: ControllerContext, *, burst_replicas: int = BURST_REPLICAS) -> None:
        self.client = ctx.client
        self.recorder = ctx.recorder(f"{self.name}-controller")
        self.burst_replicas = burst_replicas
        self.workers = ctx.options.concurrent_replicaset_syncs
        self.expectations = UIDTrackingControllerExpectations()
        self.worker = QueueWorker(self.name, self.reconcile)
        self.api_version = f"{self.group}/{self.version}" if self.group else self.version
        self.rs_informer = ctx.informers.informer_for(self.group, self.version, self.plural)
        self.pod_informer = ctx.informers.informer_for("", "v1", "pods")
        self.rs_informer.add_event_handler(on_add=self.worker.enqueue_object, on_update=self._update_rs,
                                           on_delete=self._delete_rs)
        self.pod_informer.add_event_handler(on_add=self._add_pod, on_update=self._update_pod,
                                            on_delete=self._delete_pod)

    async def run(self, workers: int = 0) -> None:
        await self.worker.run(workers or self.workers)

    # -- selectors ------------------------------------------------------------------------------------------------

    def selector_of(self, rs: Obj) -> LabelSelector:
        """The ReplicaSet's label selector (ValueError if invalid)."""
        return label_selector_from_dict((rs.get("spec") or {}).get("selector"))

    # -- event handlers -------------------------------------------------------------------------------------------

    def _update_rs(self, old: Obj, new: Obj) -> None:
        self.worker.enqueue_object(new)

    def _delete_rs(self, rs: Obj) -> None:
        key = meta_namespace_key(rs)
        self.expectations.delete_expectations(key)
        self.worker.enqueue(key)

    def _resolve(self, namespace: str, ref: Obj) -> Obj | None:
        if ref.get("kind") != self.kind:
            return None
        rs = self.rs_informer.store.get(ref.get("name", ""), namespace)
        if rs is None or rs["metadata"].get("uid") != ref.get("uid"):
            return None
        return rs

    def _matching_owners(self, pod: Obj) -> list[Obj]:
        """The ReplicaSets of the pod's namespace whose selector selects it (for orphans)."""
        labels = pod["metadata"].get("labels") or {}
        if not labels:
            return []
        out = []
        for rs in self.rs_informer.store.list(pod["metadata"].get("namespace", "")):
            try:
                sel = self.selector_of(rs)
            except ValueError:
                continue
            if not sel.empty() and sel.matches(labels):
                out.append(rs)
        return out

    def _add_pod(self, pod: Obj) -> None:
        if is_being_deleted(pod):
            self._delete_pod(pod)  # a restarted controller sees pods already pending deletion
            return
        ns = pod["metadata"].get("namespace", "")
        ref = get_controller_of(pod)
        if ref is not None:
            rs = self._resolve(ns, ref)
            if rs is not None:
                key = meta_namespace_key(rs)
                self.expectations.creation_observed(key)
                self.worker.enqueue(key)
            return
        for rs in self._matching_owners(pod):
            self.worker.enqueue(meta_namespace_key(rs))

    def _update_pod(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return  # a resync
        labels_changed = old["metadata"].get("labels") != new["metadata"].get("labels")
        if is_being_deleted(new):
            self._delete_pod(new)
            if labels_changed:
                self._delete_pod(old)
            return
        ns = new["metadata"].get("namespace", "")
        cur_ref, old_ref = get_controller_of(new), get_controller_of(old)
        ref_changed = cur_ref != old_ref
        if ref_changed and old_ref is not None:
            rs = self._resolve(ns, old_ref)
            if rs is not None:
                self.worker.enqueue(meta_namespace_key(rs))
        if cur_ref is not None:
            rs = self._resolve(ns, cur_ref)
            if rs is None:
                return
            key = meta_namespace_key(rs)
            self.worker.enqueue(key)
            min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
            if min_ready > 0 and not is_pod_ready(old) and is_pod_ready(new):
                self.worker.enqueue_after(key, min_ready + 1.0)  # look again once it counts as available
            return
        if labels_changed or ref_changed:
            for rs in self._matching_owners(new):
                self.worker.enqueue(meta_namespace_key(rs))

    def _delete_pod(self, pod: Obj) -> None:
        ref = get_controller_of(pod)
        if ref is None:
            return
        rs = self._resolve(pod["metadata"].get("namespace", ""), ref)
        if rs is None:
            return
        key = meta_namespace_key(rs)
        self.expectations.deletion_observed(key, meta_namespace_key(pod))
        self.worker.enqueue(key)

    # -- reconcile ------------------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result:
        rs = self.rs_informer.store.get_by_key(key)
        if rs is None:
            self.expectations.delete_expectations(key)
            return Result()
        needs_sync = self.expectations.satisfied_expectations(key)
        try:
            selector = self.selector_of(rs)
        except ValueError as e:
            log.error("%s %s: invalid selector: %s", self.kind, key, e)
            return Result()
        ns = rs["metadata"]["namespace"]
        active = [p for p in self.pod_informer.store.list(ns) if is_pod_active(p)]
        pods = await self._claim_pods(rs, selector, active)
        manage_error: BaseException | None = None
        if needs_sync and not is_being_deleted(rs):
            manage_error = await self.manage_replicas(pods, rs)
        status = calculate_status(rs, pods, manage_error, now_epoch())
        updated = await self._update_status(rs, status)
        if manage_error is not None:
            raise manage_error
        spec = updated.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        st = updated.get("status") or {}
        replicas = int(spec.get("replicas", 1))
        if min_ready > 0 and st.get("readyReplicas", 0) == replicas and st.get("availableReplicas", 0) != replicas:
            return Result(requeue_after=float(min_ready))
        return Result()

    async def _claim_pods(self, rs: Obj, selector: LabelSelector, pods: list[Obj]) -> list[Obj]:
        async def can_adopt() -> bool:
            try:
                fresh = await self.client.get(self._path(rs["metadata"]["namespace"], rs["metadata"]["name"]))
            except ApiError as e:
                if e.not_found:
                    return False
                raise
            return fresh["metadata"].get("uid") == rs["metadata"]["uid"] and not is_being_deleted(fresh)

        mgr = ControllerRefManager(self.client, rs, selector, api_version=self.api_version, kind=self.kind,
                                   path_of=lambda p: resource_path("", "v1", "pods", p["metadata"]["namespace"],
                                                                   p["metadata"]["name"]),
                                   can_adopt=can_adopt)
        return await mgr.claim(pods)

    def _path(self, namespace: str, name: str | None = None, subresource: str | None = None) -> str:
        return resource_path(self.group, self.version, self.plural, namespace, name, subresource)

    def _related_pods(self, rs: Obj) -> list[Obj]:
        """Pods of every ReplicaSet sharing this one's controller (a Deployment's RSs), for node ranking."""
        ns = rs["metadata"]["namespace"]
        owner = get_controller_of(rs)
        uids = {rs["metadata"]["uid"]}
        if owner is not None:
            for other in self.rs_informer.store.list(ns):
                other_owner = get_controller_of(other)
                if other_owner is not None and other_owner.get("uid") == owner.get("uid"):
                    uids.add(other["metadata"]["uid"])
        return [p for p in self.pod_informer.store.list(ns)
                if (ref := get_controller_of(p)) is not None and ref.get("uid") in uids]

    async def manage_replicas(self, pods: list[Obj], rs: Obj) -> BaseException | None:
        """Create or delete pods to close the gap with spec.replicas; returns the first error, if any."""
        key = meta_namespace_key(rs)
        diff = len(pods) - int((rs.get("spec") or {}).get("replicas", 1))
        if diff < 0:
            return await self._create_pods(rs, key, min(-diff, self.burst_replicas))
        if diff > 0:
            diff = min(diff, self.burst_replicas)
            victims = get_pods_to_delete(pods, self._related_pods(rs), diff, now_epoch())
            return await self._delete_pods(rs, key, victims)
        return None

    async def _create_pods(self, rs: Obj, key: str, count: int) -> BaseException | None:
        self.expectations.expect_creations(key, count)
        ns = rs["metadata"]["namespace"]
        ref = new_controller_ref(rs, api_version=self.api_version, kind=self.kind)
        template = (rs.get("spec") or {}).get("template") or {}
        pod = pod_from_template(template, ref, rs["metadata"]["name"] + "-")
        path = resource_path("", "v1", "pods", ns)

        async def create_one() -> None:
            try:
                created = await self.client.create(path, pod)
            except ApiError as e:
                if _namespace_terminating(e):
                    return  # the namespace controller removes us soon; no event, no error
                self.recorder.event(rs, "Warning", "FailedCreate", f"Error creating: {e.message or e}")
                raise
            except Exception as e:
                self.recorder.event(rs, "Warning", "FailedCreate", f"Error creating: {e}")
                raise
            self.recorder.event(rs, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

        successes, error = await slow_start_batch(count, 1, create_one)
        for _ in range(count - successes):  # never made, so never observed: stop waiting for them
            self.expectations.creation_observed(key)
        return error

    async def _delete_pods(self, rs: Obj, key: str, victims: list[Obj]) -> BaseException | None:
        self.expectations.expect_deletions(key, [meta_namespace_key(p) for p in victims])

        async def delete_one(pod: Obj) -> None:
            md = pod["metadata"]
            try:
                await self.client.delete(resource_path("", "v1", "pods", md["namespace"], md["name"]),
                                         body={"preconditions": {"uid": md["uid"]}})
            except ApiError as e:
                self.expectations.deletion_observed(key, meta_namespace_key(pod))
                if e.not_found or e.conflict:
                    return  # already gone (or replaced): nothing to delete
                self.recorder.event(rs, "Warning", "FailedDelete", f"Error deleting: {e.message or e}")
                raise
            self.recorder.event(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {md['name']}")

        results = await asyncio.gather(*(delete_one(p) for p in victims), return_exceptions=True)
        return next((r for r in results if isinstance(r, BaseException)), None)

    async def _update_status(self, rs: Obj, status: Obj) -> Obj:
        """Write status unless it is unchanged (and observedGeneration current); returns the newest RS."""
        generation = rs["metadata"].get("generation", 0)
        status = {**status, "observedGeneration": generation}
        if _status_equal(rs.get("status") or {}, status):
            return rs
        path = self._path(rs["metadata"]["namespace"], rs["metadata"]["name"], "status")
        body = {**rs, "status": status}
        try:
            return await self.client.update(path, body)
        except ApiError as e:
            if not e.conflict:
                raise
        fresh = await self.client.get(self._path(rs["metadata"]["namespace"], rs["metadata"]["name"]))
        if fresh["metadata"].get("uid") != rs["metadata"].get("uid"):
            return fresh
        status["observedGeneration"] = fresh["metadata"].get("generation", 0)
        return await self.client.update(path, {**fresh, "status": status})


def _namespace_terminating(e: ApiError) -> bool:
    causes = (e.status.get("details") or {}).get("causes") or []
    return any(c.get("reason") == "NamespaceTerminating" for c in causes) or (
        e.code == 403 and "being terminated" in e.message)


_STATUS_FIELDS = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration")


def _status_equal(old: Obj, new: Obj) -> bool:
    if any(int(old.get(f) or 0) != int(new.get(f) or 0) for f in _STATUS_FIELDS):
        return False
    return (old.get("conditions") or []) == (new.get("conditions") or [])


def calculate_status(rs: Obj, pods: list[Obj], manage_error: BaseException | None, now: float) -> Obj:
    """replicas, fullyLabeledReplicas, readyReplicas, availableReplicas and the ReplicaFailure condition."""
    spec = rs.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    fully_labeled = ready = available = 0
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        if all(labels.get(k) == v for k, v in template_labels.items()):
            fully_labeled += 1
        if is_pod_ready(pod):
            ready += 1
            if is_pod_available(pod, min_ready, now):
                available += 1
    conditions = [dict(c) for c in (rs.get("status") or {}).get("conditions") or []]
    failure = next((c for c in conditions if c.get("type") == REPLICA_FAILURE), None)
    if manage_error is not None and failure is None:
        diff = len(pods) - int(spec.get("replicas", 1))
        reason = "FailedCreate" if diff < 0 else "FailedDelete"
        message = getattr(manage_error, "message", "") or str(manage_error)
        conditions.append({"type": REPLICA_FAILURE, "status": "True", "lastTransitionTime": now_rfc3339(),
                           "reason": reason, "message": message})
    elif manage_error is None and failure is not None:
        conditions = [c for c in conditions if c.get("type") != REPLICA_FAILURE]
    status: Obj = {"replicas": len(pods), "fullyLabeledReplicas": fully_labeled, "readyReplicas": ready,
                   "availableReplicas": available}
    if conditions:
        status["conditions"] = conditions
    return status


class ReplicationManager(ReplicaSetController):
    """The ReplicationController manager: ReplicaSet logic on core/v1 with a map selector."""

    name = "replicationcontroller"
    group, version, plural, kind = "", "v1", "replicationcontrollers", "ReplicationController"

    def selector_of(self, rs: Obj) -> LabelSelector:
        sel = (rs.get("spec") or {}).get("selector")
        if not sel:  # upstream defaults the selector to the template labels
            sel = (((rs.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
            if not sel:
                return LabelSelector.nothing()
        return label_selector_from_dict({"matchLabels": sel})


CONTROLLER = ReplicaSetController

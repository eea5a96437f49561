"""The StatefulSet controller (upstream's pkg/controller/statefulset): pods <set>-<ordinal> with stable identity
and volume claims from templates, OrderedReady (one at a time, each Ready before the next) or Parallel
management, RollingUpdate from the highest ordinal down to the partition, OnDelete, ControllerRevisions."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kybernetes.api.selectors import LabelSelector, label_selector_from_dict
from kybernetes.client import ApiError, meta_namespace_key, resource_path
from kybernetes.controllers import history
from kybernetes.controllers import statefulsetutil as su
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext
from kybernetes.controllers.controller_utils import (ControllerRefManager, get_controller_of, is_being_deleted,
                                                     is_pod_available, is_pod_ready)

log = logging.getLogger(__name__)

Obj = dict[str, Any]

API_VERSION, KIND = su.API_VERSION, su.KIND


@dataclass
class UpdateState:
    """One sync of one StatefulSet: the revisions in play, the pods by slot, and the status being built."""

    sts: Obj
    current_set: Obj
    update_set: Obj
    current_revision: str
    update_revision: str
    replicas: list[Obj | None]
    condemned: list[Obj]
    status: Obj = field(default_factory=dict)


class StatefulSetController:
    """Gives each StatefulSet its ordinal pods, claims and revisions."""

    name = "statefulset"

    def __init__(self, ctx: ControllerContext, *, now: Callable[[], float] = time.time) -> None:
        self.client = ctx.client
        self.recorder = ctx.recorder("statefulset-controller")
        self.now = now
        self.worker = QueueWorker(self.name, self.reconcile)
        self.sets = ctx.informers.informer_for("apps", "v1", "statefulsets")
        self.pods = ctx.informers.informer_for("", "v1", "pods")
        self.revisions = ctx.informers.informer_for("apps", "v1", "controllerrevisions")
        self.claims = ctx.informers.informer_for("", "v1", "persistentvolumeclaims")
        self.sets.add_event_handler(on_add=self.worker.enqueue_object,
                                    on_update=lambda old, new: self.worker.enqueue_object(new),
                                    on_delete=self.worker.enqueue_object)
        self.pods.add_event_handler(on_add=self._pod_changed, on_update=self._update_pod,
                                    on_delete=self._pod_changed)
        self.revisions.add_event_handler(on_delete=self._pod_changed)

    async def run(self, workers: int = 0) -> None:
        await self.worker.run(workers or 5)

    # -- event handlers ---------------------------------------------------------------------------------------------

    def _owner_key(self, obj: Obj) -> str | None:
        ref = get_controller_of(obj)
        if ref is None or ref.get("kind") != KIND:
            return None
        sts = self.sets.store.get(ref.get("name", ""), obj["metadata"].get("namespace", ""))
        if sts is None or sts["metadata"].get("uid") != ref.get("uid"):
            return None
        return meta_namespace_key(sts)

    def _pod_changed(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.worker.enqueue(key)
            return
        labels = pod["metadata"].get("labels") or {}
        for sts in self.sets.store.list(pod["metadata"].get("namespace", "")) if labels else ():
            try:
                sel = label_selector_from_dict((sts.get("spec") or {}).get("selector"))
            except ValueError:
                continue
            if not sel.empty() and sel.matches(labels):
                self.worker.enqueue_object(sts)

    def _update_pod(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        if get_controller_of(old) != get_controller_of(new):
            self._pod_changed(old)
        self._pod_changed(new)
        key = self._owner_key(new)
        if key is not None and not is_pod_ready(old) and is_pod_ready(new):
            min_ready = int(((self.sets.store.get_by_key(key) or {}).get("spec") or {}).get("minReadySeconds") or 0)
            if min_ready > 0:
                self.worker.enqueue_after(key, min_ready + 1.0)

    # -- reconcile --------------------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result:
        sts = self.sets.store.get_by_key(key)
        if sts is None:
            return Result()
        try:
            selector = label_selector_from_dict((sts.get("spec") or {}).get("selector"))
        except ValueError as e:
            log.error("statefulset %s: invalid selector: %s", key, e)
            return Result()
        ns = sts["metadata"]["namespace"]
        members = [p for p in self.pods.store.list(ns) if su.is_member_of(sts, p)]
        pods = await self._claim(sts, selector, members, "", "v1", "pods")
        revisions = await history.claim_revisions(self.client, sts, selector, self.revisions.store.list(ns),
                                                  api_version=API_VERSION, kind=KIND, parent_path=self._path(sts))
        collision = int((sts.get("status") or {}).get("collisionCount") or 0)
        update_rev, collision = await history.ensure_update_revision(
            self.client, sts, revisions, api_version=API_VERSION, kind=KIND, collision_count=collision)
        current_name = (sts.get("status") or {}).get("currentRevision")
        current_rev = next((r for r in revisions if r["metadata"]["name"] == current_name), update_rev)
        state = self._new_state(sts, pods, current_rev, update_rev, collision)
        if not is_being_deleted(sts):
            await self._update_stateful_set(state)
            await self._update_claim_owners(state)
        self._complete_rolling_update(state)
        await self._write_status(sts, state.status)
        await self._truncate_history(sts, pods, revisions, current_rev, update_rev)
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready > 0 and state.status.get("readyReplicas", 0) != state.status.get("availableReplicas", 0):
            return Result(requeue_after=float(min_ready))
        return Result()

    def _new_state(self, sts: Obj, pods: list[Obj], current_rev: Obj, update_rev: Obj,
                   collision: int) -> UpdateState:
        current_name, update_name = current_rev["metadata"]["name"], update_rev["metadata"]["name"]
        current_set = su.apply_revision(sts, current_rev)
        update_set = su.apply_revision(sts, update_rev)
        start, count = su.start_ordinal(sts), su.replicas_of(sts)
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        now = self.now()
        status: Obj = {"observedGeneration": sts["metadata"].get("generation", 0), "replicas": 0,
                       "readyReplicas": 0, "availableReplicas": 0, "currentReplicas": 0, "updatedReplicas": 0,
                       "currentRevision": current_name, "updateRevision": update_name, "collisionCount": collision}
        replicas: list[Obj | None] = [None] * count
        condemned: list[Obj] = []
        for pod in pods:
            status["replicas"] += 1
            if su.is_running_and_ready(pod):
                status["readyReplicas"] += 1
                if is_pod_available(pod, min_ready, now):
                    status["availableReplicas"] += 1
            if not is_being_deleted(pod):
                rev = su.revision_of(pod)
                status["currentReplicas"] += rev == current_name
                status["updatedReplicas"] += rev == update_name
            ordinal = su.ordinal_of(pod)
            if start <= ordinal < start + count:
                replicas[ordinal - start] = pod
            elif ordinal >= 0:
                condemned.append(pod)
        condemned.sort(key=su.ordinal_of)
        return UpdateState(sts, current_set, update_set, current_name, update_name, replicas, condemned, status)

    async def _update_stateful_set(self, st: UpdateState) -> None:
        """updateStatefulSet: fill the ordinals, remove the condemned, then roll; in OrderedReady one step a sync."""
        sts = st.sts
        spec = sts.get("spec") or {}
        monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = self.now()
        start = su.start_ordinal(sts)
        first_unhealthy = next((p for p in [*st.replicas, *st.condemned]
                                if p is not None and not su.is_healthy(p, min_ready, now)), None)
        for i, pod in enumerate(st.replicas):
            ordinal = start + i
            if pod is not None and su.is_finished(pod):
                reason = "RecreatingFailedPod" if su.is_finished(pod) == "Failed" else "RecreatingTerminatedPod"
                self.recorder.event(sts, "Warning", reason, f"StatefulSet {sts['metadata']['namespace']}/"
                                    f"{sts['metadata']['name']} is recreating {su.is_finished(pod).lower()} "
                                    f"Pod {pod['metadata']['name']}")
                if await self._delete_pod(sts, pod):
                    st.status["replicas"] -= 1
                    self._uncount_revision(st, pod)
                if monotonic:
                    return
                continue
            if pod is None:
                pod = su.new_versioned_pod(st.current_set, st.update_set, st.current_revision, st.update_revision,
                                           ordinal)
                await self._create_pod(sts, pod)
                st.status["replicas"] += 1
                rev = su.revision_of(pod)
                st.status["currentReplicas"] += rev == st.current_revision
                st.status["updatedReplicas"] += rev == st.update_revision
                if monotonic:
                    return
                continue
            if is_being_deleted(pod):
                if monotonic:
                    return
                continue
            if monotonic and not (su.is_running_and_ready(pod) and
                                  su.is_running_and_available(pod, min_ready, now)):
                return
            await self._create_missing_claims(sts, pod)
        for pod in reversed(st.condemned):
            if is_being_deleted(pod):
                if monotonic:
                    return
                continue
            if monotonic and first_unhealthy is not None and \
                    first_unhealthy["metadata"]["name"] != pod["metadata"]["name"]:
                return
            await self._update_claim_owner(sts, pod, scaled_down=True)
            if await self._delete_pod(sts, pod):
                self._uncount_revision(st, pod)
            if monotonic:
                return
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        for target in range(len(st.replicas) - 1, partition - 1, -1):
            pod = st.replicas[target]
            if pod is None:
                return
            if su.revision_of(pod) != st.update_revision and not is_being_deleted(pod):
                if await self._delete_pod(sts, pod):
                    self._uncount_revision(st, pod)
                return
            if not su.is_healthy(pod, min_ready, now):
                return

    @staticmethod
    def _uncount_revision(st: UpdateState, pod: Obj) -> None:
        rev = su.revision_of(pod)
        st.status["currentReplicas"] -= rev == st.current_revision
        st.status["updatedReplicas"] -= rev == st.update_revision

    @staticmethod
    def _complete_rolling_update(st: UpdateState) -> None:
        """Once every pod runs the update revision and is ready, it becomes the current revision."""
        strategy = (st.sts.get("spec") or {}).get("updateStrategy") or {}
        s = st.status
        if strategy.get("type", "RollingUpdate") == "RollingUpdate" and s["updatedReplicas"] == s["replicas"] \
                and s["readyReplicas"] == s["replicas"]:
            s["currentReplicas"] = s["updatedReplicas"]
            s["currentRevision"] = s["updateRevision"]

    # -- pods and claims ----------------------------------------------------------------------------------------------

    async def _create_pod(self, sts: Obj, pod: Obj) -> None:
        await self._create_missing_claims(sts, pod)
        set_name, name = sts["metadata"]["name"], pod["metadata"]["name"]
        try:
            await self.client.create(resource_path("", "v1", "pods", sts["metadata"]["namespace"]), pod)
        except ApiError as e:
            if e.code == 409:
                return  # our cache lags behind a pod we made
            self.recorder.event(sts, "Warning", "FailedCreate",
                                f"create Pod {name} in StatefulSet {set_name} failed error: {e.message or e}")
            raise
        self.recorder.event(sts, "Normal", "SuccessfulCreate",
                            f"create Pod {name} in StatefulSet {set_name} successful")

    async def _delete_pod(self, sts: Obj, pod: Obj) -> bool:
        md = pod["metadata"]
        try:
            await self.client.delete(resource_path("", "v1", "pods", md["namespace"], md["name"]),
                                     body={"preconditions": {"uid": md["uid"]}})
        except ApiError as e:
            if e.not_found or e.conflict:
                return False
            self.recorder.event(sts, "Warning", "FailedDelete", f"delete Pod {md['name']} in StatefulSet "
                                f"{sts['metadata']['name']} failed error: {e.message or e}")
            raise
        self.recorder.event(sts, "Normal", "SuccessfulDelete",
                            f"delete Pod {md['name']} in StatefulSet {sts['metadata']['name']} successful")
        return True

    async def _create_missing_claims(self, sts: Obj, pod: Obj) -> None:
        ordinal = su.ordinal_of(pod)
        ns = sts["metadata"]["namespace"]
        for claim in su.claims_for(sts, ordinal):
            name = claim["metadata"]["name"]
            if self.claims.store.get(name, ns) is not None:
                continue
            refs = su.desired_claim_owner_refs(sts, None, claim)
            if refs:
                claim["metadata"]["ownerReferences"] = refs
            try:
                await self.client.create(resource_path("", "v1", "persistentvolumeclaims", ns), claim)
            except ApiError as e:
                if e.code == 409:
                    continue
                self.recorder.event(sts, "Warning", "FailedCreate", f"create Claim {name} for Pod "
                                    f"{pod['metadata']['name']} in StatefulSet {sts['metadata']['name']} failed "
                                    f"error: {e.message or e}")
                raise
            self.recorder.event(sts, "Normal", "SuccessfulCreate", f"create Claim {name} Pod {pod['metadata']['name']}"
                                f" in StatefulSet {sts['metadata']['name']} success")

    async def _update_claim_owners(self, st: UpdateState) -> None:
        policy = (st.sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenDeleted", "Retain") == "Retain" and policy.get("whenScaled", "Retain") == "Retain":
            return
        for pod in [p for p in st.replicas if p is not None and p["metadata"].get("uid")]:
            await self._update_claim_owner(st.sts, pod, scaled_down=False)

    async def _update_claim_owner(self, sts: Obj, pod: Obj, *, scaled_down: bool) -> None:
        """Point each claim's owner references at the set and/or (when condemned) the pod, per the policy."""
        ns = sts["metadata"]["namespace"]
        for template in su.claims_for(sts, su.ordinal_of(pod)):
            claim = self.claims.store.get(template["metadata"]["name"], ns)
            if claim is None:
                continue
            refs = su.desired_claim_owner_refs(sts, pod, claim)
            if refs == ((claim.get("metadata") or {}).get("ownerReferences") or []):
                continue
            try:
                await self.client.patch(resource_path("", "v1", "persistentvolumeclaims", ns,
                                                      claim["metadata"]["name"]),
                                        {"metadata": {"ownerReferences": refs,
                                                      "resourceVersion": claim["metadata"]["resourceVersion"]}},
                                        "merge")
            except ApiError as e:
                if not (e.not_found or e.conflict):
                    raise

    # -- history and status -------------------------------------------------------------------------------------------

    async def _truncate_history(self, sts: Obj, pods: list[Obj], revisions: list[Obj], current: Obj,
                                update: Obj) -> None:
        live = {su.revision_of(p) for p in pods} | {current["metadata"]["name"], update["metadata"]["name"]}
        old = history.sort_revisions([r for r in revisions if r["metadata"]["name"] not in live])
        limit = int((sts.get("spec") or {}).get("revisionHistoryLimit", 10))
        for rev in old[:max(0, len(old) - limit)]:
            await history.delete_revision(self.client, rev)

    async def _write_status(self, sts: Obj, status: Obj) -> None:
        new = {**(sts.get("status") or {}), **status}
        for k in ("availableReplicas", "currentReplicas", "updatedReplicas", "collisionCount"):
            if not new.get(k):
                new.pop(k, None)
        if new == (sts.get("status") or {}):
            return
        try:
            await self.client.update(self._path(sts, "status"), {**sts, "status": new})
        except ApiError as e:
            if not e.not_found:
                raise

    async def _claim(self, sts: Obj, selector: LabelSelector, objs: list[Obj], group: str, version: str,
                     plural: str) -> list[Obj]:
        async def can_adopt() -> bool:
            try:
                fresh = await self.client.get(self._path(sts))
            except ApiError as e:
                if e.not_found:
                    return False
                raise
            return fresh["metadata"].get("uid") == sts["metadata"]["uid"] and not is_being_deleted(fresh)

        mgr = ControllerRefManager(self.client, sts, selector, api_version=API_VERSION, kind=KIND,
                                   path_of=lambda o: resource_path(group, version, plural, o["metadata"]["namespace"],
                                                                   o["metadata"]["name"]),
                                   can_adopt=can_adopt)
        return await mgr.claim(objs)

    def _path(self, sts: Obj, subresource: str | None = None) -> str:
        md = sts["metadata"]
        return resource_path("apps", "v1", "statefulsets", md["namespace"], md["name"], subresource)


CONTROLLER = StatefulSetController

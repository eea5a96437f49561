"""The Job controller (upstream's pkg/controller/job): runs pods to completion with parallelism and completions,
NonIndexed and Indexed modes, back-off of failed pods, deadlines, suspension, pod failure and success policies,
and counts every finished pod exactly once through the batch.kubernetes.io/job-tracking finalizer and
status.uncountedTerminatedPods."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kybernetes.api.selectors import LabelSelector, label_selector_from_dict
from kybernetes.client import ApiError, meta_namespace_key, resource_path, split_key
from kybernetes.controllers import jobutil as ju
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext
from kybernetes.controllers.controller_utils import (ControllerRefManager, get_controller_of, is_being_deleted,
                                                     is_pod_active, is_pod_ready, new_controller_ref,
                                                     pod_from_template, rank_pods_for_deletion, slow_start_batch)
from kybernetes.controllers.expectations import UIDTrackingControllerExpectations

log = logging.getLogger(__name__)

Obj = dict[str, Any]

API_VERSION, KIND = "batch/v1", "Job"
JOB_CONTROLLER_NAME = "kubernetes.io/job-controller"  # spec.managedBy value this controller owns
MAX_UNCOUNTED_PODS = 500
MAX_POD_CREATE_DELETE_PER_SYNC = 500


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(value: str | None) -> float | None:
    return ju.timestamp_of(value)


@dataclass
class SyncState:
    """What one sync of one Job found and decided (upstream's syncJobCtx)."""

    job: Obj
    pods: list[Obj]
    active_pods: list[Obj]
    uncounted_succeeded: set[str]
    uncounted_failed: set[str]
    expected_removals: set[str]
    succeeded: int = 0
    failed: int = 0
    terminating: int = 0
    succeeded_indexes: set[int] = field(default_factory=set)
    new_succeeded: list[Obj] = field(default_factory=list)
    new_failed: list[Obj] = field(default_factory=list)
    finished: Obj | None = None
    requeue_after: float = 0.0

    def want_requeue(self, delay: float) -> None:
        if delay > 0 and (self.requeue_after == 0 or delay < self.requeue_after):
            self.requeue_after = delay


def observe(job: Obj, pods: list[Obj], expected_removals: set[str]) -> SyncState:
    """Count what the pods show: active, terminating, and finished pods not yet recorded."""
    status = job.get("status") or {}
    uncounted = status.get("uncountedTerminatedPods") or {}
    state = SyncState(job=job, pods=pods, active_pods=[p for p in pods if is_pod_active(p)],
                      uncounted_succeeded=set(uncounted.get("succeeded") or ()),
                      uncounted_failed=set(uncounted.get("failed") or ()),
                      expected_removals=set(expected_removals))
    state.terminating = sum(1 for p in pods if ju.is_terminating(p))
    policy = (job.get("spec") or {}).get("podFailurePolicy")
    for pod in pods:
        uid = pod["metadata"].get("uid", "")
        if not ju.has_tracking_finalizer(pod) or uid in state.expected_removals:
            continue
        if uid in state.uncounted_succeeded or uid in state.uncounted_failed:
            continue
        if ju.phase(pod) == "Succeeded":
            state.new_succeeded.append(pod)
        elif ju.is_pod_failed(pod, job) and ju.match_pod_failure_policy(policy, pod)[1]:
            state.new_failed.append(pod)
    state.succeeded = int(status.get("succeeded") or 0) + len(state.uncounted_succeeded) + len(state.new_succeeded)
    state.failed = int(status.get("failed") or 0) + len(state.uncounted_failed) + len(state.new_failed)
    if ju.is_indexed(job):
        completions = int((job.get("spec") or {}).get("completions") or 0)
        state.succeeded_indexes = ju.parse_indexes(status.get("completedIndexes"), completions)
        counted = state.uncounted_succeeded | {p["metadata"].get("uid") for p in state.new_succeeded}
        for pod in pods:
            ix = ju.completion_index(pod)
            if ju.phase(pod) == "Succeeded" and pod["metadata"].get("uid") in counted and ix is not None \
                    and ix < completions:
                state.succeeded_indexes.add(ix)
        state.succeeded = len(state.succeeded_indexes)
    return state


class JobController:
    """Creates pods for each Job until enough succeed, or the Job fails, is suspended or runs out of time."""

    name = "job"

    def __init__(self, ctx: ControllerContext, *, now: Callable[[], float] = time.time) -> None:
        self.client = ctx.client
        self.recorder = ctx.recorder("job-controller")
        self.now = now
        extra = ctx.options.extra
        self.backoff_base = float(extra.get("job_pod_failure_backoff", ju.DEFAULT_POD_FAILURE_BACKOFF))
        self.backoff_max = float(extra.get("job_pod_failure_backoff_max", ju.MAX_POD_FAILURE_BACKOFF))
        self.workers = int(extra.get("concurrent_job_syncs", 5))
        self.expectations = UIDTrackingControllerExpectations()
        self.finalizer_expectations: dict[str, set[str]] = {}  # job key -> pod uids whose finalizer goes
        self.backoffs: dict[str, ju.BackoffRecord] = {}
        self.worker = QueueWorker(self.name, self.reconcile)
        self.jobs = ctx.informers.informer_for("batch", "v1", "jobs")
        self.pods = ctx.informers.informer_for("", "v1", "pods")
        self.jobs.add_event_handler(on_add=self.worker.enqueue_object, on_update=self._update_job,
                                    on_delete=self._delete_job)
        self.pods.add_event_handler(on_add=self._add_pod, on_update=self._update_pod, on_delete=self._delete_pod)

    async def run(self, workers: int = 0) -> None:
        await self.worker.run(workers or self.workers)

    # -- event handlers ---------------------------------------------------------------------------------------------

    def _update_job(self, old: Obj, new: Obj) -> None:
        self.worker.enqueue_object(new)

    def _delete_job(self, job: Obj) -> None:
        self.worker.enqueue(meta_namespace_key(job))

    def _job_key_of(self, pod: Obj) -> str | None:
        ref = get_controller_of(pod)
        if ref is None or ref.get("kind") != KIND:
            return None
        return f"{pod['metadata'].get('namespace', '')}/{ref.get('name', '')}"

    def _owner_matches(self, pod: Obj, key: str) -> bool:
        job = self.jobs.store.get_by_key(key)
        ref = get_controller_of(pod)
        return job is not None and ref is not None and job["metadata"].get("uid") == ref.get("uid")

    def _finalizer_gone(self, key: str, pod: Obj) -> None:
        pending = self.finalizer_expectations.get(key)
        if pending is not None:
            pending.discard(pod["metadata"].get("uid", ""))

    def _add_pod(self, pod: Obj) -> None:
        key = self._job_key_of(pod)
        if key is None:
            self._enqueue_selecting(pod)
            return
        if is_being_deleted(pod):
            self.expectations.deletion_observed(key, meta_namespace_key(pod))
        elif self._owner_matches(pod, key):
            self.expectations.creation_observed(key)
        self.worker.enqueue(key)

    def _update_pod(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        keys = {k for k in (self._job_key_of(old), self._job_key_of(new)) if k is not None}
        for key in keys:
            if ju.has_tracking_finalizer(old) and not ju.has_tracking_finalizer(new):
                self._finalizer_gone(key, new)
            if is_being_deleted(new):
                self.expectations.deletion_observed(key, meta_namespace_key(new))
            self.worker.enqueue(key)
        if not keys:
            self._enqueue_selecting(new)

    def _delete_pod(self, pod: Obj) -> None:
        key = self._job_key_of(pod)
        if key is None:
            return
        self._finalizer_gone(key, pod)
        self.expectations.deletion_observed(key, meta_namespace_key(pod))
        self.worker.enqueue(key)

    def _enqueue_selecting(self, pod: Obj) -> None:
        """An orphan: wake the Jobs whose selector picks it (they may adopt it)."""
        labels = pod["metadata"].get("labels") or {}
        if not labels:
            return
        for job in self.jobs.store.list(pod["metadata"].get("namespace", "")):
            try:
                sel = label_selector_from_dict((job.get("spec") or {}).get("selector"))
            except ValueError:
                continue
            if not sel.empty() and sel.matches(labels):
                self.worker.enqueue(meta_namespace_key(job))

    # -- reconcile --------------------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result:
        job = self.jobs.store.get_by_key(key)
        if job is None:
            self.expectations.delete_expectations(key)
            self.finalizer_expectations.pop(key, None)
            self.backoffs.pop(key, None)
            await self._release_orphans(key)
            return Result()
        managed_by = (job.get("spec") or {}).get("managedBy")
        if managed_by and managed_by != JOB_CONTROLLER_NAME:
            return Result()
        try:
            selector = label_selector_from_dict((job.get("spec") or {}).get("selector"))
        except ValueError as e:
            log.error("job %s: invalid selector: %s", key, e)
            return Result()
        pods = await self._claim_pods(job, selector)
        if ju.is_job_finished(job):
            await self._remove_finalizers(key, [p for p in pods if ju.has_tracking_finalizer(p)])
            return Result()
        satisfied = self.expectations.satisfied_expectations(key)
        state = observe(job, pods, self.finalizer_expectations.get(key, set()))
        await self._sync(key, state, satisfied)
        return Result(requeue_after=state.requeue_after)

    async def _sync(self, key: str, state: SyncState, satisfied: bool) -> None:
        job = state.job
        spec = job.get("spec") or {}
        status: Obj = copy.deepcopy(job.get("status") or {})
        now = self.now()
        suspended = bool(spec.get("suspend"))
        if not status.get("startTime") and not suspended:
            status["startTime"] = _rfc3339(now)
        state.finished = self._finished_condition(job, state, status, now, suspended)
        active = len(state.active_pods)
        ready = sum(1 for p in state.active_pods if is_pod_ready(p))
        error: BaseException | None = None
        if state.finished is not None:
            deleted, deleted_ready, error = await self._delete_pods(job, state.active_pods, remove_finalizer=False)
            active -= deleted
            ready -= deleted_ready
            state.terminating += deleted
        else:
            manage_called = False
            if satisfied and not is_being_deleted(job):
                active, ready, error = await self._manage(key, state, active, ready, now)
                manage_called = True
            completions = spec.get("completions")
            if completions is None:
                complete = state.succeeded > 0 and active == 0
            else:
                complete = state.succeeded >= int(completions) and active == 0
            if complete:
                state.finished = ju.new_condition(ju.SUCCESS_CRITERIA_MET, "True", ju.REASON_COMPLETIONS_REACHED,
                                                  ju.MSG_COMPLETIONS_REACHED, _rfc3339(now))
            elif manage_called:
                self._suspend_conditions(job, status, suspended, now)
        status["active"] = active
        status["ready"] = ready
        status["terminating"] = state.terminating
        await self._track(key, state, status, now)
        if error is not None:
            raise error

    def _finished_condition(self, job: Obj, state: SyncState, status: Obj, now: float,
                            suspended: bool) -> Obj | None:
        spec = job.get("spec") or {}
        stamp = _rfc3339(now)
        target = ju.find_condition(job, ju.FAILURE_TARGET)
        if target is not None and target.get("status") == "True":
            return ju.new_condition(ju.FAILED, "True", target.get("reason", ""), target.get("message", ""), stamp)
        met = ju.find_condition(job, ju.SUCCESS_CRITERIA_MET)
        if met is not None and met.get("status") == "True":
            return ju.new_condition(ju.COMPLETE, "True", met.get("reason", ""), met.get("message", ""), stamp)
        message = self._fail_job_message(job, state.pods)
        if message is not None:
            return ju.new_condition(ju.FAILURE_TARGET, "True", ju.REASON_POD_FAILURE_POLICY, message, stamp)
        backoff_limit = int(spec.get("backoffLimit") if spec.get("backoffLimit") is not None else 6)
        if state.failed > backoff_limit or ju.past_backoff_limit_on_failure(job, state.pods):
            return ju.new_condition(ju.FAILURE_TARGET, "True", ju.REASON_BACKOFF_LIMIT_EXCEEDED,
                                    ju.MSG_BACKOFF_LIMIT_EXCEEDED, stamp)
        deadline = spec.get("activeDeadlineSeconds")
        started = _epoch(status.get("startTime"))
        if deadline is not None and started is not None and not suspended:
            remaining = float(deadline) - (now - started)
            if remaining <= 0:
                return ju.new_condition(ju.FAILURE_TARGET, "True", ju.REASON_DEADLINE_EXCEEDED,
                                        ju.MSG_DEADLINE_EXCEEDED, stamp)
            state.want_requeue(remaining)
        if ju.is_indexed(job):
            completions = int(spec.get("completions") or 0)
            message = ju.match_success_policy(spec.get("successPolicy"), state.succeeded_indexes, completions)
            if message is not None:
                return ju.new_condition(ju.SUCCESS_CRITERIA_MET, "True", ju.REASON_SUCCESS_POLICY, message, stamp)
        return None

    @staticmethod
    def _fail_job_message(job: Obj, pods: list[Obj]) -> str | None:
        policy = (job.get("spec") or {}).get("podFailurePolicy")
        if policy is None:
            return None
        for pod in pods:
            if ju.is_pod_failed(pod, job):
                message, _, _ = ju.match_pod_failure_policy(policy, pod)
                if message is not None:
                    return message
        return None

    def _suspend_conditions(self, job: Obj, status: Obj, suspended: bool, now: float) -> None:
        stamp = _rfc3339(now)
        if suspended:
            cond = ju.new_condition(ju.SUSPENDED, "True", "JobSuspended", "Job suspended", stamp)
        else:
            cond = ju.new_condition(ju.SUSPENDED, "False", "JobResumed", "Job resumed", stamp)
        conditions, changed = ju.ensure_condition(status.get("conditions") or [], cond)
        if not changed:
            return
        status["conditions"] = conditions
        if suspended:
            self.recorder.event(job, "Normal", "Suspended", "Job suspended")
        else:
            self.recorder.event(job, "Normal", "Resumed", "Job resumed")
            status["startTime"] = stamp  # the deadline counts the time continuously active

    # -- creating and deleting pods ---------------------------------------------------------------------------------

    async def _manage(self, key: str, state: SyncState, active: int, ready: int,
                      now: float) -> tuple[int, int, BaseException | None]:
        """manageJob: delete surplus (or all, when suspended) pods, create missing ones after the back-off."""
        job = state.job
        spec = job.get("spec") or {}
        pods = state.active_pods
        if spec.get("suspend"):
            victims = self._pods_for_removal(job, pods, len(pods), state.succeeded_indexes)
            return await self._delete_surplus(key, job, victims, active, ready)
        parallelism = int(spec.get("parallelism") if spec.get("parallelism") is not None else 1)
        completions = spec.get("completions")
        if completions is None:
            want = active if state.succeeded > 0 else parallelism
        else:
            want = max(0, min(parallelism, int(completions) - state.succeeded))
        victims = self._pods_for_removal(job, pods, max(0, active - want), state.succeeded_indexes)
        if victims:
            return await self._delete_surplus(key, job, victims[:MAX_POD_CREATE_DELETE_PER_SYNC], active, ready)
        terminating = state.terminating if ju.only_replace_failed_pods(job) else 0
        diff = want - terminating - active
        if diff <= 0:
            return active, ready, None
        record = self.backoffs.get(key, ju.BackoffRecord()).updated(
            [ju.pod_finish_time(p, now) for p in state.new_succeeded],
            [ju.pod_finish_time(p, now) for p in state.new_failed])
        remaining = record.remaining(now, self.backoff_base, self.backoff_max)
        if remaining > 0:
            state.want_requeue(remaining)
            return active, ready, None
        diff = min(diff, MAX_POD_CREATE_DELETE_PER_SYNC)
        indexes: list[int | None] = [None] * diff
        if ju.is_indexed(job):
            taken = {ix for p in pods if (ix := ju.completion_index(p)) is not None}
            if terminating:
                taken |= {ix for p in state.pods if ju.is_terminating(p) and (ix := ju.completion_index(p)) is not None}
            indexes = list(ju.first_pending_indexes(int(completions or 0), state.succeeded_indexes, taken, diff))
        created, error = await self._create_pods(key, job, indexes)
        return active + created, ready, error

    def _pods_for_removal(self, job: Obj, pods: list[Obj], at_least: int, succeeded: set[int]) -> list[Obj]:
        """activePodsForRemoval: Indexed duplicates and out-of-range or finished indexes first, then by rank."""
        remove: list[Obj] = []
        left = pods
        if ju.is_indexed(job):
            completions = int((job.get("spec") or {}).get("completions") or 0)
            left = []
            seen: dict[int, Obj] = {}
            for pod in rank_pods_for_deletion(pods, pods)[::-1]:  # keep the most valuable pod of an index
                ix = ju.completion_index(pod)
                if ix is None or ix >= completions or ix in succeeded or ix in seen:
                    remove.append(pod)
                else:
                    seen[ix] = pod
                    left.append(pod)
        if len(remove) < at_least:
            remove += rank_pods_for_deletion(left, pods)[:at_least - len(remove)]
        return remove

    async def _delete_surplus(self, key: str, job: Obj, victims: list[Obj], active: int,
                              ready: int) -> tuple[int, int, BaseException | None]:
        self.expectations.expect_deletions(key, [meta_namespace_key(p) for p in victims])
        deleted, deleted_ready, error = await self._delete_pods(job, victims, remove_finalizer=True, key=key)
        return active - deleted, ready - deleted_ready, error

    async def _delete_pods(self, job: Obj, pods: list[Obj], *, remove_finalizer: bool,
                           key: str | None = None) -> tuple[int, int, BaseException | None]:
        """Delete pods; surplus pods (remove_finalizer) lose the tracking finalizer first so they never count."""
        async def one(pod: Obj) -> bool:
            md = pod["metadata"]
            path = resource_path("", "v1", "pods", md["namespace"], md["name"])
            try:
                if remove_finalizer and ju.has_tracking_finalizer(pod):
                    await self.client.patch(path, _remove_finalizer_patch(pod), "strategic")
                await self.client.delete(path, body={"preconditions": {"uid": md["uid"]}})
            except ApiError as e:
                if key is not None:
                    self.expectations.deletion_observed(key, meta_namespace_key(pod))
                if e.not_found or e.conflict:
                    return False
                self.recorder.event(job, "Warning", "FailedDelete", f"Error deleting: {e.message or e}")
                raise
            self.recorder.event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {md['name']}")
            return True

        results = await asyncio.gather(*(one(p) for p in pods), return_exceptions=True)
        deleted = sum(1 for r in results if r is True)
        deleted_ready = sum(1 for p, r in zip(pods, results) if r is True and is_pod_ready(p))
        return deleted, deleted_ready, next((r for r in results if isinstance(r, BaseException)), None)

    async def _create_pods(self, key: str, job: Obj, indexes: list[int | None]) -> tuple[int, BaseException | None]:
        self.expectations.expect_creations(key, len(indexes))
        spec = job.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        tmeta = template.setdefault("metadata", {})
        finalizers = list(tmeta.get("finalizers") or [])
        if ju.JOB_TRACKING_FINALIZER not in finalizers:
            finalizers.append(ju.JOB_TRACKING_FINALIZER)
        tmeta["finalizers"] = finalizers
        if ju.is_indexed(job):
            ju.add_completion_index_env(template)
        ref = new_controller_ref(job, api_version=API_VERSION, kind=KIND)
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        pending = iter(indexes)

        async def create_one() -> None:
            index = next(pending)
            t = copy.deepcopy(template)
            prefix = f"{name}-"
            if index is not None:
                ju.set_completion_index(t, index, name)
                prefix = f"{name}-{index}-"
            pod = pod_from_template(t, ref, prefix)
            try:
                created = await self.client.create(resource_path("", "v1", "pods", ns), pod)
            except ApiError as e:
                if e.code == 403 and "being terminated" in (e.message or ""):
                    return
                self.recorder.event(job, "Warning", "FailedCreate", f"Error creating: {e.message or e}")
                raise
            self.recorder.event(job, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

        successes, error = await slow_start_batch(len(indexes), 1, create_one)
        for _ in range(len(indexes) - successes):
            self.expectations.creation_observed(key)
        return successes, error

    # -- counting finished pods exactly once -------------------------------------------------------------------------

    async def _track(self, key: str, state: SyncState, status: Obj, now: float) -> None:
        """trackJobStatusAndRemoveFinalizers: record finished pods' uids, drop their finalizers, then count them."""
        job = state.job
        spec = job.get("spec") or {}
        policy = spec.get("podFailurePolicy")
        indexed = ju.is_indexed(job)
        completions = int(spec.get("completions") or 0)
        prev_indexes = ju.parse_indexes(status.get("completedIndexes"), completions) if indexed else set()
        new_indexes = set(prev_indexes)
        unc_s, unc_f = set(state.uncounted_succeeded), set(state.uncounted_failed)
        finished = state.finished
        job_failing = finished is not None and finished["type"] in (ju.FAILURE_TARGET, ju.FAILED)
        with_finalizer = {p["metadata"]["uid"] for p in state.pods if ju.has_tracking_finalizer(p)}
        to_remove: list[Obj] = []
        needs_flush = False
        for pod in state.pods:
            uid = pod["metadata"]["uid"]
            if uid not in with_finalizer or uid in state.expected_removals:
                continue
            failed = ju.is_pod_failed(pod, job)
            if not (ju.is_terminal(pod) or failed or finished is not None or is_being_deleted(job)):
                continue
            if len(unc_s) + len(unc_f) >= MAX_UNCOUNTED_PODS:
                break
            to_remove.append(pod)
            ix = ju.completion_index(pod)
            if ju.phase(pod) == "Succeeded" and uid not in unc_f:
                if indexed and (ix is None or ix >= completions or ix in prev_indexes):
                    continue  # a duplicate or stray index: its finalizer goes, it is not counted
                if uid not in unc_s:
                    unc_s.add(uid)
                    needs_flush = True
                if indexed and ix is not None:
                    new_indexes.add(ix)
            elif failed or job_failing:
                if uid in unc_s or uid in unc_f or (indexed and (ix is None or ix >= completions)):
                    continue
                if ju.match_pod_failure_policy(policy, pod)[1]:
                    unc_f.add(uid)
                    needs_flush = True
        if finished is not None and finished["type"] in (ju.FAILURE_TARGET, ju.SUCCESS_CRITERIA_MET):
            conditions, changed = ju.ensure_condition(status.get("conditions") or [], finished)
            status["conditions"] = conditions
            needs_flush = needs_flush or changed
        if indexed:
            status["completedIndexes"] = ju.format_indexes(new_indexes)
        status["uncountedTerminatedPods"] = _uncounted(unc_s, unc_f)
        if needs_flush and to_remove:
            job = await self._write_status(job, status)  # the uids are safe before any finalizer goes
        removed = await self._remove_finalizers(key, to_remove)
        with_finalizer -= removed
        moved_s = {u for u in unc_s if u not in with_finalizer}
        moved_f = {u for u in unc_f if u not in with_finalizer}
        status["succeeded"] = int(status.get("succeeded") or 0) + len(moved_s)
        status["failed"] = int(status.get("failed") or 0) + len(moved_f)
        status["uncountedTerminatedPods"] = _uncounted(unc_s - moved_s, unc_f - moved_f)
        terminal = self._enact_finished(status, state, finished, now)
        if _status_differs(job.get("status") or {}, status):
            job = await self._write_status(job, status)
        self.backoffs[key] = self.backoffs.get(key, ju.BackoffRecord()).updated(
            [ju.pod_finish_time(p, now) for p in state.new_succeeded],
            [ju.pod_finish_time(p, now) for p in state.new_failed])
        if terminal is not None:
            if terminal["type"] == ju.COMPLETE:
                self.recorder.event(job, "Normal", "Completed", "Job completed")
            else:
                self.recorder.event(job, "Warning", terminal.get("reason", ""), terminal.get("message", ""))

    def _enact_finished(self, status: Obj, state: SyncState, finished: Obj | None, now: float) -> Obj | None:
        """The terminal condition (Complete/Failed) once every finished pod is counted and none is terminating."""
        if finished is None:
            return None
        uncounted = status.get("uncountedTerminatedPods") or {}
        if uncounted.get("succeeded") or uncounted.get("failed") or state.terminating > 0:
            return None
        stamp = _rfc3339(now)
        if finished["type"] == ju.FAILURE_TARGET:
            finished = ju.new_condition(ju.FAILED, "True", finished["reason"], finished["message"], stamp)
        elif finished["type"] == ju.SUCCESS_CRITERIA_MET:
            finished = ju.new_condition(ju.COMPLETE, "True", finished["reason"], finished["message"], stamp)
        conditions, _ = ju.ensure_condition(status.get("conditions") or [], finished)
        status["conditions"] = conditions
        if finished["type"] == ju.COMPLETE:
            status["completionTime"] = stamp
        return finished

    async def _write_status(self, job: Obj, status: Obj) -> Obj:
        md = job["metadata"]
        path = resource_path("batch", "v1", "jobs", md["namespace"], md["name"], "status")
        return await self.client.update(path, {**job, "status": copy.deepcopy(status)})

    async def _remove_finalizers(self, key: str, pods: list[Obj]) -> set[str]:
        """Drop the tracking finalizer; returns the uids that no longer carry it."""
        if not pods:
            return set()
        pending = self.finalizer_expectations.setdefault(key, set())

        async def one(pod: Obj) -> str | None:
            md = pod["metadata"]
            pending.add(md["uid"])
            try:
                await self.client.patch(resource_path("", "v1", "pods", md["namespace"], md["name"]),
                                        _remove_finalizer_patch(pod), "strategic")
            except ApiError as e:
                if e.not_found:
                    pending.discard(md["uid"])
                    return md["uid"]
                pending.discard(md["uid"])
                raise
            return md["uid"]

        results = await asyncio.gather(*(one(p) for p in pods), return_exceptions=True)
        error = next((r for r in results if isinstance(r, BaseException)), None)
        if error is not None:
            log.warning("job %s: removing finalizers: %s", key, error)
        return {r for r in results if isinstance(r, str)}

    async def _release_orphans(self, key: str) -> None:
        """Pods of a Job that is gone keep no tracking finalizer (upstream's orphan pod cleanup)."""
        namespace, name = split_key(key)
        orphans = [p for p in self.pods.store.list(namespace) if ju.has_tracking_finalizer(p)
                   and (ref := get_controller_of(p)) is not None and ref.get("kind") == KIND
                   and ref.get("name") == name]
        await self._remove_finalizers(key, orphans)
        self.finalizer_expectations.pop(key, None)

    async def _claim_pods(self, job: Obj, selector: LabelSelector) -> list[Obj]:
        md = job["metadata"]

        async def can_adopt() -> bool:
            try:
                fresh = await self.client.get(resource_path("batch", "v1", "jobs", md["namespace"], md["name"]))
            except ApiError as e:
                if e.not_found:
                    return False
                raise
            return fresh["metadata"].get("uid") == md["uid"] and not is_being_deleted(fresh)

        mgr = ControllerRefManager(self.client, job, selector, api_version=API_VERSION, kind=KIND,
                                   path_of=lambda p: resource_path("", "v1", "pods", p["metadata"]["namespace"],
                                                                   p["metadata"]["name"]),
                                   can_adopt=can_adopt)
        return await mgr.claim(self.pods.store.list(md["namespace"]))


def _remove_finalizer_patch(pod: Obj) -> Obj:
    return {"metadata": {"$deleteFromPrimitiveList/finalizers": [ju.JOB_TRACKING_FINALIZER],
                         "uid": pod["metadata"]["uid"]}}


def _uncounted(succeeded: set[str], failed: set[str]) -> Obj:
    out: Obj = {}
    if succeeded:
        out["succeeded"] = sorted(succeeded)
    if failed:
        out["failed"] = sorted(failed)
    return out


def _status_differs(old: Obj, new: Obj) -> bool:
    def norm(s: Obj) -> Obj:
        return {k: v for k, v in s.items() if v not in (None, {}, [], "")}
    return norm(old) != norm(new)


CONTROLLER = JobController

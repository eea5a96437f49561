"""The scheduling cycle (pop, snapshot, filter, score, assume, reserve, permit) and the asynchronous binding cycle
(pre-bind, bind, post-bind), with upstream's failure handling: unreserve, forget, requeue, condition and event."""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from typing import Any

from kybernetes.client.rest import ApiError, RESTClient, resource_path
from kybernetes.scheduler.cache import Cache, Snapshot
from kybernetes.scheduler.framework.diagnosis import FitError
from kybernetes.scheduler.framework.interface import ClusterEvent, Code, CycleState, PodInfo, QueuedPodInfo, Status
from kybernetes.scheduler.framework.runtime import Framework
from kybernetes.scheduler.framework.types import new_pod_info
from kybernetes.scheduler.metrics import Metrics
from kybernetes.scheduler.queue import PriorityQueue, QueueClosed

log = logging.getLogger(__name__)

ASSIGNED_POD_DELETE = ClusterEvent("Pod", "Delete")
MAX_STATUS_UPDATES_IN_FLIGHT = 16  # PodScheduled condition patches at once (a small, reused connection pool)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Scheduler:
    """Schedules one pod at a time from the queue; binds many at once in background tasks."""

    def __init__(self, *, client: RESTClient | None, cache: Cache, queue: PriorityQueue,
                 profiles: dict[str, Framework], pod_lister: Any = None, metrics: Metrics | None = None) -> None:
        self.client = client
        self.cache = cache
        self.queue = queue
        self.profiles = profiles
        self.pod_lister = pod_lister  # the pod informer's Indexer: is the pod still there, still pending?
        self.metrics = metrics
        self.snapshot = Snapshot()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._status_slots: asyncio.Semaphore | None = None

    # -- loop ------------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Schedule pods until cancelled or the queue is closed."""
        try:
            while True:
                try:
                    qpi = await self.queue.pop()
                except QueueClosed:
                    return
                try:
                    await self.schedule_one(qpi)
                except Exception:
                    log.exception("scheduling %s failed", qpi.pod_info.key)
                    self.queue.done(qpi.pod_info.uid)
                await asyncio.sleep(0)  # let informers and binding cycles run between cycles
        finally:
            for t in list(self._tasks):
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_for_bindings(self) -> None:
        """Wait for every binding cycle and status update in flight (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _skip(self, pi: PodInfo) -> bool:
        """Upstream's skipPodSchedule: the pod is being deleted, or already assumed."""
        return bool((pi.pod.get("metadata") or {}).get("deletionTimestamp")) or self.cache.is_assumed(pi.uid)

    # -- scheduling cycle ------------------------------------------------------------------------------------

    async def schedule_one(self, qpi: QueuedPodInfo) -> None:
        pi = qpi.pod_info
        fwk = self.profiles.get((pi.pod.get("spec") or {}).get("schedulerName") or "default-scheduler")
        if fwk is None or self._skip(pi):
            self.queue.done(pi.uid)
            return
        start = time.perf_counter()
        self.cache.update_snapshot(self.snapshot)
        for f in self.profiles.values():
            f.set_snapshot(self.snapshot)
        state = CycleState()
        host, status, plugins = await self._scheduling_cycle(fwk, state, qpi)
        if host is None:
            result = "error" if status.code == Code.ERROR else "unschedulable"
            log.debug("%s attempt %d: %s (%s)", pi.key, qpi.attempts, result, status.message())
            if self.metrics is not None:
                self.metrics.observe_attempt(result, fwk.profile_name, time.perf_counter() - start)
            self.handle_scheduling_failure(fwk, qpi, status, plugins)
            return
        self.queue.done(pi.uid)
        log.debug("%s attempt %d: assumed on %s", pi.key, qpi.attempts, host)
        self._spawn(self._binding_cycle(fwk, state, qpi, host, start))

    async def _scheduling_cycle(self, fwk: Framework, state: CycleState,
                                qpi: QueuedPodInfo) -> tuple[str | None, Status, set[str]]:
        """(host, SUCCESS, _) with the pod assumed, reserved and permitted; or (None, why, rejecting plugins)."""
        pi = qpi.pod_info
        try:
            result = fwk.schedule_pod(state, pi)
        except FitError as fe:
            if fwk.has_plugins("postFilter"):
                nominated, st = await fwk.run_post_filter_plugins(state, pi, fe.diagnosis.node_to_status)
                if st.code == Code.ERROR:
                    log.error("post filter for %s: %s", pi.key, st.message())
                elif st.message():
                    fe.diagnosis.post_filter_msg = st.message()
                if nominated:
                    self.queue.add_nominated_pod(pi, nominated)
                    qpi.pod_info.cache["nominated_node"] = nominated
            plugins = fe.diagnosis.unschedulable_plugins | fe.diagnosis.pending_plugins
            return None, Status(Code.UNSCHEDULABLE, [str(fe)]), plugins
        except Exception as e:  # a plugin error: back-off and retry
            log.exception("scheduling %s", pi.key)
            return None, Status.error(str(e)), set()
        host = result.suggested_host
        assumed = PodInfo({**pi.pod, "spec": {**(pi.pod.get("spec") or {}), "nodeName": host}}, pi.requests,
                          pi.non_zero_requests, pi.cache)
        try:
            self.cache.assume_pod(assumed)
        except Exception as e:
            return None, Status.error(str(e)), set()
        qpi.pod_info = assumed
        st = await fwk.run_reserve_plugins_reserve(state, assumed, host)
        if st.is_success():
            st = await fwk.run_permit_plugins(state, assumed, host)
            if st.code == Code.WAIT:
                st = Status.success()
        if not st.is_success():
            await fwk.run_reserve_plugins_unreserve(state, assumed, host)
            self.cache.forget_pod(assumed)
            qpi.pod_info = pi
            return None, st, ({st.plugin} if st.is_rejected() and st.plugin else set())
        self.queue.delete_nominated_pod_if_exists(pi.pod)
        return host, st, set()

    # -- binding cycle ---------------------------------------------------------------------------------------

    async def _binding_cycle(self, fwk: Framework, state: CycleState, qpi: QueuedPodInfo, host: str,
                             start: float) -> None:
        pi = qpi.pod_info
        try:
            st = await fwk.wait_on_permit(pi)
            if st.is_success():
                st = await fwk.run_pre_bind_plugins(state, pi, host)
            if st.is_success():
                st = await fwk.run_bind_plugins(state, pi, host)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("binding %s", pi.key)
            st = Status.error(str(e))
        if not st.is_success():
            await fwk.run_reserve_plugins_unreserve(state, pi, host)
            try:
                self.cache.forget_pod(pi)
            except Exception:
                log.exception("forgetting %s", pi.key)
            self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_DELETE, pi.pod, None)
            if self.metrics is not None:
                self.metrics.observe_attempt("error", fwk.profile_name, time.perf_counter() - start)
            qpi.pod_info = new_pod_info(
                {**pi.pod, "spec": {k: v for k, v in (pi.pod.get("spec") or {}).items() if k != "nodeName"}})
            self.handle_scheduling_failure(fwk, qpi, st if st.code == Code.ERROR else st,
                                           {st.plugin} if st.is_rejected() and st.plugin else set())
            return
        self.cache.finish_binding(pi)
        if self.metrics is not None:
            elapsed = time.perf_counter() - start
            self.metrics.observe_attempt("scheduled", fwk.profile_name, elapsed)
            first = qpi.initial_attempt_timestamp
            e2e = self.queue.clock.now() - first if first is not None else elapsed
            self.metrics.e2e_duration.labels(result="scheduled", profile=fwk.profile_name).observe(e2e)
        md = pi.pod.get("metadata") or {}
        fwk.event(pi.pod, "Normal", "Scheduled", "Binding",
                  f"Successfully assigned {md.get('namespace', '')}/{md.get('name', '')} to {host}")
        await fwk.run_post_bind_plugins(state, pi, host)

    # -- failures --------------------------------------------------------------------------------------------

    def handle_scheduling_failure(self, fwk: Framework, qpi: QueuedPodInfo, status: Status,
                                  plugins: set[str]) -> None:
        """Requeue the pod (unless it is gone or bound), record FailedScheduling and set PodScheduled=False."""
        pi = qpi.pod_info
        reason = "SchedulerError" if status.code == Code.ERROR else "Unschedulable"
        msg = status.message()
        qpi.unschedulable_plugins = set(plugins) if status.code != Code.ERROR else set()
        pod = pi.pod
        md = pod.get("metadata") or {}
        cached = self.pod_lister.get(md.get("name", ""), md.get("namespace")) if self.pod_lister is not None else pod
        if cached is None or (cached.get("metadata") or {}).get("uid") != pi.uid:
            self.queue.done(pi.uid)
            return  # deleted meanwhile
        if (cached.get("spec") or {}).get("nodeName"):
            self.queue.done(pi.uid)
            return  # bound meanwhile (by someone else)
        if cached is not pod:
            qpi.pod_info = new_pod_info(cached)
            qpi.pod_info.cache.update({k: v for k, v in pi.cache.items() if k == "nominated_node"})
        self.queue.add_unschedulable_if_not_present(qpi)
        nominated = pi.cache.pop("nominated_node", None)
        fwk.event(cached, "Warning", "FailedScheduling", "Scheduling", msg)
        if self.client is not None:
            self._spawn(self._update_pod_status(cached, reason, msg, nominated))

    async def _update_pod_status(self, pod: dict[str, Any], reason: str, msg: str, nominated: str | None) -> None:
        """Patch the PodScheduled condition (and nominatedNodeName) unless it already says so."""
        status = pod.get("status") or {}
        cond = next((c for c in status.get("conditions") or () if c.get("type") == "PodScheduled"), None)
        same = (cond is not None and cond.get("status") == "False" and cond.get("reason") == reason
                and cond.get("message") == msg)
        if same and (not nominated or status.get("nominatedNodeName") == nominated):
            return
        now = _now()
        new_cond = {"type": "PodScheduled", "status": "False", "reason": reason, "message": msg,
                    "lastProbeTime": None,
                    "lastTransitionTime": cond.get("lastTransitionTime") if cond and cond.get("status") == "False"
                    else now}
        patch: dict[str, Any] = {"status": {"conditions": [new_cond]}}
        if nominated:
            patch["status"]["nominatedNodeName"] = nominated
        md = pod.get("metadata") or {}
        if self._status_slots is None:
            self._status_slots = asyncio.Semaphore(MAX_STATUS_UPDATES_IN_FLIGHT)
        try:
            assert self.client is not None
            async with self._status_slots:
                await self.client.patch(
                    resource_path("", "v1", "pods", md.get("namespace"), md.get("name"), "status"), patch, "strategic")
        except ApiError as e:
            if not e.not_found:
                log.warning("updating status of %s/%s: %s", md.get("namespace"), md.get("name"), e)
        except (OSError, asyncio.TimeoutError) as e:
            log.warning("updating status of %s/%s: %s", md.get("namespace"), md.get("name"), e)

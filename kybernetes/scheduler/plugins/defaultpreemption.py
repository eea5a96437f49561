"""DefaultPreemption (PostFilter): find nodes where evicting lower-priority pods lets the pod fit, pick the
victims as upstream does (fewest PDB violations, lowest highest-priority victim, ...), evict them through the
API and nominate the node for the preemptor.

With async preemption (upstream's SchedulerAsyncPreemption, on in the scheduler's registry) the eviction calls
run in a background task after the scheduling cycle; meanwhile the preemptor is held back by this plugin's
PreEnqueue ("waiting for the preemption for this pod to be finished"), and released when its last victim is
deleted (or at once if that victim is already gone or the calls fail)."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from kybernetes.api.selectors import label_selector_from_dict
from kybernetes.client.rest import ApiError, resource_path
from kybernetes.scheduler.framework.diagnosis import Diagnosis, FitError
from kybernetes.scheduler.framework.interface import (SUCCESS, ClusterEvent, ClusterEventWithHint, Code, CycleState,
                                                      Handle, NodeInfo, Pod, PodInfo, QueueingHint, Status)
from kybernetes.scheduler.framework.types import add_pod, remove_pod
from kybernetes.scheduler.plugins.helpers.pods import labels_of, lister_or_none, name_of, namespace_of, priority_of
from kybernetes.scheduler.plugins.helpers.scoring import GenerationMemo

log = logging.getLogger(__name__)

NAME = "DefaultPreemption"
FIT_PLUGIN = "NodeResourcesFit"
WAITING_FOR_PREEMPTION = "waiting for the preemption for this pod to be finished"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_ELIGIBLE_NEVER = "not eligible due to preemptionPolicy=Never."
NOT_ELIGIBLE_TERMINATING = "not eligible due to a terminating pod on the nominated node."
DISRUPTION_TARGET = "DisruptionTarget"
REASON_PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"
DEFAULT_MIN_CANDIDATE_NODES_PERCENTAGE = 10
DEFAULT_MIN_CANDIDATE_NODES_ABSOLUTE = 100
_NOT_STARTED = "9999-12-31T23:59:59Z"  # pods without status.startTime count as started now (latest)


class PreemptionHandle(Handle, Protocol):
    """What preemption needs from the framework besides the Handle: running the filters on a what-if node."""

    def run_filter_plugins_with_nominated_pods(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status: ...

    def run_pre_filter_extension_add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo,
                                         node: NodeInfo) -> Status: ...

    def run_pre_filter_extension_remove_pod(self, state: CycleState, pod: PodInfo, to_remove: PodInfo,
                                            node: NodeInfo) -> Status: ...


@dataclass
class Candidate:
    """A node and the pods that would have to go for the preemptor to fit there."""

    node_name: str
    victims: list[PodInfo] = field(default_factory=list)
    num_pdb_violations: int = 0


def start_time(pod: Pod) -> str:
    return (pod.get("status") or {}).get("startTime") or _NOT_STARTED


def more_important(a: Pod, b: Pod) -> bool:
    """util.MoreImportantPod: higher priority, or equal priority and started earlier."""
    pa, pb = priority_of(a), priority_of(b)
    if pa != pb:
        return pa > pb
    return start_time(a) < start_time(b)


def _importance_key(p: PodInfo) -> tuple[int, str]:
    return -priority_of(p.pod), start_time(p.pod)


def split_by_pdb_violation(pods: list[PodInfo], pdbs: list[dict[str, Any]]) -> tuple[list[PodInfo], list[PodInfo]]:
    """filterPodsWithPDBViolation: (violating, non-violating), spending each PDB's disruptionsAllowed in order."""
    allowed = [int((pdb.get("status") or {}).get("disruptionsAllowed") or 0) for pdb in pdbs]
    selectors = []
    for pdb in pdbs:
        try:
            selectors.append(label_selector_from_dict((pdb.get("spec") or {}).get("selector")))
        except ValueError:
            selectors.append(None)
    violating, ok = [], []
    for pi in pods:
        labels, ns, violated = labels_of(pi.pod), namespace_of(pi.pod), False
        if labels:
            for i, pdb in enumerate(pdbs):
                sel = selectors[i]
                if namespace_of(pdb) != ns or sel is None or sel.empty() or not sel.matches(labels):
                    continue
                if name_of(pi.pod) in ((pdb.get("status") or {}).get("disruptedPods") or {}):
                    continue
                allowed[i] -= 1
                if allowed[i] < 0:
                    violated = True
        (violating if violated else ok).append(pi)
    return violating, ok


def pick_one_node(candidates: list[Candidate]) -> Candidate | None:
    """pickOneNodeForPreemption: fewest PDB violations, then the lowest highest-priority victim, the smallest
    sum of priorities, the fewest victims, the latest start of the highest-priority victims; else the first."""
    if not candidates:
        return None

    def highest(c: Candidate) -> int:
        return max(priority_of(v.pod) for v in c.victims) if c.victims else -(2**31)

    def priority_sum(c: Candidate) -> int:
        return sum(priority_of(v.pod) + 2**31 for v in c.victims)  # offset keeps negative priorities ordered

    def earliest_of_highest(c: Candidate) -> str:
        h = highest(c)
        return min((start_time(v.pod) for v in c.victims if priority_of(v.pod) == h), default=_NOT_STARTED)

    rest = candidates
    for key in (lambda c: c.num_pdb_violations, highest, priority_sum, lambda c: len(c.victims)):
        best = min(key(c) for c in rest)
        rest = [c for c in rest if key(c) == best]
        if len(rest) == 1:
            return rest[0]
    latest = max(earliest_of_highest(c) for c in rest)
    return next(c for c in rest if earliest_of_highest(c) == latest)


def _terminating_by_preemption(pod: Pod) -> bool:
    if not (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return any(c.get("type") == DISRUPTION_TARGET and c.get("reason") == REASON_PREEMPTION_BY_SCHEDULER
               and c.get("status") == "True" for c in (pod.get("status") or {}).get("conditions") or ())


class DefaultPreemption:
    name = NAME

    def __init__(self, args: dict[str, Any], handle: PreemptionHandle, rng: random.Random | None = None, *,
                 async_preemption: bool = False) -> None:
        self.handle = handle
        self.min_percentage = int(args.get("minCandidateNodesPercentage", DEFAULT_MIN_CANDIDATE_NODES_PERCENTAGE))
        self.min_absolute = int(args.get("minCandidateNodesAbsolute", DEFAULT_MIN_CANDIDATE_NODES_ABSOLUTE))
        self.rng = rng or random.Random()
        self.async_preemption = async_preemption
        self.preempting: set[str] = set()  # uids of preemptors whose eviction calls are in flight
        self._kept = GenerationMemo()  # node generation -> _kept_requests, for one preemptor priority
        self._tasks: set[asyncio.Task[None]] = set()

    def events_to_register(self) -> list[ClusterEventWithHint]:
        """A preemptor held at PreEnqueue may go once its preemption calls are done and a pod is deleted."""
        return [ClusterEventWithHint(ClusterEvent("Pod", "Delete"), self.is_pod_schedulable_after_pod_deletion)]

    def is_pod_schedulable_after_pod_deletion(self, pod: Pod, old: Any, new: Any) -> QueueingHint:
        uid = (pod.get("metadata") or {}).get("uid", "")
        return QueueingHint.QUEUE_SKIP if uid in self.preempting else QueueingHint.QUEUE

    def pre_enqueue(self, pod: Pod) -> Status:
        """Hold a preemptor back while its victims are being evicted (async preemption)."""
        if self.preempting and (pod.get("metadata") or {}).get("uid", "") in self.preempting:
            return Status.unschedulable(WAITING_FOR_PREEMPTION, resolvable=False)
        return SUCCESS

    def is_pod_running_preemption(self, uid: str) -> bool:
        return uid in self.preempting

    async def wait_for_preemptions(self) -> None:
        """Wait until every background preemption finished (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def post_filter(self, state: CycleState, pod: PodInfo,
                          filtered_statuses: dict[str, Status]) -> tuple[str | None, Status]:
        node_name, status = await self.preempt(state, pod, filtered_statuses)
        if status.reasons:
            status = Status(status.code, ["preemption: " + status.message()])
        return node_name, status

    async def preempt(self, state: CycleState, pod: PodInfo,
                      filtered_statuses: dict[str, Status]) -> tuple[str | None, Status]:
        ok, msg = self.eligible_to_preempt_others(pod, filtered_statuses)
        if not ok:
            return None, Status.unschedulable(msg)
        all_nodes = self.handle.snapshot().list()
        candidates, statuses = self.find_candidates(state, pod, all_nodes, filtered_statuses)
        if not candidates:
            await self._clear_nominated_node_name(pod.pod)
            fit = FitError(pod.key, len(all_nodes), Diagnosis(node_to_status=statuses))
            return None, Status.unschedulable(str(fit))
        best = pick_one_node(candidates)
        assert best is not None
        if self.async_preemption and self in (getattr(self.handle, "points", None) or {}).get("preEnqueue", ()):
            self.prepare_candidate_async(best, pod)
            return best.node_name, Status.success()
        try:
            await self.prepare_candidate(best, pod)
        except ApiError as e:
            return None, Status.error(f"preempting victims on node {best.node_name!r}: {e}")
        return best.node_name, Status.success()

    def eligible_to_preempt_others(self, pod: PodInfo, statuses: dict[str, Status]) -> tuple[bool, str]:
        spec, st = pod.pod.get("spec") or {}, pod.pod.get("status") or {}
        if spec.get("preemptionPolicy") == "Never":
            return False, NOT_ELIGIBLE_NEVER
        nominated = st.get("nominatedNodeName")
        if not nominated and hasattr(self.handle, "nominated_node_name"):
            nominated = self.handle.nominated_node_name(pod)
        if nominated:
            s = statuses.get(nominated)
            if s is not None and s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return True, ""
            ni = self.handle.snapshot().get(nominated)
            prio = priority_of(pod.pod)
            if ni is not None and any(priority_of(p.pod) < prio and _terminating_by_preemption(p.pod)
                                      for p in ni.pods):
                return False, NOT_ELIGIBLE_TERMINATING
        return True, ""

    def num_candidates(self, num_nodes: int) -> int:
        n = max(num_nodes * self.min_percentage // 100, self.min_absolute)
        return min(n, num_nodes)

    def find_candidates(self, state: CycleState, pod: PodInfo, all_nodes: list[NodeInfo],
                        filtered_statuses: dict[str, Status]) -> tuple[list[Candidate], dict[str, Status]]:
        """Nodes where preemption might help (rejected as Unschedulable), dry-run from a random offset."""
        statuses: dict[str, Status] = {}
        potential = []
        for ni in all_nodes:
            s = filtered_statuses.get(ni.name)
            if s is None or s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                statuses[ni.name] = Status.unschedulable(NOT_HELPFUL, resolvable=False)
            else:
                potential.append(ni)
        if not potential:
            return [], statuses
        pdbs = self._pdbs()
        want = self.num_candidates(len(potential))
        offset = self.rng.randrange(len(potential))
        violating: list[Candidate] = []
        non_violating: list[Candidate] = []
        quick = self._fit_is_filtered(state)
        unfit: list[NodeInfo] = []  # surely no candidates; their exact statuses are needed only if none is found
        for i in range(len(potential)):
            ni = potential[(offset + i) % len(potential)]
            if quick and self.surely_unfit(pod, ni):
                unfit.append(ni)
                continue
            node_copy, state_copy = ni.clone(), state.clone()
            victims, violations, status = self.select_victims_on_node(state_copy, pod, node_copy, pdbs)
            if status.is_success() and victims:
                (non_violating if violations == 0 else violating).append(Candidate(ni.name, victims, violations))
                if non_violating and len(non_violating) + len(violating) >= want:
                    break
                continue
            if status.is_success():
                status = Status.error(f"expected at least one victim pod on node {ni.name!r}")
            statuses[ni.name] = status
        if non_violating or violating:
            return (non_violating + violating)[:max(want, 1)], statuses
        for ni in unfit:
            statuses[ni.name] = self.select_victims_on_node(state.clone(), pod, ni.clone(), pdbs)[2]
        return [], statuses

    def _fit_is_filtered(self, state: CycleState) -> bool:
        """NodeResourcesFit is one of this profile's filters for this pod (so surely_unfit may be used)."""
        points = getattr(self.handle, "points", None)
        return bool(points) and FIT_PLUGIN not in state.skip_filter_plugins and \
            any(p.name == FIT_PLUGIN for p in points.get("filter", ()))

    @staticmethod
    def _kept_requests(ni: NodeInfo, prio: int) -> tuple[int, int, int, int]:
        """cpu, memory, ephemeral storage and number of the node's pods that preemption by priority prio keeps."""
        used = ni.requested
        cpu, mem, eph, n = used.milli_cpu, used.memory, used.ephemeral_storage, len(ni.pods)
        for p in ni.pods:
            if priority_of(p.pod) < prio:
                r = p.requests
                cpu, mem, eph, n = cpu - r.milli_cpu, mem - r.memory, eph - r.ephemeral_storage, n - 1
        return cpu, mem, eph, n

    def surely_unfit(self, pod: PodInfo, ni: NodeInfo) -> bool:
        """Whether NodeResourcesFit rejects the pod on the node even with every lower-priority pod removed and the
        pods nominated there with a priority >= the pod's added: then select_victims_on_node finds no victims
        there, and the clones and filter runs of the dry run can be skipped (the outcome is the same)."""
        prio = priority_of(pod.pod)
        cpu, mem, eph, n = self._kept.values(prio, [ni], lambda nodes: [self._kept_requests(nodes[0], prio)])[0]
        nominated = getattr(self.handle, "nominated_pods_for_node", None)
        for p in nominated(ni.name) if nominated is not None else ():
            if p.uid != pod.uid and priority_of(p.pod) >= prio:
                r = p.requests
                cpu, mem, eph, n = cpu + r.milli_cpu, mem + r.memory, eph + r.ephemeral_storage, n + 1
        req, alloc = pod.requests, ni.allocatable
        return (n + 1 > alloc.allowed_pod_number or 0 < req.milli_cpu > alloc.milli_cpu - cpu
                or 0 < req.memory > alloc.memory - mem or 0 < req.ephemeral_storage > alloc.ephemeral_storage - eph)

    def _pdbs(self) -> list[dict[str, Any]]:
        lister = lister_or_none(self.handle, "policy", "v1", "poddisruptionbudgets")
        return lister.list() if lister is not None else []

    def select_victims_on_node(self, state: CycleState, pod: PodInfo, node: NodeInfo,
                               pdbs: list[dict[str, Any]]) -> tuple[list[PodInfo], int, Status]:
        """Remove every lower-priority pod; if the pod then fits, put back (reprieve) as many as possible,
        PDB-protected ones first, each group from the most important down. The rest are the victims."""
        prio = priority_of(pod.pod)
        h = self.handle
        potential = [p for p in node.pods if priority_of(p.pod) < prio]
        if not potential:
            return [], 0, Status.unschedulable(NO_VICTIMS, resolvable=False)
        for p in potential:
            remove_pod(node, p.pod)
            s = h.run_pre_filter_extension_remove_pod(state, pod, p, node)
            if not s.is_success():
                return [], 0, s
        s = self._run_filters(state, pod, node)
        if not s.is_success():
            return [], 0, s
        potential.sort(key=_importance_key)
        violating, non_violating = split_by_pdb_violation(potential, pdbs)
        victims: list[PodInfo] = []
        num_violating = 0

        def reprieve(p: PodInfo) -> bool:
            add_pod(node, p)
            h.run_pre_filter_extension_add_pod(state, pod, p, node)
            if self._run_filters(state, pod, node).is_success():
                return True
            remove_pod(node, p.pod)
            h.run_pre_filter_extension_remove_pod(state, pod, p, node)
            victims.append(p)
            return False

        for p in violating:
            if not reprieve(p):
                num_violating += 1
        for p in non_violating:
            reprieve(p)
        return victims, num_violating, Status.success()

    def _run_filters(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        run = getattr(self.handle, "run_filter_plugins_with_nominated_pods", None) or \
            getattr(self.handle, "run_filter_plugins")
        return run(state, pod, node)

    async def prepare_candidate(self, c: Candidate, pod: PodInfo) -> None:
        """Evict the victims (DisruptionTarget condition, then delete) and clear lower-priority nominations on the
        node. The preemptor's nominatedNodeName is written by the scheduler with its PodScheduled condition."""
        scheduler = (pod.pod.get("spec") or {}).get("schedulerName") or "default-scheduler"
        await asyncio.gather(*(self._evict(v.pod, scheduler) for v in c.victims))
        self._record_preempted(c, pod)
        await self._clear_lower_priority_nominations(c, pod)

    def prepare_candidate_async(self, c: Candidate, pod: PodInfo) -> None:
        """prepare_candidate in a background task. The preemptor is held at PreEnqueue until all victims but the
        last are evicted; the last victim's deletion is then the event that releases it (as upstream)."""
        uid = pod.uid
        self.preempting.add(uid)
        task = asyncio.create_task(self._prepare_in_background(c, pod), name=f"preempt {pod.key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _prepare_in_background(self, c: Candidate, pod: PodInfo) -> None:
        uid = pod.uid
        scheduler = (pod.pod.get("spec") or {}).get("schedulerName") or "default-scheduler"
        release = True  # activate the preemptor ourselves unless the last victim's deletion event will
        try:
            await self._clear_lower_priority_nominations(c, pod)
            if c.victims:
                await asyncio.gather(*(self._evict(v.pod, scheduler) for v in c.victims[:-1]))
                self.preempting.discard(uid)
                release = not await self._evict(c.victims[-1].pod, scheduler)
            self._record_preempted(c, pod)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - the preemptor is retried
            log.warning("preemption by %s on node %s failed: %s", pod.key, c.node_name, e)
        finally:
            self.preempting.discard(uid)
            activate = getattr(self.handle, "activate", None)
            if release and activate is not None:
                activate([pod.pod])

    def _record_preempted(self, c: Candidate, pod: PodInfo) -> None:
        record = getattr(self.handle, "event", None)
        for v in c.victims if record is not None else ():
            record(v.pod, "Normal", "Preempted", "Preempting", f"Preempted by pod {pod.uid} on node {c.node_name}")

    async def _clear_lower_priority_nominations(self, c: Candidate, pod: PodInfo) -> None:
        nominated = getattr(self.handle, "nominated_pods_for_node", None)
        if nominated is not None:
            prio = priority_of(pod.pod)
            await asyncio.gather(*(self._clear_nominated_node_name(p.pod) for p in nominated(c.node_name)
                                   if priority_of(p.pod) < prio and p.uid != pod.uid))

    async def _evict(self, victim: Pod, scheduler: str) -> bool:
        """DisruptionTarget condition, then delete. False if the victim was already gone (or waiting at Permit,
        then rejected there)."""
        reject = getattr(self.handle, "reject_waiting_pod", None)
        if reject is not None and reject(victim.get("metadata", {}).get("uid", "")):
            return False
        condition = {"type": DISRUPTION_TARGET, "status": "True", "reason": REASON_PREEMPTION_BY_SCHEDULER,
                     "message": f"{scheduler}: preempting to accommodate a higher priority pod"}
        try:
            await self._patch_status(victim, {"conditions": [condition]})
            await self.handle.client.delete(
                resource_path("", "v1", "pods", namespace_of(victim), name_of(victim)))
        except ApiError as e:
            if not e.not_found:
                raise
            return False
        return True

    async def _clear_nominated_node_name(self, pod: Pod) -> None:
        if (pod.get("status") or {}).get("nominatedNodeName"):
            try:
                await self._patch_status(pod, {"nominatedNodeName": None})
            except ApiError as e:
                if not e.not_found:
                    raise

    async def _patch_status(self, pod: Pod, status: dict[str, Any]) -> None:
        await self.handle.client.patch(
            resource_path("", "v1", "pods", namespace_of(pod), name_of(pod), subresource="status"),
            {"status": status}, patch_type="strategic")


def new(args: dict[str, Any], handle: PreemptionHandle) -> DefaultPreemption:
    return DefaultPreemption(args or {}, handle, async_preemption=True)

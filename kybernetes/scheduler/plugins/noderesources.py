"""NodeResourcesFit (filter + LeastAllocated/MostAllocated/RequestedToCapacityRatio scoring) and
NodeResourcesBalancedAllocation, on the requests PodInfo computed once per pod."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kybernetes.scheduler.framework.interface import (MAX_NODE_SCORE, SUCCESS, ClusterEvent, ClusterEventWithHint, Code,
                                                      CycleState, Handle, Node, NodeInfo, Pod, PodInfo, QueueingHint,
                                                      Resource, Status)
from kybernetes.scheduler.framework.types import new_node_info, new_pod_info, pod_requests
from kybernetes.scheduler.plugins.helpers.pods import snapshot_or_none
from kybernetes.scheduler.plugins.helpers.scoring import GenerationMemo

FIT_NAME = "NodeResourcesFit"
BALANCED_NAME = "NodeResourcesBalancedAllocation"
LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
REQUESTED_TO_CAPACITY_RATIO = "RequestedToCapacityRatio"
MAX_CUSTOM_PRIORITY_SCORE = 10  # shape scores are 0..10, scaled to 0..MAX_NODE_SCORE
DEFAULT_RESOURCES = [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]


@dataclass
class InsufficientResource:
    resource: str
    reason: str
    requested: int
    used: int
    capacity: int
    unresolvable: bool  # the pod asks for more than the node has at all


def _get(r: Resource, name: str) -> int:
    if name == "cpu":
        return r.milli_cpu
    if name == "memory":
        return r.memory
    if name == "ephemeral-storage":
        return r.ephemeral_storage
    if name == "pods":
        return r.allowed_pod_number
    return r.scalar.get(name, 0)


def _is_ignored(name: str, ignored: set[str], ignored_groups: set[str]) -> bool:
    return name in ignored or (name.partition("/")[0] in ignored_groups if "/" in name else False)


def fits_request(pod: PodInfo, node: NodeInfo, ignored: set[str] = frozenset(),  # type: ignore[assignment]
                 ignored_groups: set[str] = frozenset()) -> list[InsufficientResource]:  # type: ignore[assignment]
    """Upstream's fitsRequest: every resource the pod asks for that the node cannot give it now."""
    out: list[InsufficientResource] = []
    alloc, used, req = node.allocatable, node.requested, pod.requests
    allowed = alloc.allowed_pod_number
    if len(node.pods) + 1 > allowed:
        out.append(InsufficientResource("pods", "Too many pods", 1, len(node.pods), allowed, allowed < 1))
    if req.milli_cpu == 0 and req.memory == 0 and req.ephemeral_storage == 0 and not req.scalar:
        return out
    if req.milli_cpu > 0 and req.milli_cpu > alloc.milli_cpu - used.milli_cpu:
        out.append(InsufficientResource("cpu", "Insufficient cpu", req.milli_cpu, used.milli_cpu, alloc.milli_cpu,
                                        req.milli_cpu > alloc.milli_cpu))
    if req.memory > 0 and req.memory > alloc.memory - used.memory:
        out.append(InsufficientResource("memory", "Insufficient memory", req.memory, used.memory, alloc.memory,
                                        req.memory > alloc.memory))
    if req.ephemeral_storage > 0 and req.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage:
        out.append(InsufficientResource("ephemeral-storage", "Insufficient ephemeral-storage", req.ephemeral_storage,
                                        used.ephemeral_storage, alloc.ephemeral_storage,
                                        req.ephemeral_storage > alloc.ephemeral_storage))
    for name, q in req.scalar.items():
        if q == 0 or _is_ignored(name, ignored, ignored_groups):
            continue
        cap, u = alloc.scalar.get(name, 0), used.scalar.get(name, 0)
        if q > cap - u:
            out.append(InsufficientResource(name, f"Insufficient {name}", q, u, cap, q > cap))
    return out


def _broken_linear(shape: list[tuple[int, int]]) -> Any:
    """Upstream's buildBrokenLinearFunction over (utilization, score) points sorted by utilization."""
    def f(p: int) -> int:
        for i, (u, s) in enumerate(shape):
            if p <= u:
                if i == 0:
                    return shape[0][1]
                u0, s0 = shape[i - 1]
                return s0 + (s - s0) * (p - u0) // (u - u0)
        return shape[-1][1]
    return f


class _Scorer:
    """Weighted per-resource scoring of (requested, allocatable) for one strategy."""

    def __init__(self, strategy: dict[str, Any]) -> None:
        self.kind = strategy.get("type") or LEAST_ALLOCATED
        self.resources = [(r["name"], int(r.get("weight") or 1)) for r in strategy.get("resources") or DEFAULT_RESOURCES]
        self.memo = GenerationMemo()
        self.shape_fn = None
        if self.kind == REQUESTED_TO_CAPACITY_RATIO:
            shape = (strategy.get("requestedToCapacityRatio") or {}).get("shape") or [
                {"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]
            pts = sorted((int(p["utilization"]), int(p["score"]) * MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE)
                         for p in shape)
            self.shape_fn = _broken_linear(pts)

    def one(self, requested: int, capacity: int) -> int:
        if self.kind == LEAST_ALLOCATED:
            if capacity == 0 or requested > capacity:
                return 0
            return (capacity - requested) * MAX_NODE_SCORE // capacity
        if self.kind == MOST_ALLOCATED:
            if capacity == 0:
                return 0
            return min(requested, capacity) * MAX_NODE_SCORE // capacity
        assert self.shape_fn is not None
        if capacity == 0 or requested > capacity:
            return self.shape_fn(100)
        return self.shape_fn(requested * 100 // capacity)

    def score_nodes(self, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        """score() over many nodes, remembered per node state for pods of the same requests."""
        nz, r = pod.non_zero_requests, pod.requests
        key = (nz.milli_cpu, nz.memory, r.milli_cpu, r.memory, r.ephemeral_storage, tuple(sorted(r.scalar.items())))
        return self.memo.values(key, nodes, lambda todo: self._score_nodes(pod, todo))

    def _score_nodes(self, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        """score() over many nodes; LeastAllocated/MostAllocated on cpu and memory inlined."""
        names = [name for name, _ in self.resources]
        if self.kind == REQUESTED_TO_CAPACITY_RATIO or names != ["cpu", "memory"]:
            return [self.score(pod, ni) for ni in nodes]
        wc, wm = self.resources[0][1], self.resources[1][1]
        pc, pm = pod.non_zero_requests.milli_cpu, pod.non_zero_requests.memory
        least = self.kind == LEAST_ALLOCATED
        out = []
        for ni in nodes:
            a, r = ni.allocatable, ni.non_zero_requested
            cc, rc, cm, rm = a.milli_cpu, r.milli_cpu + pc, a.memory, r.memory + pm
            if least:
                cs = (cc - rc) * MAX_NODE_SCORE // cc if cc and rc <= cc else 0
                ms = (cm - rm) * MAX_NODE_SCORE // cm if cm and rm <= cm else 0
            else:
                cs = min(rc, cc) * MAX_NODE_SCORE // cc if cc else 0
                ms = min(rm, cm) * MAX_NODE_SCORE // cm if cm else 0
            out.append((cs * wc + ms * wm) // (wc + wm))
        return out

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        total = weights = 0
        for name, weight in self.resources:
            if name == "cpu":
                req, cap = node.non_zero_requested.milli_cpu + pod.non_zero_requests.milli_cpu, node.allocatable.milli_cpu
            elif name == "memory":
                req, cap = node.non_zero_requested.memory + pod.non_zero_requests.memory, node.allocatable.memory
            else:
                cap = _get(node.allocatable, name)
                if cap == 0:
                    continue
                req = _get(node.requested, name) + _get(pod.requests, name)
            total += self.one(req, cap) * weight
            weights += weight
        return total // weights if weights else 0


class FreeFloor:
    """A lower bound of the free pod slots, milli-CPU, memory and ephemeral storage of every node of a snapshot,
    kept up to date from the snapshot's changed nodes (Snapshot.changed_since). A pod asking for no more than the
    floor fits every node, so the filter need not look at them one by one."""

    def __init__(self) -> None:
        self.snapshot: Any = None
        self.generation = -1
        self.free: dict[str, tuple[int, int, int, int]] = {}  # node name -> free (pods, cpu, memory, storage)
        self.floor: tuple[int, ...] = (0, 0, 0, 0)
        self.exact = False  # False once some node's free amount grew: the floor may be lower than needed

    @staticmethod
    def free_of(ni: NodeInfo) -> tuple[int, int, int, int]:
        a, u = ni.allocatable, ni.requested
        return (a.allowed_pod_number - len(ni.pods), a.milli_cpu - u.milli_cpu, a.memory - u.memory,
                a.ephemeral_storage - u.ephemeral_storage)

    def get(self, snapshot: Any) -> tuple[int, ...]:
        changed = snapshot.changed_since(self.generation) if snapshot is self.snapshot else None
        if changed is None:
            self.free = {ni.name: self.free_of(ni) for ni in snapshot.list()}
            self.refresh()
        elif changed:
            floor = list(self.floor)
            for name in changed:
                old = self.free.pop(name, None)
                ni = snapshot.get(name)
                if ni is None:
                    continue
                new = self.free[name] = self.free_of(ni)
                floor = [min(f, v) for f, v in zip(floor, new)]
                if old is not None and any(n > o for n, o in zip(new, old)):
                    self.exact = False
            self.floor = tuple(floor)
        self.snapshot, self.generation = snapshot, snapshot.generation
        return self.floor

    def refresh(self) -> tuple[int, ...]:
        """The exact floor of the remembered nodes."""
        self.floor = tuple(map(min, zip(*self.free.values()))) if self.free else (0, 0, 0, 0)
        self.exact = True
        return self.floor


def _fits_floor(floor: tuple[int, ...], req: Resource) -> bool:
    return floor[0] >= 1 and req.milli_cpu <= floor[1] and req.memory <= floor[2] and req.ephemeral_storage <= floor[3]


class NodeResourcesFit:
    """Filter: the node has room for the pod's requests. Score: the configured scoring strategy."""

    name = FIT_NAME

    def __init__(self, args: dict[str, Any], handle: Handle | None = None) -> None:
        self.ignored = set(args.get("ignoredResources") or ())
        self.ignored_groups = set(args.get("ignoredResourceGroups") or ())
        self.scorer = _Scorer(args.get("scoringStrategy") or {})
        self.handle = handle
        self.free_floor = FreeFloor()

    def events_to_register(self) -> list[ClusterEventWithHint]:
        pod_hint, node_hint = self.is_schedulable_after_pod_change, self.is_schedulable_after_node_change
        return [ClusterEventWithHint(ClusterEvent("Pod", "Delete"), pod_hint),
                ClusterEventWithHint(ClusterEvent("Pod", "UpdatePodScaleDown"), pod_hint),
                ClusterEventWithHint(ClusterEvent("Node", "Add"), node_hint),
                ClusterEventWithHint(ClusterEvent("Node", "UpdateNodeAllocatable"), node_hint)]

    def _requested(self, pod: Pod) -> list[str]:
        """The resources the pod asks for that this plugin checks ('pods' always: every pod takes a slot)."""
        r = pod_requests(pod)
        names = ["pods"] + [n for n, q in (("cpu", r.milli_cpu), ("memory", r.memory),
                                           ("ephemeral-storage", r.ephemeral_storage)) if q]
        return names + [n for n, q in r.scalar.items() if q and not _is_ignored(n, self.ignored, self.ignored_groups)]

    def is_schedulable_after_pod_change(self, pod: Pod, old: Pod | None, new: Pod | None) -> QueueingHint:
        """A deleted pod frees what it held on its node (every pod holds a pod slot); a scaled-down one helps only
        if it now requests less of something this pod asks for."""
        if not ((old or {}).get("spec") or {}).get("nodeName"):
            return QueueingHint.QUEUE_SKIP  # an unscheduled pod held nothing
        if new is None:
            return QueueingHint.QUEUE
        before, after = pod_requests(old or {}), pod_requests(new)
        if any(_get(after, n) < _get(before, n) for n in self._requested(pod) if n != "pods"):
            return QueueingHint.QUEUE
        return QueueingHint.QUEUE_SKIP

    def is_schedulable_after_node_change(self, pod: Pod, old: Node | None, new: Node | None) -> QueueingHint:
        """A new node, or one whose allocatable grew in something the pod asks for, helps if the pod would fit
        it empty."""
        if new is None:
            return QueueingHint.QUEUE_SKIP
        pi = new_pod_info(pod)
        if fits_request(pi, new_node_info(new), self.ignored, self.ignored_groups):
            return QueueingHint.QUEUE_SKIP
        if old is None:
            return QueueingHint.QUEUE
        before, after = new_node_info(old).allocatable, new_node_info(new).allocatable
        grew = any(_get(after, n) > _get(before, n) for n in self._requested(pod))
        return QueueingHint.QUEUE if grew else QueueingHint.QUEUE_SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        insufficient = fits_request(pod, node, self.ignored, self.ignored_groups)
        if not insufficient:
            return SUCCESS
        code = Code.UNSCHEDULABLE_AND_UNRESOLVABLE if all(r.unresolvable for r in insufficient) else Code.UNSCHEDULABLE
        return Status(code, [r.reason for r in insufficient])

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[Status]:
        """filter() over many nodes, with the common cpu/memory-only case inlined; every node passes at once when
        the pod asks for no more than every node of the snapshot has free (FreeFloor)."""
        req = pod.requests
        snap = snapshot_or_none(self.handle)
        if snap is not None and not req.scalar:
            floor = self.free_floor
            if _fits_floor(floor.get(snap), req) or (not floor.exact and _fits_floor(floor.refresh(), req)):
                return [SUCCESS] * len(nodes)
        if req.scalar or req.ephemeral_storage:
            return [self.filter(state, pod, ni) for ni in nodes]
        rc, rm = req.milli_cpu, req.memory
        filter_one = self.filter
        # a node failing the quick check gets the full filter() (exact reasons, zero requests on full nodes)
        return [SUCCESS if len(ni.pods) < a.allowed_pod_number and rc <= a.milli_cpu - u.milli_cpu
                and rm <= a.memory - u.memory else filter_one(state, pod, ni)
                for ni in nodes for a, u in ((ni.allocatable, ni.requested),)]

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        return self.scorer.score(pod, node), SUCCESS

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        return self.scorer.score_nodes(pod, nodes)

    def score_extensions(self) -> None:
        return None


class NodeResourcesBalancedAllocation:
    """Score: favour nodes whose resource fractions stay close to each other after placing the pod."""

    name = BALANCED_NAME

    def __init__(self, args: dict[str, Any]) -> None:
        self.resources = [r["name"] for r in args.get("resources") or DEFAULT_RESOURCES]
        self.memo = GenerationMemo()

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        r = pod.requests
        if not any(_get(r, name) for name in self.resources):
            return Status.skip()  # best-effort pods change no balance
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        fractions = []
        for name in self.resources:
            cap = _get(node.allocatable, name)
            if cap == 0:
                continue
            fractions.append(min((_get(node.requested, name) + _get(pod.requests, name)) / cap, 1.0))
        if len(fractions) == 2:
            std = abs(fractions[0] - fractions[1]) / 2
        elif len(fractions) > 2:
            mean = sum(fractions) / len(fractions)
            std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
        else:
            std = 0.0
        return int((1 - std) * MAX_NODE_SCORE), SUCCESS

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        """score() over many nodes, remembered per node state for pods of the same requests."""
        r = pod.requests
        key = (r.milli_cpu, r.memory, r.ephemeral_storage, tuple(sorted(r.scalar.items())))
        return self.memo.values(key, nodes, lambda todo: self._score_nodes(state, pod, todo))

    def _score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        """score() over many nodes; the two-resource cpu/memory case inlined."""
        if self.resources != ["cpu", "memory"]:
            return [self.score(state, pod, ni)[0] for ni in nodes]
        pc, pm = pod.requests.milli_cpu, pod.requests.memory
        out = []
        for ni in nodes:
            a, r = ni.allocatable, ni.requested
            cc, cm = a.milli_cpu, a.memory
            if cc and cm:
                fc = (r.milli_cpu + pc) / cc
                fm = (r.memory + pm) / cm
                if fc > 1.0:
                    fc = 1.0
                if fm > 1.0:
                    fm = 1.0
                out.append(int((1 - abs(fc - fm) / 2) * MAX_NODE_SCORE))
            else:
                out.append(self.score(state, pod, ni)[0])
        return out

    def score_extensions(self) -> None:
        return None


def new(args: dict[str, Any], handle: Handle | None) -> NodeResourcesFit:
    return NodeResourcesFit(args, handle)


def new_balanced_allocation(args: dict[str, Any], handle: Handle | None) -> NodeResourcesBalancedAllocation:
    return NodeResourcesBalancedAllocation(args)

"""NodeResourcesFit (filter + LeastAllocated/MostAllocated/RequestedToCapacityRatio scoring) and
NodeResourcesBalancedAllocation, on the requests PodInfo computed once per pod."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kybernetes.scheduler.framework.interface import (MAX_NODE_SCORE, SUCCESS, ClusterEvent, Code, CycleState, Handle,
                                                      NodeInfo, PodInfo, Resource, Status)

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


class NodeResourcesFit:
    """Filter: the node has room for the pod's requests. Score: the configured scoring strategy."""

    name = FIT_NAME

    def __init__(self, args: dict[str, Any]) -> None:
        self.ignored = set(args.get("ignoredResources") or ())
        self.ignored_groups = set(args.get("ignoredResourceGroups") or ())
        self.scorer = _Scorer(args.get("scoringStrategy") or {})

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Pod", "Delete"), ClusterEvent("Pod", "UpdatePodScaleDown"), ClusterEvent("Node", "Add"),
                ClusterEvent("Node", "UpdateNodeAllocatable")]

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        insufficient = fits_request(pod, node, self.ignored, self.ignored_groups)
        if not insufficient:
            return SUCCESS
        code = Code.UNSCHEDULABLE_AND_UNRESOLVABLE if all(r.unresolvable for r in insufficient) else Code.UNSCHEDULABLE
        return Status(code, [r.reason for r in insufficient])

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[Status]:
        """filter() over many nodes, with the common cpu/memory-only case inlined."""
        req = pod.requests
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
    return NodeResourcesFit(args)


def new_balanced_allocation(args: dict[str, Any], handle: Handle | None) -> NodeResourcesBalancedAllocation:
    return NodeResourcesBalancedAllocation(args)

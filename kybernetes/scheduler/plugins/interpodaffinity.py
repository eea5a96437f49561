"""InterPodAffinity: required pod affinity and anti-affinity (the incoming pod's and existing pods') as a
filter over topology domains, preferred terms (and existing pods' hard affinity) as a score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kybernetes.scheduler.framework.interface import (MAX_NODE_SCORE, SUCCESS, ClusterEvent, CycleState, Handle,
                                                      Node, NodeInfo, Pod, PodInfo, Status)
from kybernetes.scheduler.plugins.helpers.podaffinity import AffinityTerm, PodAffinityTerms, pod_affinity_terms
from kybernetes.scheduler.plugins.helpers.pods import labels_of, lister_or_none, namespace_labels, namespace_of

NAME = "InterPodAffinity"
PRE_FILTER_KEY = "PreFilter" + NAME
PRE_SCORE_KEY = "PreScore" + NAME
ERR_REASON_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
DEFAULT_HARD_POD_AFFINITY_WEIGHT = 1

TopologyPair = tuple[str, str]


def _bump(counts: dict[TopologyPair, int], pair: TopologyPair, delta: int) -> None:
    n = counts.get(pair, 0) + delta
    if n:
        counts[pair] = n
    else:
        counts.pop(pair, None)


def _matches_all(terms: list[AffinityTerm], pod: Pod) -> bool:
    """podMatchesAllAffinityTerms: namespaces and selector of every term (namespace selectors already merged)."""
    return bool(terms) and all(t.matches(pod, None) for t in terms)


def _add_affinity(counts: dict[TopologyPair, int], terms: list[AffinityTerm], pod: Pod, node: Node,
                  delta: int) -> None:
    """A pod matching all of the incoming pod's affinity terms counts in each term's domain."""
    if not _matches_all(terms, pod):
        return
    labels = labels_of(node)
    for t in terms:
        v = labels.get(t.topology_key)
        if v is not None:
            _bump(counts, (t.topology_key, v), delta)


def _add_anti_affinity(counts: dict[TopologyPair, int], terms: list[AffinityTerm], pod: Pod,
                       ns_labels: dict[str, str] | None, node: Node, delta: int) -> None:
    labels = labels_of(node)
    for t in terms:
        v = labels.get(t.topology_key)
        if v is not None and t.matches(pod, ns_labels):
            _bump(counts, (t.topology_key, v), delta)


@dataclass
class _PreFilterState:
    pod: Pod
    affinity: list[AffinityTerm]  # the incoming pod's required terms, namespace selectors merged
    anti_affinity: list[AffinityTerm]
    ns_labels: dict[str, str]
    existing_anti_affinity_counts: dict[TopologyPair, int] = field(default_factory=dict)
    affinity_counts: dict[TopologyPair, int] = field(default_factory=dict)
    anti_affinity_counts: dict[TopologyPair, int] = field(default_factory=dict)

    def clone(self) -> _PreFilterState:
        return _PreFilterState(self.pod, self.affinity, self.anti_affinity, self.ns_labels,
                               dict(self.existing_anti_affinity_counts), dict(self.affinity_counts),
                               dict(self.anti_affinity_counts))

    def update_with_pod(self, other: PodInfo, node: Node | None, delta: int) -> None:
        if node is None:
            return
        _add_anti_affinity(self.existing_anti_affinity_counts, pod_affinity_terms(other).required_anti_affinity,
                           self.pod, self.ns_labels, node, delta)
        _add_affinity(self.affinity_counts, self.affinity, other.pod, node, delta)
        _add_anti_affinity(self.anti_affinity_counts, self.anti_affinity, other.pod, None, node, delta)


@dataclass
class _PreScoreState:
    topology_score: dict[str, dict[str, int]]


class InterPodAffinity:
    name = NAME

    def __init__(self, args: dict[str, Any], handle: Handle | None) -> None:
        w = args.get("hardPodAffinityWeight")
        self.hard_pod_affinity_weight = DEFAULT_HARD_POD_AFFINITY_WEIGHT if w is None else int(w)
        self.ignore_preferred_terms_of_existing_pods = bool(args.get("ignorePreferredTermsOfExistingPods"))
        self.handle = handle

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Pod", "Add"), ClusterEvent("Pod", "Update"), ClusterEvent("Pod", "Delete"),
                ClusterEvent("Node", "Add"), ClusterEvent("Node", "UpdateNodeLabel")]

    def _merge_namespaces(self, terms: list[AffinityTerm]) -> list[AffinityTerm]:
        """Resolve non-empty namespace selectors of the incoming pod's terms into namespace names."""
        out = []
        for t in terms:
            if t.namespace_selector.empty() or t.namespace_selector.is_nothing():
                out.append(t)
                continue
            lister = lister_or_none(self.handle, "", "v1", "namespaces")
            names = {((ns.get("metadata") or {}).get("name") or "") for ns in (lister.list() if lister else [])
                     if t.namespace_selector.matches(labels_of(ns))}
            out.append(t.with_namespaces(names))
        return out

    # --- filtering -------------------------------------------------------------------------------------

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> tuple[set[str] | None, Status]:
        terms = pod_affinity_terms(pod)
        if terms.error:
            return None, Status.unschedulable(terms.error, resolvable=False)
        ns_labels = namespace_labels(self.handle, namespace_of(pod.pod))
        s = _PreFilterState(pod.pod, self._merge_namespaces(terms.required_affinity),
                            self._merge_namespaces(terms.required_anti_affinity), ns_labels)
        # existing pods' required anti-affinity: only the nodes that hold such pods (upstream's
        # HavePodsWithRequiredAntiAffinityList), not every node of the cluster
        for ni in self._nodes_with_required_anti_affinity(nodes):
            if ni.node is None:
                continue
            for existing in ni.pods_with_required_anti_affinity:
                _add_anti_affinity(s.existing_anti_affinity_counts,
                                   pod_affinity_terms(existing).required_anti_affinity, pod.pod, ns_labels, ni.node, 1)
        if s.affinity or s.anti_affinity:  # the incoming pod's own terms: every node's pods may match
            for ni in nodes:
                if ni.node is None or not ni.pods:
                    continue
                for existing in ni.pods:
                    _add_affinity(s.affinity_counts, s.affinity, existing.pod, ni.node, 1)
                    _add_anti_affinity(s.anti_affinity_counts, s.anti_affinity, existing.pod, None, ni.node, 1)
        if not s.existing_anti_affinity_counts and not s.affinity and not s.anti_affinity:
            return None, Status.skip()
        state.write(PRE_FILTER_KEY, s)
        return None, SUCCESS

    def _nodes_with_required_anti_affinity(self, nodes: list[NodeInfo]) -> list[NodeInfo]:
        if self.handle is not None:
            return self.handle.snapshot().have_pods_with_required_anti_affinity_list()
        return [ni for ni in nodes if ni.pods_with_required_anti_affinity]

    def pre_filter_extensions(self) -> InterPodAffinity:
        return self

    def add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo) -> Status:
        s = state.get(PRE_FILTER_KEY)
        if s is not None:
            s.update_with_pod(to_add, node.node, 1)
        return SUCCESS

    def remove_pod(self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo) -> Status:
        s = state.get(PRE_FILTER_KEY)
        if s is not None:
            s.update_with_pod(to_remove, node.node, -1)
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        s: _PreFilterState | None = state.get(PRE_FILTER_KEY)
        if s is None:
            return SUCCESS  # PreFilter skipped: nothing constrains this pod
        labels = labels_of(node.node)
        if s.affinity and not self._satisfies_affinity(s, labels):
            return Status.unschedulable(ERR_REASON_AFFINITY, resolvable=False)
        for t in s.anti_affinity:
            v = labels.get(t.topology_key)
            if v is not None and s.anti_affinity_counts.get((t.topology_key, v), 0) > 0:
                return Status.unschedulable(ERR_REASON_ANTI_AFFINITY)
        if s.existing_anti_affinity_counts:
            counts = s.existing_anti_affinity_counts
            for pair in labels.items():
                if counts.get(pair, 0) > 0:
                    return Status.unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY)
        return SUCCESS

    @staticmethod
    def _satisfies_affinity(s: _PreFilterState, labels: dict[str, str]) -> bool:
        pods_exist = True
        for t in s.affinity:
            v = labels.get(t.topology_key)
            if v is None:
                return False  # every topology key must be on the node
            if s.affinity_counts.get((t.topology_key, v), 0) <= 0:
                pods_exist = False
        if pods_exist:
            return True
        # the first pod of a group with affinity to itself: allowed when no pod anywhere matches the terms
        return not s.affinity_counts and _matches_all(s.affinity, s.pod)

    # --- scoring ---------------------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        if not nodes:
            return Status.skip()
        terms = pod_affinity_terms(pod)
        has_constraints = bool(terms.preferred_affinity or terms.preferred_anti_affinity)
        if self.ignore_preferred_terms_of_existing_pods and not has_constraints:
            return Status.skip()
        snapshot = self.handle.snapshot() if self.handle is not None else None
        if snapshot is None:
            all_nodes = nodes
        else:
            all_nodes = snapshot.list() if has_constraints else snapshot.have_pods_with_affinity_list()
        incoming = PodAffinityTerms([], [], self._merge_namespaces(terms.preferred_affinity),
                                    self._merge_namespaces(terms.preferred_anti_affinity))
        ns_labels = namespace_labels(self.handle, namespace_of(pod.pod))
        score: dict[str, dict[str, int]] = {}
        for ni in all_nodes:
            if ni.node is None or not labels_of(ni.node):
                continue
            for existing in (ni.pods if has_constraints else ni.pods_with_affinity):
                self._process_existing_pod(score, incoming, existing, ni.node, pod.pod, ns_labels)
        if not score:
            return Status.skip()
        state.write(PRE_SCORE_KEY, _PreScoreState(score))
        return SUCCESS

    def _process_existing_pod(self, score: dict[str, dict[str, int]], incoming: PodAffinityTerms,
                              existing: PodInfo, node: Node, pod: Pod, ns_labels: dict[str, str]) -> None:
        labels = labels_of(node)

        def process(terms: list[AffinityTerm], target: Pod, nsl: dict[str, str] | None, weight_of: Any,
                    sign: int) -> None:
            for t in terms:
                v = labels.get(t.topology_key)
                if v is not None and t.matches(target, nsl):
                    d = score.setdefault(t.topology_key, {})
                    d[v] = d.get(v, 0) + weight_of(t) * sign

        process(incoming.preferred_affinity, existing.pod, None, lambda t: t.weight, 1)
        process(incoming.preferred_anti_affinity, existing.pod, None, lambda t: t.weight, -1)
        ex = pod_affinity_terms(existing)
        if self.hard_pod_affinity_weight > 0:
            process(ex.required_affinity, pod, ns_labels, lambda t: self.hard_pod_affinity_weight, 1)
        process(ex.preferred_affinity, pod, ns_labels, lambda t: t.weight, 1)
        process(ex.preferred_anti_affinity, pod, ns_labels, lambda t: t.weight, -1)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        s: _PreScoreState | None = state.get(PRE_SCORE_KEY)
        if s is None:
            return 0, SUCCESS
        labels = labels_of(node.node)
        total = 0
        for key, values in s.topology_score.items():
            v = labels.get(key)
            if v is not None:
                total += values.get(v, 0)
        return total, SUCCESS

    def score_extensions(self) -> InterPodAffinity:
        return self

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> Status:
        if state.get(PRE_SCORE_KEY) is None or not scores:
            return SUCCESS
        lo, hi = min(scores.values()), max(scores.values())
        diff = hi - lo
        for name, v in scores.items():
            scores[name] = int(MAX_NODE_SCORE * ((v - lo) / diff)) if diff > 0 else 0
        return SUCCESS


def new(args: dict[str, Any], handle: Handle | None) -> InterPodAffinity:
    return InterPodAffinity(args or {}, handle)

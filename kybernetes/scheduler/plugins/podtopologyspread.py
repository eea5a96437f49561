"""PodTopologySpread: DoNotSchedule constraints filter nodes whose domain would exceed maxSkew; ScheduleAnyway
constraints (or the cluster defaults for pods owned by a Service/ReplicaSet/StatefulSet/RC) score spreading."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from kybernetes.api.selectors import EQUALS, IN, LabelSelector, Requirement, label_selector_from_dict, new_requirement
from kybernetes.scheduler.framework.interface import (MAX_NODE_SCORE, SUCCESS, ClusterEvent, CycleState, Handle,
                                                      Node, NodeInfo, PodInfo, Status)
from kybernetes.scheduler.plugins.helpers.nodeaffinity import RequiredNodeAffinity, required_node_affinity
from kybernetes.scheduler.plugins.helpers.pods import labels_of, lister_or_none, namespace_of
from kybernetes.scheduler.plugins.helpers.taints import find_untolerated_taint, node_taints, pod_tolerations

NAME = "PodTopologySpread"
PRE_FILTER_KEY = "PreFilter" + NAME
PRE_SCORE_KEY = "PreScore" + NAME
ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"
DO_NOT_SCHEDULE = "DoNotSchedule"
SCHEDULE_ANYWAY = "ScheduleAnyway"
HONOR = "Honor"
IGNORE = "Ignore"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_ZONE = "topology.kubernetes.io/zone"
SYSTEM_DEFAULTING = "System"
LIST_DEFAULTING = "List"
SYSTEM_DEFAULT_CONSTRAINTS = [
    {"topologyKey": LABEL_HOSTNAME, "whenUnsatisfiable": SCHEDULE_ANYWAY, "maxSkew": 3},
    {"topologyKey": LABEL_ZONE, "whenUnsatisfiable": SCHEDULE_ANYWAY, "maxSkew": 5},
]


@dataclass(frozen=True)
class Constraint:
    """A topologySpreadConstraint with its selector parsed and defaults applied."""

    max_skew: int
    topology_key: str
    selector: LabelSelector
    min_domains: int = 1
    node_affinity_policy: str = HONOR
    node_taints_policy: str = IGNORE

    def checks_inclusion(self, pod: PodInfo, required: RequiredNodeAffinity) -> bool:
        """False when includes_node() is true for every node (nothing to honour), so callers may skip it."""
        return (self.node_affinity_policy == HONOR and not required.is_empty()) or self.node_taints_policy == HONOR

    def includes_node(self, pod: PodInfo, node: Node, required: RequiredNodeAffinity) -> bool:
        """matchNodeInclusionPolicies: does this node's domain count for the constraint?"""
        if self.node_affinity_policy == HONOR and not required.matches(node):
            return False
        if self.node_taints_policy == HONOR and find_untolerated_taint(node_taints(node),
                                                                        pod_tolerations(pod.pod)) is not None:
            return False
        return True


def count_matching_pods(pods: list[PodInfo], selector: LabelSelector, namespace: str) -> int:
    """Pods on a node, not terminating, in the namespace, matching the selector (countPodsMatchSelector)."""
    if selector.is_nothing():
        return 0
    n = 0
    for p in pods:
        md = p.pod.get("metadata") or {}
        if md.get("namespace", "") == namespace and not md.get("deletionTimestamp") and \
                selector.matches(md.get("labels") or {}):
            n += 1
    return n


class MatchCounts:
    """count_matching_pods per NodeInfo, remembered by (selector, namespace) and the NodeInfo's generation.

    The scheduler cache gives every changed NodeInfo a new generation (>= 1) and the snapshot keeps unchanged
    NodeInfos, so a count is reused until its node changes; NodeInfos without a generation are always counted.
    """

    MAX_SELECTORS = 32

    def __init__(self) -> None:
        self._by_key: dict[Any, dict[str, tuple[int, int]]] = {}

    def table(self, selector: LabelSelector, namespace: str) -> dict[str, tuple[int, int]] | None:
        try:
            key = (tuple(selector.requirements), selector.is_nothing(), namespace)
            hash(key)
        except TypeError:
            return None
        t = self._by_key.get(key)
        if t is None:
            if len(self._by_key) >= self.MAX_SELECTORS:
                self._by_key.clear()
            t = self._by_key[key] = {}
        return t

    @staticmethod
    def count(table: dict[str, tuple[int, int]] | None, ni: NodeInfo, selector: LabelSelector,
              namespace: str) -> int:
        if not ni.pods:
            return 0
        gen = ni.generation
        if table is None or gen <= 0:
            return count_matching_pods(ni.pods, selector, namespace)
        name = ni.name
        hit = table.get(name)
        if hit is not None and hit[0] == gen:
            return hit[1]
        n = count_matching_pods(ni.pods, selector, namespace)
        table[name] = (gen, n)
        return n


class DomainCounts:
    """One constraint's matching pods per domain over every node of a snapshot, kept up to date from the
    snapshot's changed nodes (Snapshot.changed_since) instead of walking all nodes for every pod. Only for
    constraints whose node inclusion does not depend on the pod (no affinity or taints to honour)."""

    def __init__(self, selector: LabelSelector, namespace: str, key: str, all_keys: tuple[str, ...]) -> None:
        self.selector, self.namespace, self.key, self.all_keys = selector, namespace, key, all_keys
        self.snapshot: Any = None
        self.generation = -1
        self.per_node: dict[str, tuple[str, int]] = {}  # node name -> (domain, matching pods)
        self.totals: dict[str, int] = {}  # domain -> matching pods
        self.nodes_in: dict[str, int] = {}  # domain -> counted nodes

    def _contribution(self, ni: NodeInfo | None) -> tuple[str, int] | None:
        if ni is None or ni.node is None:
            return None
        labels = labels_of(ni.node)
        for k in self.all_keys:
            if k not in labels:
                return None
        return labels[self.key], (count_matching_pods(ni.pods, self.selector, self.namespace) if ni.pods else 0)

    def _add(self, name: str, c: tuple[str, int] | None) -> None:
        if c is None:
            return
        self.per_node[name] = c
        v, n = c
        self.totals[v] = self.totals.get(v, 0) + n
        self.nodes_in[v] = self.nodes_in.get(v, 0) + 1

    def _remove(self, name: str) -> None:
        c = self.per_node.pop(name, None)
        if c is None:
            return
        v, n = c
        self.totals[v] -= n
        self.nodes_in[v] -= 1
        if not self.nodes_in[v]:
            del self.nodes_in[v], self.totals[v]

    def counts(self, snapshot: Any) -> dict[str, int]:
        """Domain -> matching pods on the snapshot's current nodes (a copy the caller may change)."""
        changed = snapshot.changed_since(self.generation) if snapshot is self.snapshot else None
        if changed is None:
            self.per_node, self.totals, self.nodes_in = {}, {}, {}
            for ni in snapshot.list():
                self._add(ni.name, self._contribution(ni))
        else:
            for name in changed:
                self._remove(name)
                self._add(name, self._contribution(snapshot.get(name)))
        self.snapshot, self.generation = snapshot, snapshot.generation
        return dict(self.totals)


def _labels_have_keys(labels: dict[str, str], constraints: list[Constraint]) -> bool:
    return all(c.topology_key in labels for c in constraints)


def parse_constraints(raw: list[dict[str, Any]], pod_labels: dict[str, str], action: str) -> list[Constraint]:
    """filterTopologySpreadConstraints: the constraints with whenUnsatisfiable == action, matchLabelKeys merged."""
    out = []
    for c in raw:
        if (c.get("whenUnsatisfiable") or DO_NOT_SCHEDULE) != action:
            continue
        selector = label_selector_from_dict(c.get("labelSelector"))
        keys = [k for k in c.get("matchLabelKeys") or () if k in pod_labels]
        if keys and not selector.is_nothing():
            selector = LabelSelector([*selector.requirements, *(new_requirement(k, IN, [pod_labels[k]]) for k in keys)])
        out.append(Constraint(int(c.get("maxSkew") or 1), c.get("topologyKey", ""), selector,
                              int(c.get("minDomains") or 1), c.get("nodeAffinityPolicy") or HONOR,
                              c.get("nodeTaintsPolicy") or IGNORE))
    return out


@dataclass
class _PreFilterState:
    constraints: list[Constraint]
    counts: list[dict[str, int]]  # per constraint: topology value -> matching pods (eligible domains only)
    minimums: list[int] = field(default_factory=list)
    self_match: list[int] = field(default_factory=list)  # per constraint: 1 if the incoming pod matches it

    def recompute(self, i: int | None = None) -> None:
        if i is None:
            self.minimums = [0] * len(self.constraints)
            for j in range(len(self.constraints)):
                self.recompute(j)
            return
        counts, c = self.counts[i], self.constraints[i]
        lo = min(counts.values()) if counts else 2**31 - 1
        self.minimums[i] = 0 if len(counts) < c.min_domains else lo

    def clone(self) -> _PreFilterState:
        return _PreFilterState(self.constraints, [dict(c) for c in self.counts], list(self.minimums),
                               self.self_match)


@dataclass
class _PreScoreState:
    constraints: list[Constraint]
    ignored_nodes: set[str]
    counts: list[dict[str, int]]  # per constraint: topology value -> matching pods (not for hostname)
    weights: list[float]


class PodTopologySpread:
    name = NAME

    def __init__(self, args: dict[str, Any], handle: Handle | None) -> None:
        self.handle = handle
        self.match_counts = MatchCounts()
        self.domain_counts: dict[Any, DomainCounts] = {}
        defaulting = args.get("defaultingType") or SYSTEM_DEFAULTING
        self.system_defaulted = defaulting == SYSTEM_DEFAULTING
        self.default_constraints = (SYSTEM_DEFAULT_CONSTRAINTS if self.system_defaulted
                                    else list(args.get("defaultConstraints") or []))

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Pod", "Add"), ClusterEvent("Pod", "Update"), ClusterEvent("Pod", "Delete"),
                ClusterEvent("Node", "Add"), ClusterEvent("Node", "Delete"), ClusterEvent("Node", "UpdateNodeLabel"),
                ClusterEvent("Node", "UpdateNodeTaint")]

    # --- constraints ------------------------------------------------------------------------------------

    def constraints_for(self, pod: PodInfo, action: str) -> list[Constraint]:
        spec = pod.pod.get("spec") or {}
        labels = labels_of(pod.pod)
        if spec.get("topologySpreadConstraints"):
            return parse_constraints(spec["topologySpreadConstraints"], labels, action)
        constraints = parse_constraints(self.default_constraints, labels, action)
        if not constraints:
            return []
        selector = self.default_selector(pod.pod)
        if selector.empty():
            return []
        return [Constraint(c.max_skew, c.topology_key, selector, c.min_domains, c.node_affinity_policy,
                           c.node_taints_policy) for c in constraints]

    def default_selector(self, pod: dict[str, Any]) -> LabelSelector:
        """helper.DefaultSelector: selectors of the Services selecting the pod and of its controlling RC/RS/SS."""
        ns, labels = namespace_of(pod), labels_of(pod)
        merged: dict[str, str] = {}
        services = lister_or_none(self.handle, "", "v1", "services")
        for svc in services.list(ns) if services is not None else ():
            sel = (svc.get("spec") or {}).get("selector")
            if sel is not None and all(labels.get(k) == v for k, v in sel.items()):
                merged.update(sel)
        reqs = [Requirement(k, EQUALS, (v,)) for k, v in merged.items()]
        owner = next((o for o in (pod.get("metadata") or {}).get("ownerReferences") or () if o.get("controller")),
                     None)
        if owner is not None:
            kind, api = owner.get("kind"), owner.get("apiVersion", "")
            where = {("ReplicationController", "v1"): ("", "v1", "replicationcontrollers"),
                     ("ReplicaSet", "apps/v1"): ("apps", "v1", "replicasets"),
                     ("StatefulSet", "apps/v1"): ("apps", "v1", "statefulsets")}.get((kind, api))
            lister = lister_or_none(self.handle, *where) if where else None
            obj = lister.get_by_key(f"{ns}/{owner.get('name', '')}") if lister is not None else None
            if obj is not None:
                sel = (obj.get("spec") or {}).get("selector")
                if kind == "ReplicationController":
                    merged.update(sel or {})
                    reqs = [Requirement(k, EQUALS, (v,)) for k, v in merged.items()]
                else:
                    try:
                        reqs += list(label_selector_from_dict(sel).requirements)
                    except ValueError:
                        pass
        return LabelSelector(reqs)

    # --- filtering -------------------------------------------------------------------------------------

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> tuple[set[str] | None, Status]:
        constraints = self.constraints_for(pod, DO_NOT_SCHEDULE)
        if not constraints:
            return None, Status.skip()
        required = required_node_affinity(pod)
        ns = namespace_of(pod.pod)
        checks = [c.checks_inclusion(pod, required) for c in constraints]
        counts = self._incremental_counts(constraints, ns, nodes) if not any(checks) else None
        if counts is not None:
            return self._write_pre_filter_state(state, pod, constraints, counts)
        counts = [{} for _ in constraints]
        keys = [c.topology_key for c in constraints]
        tables = [self.match_counts.table(c.selector, ns) for c in constraints]
        count = self.match_counts.count
        for ni in nodes:
            node = ni.node
            if node is None:
                continue
            labels = labels_of(node)
            if not all(k in labels for k in keys):
                continue
            for i, c in enumerate(constraints):
                if checks[i] and not c.includes_node(pod, node, required):
                    continue
                v = labels[keys[i]]
                counts[i][v] = counts[i].get(v, 0) + count(tables[i], ni, c.selector, ns)
        return self._write_pre_filter_state(state, pod, constraints, counts)

    @staticmethod
    def _write_pre_filter_state(state: CycleState, pod: PodInfo, constraints: list[Constraint],
                                counts: list[dict[str, int]]) -> tuple[set[str] | None, Status]:
        pod_labels = labels_of(pod.pod)
        s = _PreFilterState(constraints, counts, self_match=[1 if c.selector.matches(pod_labels) else 0
                                                             for c in constraints])
        s.recompute()
        state.write(PRE_FILTER_KEY, s)
        return None, SUCCESS

    def _incremental_counts(self, constraints: list[Constraint], ns: str,
                            nodes: list[NodeInfo]) -> list[dict[str, int]] | None:
        """The per-domain counts from DomainCounts kept across cycles; None when the snapshot cannot say what
        changed (a test's snapshot, or nodes that are not the snapshot's)."""
        snapshot = self.handle.snapshot() if self.handle is not None else None
        if snapshot is None or not hasattr(snapshot, "changed_since") or nodes is not snapshot.list():
            return None
        all_keys = tuple(c.topology_key for c in constraints)
        out = []
        for c in constraints:
            try:
                key = (tuple(c.selector.requirements), c.selector.is_nothing(), ns, c.topology_key, all_keys)
                dc = self.domain_counts.get(key)
            except TypeError:
                return None
            if dc is None:
                if len(self.domain_counts) >= MatchCounts.MAX_SELECTORS:
                    self.domain_counts.clear()
                dc = self.domain_counts[key] = DomainCounts(c.selector, ns, c.topology_key, all_keys)
            out.append(dc.counts(snapshot))
        return out

    def pre_filter_extensions(self) -> PodTopologySpread:
        return self

    def _update_with_pod(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo, delta: int) -> None:
        s: _PreFilterState | None = state.get(PRE_FILTER_KEY)
        if s is None or node.node is None or namespace_of(other.pod) != namespace_of(pod.pod):
            return
        labels = labels_of(node.node)
        if not _labels_have_keys(labels, s.constraints):
            return
        required = required_node_affinity(pod)
        other_labels = labels_of(other.pod)
        for i, c in enumerate(s.constraints):
            if not c.selector.matches(other_labels) or not c.includes_node(pod, node.node, required):
                continue
            v = labels[c.topology_key]
            s.counts[i][v] = s.counts[i].get(v, 0) + delta
            s.recompute(i)

    def add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo) -> Status:
        self._update_with_pod(state, pod, to_add, node, 1)
        return SUCCESS

    def remove_pod(self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo) -> Status:
        self._update_with_pod(state, pod, to_remove, node, -1)
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        s: _PreFilterState | None = state.get(PRE_FILTER_KEY)
        if s is None:
            return SUCCESS  # PreFilter skipped: nothing constrains this pod
        labels = labels_of(node.node)
        for i, c in enumerate(s.constraints):
            v = labels.get(c.topology_key)
            if v is None:
                return Status.unschedulable(ERR_REASON_NODE_LABEL_NOT_MATCH, resolvable=False)
            if s.counts[i].get(v, 0) + s.self_match[i] - s.minimums[i] > c.max_skew:
                return Status.unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH)
        return SUCCESS

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[Status]:
        """filter() over many nodes: each constraint's verdict is worked out once per domain, then looked up per
        node (NodeInfo.labels); nodes rejected for the same reason share one Status."""
        s: _PreFilterState | None = state.get(PRE_FILTER_KEY)
        if s is None:
            return [SUCCESS] * len(nodes)
        missing = Status.unschedulable(ERR_REASON_NODE_LABEL_NOT_MATCH, resolvable=False)
        skewed = Status.unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH)
        checks = []
        for i, c in enumerate(s.constraints):
            limit = s.minimums[i] + c.max_skew - s.self_match[i]
            verdicts: dict[str | None, Status] = {v: (SUCCESS if n <= limit else skewed)
                                                  for v, n in s.counts[i].items()}
            verdicts[None] = missing
            checks.append((c.topology_key, verdicts, SUCCESS if 0 <= limit else skewed))
        if len(checks) == 1:
            key, verdicts, unknown = checks[0]
            return [verdicts.get(ni.labels.get(key) if ni.node is not None else None, unknown) for ni in nodes]
        out: list[Status] = []
        for ni in nodes:
            labels = ni.labels if ni.node is not None else {}
            st = SUCCESS
            for key, verdicts, unknown in checks:
                st = verdicts.get(labels.get(key), unknown)
                if st is not SUCCESS:
                    break
            out.append(st)
        return out

    # --- scoring ---------------------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        if not nodes:
            return Status.skip()
        constraints = self.constraints_for(pod, SCHEDULE_ANYWAY)
        if not constraints:
            return Status.skip()
        require_all = bool((pod.pod.get("spec") or {}).get("topologySpreadConstraints")) or not self.system_defaulted
        ignored: set[str] = set()
        counts: list[dict[str, int]] = [{} for _ in constraints]
        for ni in nodes:
            labels = labels_of(ni.node)
            if require_all and not _labels_have_keys(labels, constraints):
                ignored.add(ni.name)
                continue
            for i, c in enumerate(constraints):
                if c.topology_key != LABEL_HOSTNAME:
                    counts[i].setdefault(labels.get(c.topology_key, ""), 0)
        weights = [math.log((len(nodes) - len(ignored) if c.topology_key == LABEL_HOSTNAME else len(counts[i])) + 2)
                   for i, c in enumerate(constraints)]
        required = required_node_affinity(pod)
        ns = namespace_of(pod.pod)
        checks = [c.checks_inclusion(pod, required) for c in constraints]
        tables = [self.match_counts.table(c.selector, ns) for c in constraints]
        count = self.match_counts.count
        snapshot = self.handle.snapshot().list() if self.handle is not None else nodes
        for ni in snapshot:
            node = ni.node
            if node is None or not ni.pods:
                continue  # a node without pods adds nothing to a domain's count
            labels = labels_of(node)
            if require_all and not _labels_have_keys(labels, constraints):
                continue
            for i, c in enumerate(constraints):
                v = labels.get(c.topology_key)
                if v is None or v not in counts[i] or (checks[i] and not c.includes_node(pod, node, required)):
                    continue
                counts[i][v] += count(tables[i], ni, c.selector, ns)
        state.write(PRE_SCORE_KEY, _PreScoreState(constraints, ignored, counts, weights))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        s: _PreScoreState | None = state.get(PRE_SCORE_KEY)
        if s is None or node.name in s.ignored_nodes:
            return 0, SUCCESS
        labels = labels_of(node.node)
        total = 0.0
        for i, c in enumerate(s.constraints):
            v = labels.get(c.topology_key)
            if v is None:
                continue
            if c.topology_key == LABEL_HOSTNAME:
                cnt = count_matching_pods(node.pods, c.selector, namespace_of(pod.pod))
            else:
                cnt = s.counts[i].get(v, 0)
            total += cnt * s.weights[i] + (c.max_skew - 1)
        return _round_half_away(total), SUCCESS

    def score_extensions(self) -> PodTopologySpread:
        return self

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> Status:
        s: _PreScoreState | None = state.get(PRE_SCORE_KEY)
        if s is None:
            return SUCCESS
        considered = [v for n, v in scores.items() if n not in s.ignored_nodes]
        lo = min(considered) if considered else 0
        hi = max(considered) if considered else 0
        for n, v in scores.items():
            if n in s.ignored_nodes:
                scores[n] = 0
            elif hi == 0:
                scores[n] = MAX_NODE_SCORE
            else:
                scores[n] = MAX_NODE_SCORE * (hi + lo - v) // hi
        return SUCCESS


def _round_half_away(x: float) -> int:
    """Go's math.Round (half away from zero), unlike Python's banker's rounding."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def new(args: dict[str, Any], handle: Handle | None) -> PodTopologySpread:
    return PodTopologySpread(args or {}, handle)

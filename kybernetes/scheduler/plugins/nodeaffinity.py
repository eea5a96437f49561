"""NodeAffinity: nodeSelector and required node affinity as a filter, preferred terms as a score, plus the
scheduler-enforced addedAffinity of the plugin's args."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from kybernetes.scheduler.framework.interface import (SUCCESS, ClusterEvent, ClusterEventWithHint, CycleState, Handle,
                                                      Node, NodeInfo, Pod, PodInfo, QueueingHint, Status)
from kybernetes.scheduler.plugins.helpers.nodeaffinity import (OBJECT_NAME_FIELD, NodeSelector,
                                                               PreferredSchedulingTerms, RequiredNodeAffinity,
                                                               preferred_node_affinity, required_node_affinity)
from kybernetes.scheduler.plugins.helpers.scoring import default_normalize_score

NAME = "NodeAffinity"
ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_ENFORCED = "node(s) didn't match scheduler-enforced node affinity"
ERR_REASON_CONFLICT = "pod affinity terms conflict"
PRE_FILTER_KEY = "PreFilter" + NAME
PRE_SCORE_KEY = "PreScore" + NAME
_SPEC_KEY = "nodeaffinity.spec_key"
MAX_MEMO_SPECS = 16


@dataclass
class _PreFilterState:
    required: RequiredNodeAffinity


@dataclass
class _PreScoreState:
    preferred: PreferredSchedulingTerms


def _required_terms(pod: PodInfo) -> list[dict[str, Any]] | None:
    req = (((pod.pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution")
    return None if req is None else (req.get("nodeSelectorTerms") or [])


def node_names_of_terms(terms: list[dict[str, Any]]) -> set[str] | None:
    """The node names the terms restrict the pod to (matchFields metadata.name In), or None for no restriction."""
    names: set[str] | None = None
    for t in terms:
        term_names: set[str] | None = None
        for r in t.get("matchFields") or ():
            if r.get("key") == OBJECT_NAME_FIELD and r.get("operator") == "In":
                s = set(r.get("values") or ())
                term_names = s if term_names is None else term_names & s
        if term_names is None:
            return None  # terms are ORed: a term without a name restriction admits every node
        names = term_names if names is None else names | term_names
    return names


class NodeAffinity:
    name = NAME

    def __init__(self, args: dict[str, Any]) -> None:
        added = args.get("addedAffinity") or {}
        req = added.get("requiredDuringSchedulingIgnoredDuringExecution")
        self.added_node_selector = NodeSelector(req) if req is not None else None
        self.added_preferred = PreferredSchedulingTerms(added.get("preferredDuringSchedulingIgnoredDuringExecution"))
        self._memo: dict[bytes, dict[str, tuple[Any, Status]]] = {}  # pod terms -> node name -> (node, status)

    def events_to_register(self) -> list[ClusterEventWithHint]:
        hint = self.is_schedulable_after_node_change
        return [ClusterEventWithHint(ClusterEvent("Node", "Add"), hint),
                ClusterEventWithHint(ClusterEvent("Node", "UpdateNodeLabel"), hint)]

    def _matches(self, required: RequiredNodeAffinity, node: Node) -> bool:
        if self.added_node_selector is not None and not self.added_node_selector.matches(node):
            return False
        return required.matches(node)

    def is_schedulable_after_node_change(self, pod: Pod, old: Node | None, new: Node | None) -> QueueingHint:
        """A node that matches the pod's nodeSelector and required affinity now, and did not before (or a new
        one)."""
        if new is None:
            return QueueingHint.QUEUE_SKIP
        required = RequiredNodeAffinity(pod)
        if not self._matches(required, new):
            return QueueingHint.QUEUE_SKIP
        return QueueingHint.QUEUE if old is None or not self._matches(required, old) else QueueingHint.QUEUE_SKIP

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> tuple[set[str] | None, Status]:
        required = required_node_affinity(pod)
        if required.is_empty() and self.added_node_selector is None:
            return None, Status.skip()
        state.write(PRE_FILTER_KEY, _PreFilterState(required))
        terms = _required_terms(pod)
        if not terms:
            return None, SUCCESS
        names = node_names_of_terms(terms)
        if names is not None and not names:
            return None, Status.unschedulable(ERR_REASON_CONFLICT, resolvable=False)
        return names, SUCCESS

    def pre_filter_extensions(self) -> None:
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if node.node is None:
            return Status.error("node not found")
        if self.added_node_selector is not None and not self.added_node_selector.matches(node.node):
            return Status.unschedulable(ERR_REASON_ENFORCED, resolvable=False)
        s = state.get(PRE_FILTER_KEY)
        required = s.required if s is not None else required_node_affinity(pod)
        if not required.matches(node.node):
            return Status.unschedulable(ERR_REASON_POD, resolvable=False)
        return SUCCESS

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[Status]:
        """filter() over many nodes. Whether a node matches depends only on the node object and the pod's
        nodeSelector and required terms, so results are remembered per node object for pods with the same
        terms (many pods of one workload share them) and reused until the node changes."""
        memo = self._memo_for(pod)
        out: list[Status] = []
        filter_one = self.filter
        for ni in nodes:
            node = ni.node
            hit = memo.get(ni.name) if node is not None else None
            if hit is not None and hit[0] is node:
                st = hit[1]
            else:
                st = filter_one(state, pod, ni)
                if node is not None:
                    memo[ni.name] = (node, st)
            out.append(st)
        return out

    def _memo_for(self, pod: PodInfo) -> dict[str, tuple[Any, Status]]:
        key = pod.cache.get(_SPEC_KEY)
        if key is None:
            spec = pod.pod.get("spec") or {}
            key = pod.cache[_SPEC_KEY] = orjson.dumps(
                [spec.get("nodeSelector"), ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
                    "requiredDuringSchedulingIgnoredDuringExecution")], option=orjson.OPT_SORT_KEYS)
        memo = self._memo.get(key)
        if memo is None:
            if len(self._memo) >= MAX_MEMO_SPECS:
                self._memo.clear()
            memo = self._memo[key] = {}
        return memo

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        preferred = preferred_node_affinity(pod)
        if not preferred and not self.added_preferred:
            return Status.skip()
        state.write(PRE_SCORE_KEY, _PreScoreState(preferred))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        if node.node is None:
            return 0, Status.error("node not found")
        s = state.get(PRE_SCORE_KEY)
        preferred = s.preferred if s is not None else preferred_node_affinity(pod)
        total = self.added_preferred.score(node.node) if self.added_preferred else 0
        if preferred:
            total += preferred.score(node.node)
        return total, SUCCESS

    def score_extensions(self) -> NodeAffinity:
        return self

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> Status:
        default_normalize_score(scores, reverse=False)
        return SUCCESS


def new(args: dict[str, Any], handle: Handle | None) -> NodeAffinity:
    return NodeAffinity(args or {})

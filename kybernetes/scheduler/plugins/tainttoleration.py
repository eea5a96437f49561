"""TaintToleration: NoSchedule/NoExecute taints a pod does not tolerate filter the node out; untolerated
PreferNoSchedule taints lower its score (fewer is better)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kybernetes.scheduler.framework.interface import (SUCCESS, ClusterEvent, CycleState, Handle, NodeInfo, PodInfo,
                                                      Status)
from kybernetes.scheduler.plugins.helpers.scoring import default_normalize_score
from kybernetes.scheduler.plugins.helpers.taints import (PREFER_NO_SCHEDULE, find_untolerated_taint, node_taints,
                                                         pod_tolerations, tolerates)

NAME = "TaintToleration"
PRE_SCORE_KEY = "PreScore" + NAME


@dataclass
class _PreScoreState:
    tolerations_prefer_no_schedule: list[dict[str, Any]]


def untolerated_taint_reason(taint: dict[str, Any]) -> str:
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value') or ''}}}"


def count_intolerable_prefer_no_schedule(taints: list[dict[str, Any]], tolerations: list[dict[str, Any]]) -> int:
    """How many PreferNoSchedule taints none of the (PreferNoSchedule or any-effect) tolerations tolerates."""
    n = 0
    for taint in taints:
        if taint.get("effect") == PREFER_NO_SCHEDULE and not any(tolerates(t, taint) for t in tolerations):
            n += 1
    return n


def _prefer_no_schedule_tolerations(pod: PodInfo) -> list[dict[str, Any]]:
    return [t for t in pod_tolerations(pod.pod) if (t.get("effect") or PREFER_NO_SCHEDULE) == PREFER_NO_SCHEDULE]


class TaintToleration:
    name = NAME

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Node", "Add"), ClusterEvent("Node", "UpdateNodeTaint"), ClusterEvent("Pod", "Update")]

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if node.node is None:
            return Status.error("invalid nodeInfo")
        taints = node_taints(node.node)
        if not taints:
            return SUCCESS
        taint = find_untolerated_taint(taints, pod_tolerations(pod.pod))
        if taint is None:
            return SUCCESS
        return Status.unschedulable(untolerated_taint_reason(taint), resolvable=False)

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[Status]:
        """filter() over many nodes: nodes without taints (NodeInfo.taints) pass without a call."""
        return [SUCCESS if not ni.taints and ni.node is not None else self.filter(state, pod, ni) for ni in nodes]

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        """Skip when no candidate node has a PreferNoSchedule taint: every node would score the same."""
        if not any(t.get("effect") == PREFER_NO_SCHEDULE for ni in nodes if ni.taints for t in ni.taints):
            return Status.skip()
        state.write(PRE_SCORE_KEY, _PreScoreState(_prefer_no_schedule_tolerations(pod)))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        taints = node_taints(node.node)
        if not taints:
            return 0, SUCCESS
        s = state.get(PRE_SCORE_KEY)
        tols = s.tolerations_prefer_no_schedule if s is not None else _prefer_no_schedule_tolerations(pod)
        return count_intolerable_prefer_no_schedule(taints, tols), SUCCESS

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        """score() over many nodes: untainted nodes score 0 without a call."""
        s = state.get(PRE_SCORE_KEY)
        tols = s.tolerations_prefer_no_schedule if s is not None else _prefer_no_schedule_tolerations(pod)
        return [count_intolerable_prefer_no_schedule(ni.taints, tols) if ni.taints else 0 for ni in nodes]

    def score_extensions(self) -> TaintToleration:
        return self

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> Status:
        default_normalize_score(scores, reverse=True)
        return SUCCESS


def new(args: dict[str, Any], handle: Handle | None) -> TaintToleration:
    return TaintToleration()

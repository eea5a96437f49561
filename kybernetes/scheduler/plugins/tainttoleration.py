"""TaintToleration: NoSchedule/NoExecute taints a pod does not tolerate filter the node out; untolerated
PreferNoSchedule taints lower its score (fewer is better)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kybernetes.scheduler.framework.interface import (SUCCESS, ClusterEvent, ClusterEventWithHint, CycleState, Handle,
                                                      Node, NodeInfo, Pod, PodInfo, QueueingHint, Status)
from kybernetes.scheduler.plugins.helpers.pods import snapshot_or_none
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

    def __init__(self, handle: Handle | None = None) -> None:
        self.handle = handle

    def events_to_register(self) -> list[ClusterEventWithHint]:
        node_hint = self.is_schedulable_after_node_change
        return [ClusterEventWithHint(ClusterEvent("Node", "Add"), node_hint),
                ClusterEventWithHint(ClusterEvent("Node", "UpdateNodeTaint"), node_hint),
                ClusterEventWithHint(ClusterEvent("Pod", "Update"), self.is_schedulable_after_pod_change)]

    @staticmethod
    def _tolerated(pod: Pod, node: Node) -> bool:
        taints = node_taints(node)
        return not taints or find_untolerated_taint(taints, pod_tolerations(pod)) is None

    def is_schedulable_after_node_change(self, pod: Pod, old: Node | None, new: Node | None) -> QueueingHint:
        """A node whose NoSchedule/NoExecute taints the pod now tolerates, and did not before (or a new one)."""
        if new is None or not self._tolerated(pod, new):
            return QueueingHint.QUEUE_SKIP
        return QueueingHint.QUEUE if old is None or not self._tolerated(pod, old) else QueueingHint.QUEUE_SKIP

    def is_schedulable_after_pod_change(self, pod: Pod, old: Pod | None, new: Pod | None) -> QueueingHint:
        """Only the pod's own tolerations matter (other pods' changes never untaint a node)."""
        uid = (pod.get("metadata") or {}).get("uid")
        if new is None or (new.get("metadata") or {}).get("uid") != uid:
            return QueueingHint.QUEUE_SKIP
        return QueueingHint.QUEUE if pod_tolerations(old or {}) != pod_tolerations(new) else QueueingHint.QUEUE_SKIP

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
        """filter() over many nodes: nodes without taints (NodeInfo.taints) pass without a call, and all of them at
        once when no node of the snapshot has taints."""
        snap = snapshot_or_none(self.handle)
        if snap is not None and snap.num_tainted == 0:
            return [SUCCESS] * len(nodes)
        return [SUCCESS if not ni.taints and ni.node is not None else self.filter(state, pod, ni) for ni in nodes]

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        """Skip when no candidate node has a PreferNoSchedule taint: every node would score the same."""
        snap = snapshot_or_none(self.handle)
        if snap is not None and snap.num_tainted == 0:
            return Status.skip()
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
    return TaintToleration(handle)

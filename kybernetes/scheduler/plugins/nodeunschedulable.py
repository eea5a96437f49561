"""NodeUnschedulable: nodes with spec.unschedulable take only pods tolerating node.kubernetes.io/unschedulable."""

from __future__ import annotations

from typing import Any

from kybernetes.scheduler.framework.interface import (SUCCESS, ClusterEvent, ClusterEventWithHint, CycleState, Handle,
                                                      Node, NodeInfo, Pod, PodInfo, QueueingHint, Status)
from kybernetes.scheduler.plugins.helpers.pods import snapshot_or_none

NAME = "NodeUnschedulable"
ERR_REASON_UNKNOWN_CONDITION = "node(s) had unknown conditions"
ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


def tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    """v1.Toleration.ToleratesTaint: effect (empty matches all), key (empty with Exists matches all), value."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


class NodeUnschedulable:
    name = NAME

    def __init__(self, handle: Handle | None = None) -> None:
        self.handle = handle

    def events_to_register(self) -> list[ClusterEventWithHint]:
        hint = self.is_schedulable_after_node_change
        return [ClusterEventWithHint(ClusterEvent("Node", "Add"), hint),
                ClusterEventWithHint(ClusterEvent("Node", "UpdateNodeTaint"), hint)]

    @staticmethod
    def _admits(pod: Pod, node: Node | None) -> bool:
        if not ((node or {}).get("spec") or {}).get("unschedulable"):
            return True
        return any(tolerates(t, UNSCHEDULABLE_TAINT) for t in (pod.get("spec") or {}).get("tolerations") or ())

    def is_schedulable_after_node_change(self, pod: Pod, old: Node | None, new: Node | None) -> QueueingHint:
        """A node that admits the pod now and did not before (or is new)."""
        if new is None or not self._admits(pod, new):
            return QueueingHint.QUEUE_SKIP
        return QueueingHint.QUEUE if old is None or not self._admits(pod, old) else QueueingHint.QUEUE_SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if node.node is None:
            return Status.unschedulable(ERR_REASON_UNKNOWN_CONDITION, resolvable=False)
        if not (node.node.get("spec") or {}).get("unschedulable"):
            return SUCCESS
        for t in (pod.pod.get("spec") or {}).get("tolerations") or ():
            if tolerates(t, UNSCHEDULABLE_TAINT):
                return SUCCESS
        return Status.unschedulable(ERR_REASON_UNSCHEDULABLE, resolvable=False)

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[Status]:
        """filter() over many nodes: schedulable nodes (NodeInfo.unschedulable) pass without a call, and all of
        them at once when no node of the snapshot is unschedulable."""
        snap = snapshot_or_none(self.handle)
        if snap is not None and snap.num_unschedulable == 0:
            return [SUCCESS] * len(nodes)  # snapshot nodes all have a node object
        return [SUCCESS if not ni.unschedulable and ni.node is not None else self.filter(state, pod, ni)
                for ni in nodes]


def new(args: dict[str, Any], handle: Handle | None) -> NodeUnschedulable:
    return NodeUnschedulable(handle)

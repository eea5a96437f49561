"""NodeUnschedulable: nodes with spec.unschedulable take only pods tolerating node.kubernetes.io/unschedulable."""

from __future__ import annotations

from typing import Any

from kybernetes.scheduler.framework.interface import (SUCCESS, ClusterEvent, CycleState, Handle, NodeInfo, PodInfo,
                                                      Status)

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

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Node", "Add"), ClusterEvent("Node", "UpdateNodeTaint")]

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
        """filter() over many nodes: schedulable nodes (NodeInfo.unschedulable) pass without a call."""
        return [SUCCESS if not ni.unschedulable and ni.node is not None else self.filter(state, pod, ni)
                for ni in nodes]


def new(args: dict[str, Any], handle: Handle | None) -> NodeUnschedulable:
    return NodeUnschedulable()

"""NodeName: a pod with spec.nodeName set fits only that node."""

from __future__ import annotations

from typing import Any

from kybernetes.scheduler.framework.interface import (SUCCESS, ClusterEvent, ClusterEventWithHint, CycleState, Handle,
                                                      Node, NodeInfo, Pod, PodInfo, QueueingHint, Status)

NAME = "NodeName"
ERR_REASON = "node(s) didn't match the requested node name"


class NodeName:
    name = NAME

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [ClusterEventWithHint(ClusterEvent("Node", "Add"), self.is_schedulable_after_node_add)]

    def is_schedulable_after_node_add(self, pod: Pod, old: Node | None, new: Node | None) -> QueueingHint:
        """Only the node the pod names."""
        name = ((new or {}).get("metadata") or {}).get("name")
        want = (pod.get("spec") or {}).get("nodeName")
        return QueueingHint.QUEUE if not want or want == name else QueueingHint.QUEUE_SKIP

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> tuple[set[str] | None, Status]:
        """Nothing to filter for pods without spec.nodeName (the usual case)."""
        return None, (SUCCESS if (pod.pod.get("spec") or {}).get("nodeName") else Status.skip())

    def pre_filter_extensions(self) -> None:
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        want = (pod.pod.get("spec") or {}).get("nodeName")
        if not want or want == node.name:
            return SUCCESS
        return Status.unschedulable(ERR_REASON, resolvable=False)


def new(args: dict[str, Any], handle: Handle | None) -> NodeName:
    return NodeName()

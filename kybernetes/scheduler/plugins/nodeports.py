"""NodePorts: a pod's hostPorts must be free on the node (0.0.0.0 conflicts with every address)."""

from __future__ import annotations

from typing import Any

from kybernetes.scheduler.framework.interface import (SUCCESS, ClusterEvent, ClusterEventWithHint, CycleState, Handle,
                                                      NodeInfo, Pod, PodInfo, QueueingHint, Status)
from kybernetes.scheduler.framework.types import host_ports

NAME = "NodePorts"
ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
WILDCARD = "0.0.0.0"


def ports_conflict(want: list[tuple[str, str, int]], used: set[tuple[str, str, int]]) -> bool:
    """True if any wanted (ip, protocol, port) is taken on the node, with 0.0.0.0 matching any address."""
    if not used:
        return False
    for ip, proto, port in want:
        if (ip, proto, port) in used:
            return True
        if ip == WILDCARD:
            if any(u[1] == proto and u[2] == port for u in used):
                return True
        elif (WILDCARD, proto, port) in used:
            return True
    return False


class NodePorts:
    name = NAME

    def events_to_register(self) -> list[ClusterEvent | ClusterEventWithHint]:
        return [ClusterEventWithHint(ClusterEvent("Pod", "Delete"), self.is_schedulable_after_pod_deleted),
                ClusterEvent("Node", "Add")]

    def is_schedulable_after_pod_deleted(self, pod: Pod, old: Pod | None, new: Pod | None) -> QueueingHint:
        """Only a deleted assigned pod holding one of the host ports this pod wants can free it."""
        if old is None or not (old.get("spec") or {}).get("nodeName"):
            return QueueingHint.QUEUE_SKIP
        if ports_conflict(host_ports(pod), set(host_ports(old))):
            return QueueingHint.QUEUE
        return QueueingHint.QUEUE_SKIP

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> tuple[set[str] | None, Status]:
        ports = pod.cache.get("host_ports")
        if ports is None:
            ports = pod.cache["host_ports"] = host_ports(pod.pod)
        return None, (SUCCESS if ports else Status.skip())

    def pre_filter_extensions(self) -> None:
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if ports_conflict(pod.cache.get("host_ports") or [], node.used_ports):
            return Status.unschedulable(ERR_REASON)
        return SUCCESS


def new(args: dict[str, Any], handle: Handle | None) -> NodePorts:
    return NodePorts()

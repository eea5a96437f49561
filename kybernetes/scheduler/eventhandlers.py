"""Informer handlers feeding the scheduler: pending pods to the queue, assigned pods and nodes to the cache, and
every change as a ClusterEvent that may move unschedulable pods back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kybernetes.scheduler.cache import Cache
from kybernetes.scheduler.framework.interface import ClusterEvent, Node, Pod
from kybernetes.scheduler.framework.types import pod_requests
from kybernetes.scheduler.queue import PriorityQueue

ASSIGNED_POD_ADD = ClusterEvent("Pod", "Add")
ASSIGNED_POD_UPDATE = ClusterEvent("Pod", "Update")
ASSIGNED_POD_DELETE = ClusterEvent("Pod", "Delete")
ASSIGNED_POD_SCALE_DOWN = ClusterEvent("Pod", "UpdatePodScaleDown")
ASSIGNED_POD_LABEL = ClusterEvent("Pod", "UpdatePodLabel")
NODE_ADD = ClusterEvent("Node", "Add")


def assigned(pod: Pod) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def terminated(pod: Pod) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _conditions(node: Node) -> dict[str, str]:
    return {c.get("type", ""): c.get("status", "") for c in (node.get("status") or {}).get("conditions") or ()}


def _container_resources(pod: Pod) -> list[Any]:
    spec = pod.get("spec") or {}
    return [c.get("resources") for c in (*(spec.get("initContainers") or ()), *(spec.get("containers") or ()))]


def pod_update_event(old: Pod, new: Pod) -> ClusterEvent:
    """The event of an assigned pod's update, as upstream names its kinds: requests lowered (UpdatePodScaleDown),
    labels changed (UpdatePodLabel), or any other Update. Plugins registered for 'Update' get all of them."""
    if _container_resources(old) != _container_resources(new):
        before, after = pod_requests(old), pod_requests(new)
        if (after.milli_cpu < before.milli_cpu or after.memory < before.memory
                or after.ephemeral_storage < before.ephemeral_storage
                or any(q < before.scalar.get(k, 0) for k, q in after.scalar.items())):
            return ASSIGNED_POD_SCALE_DOWN
    if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
        return ASSIGNED_POD_LABEL
    return ASSIGNED_POD_UPDATE


def node_update_events(old: Node, new: Node) -> list[ClusterEvent]:
    """The scheduling-relevant parts of a node update (upstream's nodeSchedulingPropertiesChange)."""
    events = []
    os_, ns_ = old.get("status") or {}, new.get("status") or {}
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    osp, nsp = old.get("spec") or {}, new.get("spec") or {}
    if os_.get("allocatable") != ns_.get("allocatable"):
        events.append(ClusterEvent("Node", "UpdateNodeAllocatable"))
    if om.get("labels") != nm.get("labels"):
        events.append(ClusterEvent("Node", "UpdateNodeLabel"))
    if osp.get("taints") != nsp.get("taints") or bool(osp.get("unschedulable")) != bool(nsp.get("unschedulable")):
        events.append(ClusterEvent("Node", "UpdateNodeTaint"))
    if _conditions(old) != _conditions(new):
        events.append(ClusterEvent("Node", "UpdateNodeCondition"))
    if om.get("annotations") != nm.get("annotations"):
        events.append(ClusterEvent("Node", "UpdateNodeAnnotation"))
    return events


class PodHandler:
    """Pods: unassigned ones of our profiles go to the queue; assigned, non-terminated ones to the cache."""

    def __init__(self, cache: Cache, queue: PriorityQueue, responsible: Callable[[Pod], bool],
                 on_pending_delete: Callable[[Pod], None] | None = None) -> None:
        self.cache, self.queue, self.responsible = cache, queue, responsible
        self.on_pending_delete = on_pending_delete

    def on_add(self, pod: Pod) -> None:
        if assigned(pod):
            if not terminated(pod):
                self.cache.add_pod(pod)
                self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_ADD, None, pod)
        elif self.responsible(pod):
            self.queue.add(pod)

    def on_update(self, old: Pod, new: Pod) -> None:
        if assigned(new):
            if not assigned(old):
                self.queue.delete(old)
            if terminated(new):
                self.cache.remove_pod(new)
                self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_DELETE, new, None)
            elif not assigned(old):
                self.cache.update_pod(old, new)
                self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_ADD, None, new)
            else:
                self.cache.update_pod(old, new)
                self.queue.move_all_to_active_or_backoff(pod_update_event(old, new), old, new)
        elif self.responsible(new):
            self.queue.update(old, new)

    def on_delete(self, pod: Pod) -> None:
        if assigned(pod):
            self.cache.remove_pod(pod)
            self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_DELETE, pod, None)
        else:
            self.queue.delete(pod)
            if self.on_pending_delete is not None:
                self.on_pending_delete(pod)


class NodeHandler:
    def __init__(self, cache: Cache, queue: PriorityQueue) -> None:
        self.cache, self.queue = cache, queue

    def on_add(self, node: Node) -> None:
        self.cache.add_node(node)
        self.queue.move_all_to_active_or_backoff(NODE_ADD, None, node)

    def on_update(self, old: Node, new: Node) -> None:
        self.cache.update_node(old, new)
        for event in node_update_events(old, new):
            self.queue.move_all_to_active_or_backoff(event, old, new)

    def on_delete(self, node: Node) -> None:
        self.cache.remove_node(node)


class GenericHandler:
    """Any other watched resource (PVC, PV, StorageClass, ...): its changes as ClusterEvents of its kind."""

    def __init__(self, kind: str, queue: PriorityQueue) -> None:
        self.kind, self.queue = kind, queue

    def on_add(self, obj: dict[str, Any]) -> None:
        self.queue.move_all_to_active_or_backoff(ClusterEvent(self.kind, "Add"), None, obj)

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        if (old.get("metadata") or {}).get("resourceVersion") != (new.get("metadata") or {}).get("resourceVersion"):
            self.queue.move_all_to_active_or_backoff(ClusterEvent(self.kind, "Update"), old, new)

    def on_delete(self, obj: dict[str, Any]) -> None:
        self.queue.move_all_to_active_or_backoff(ClusterEvent(self.kind, "Delete"), obj, None)

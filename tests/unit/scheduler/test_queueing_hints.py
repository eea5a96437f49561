"""Queueing hints: each plugin's QueueingHintFn on the objects of a cluster event, the queue acting on them, and a
nominated pod waiting for its preemption victims instead of being retried by every pod deletion."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.client.clock import FakeClock
from kybernetes.scheduler.cache import Cache
from kybernetes.scheduler.eventhandlers import (ASSIGNED_POD_LABEL, ASSIGNED_POD_SCALE_DOWN, ASSIGNED_POD_UPDATE,
                                                pod_update_event)
from kybernetes.scheduler.framework.interface import ClusterEvent, ClusterEventWithHint, QueueingHint
from kybernetes.scheduler.framework.types import new_pod_info
from kybernetes.scheduler.plugins import nodeaffinity, nodename, nodeports, noderesources, nodeunschedulable, \
    tainttoleration
from kybernetes.scheduler.plugins.queuesort import PrioritySort
from kybernetes.scheduler.queue import PriorityQueue

from .builders import make_node, make_pod

Q, SKIP = QueueingHint.QUEUE, QueueingHint.QUEUE_SKIP
POD_DELETE = ClusterEvent("Pod", "Delete")
NODE_ADD = ClusterEvent("Node", "Add")


def uid(p: dict[str, Any]) -> str:
    return p["metadata"]["uid"]


def on(pod: dict[str, Any], node: str) -> dict[str, Any]:
    return {**pod, "spec": {**pod["spec"], "nodeName": node}}


def labelled(node: dict[str, Any], **labels: str) -> dict[str, Any]:
    return {**node, "metadata": {**node["metadata"], "labels": labels}}


def tainted(node: dict[str, Any], *taints: dict[str, str]) -> dict[str, Any]:
    return {**node, "spec": {**node["spec"], "taints": list(taints)}}


FIT = noderesources.new({}, None)
TAINT = {"key": "k", "value": "v", "effect": "NoSchedule"}
HINT_CASES = [
    ("fit-assigned-pod-deleted", FIT.is_schedulable_after_pod_change, make_pod(cpu="1"),
     on(make_pod("v", cpu="1"), "n1"), None, Q),
    ("fit-unassigned-pod-deleted", FIT.is_schedulable_after_pod_change, make_pod(cpu="1"), make_pod("v"), None, SKIP),
    ("fit-scaled-down", FIT.is_schedulable_after_pod_change, make_pod(cpu="1"),
     on(make_pod("v", cpu="2"), "n1"), on(make_pod("v", cpu="1"), "n1"), Q),
    ("fit-scaled-down-other-resource", FIT.is_schedulable_after_pod_change, make_pod(cpu="1"),
     on(make_pod("v", memory="2Gi"), "n1"), on(make_pod("v", memory="1Gi"), "n1"), SKIP),
    ("fit-node-added-big-enough", FIT.is_schedulable_after_node_change, make_pod(cpu="2"), None,
     make_node("n", cpu="4"), Q),
    ("fit-node-added-too-small", FIT.is_schedulable_after_node_change, make_pod(cpu="8"), None,
     make_node("n", cpu="4"), SKIP),
    ("fit-allocatable-grew", FIT.is_schedulable_after_node_change, make_pod(cpu="6"), make_node("n", cpu="4"),
     make_node("n", cpu="8"), Q),
    ("fit-allocatable-shrank", FIT.is_schedulable_after_node_change, make_pod(cpu="1"), make_node("n", cpu="8"),
     make_node("n", cpu="4"), SKIP),
    ("unschedulable-node-cordoned", nodeunschedulable.new({}, None).is_schedulable_after_node_change, make_pod(),
     make_node("n"), make_node("n", unschedulable=True), SKIP),
    ("unschedulable-node-uncordoned", nodeunschedulable.new({}, None).is_schedulable_after_node_change, make_pod(),
     make_node("n", unschedulable=True), make_node("n"), Q),
    ("taint-removed", tainttoleration.new({}, None).is_schedulable_after_node_change, make_pod(),
     tainted(make_node("n"), TAINT), make_node("n"), Q),
    ("taint-added", tainttoleration.new({}, None).is_schedulable_after_node_change, make_pod(),
     make_node("n"), tainted(make_node("n"), TAINT), SKIP),
    ("taint-tolerated-new-node", tainttoleration.new({}, None).is_schedulable_after_node_change,
     make_pod(tolerations=[{"key": "k", "operator": "Exists"}]), None, tainted(make_node("n"), TAINT), Q),
    ("affinity-label-now-matches", nodeaffinity.new({}, None).is_schedulable_after_node_change,
     {**make_pod(), "spec": {**make_pod()["spec"], "nodeSelector": {"zone": "a"}}}, make_node("n"),
     labelled(make_node("n"), zone="a"), Q),
    ("affinity-new-node-does-not-match", nodeaffinity.new({}, None).is_schedulable_after_node_change,
     {**make_pod(), "spec": {**make_pod()["spec"], "nodeSelector": {"zone": "a"}}}, None,
     labelled(make_node("n"), zone="b"), SKIP),
    ("ports-conflicting-pod-deleted", nodeports.new({}, None).is_schedulable_after_pod_deleted,
     make_pod(ports=[{"containerPort": 80, "hostPort": 8080}]),
     on(make_pod("v", ports=[{"containerPort": 80, "hostPort": 8080}]), "n1"), None, Q),
    ("ports-other-pod-deleted", nodeports.new({}, None).is_schedulable_after_pod_deleted,
     make_pod(ports=[{"containerPort": 80, "hostPort": 8080}]), on(make_pod("v"), "n1"), None, SKIP),
    ("node-name-other-node", nodename.new({}, None).is_schedulable_after_node_add,
     on(make_pod(), "n2"), None, make_node("n1"), SKIP),
]


@pytest.mark.parametrize("hint,pod,old,new,want", [c[1:] for c in HINT_CASES], ids=[c[0] for c in HINT_CASES])
def test_queueing_hint(hint: Any, pod: dict[str, Any], old: Any, new: Any, want: QueueingHint) -> None:
    assert hint(pod, old, new) == want


@pytest.mark.parametrize("old,new,want", [
    (make_pod("a", cpu="2"), make_pod("a", cpu="1"), ASSIGNED_POD_SCALE_DOWN),
    (make_pod("a"), {**make_pod("a"), "metadata": {"name": "a", "labels": {"x": "y"}}}, ASSIGNED_POD_LABEL),
    (make_pod("a", cpu="1"), {**make_pod("a", cpu="1"), "status": {"phase": "Running"}}, ASSIGNED_POD_UPDATE),
], ids=["scale-down", "labels", "other"])
def test_pod_update_event(old: dict[str, Any], new: dict[str, Any], want: ClusterEvent) -> None:
    assert pod_update_event(old, new) == want


def _queue(clock: FakeClock, cache: Cache | None = None) -> PriorityQueue:
    events = {"NodeResourcesFit": FIT.events_to_register()}
    return PriorityQueue(less=PrioritySort().less, clock=clock, plugin_events=events,
                         victims_pending=cache.victims_pending if cache is not None else None)


async def _fail(q: PriorityQueue, pod: dict[str, Any]) -> None:
    q.add(pod)
    qpi = await q.pop()
    qpi.unschedulable_plugins = {"NodeResourcesFit"}
    q.add_unschedulable_if_not_present(qpi)


async def test_queue_follows_the_hint() -> None:
    clock = FakeClock()
    q = _queue(clock)
    p = make_pod("p", cpu="8")
    await _fail(q, p)
    assert q.move_all_to_active_or_backoff(NODE_ADD, None, make_node("small", cpu="4")) == 0
    assert q.where(uid(p)) == "unschedulable"
    assert q.move_all_to_active_or_backoff(POD_DELETE, make_pod("pending"), None) == 0
    assert q.move_all_to_active_or_backoff(NODE_ADD, None, make_node("big", cpu="16")) == 1
    assert q.where(uid(p)) == "backoff"


async def test_hint_of_event_while_in_flight_decides_backoff() -> None:
    q = _queue(FakeClock())
    p = make_pod("p", cpu="8")
    q.add(p)
    qpi = await q.pop()
    q.move_all_to_active_or_backoff(NODE_ADD, None, make_node("small", cpu="4"))
    qpi.unschedulable_plugins = {"NodeResourcesFit"}
    q.add_unschedulable_if_not_present(qpi)
    assert q.where(uid(p)) == "unschedulable"


async def test_failing_hint_queues_the_pod() -> None:
    def broken(pod: Any, old: Any, new: Any) -> QueueingHint:
        raise ValueError("bug")
    q = PriorityQueue(less=PrioritySort().less, clock=FakeClock(),
                      plugin_events={"X": [ClusterEventWithHint(NODE_ADD, broken)]})
    p = make_pod("p")
    q.add(p)
    qpi = await q.pop()
    qpi.unschedulable_plugins = {"X"}
    q.add_unschedulable_if_not_present(qpi)
    assert q.move_all_to_active_or_backoff(NODE_ADD, None, make_node("n")) == 1


def _terminating(pod: dict[str, Any]) -> dict[str, Any]:
    return {**pod, "metadata": {**pod["metadata"], "deletionTimestamp": "2024-01-01T00:00:00Z"}}


async def test_nominated_pod_waits_for_its_victims() -> None:
    clock, cache = FakeClock(), Cache()
    for n in ("n1", "n2"):
        cache.add_node(make_node(n))
    victims = [on(make_pod(f"v{i}", cpu="1", priority=1), "n1") for i in range(2)]
    other = on(make_pod("other", cpu="1", priority=1), "n2")
    for v in (*victims, other):
        cache.add_pod(v)
    q = _queue(clock, cache)
    p = make_pod("p", cpu="4", priority=10)
    q.add(p)
    q.add_nominated_pod(new_pod_info(p), "n1")
    for v in victims:
        cache.update_pod(v, _terminating(v))
    qpi = await q.pop()
    qpi.unschedulable_plugins = {"NodeResourcesFit"}
    q.add_unschedulable_if_not_present(qpi)
    cache.remove_pod(other)  # a deletion elsewhere: the victims are still there
    assert q.move_all_to_active_or_backoff(POD_DELETE, other, None) == 0
    cache.remove_pod(victims[0])  # one victim gone, one left
    assert q.move_all_to_active_or_backoff(POD_DELETE, victims[0], None) == 0
    clock.step(5)
    q.activate([p])  # even when activated (e.g. by its preemption task) it waits
    assert q.where(uid(p)) == "unschedulable"
    cache.remove_pod(victims[1])
    assert q.move_all_to_active_or_backoff(POD_DELETE, victims[1], None) == 1
    assert q.where(uid(p)) == "active"


async def test_victims_wait_ends_after_max_wait() -> None:
    from kybernetes.scheduler.queue import MAX_WAIT_FOR_VICTIMS
    clock, cache = FakeClock(), Cache()
    cache.add_node(make_node("n1"))
    victim = _terminating(on(make_pod("v", cpu="1", priority=1), "n1"))
    cache.add_pod(victim)
    q = _queue(clock, cache)
    p = make_pod("p", cpu="4", priority=10)
    q.add(p)
    q.add_nominated_pod(new_pod_info(p), "n1")
    qpi = await q.pop()
    qpi.unschedulable_plugins = {"NodeResourcesFit"}
    q.add_unschedulable_if_not_present(qpi)
    elsewhere = on(make_pod("x", cpu="1"), "n2")
    assert q.move_all_to_active_or_backoff(POD_DELETE, elsewhere, None) == 0
    clock.step(MAX_WAIT_FOR_VICTIMS + 1)
    assert q.move_all_to_active_or_backoff(POD_DELETE, elsewhere, None) == 1

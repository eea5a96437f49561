"""The scheduling queue with a fake clock: ordering, back-off, unschedulable pods and cluster events, gates."""

from __future__ import annotations

import pytest

from kybernetes.client.clock import FakeClock
from kybernetes.scheduler.framework.interface import ClusterEvent
from kybernetes.scheduler.plugins.queuesort import PrioritySort
from kybernetes.scheduler.plugins.schedulinggates import SchedulingGates
from kybernetes.scheduler.queue import PriorityQueue, event_matches

from .builders import make_pod

EVENTS = {"NodeResourcesFit": [ClusterEvent("Node", "Add"), ClusterEvent("Pod", "Delete")],
          "TaintToleration": [ClusterEvent("Node", "UpdateNodeTaint")],
          "SchedulingGates": [ClusterEvent("Pod", "UpdatePodSchedulingGatesEliminated")]}


def gate(pod):
    st = SchedulingGates().pre_enqueue(pod)
    st.plugin = "SchedulingGates"
    return st


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def queue(clock):
    q = PriorityQueue(less=PrioritySort().less, clock=clock, plugin_events=EVENTS, pre_enqueue=gate)
    q.run()
    return q


def uid(p):
    return p["metadata"]["uid"]


async def test_pop_in_priority_then_fifo_order(queue, clock):
    a, b, c = make_pod("a", priority=1), make_pod("b", priority=5), make_pod("c", priority=1)
    for p in (a, b, c):
        queue.add(p)
        clock.step(0.01)
    order = [(await queue.pop()).pod["metadata"]["name"] for _ in range(3)]
    assert order == ["b", "a", "c"]


async def fail(queue, pod, plugins):
    qpi = await queue.pop()
    assert qpi.pod is pod or uid(qpi.pod) == uid(pod)
    qpi.unschedulable_plugins = set(plugins)
    queue.add_unschedulable_if_not_present(qpi)
    return qpi


@pytest.mark.parametrize("attempts,want", [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (9, 10)])
def test_backoff_doubles_to_max(queue, attempts, want):
    from kybernetes.scheduler.framework.interface import QueuedPodInfo
    from kybernetes.scheduler.framework.types import new_pod_info
    assert queue.backoff_duration(QueuedPodInfo(new_pod_info(make_pod()), attempts=attempts)) == want


async def test_unschedulable_pod_moves_only_on_registered_events(queue, clock):
    p = make_pod("p")
    queue.add(p)
    await fail(queue, p, {"NodeResourcesFit"})
    assert queue.where(uid(p)) == "unschedulable"
    assert queue.move_all_to_active_or_backoff(ClusterEvent("Node", "UpdateNodeTaint")) == 0
    assert queue.where(uid(p)) == "unschedulable"
    assert queue.move_all_to_active_or_backoff(ClusterEvent("Node", "Add")) == 1
    assert queue.where(uid(p)) == "backoff"  # failed 0 s ago, back-off 1 s
    clock.step(1.5)
    assert queue.where(uid(p)) == "active"


async def test_error_goes_to_backoff_then_active(queue, clock):
    p = make_pod("p")
    queue.add(p)
    await fail(queue, p, set())
    assert queue.where(uid(p)) == "backoff"
    clock.step(0.5)
    assert queue.where(uid(p)) == "backoff"
    clock.step(1.0)
    assert queue.where(uid(p)) == "active"


async def test_event_while_in_flight_sends_pod_to_backoff(queue):
    p = make_pod("p")
    queue.add(p)
    qpi = await queue.pop()
    queue.move_all_to_active_or_backoff(ClusterEvent("Pod", "Delete"))
    qpi.unschedulable_plugins = {"NodeResourcesFit"}
    queue.add_unschedulable_if_not_present(qpi)
    assert queue.where(uid(p)) == "backoff"


async def test_unschedulable_pods_flushed_after_five_minutes(queue, clock):
    p = make_pod("p")
    queue.add(p)
    await fail(queue, p, {"TaintToleration"})
    clock.step(290)
    assert queue.where(uid(p)) == "unschedulable"
    clock.step(40)
    assert queue.where(uid(p)) == "active"


async def test_gated_pod_waits_until_gates_removed(queue):
    p = make_pod("p", gates=["wait"])
    queue.add(p)
    assert queue.where(uid(p)) == "unschedulable"
    assert queue.pending_pods()["gated"] == 1
    ungated = {**p, "spec": {k: v for k, v in p["spec"].items() if k != "schedulingGates"}}
    queue.update(p, ungated)
    assert queue.where(uid(p)) == "active"


async def test_delete_removes_everywhere(queue):
    p = make_pod("p")
    queue.add(p)
    queue.delete(p)
    assert queue.where(uid(p)) is None
    assert queue.pending_pods()["active"] == 0


@pytest.mark.parametrize("registered,fired,match", [
    (ClusterEvent("Node", "Add"), ClusterEvent("Node", "Add"), True),
    (ClusterEvent("Node", "Update"), ClusterEvent("Node", "UpdateNodeLabel"), True),
    (ClusterEvent("Node", "All"), ClusterEvent("Node", "Delete"), True),
    (ClusterEvent("*", "Add"), ClusterEvent("Pod", "Add"), True),
    (ClusterEvent("Node", "UpdateNodeTaint"), ClusterEvent("Node", "UpdateNodeLabel"), False),
    (ClusterEvent("Pod", "Add"), ClusterEvent("Node", "Add"), False),
], ids=["same", "update-covers", "all", "wildcard-resource", "other-update", "other-resource"])
def test_event_matches(registered, fired, match):
    assert event_matches(registered, fired) == match


def test_nominator(queue):
    from kybernetes.scheduler.framework.types import new_pod_info
    pi = new_pod_info(make_pod("p"))
    queue.add_nominated_pod(pi, "n1")
    assert queue.nominated_pods_for_node("n1") == [pi] and queue.has_nominated_pods()
    queue.delete_nominated_pod_if_exists(pi.pod)
    assert queue.nominated_pods_for_node("n1") == [] and not queue.has_nominated_pods()

"""NodeName, NodeUnschedulable, NodePorts, ImageLocality, PrioritySort and SchedulingGates on upstream's cases."""

from __future__ import annotations

import pytest

from kybernetes.scheduler.framework.interface import Code, CycleState, QueuedPodInfo
from kybernetes.scheduler.plugins.imagelocality import ImageLocality, normalized_image_name
from kybernetes.scheduler.plugins.nodename import NodeName
from kybernetes.scheduler.plugins.nodeports import NodePorts, ports_conflict
from kybernetes.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from kybernetes.scheduler.plugins.queuesort import PrioritySort
from kybernetes.scheduler.plugins.schedulinggates import SchedulingGates

from .builders import make_node, make_pod, node_info, pod_info

MB = 1024 * 1024


@pytest.mark.parametrize("node_name,ok", [(None, True), ("n", True), ("other", False)],
                         ids=["no-name", "match", "mismatch"])
def test_node_name(node_name, ok):
    st = NodeName().filter(CycleState(), pod_info(make_pod(node_name=node_name)), node_info(make_node("n")))
    assert st.is_success() == ok
    if not ok:
        assert st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert st.reasons == ["node(s) didn't match the requested node name"]


@pytest.mark.parametrize("unschedulable,tolerations,ok", [
    (False, None, True),
    (True, None, False),
    (True, [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}], True),
    (True, [{"operator": "Exists"}], True),
    (True, [{"key": "node.kubernetes.io/unschedulable", "effect": "NoExecute", "operator": "Exists"}], False),
], ids=["schedulable", "unschedulable", "tolerated", "tolerate-everything", "wrong-effect"])
def test_node_unschedulable(unschedulable, tolerations, ok):
    pl = NodeUnschedulable()
    ni = node_info(make_node(unschedulable=unschedulable))
    pi = pod_info(make_pod(tolerations=tolerations))
    st = pl.filter(CycleState(), pi, ni)
    assert st.is_success() == ok
    assert pl.filter_nodes(CycleState(), pi, [ni])[0].is_success() == ok
    if not ok:
        assert st.reasons == ["node(s) were unschedulable"]


def port(hp: int, proto: str = "TCP", ip: str | None = None) -> dict:
    p = {"containerPort": 80, "hostPort": hp, "protocol": proto}
    if ip:
        p["hostIP"] = ip
    return p


@pytest.mark.parametrize("want,existing,ok", [
    ([], [port(8080)], True),
    ([port(8080)], [port(8081)], True),
    ([port(8080)], [port(8080)], False),
    ([port(8080, "UDP")], [port(8080, "TCP")], True),
    ([port(8080, ip="127.0.0.1")], [port(8080, ip="127.0.0.2")], True),
    ([port(8080, ip="127.0.0.1")], [port(8080)], False),
    ([port(8080)], [port(8080, ip="127.0.0.1")], False),
], ids=["nothing-asked", "other-port", "same-port", "other-protocol", "other-ip", "wildcard-taken",
        "wildcard-wants"])
def test_node_ports(want, existing, ok):
    pl = NodePorts()
    pi = pod_info(make_pod(ports=want or None))
    state = CycleState()
    _, pre = pl.pre_filter(state, pi, [])
    if not want:
        assert pre.is_skip()
        return
    st = pl.filter(state, pi, node_info(make_node(), make_pod("old", ports=existing)))
    assert st.is_success() == ok
    if not ok:
        assert st.reasons == ["node(s) didn't have free ports for the requested pod ports"]


def test_ports_conflict_empty_node():
    assert not ports_conflict([("0.0.0.0", "TCP", 80)], set())


@pytest.mark.parametrize("name,want", [("nginx", "nginx:latest"), ("nginx:1.2", "nginx:1.2"),
                                       ("reg:5000/nginx", "reg:5000/nginx:latest"), ("a@sha256:x", "a@sha256:x")])
def test_normalized_image_name(name, want):
    assert normalized_image_name(name) == want


class _Lister:
    def __init__(self, n: int) -> None:
        self.n = n

    def list(self) -> list:
        return [None] * self.n


class _Handle:
    def __init__(self, n: int) -> None:
        self._snap = _Lister(n)

    def snapshot(self) -> _Lister:
        return self._snap


def test_image_locality_prefers_the_node_with_the_larger_image():
    # upstream: 250MB image on node2 only, 2 nodes: sum = 250MB * 1/2, score = 100*(125-23)/(1000-23) = 10
    n1 = node_info(make_node("n1", images=[(["gcr.io/40:latest"], 40 * MB)]))
    n2 = node_info(make_node("n2", images=[(["gcr.io/250:latest"], 250 * MB)]))
    for ni in (n1, n2):
        ni.image_states = {img["names"][0]: (img["sizeBytes"], 1) for img in ni.node["status"]["images"]}
    pl = ImageLocality(_Handle(2))
    pi = pod_info(make_pod(images=["gcr.io/250"]))
    state = CycleState()
    assert pl.pre_score(state, pi, [n1, n2]).is_success()
    assert [pl.score(state, pi, ni)[0] for ni in (n1, n2)] == [0, 10]


def test_priority_sort():
    less = PrioritySort().less
    hi = QueuedPodInfo(pod_info(make_pod(priority=10)), timestamp=5)
    lo = QueuedPodInfo(pod_info(make_pod(priority=1)), timestamp=1)
    early = QueuedPodInfo(pod_info(make_pod(priority=1)), timestamp=0)
    assert less(hi, lo) and not less(lo, hi)
    assert less(early, lo) and not less(lo, early)


def test_scheduling_gates():
    pl = SchedulingGates()
    assert pl.pre_enqueue(make_pod()).is_success()
    st = pl.pre_enqueue(make_pod(gates=["a", "b"]))
    assert st.code == Code.PENDING and st.reasons == ["waiting for scheduling gates: [a b]"]

"""The scheduler's fast paths give what the plain paths give: batch filters, incremental spread counts, memos."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.scheduler.cache import Cache, Snapshot
from kybernetes.scheduler.framework.interface import CycleState, NodeInfo
from kybernetes.scheduler.plugins import nodeaffinity, noderesources, nodeunschedulable, podtopologyspread, \
    tainttoleration
from tests.unit.scheduler.plugins.fixtures import ZONE, node, node_info, pi, pod

NS = "NoSchedule"
SPREAD = [{"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
           "labelSelector": {"matchLabels": {"app": "a"}}}]
REQUIRED_ZONE_A = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["a"]}]}]}}}


def _nodes() -> list[NodeInfo]:
    return [
        node_info(node("n1", {ZONE: "a"}), pod("x1", labels={"app": "a"}, node="n1"),
                  pod("x2", labels={"app": "a"}, node="n1")),
        node_info(node("n2", {ZONE: "b"}, taints=[{"key": "k", "value": "v", "effect": NS}])),
        node_info(node("n3", {ZONE: "c"}, cpu="100m"), pod("x3", labels={"app": "a"}, node="n3", cpu="100m")),
        node_info(node("n4")),  # no zone label
        node_info({**node("n5", {ZONE: "b"}), "spec": {"unschedulable": True}}),
    ]


PLUGINS = [
    ("taint-toleration", lambda: tainttoleration.new({}, None), {}, 4),
    ("taint-toleration-tolerated", lambda: tainttoleration.new({}, None),
     {"tolerations": [{"key": "k", "operator": "Exists"}]}, 5),
    ("node-unschedulable", lambda: nodeunschedulable.new({}, None), {}, 4),
    ("node-affinity", lambda: nodeaffinity.new({}, None), {"affinity": REQUIRED_ZONE_A}, 1),
    ("node-affinity-selector", lambda: nodeaffinity.new({}, None), {"nodeSelector": {ZONE: "b"}}, 2),
    ("node-resources-fit", lambda: noderesources.new({}, None), {}, 4),
    ("topology-spread", lambda: podtopologyspread.new({}, None), {"topologySpreadConstraints": SPREAD}, 2),
]


@pytest.mark.parametrize("factory,spec,feasible", [c[1:] for c in PLUGINS], ids=[c[0] for c in PLUGINS])
def test_filter_nodes_gives_what_filter_gives(factory: Any, spec: dict[str, Any], feasible: int) -> None:
    plugin = factory()
    p = pi(pod("new", labels={"app": "a"}, cpu="200m", **spec))
    nodes = _nodes()
    state = CycleState()
    if hasattr(plugin, "pre_filter"):
        plugin.pre_filter(state, p, nodes)
    for _ in range(2):  # the second round goes through NodeAffinity's memo
        batch = plugin.filter_nodes(state, p, nodes)
        single = [plugin.filter(state, p, ni) for ni in nodes]
        assert [(s.code, s.reasons) for s in batch] == [(s.code, s.reasons) for s in single]
    assert sum(1 for s in batch if s.is_success()) == feasible


def test_node_affinity_memo_follows_node_changes() -> None:
    plugin = nodeaffinity.new({}, None)
    p = pi(pod("new", affinity=REQUIRED_ZONE_A))
    ni = node_info(node("n1", {ZONE: "b"}))
    state = CycleState()
    plugin.pre_filter(state, p, [ni])
    assert not plugin.filter_nodes(state, p, [ni])[0].is_success()
    ni.node = node("n1", {ZONE: "a"})  # a new node object, as the informer delivers
    other = pi(pod("other", affinity=REQUIRED_ZONE_A))  # same terms: shares the memo
    plugin.pre_filter(state, other, [ni])
    assert plugin.filter_nodes(state, other, [ni])[0].is_success()


@pytest.mark.parametrize("taints,skip", [
    ([], True),
    ([{"key": "k", "value": "v", "effect": NS}], True),
    ([{"key": "k", "value": "v", "effect": "PreferNoSchedule"}], False),
], ids=["no-taints", "only-no-schedule", "prefer-no-schedule"])
def test_taint_toleration_pre_score_skips_when_all_nodes_score_alike(taints: list[dict[str, Any]],
                                                                      skip: bool) -> None:
    nodes = [node_info(node("n1")), node_info(node("n2", taints=taints))]
    assert tainttoleration.new({}, None).pre_score(CycleState(), pi(pod()), nodes).is_skip() is skip


def test_snapshot_changed_since() -> None:
    cache, snap = Cache(), Snapshot()
    for name in ("n1", "n2"):
        cache.add_node(node(name))
    cache.update_snapshot(snap)
    g1 = snap.generation
    assert snap.changed_since(g1) == set()
    cache.add_pod(pod("a", node="n1"))
    cache.update_snapshot(snap)
    g2 = snap.generation
    cache.add_pod(pod("b", node="n2"))
    cache.update_snapshot(snap)
    assert snap.changed_since(g2) == {"n2"}
    assert snap.changed_since(g1) == {"n1", "n2"}
    cache.add_node(node("n3"))  # a structural change: callers must look at every node
    cache.update_snapshot(snap)
    assert snap.changed_since(g2) is None


class _Handle:
    def __init__(self, snap: Snapshot) -> None:
        self._snap = snap

    def snapshot(self) -> Snapshot:
        return self._snap

    def lister(self, group: str, version: str, plural: str) -> Any:
        raise KeyError(plural)


def _counts(plugin: Any, p: Any, nodes: list[NodeInfo]) -> list[dict[str, int]]:
    state = CycleState()
    plugin.pre_filter(state, p, nodes)
    return state.read(podtopologyspread.PRE_FILTER_KEY).counts


def test_topology_spread_incremental_counts_follow_the_cache() -> None:
    cache, snap = Cache(), Snapshot()
    for i, zone in enumerate(["a", "b", "c", "a"]):
        cache.add_node(node(f"n{i}", {ZONE: zone}))
    cache.add_node(node("nz"))  # no zone: not counted
    incremental = podtopologyspread.new({}, _Handle(snap))
    p = pi(pod("new", labels={"app": "a"}, topologySpreadConstraints=SPREAD))
    steps = [
        lambda: cache.add_pod(pod("p1", labels={"app": "a"}, node="n0")),
        lambda: cache.add_pod(pod("p2", labels={"app": "other"}, node="n1")),
        lambda: cache.add_pod(pod("p3", labels={"app": "a"}, node="n3")),
        lambda: cache.remove_pod(cache.node_info("n0").pods[0].pod),
        lambda: cache.add_node(node("n4", {ZONE: "d"})),
        lambda: cache.remove_node(node("n2", {ZONE: "c"})),
    ]
    for step in [lambda: None, *steps]:
        step()
        cache.update_snapshot(snap)
        got = _counts(incremental, p, snap.list())
        want = _counts(podtopologyspread.new({}, None), p, snap.list())  # no handle: the full walk
        assert got == want
    assert got == [{"a": 1, "b": 0, "d": 0}]


class _Nominator:
    """Pods nominated to nodes, as the scheduling queue keeps them."""

    def __init__(self, by_node: dict[str, list[Any]]) -> None:
        self.by_node = by_node

    def has_nominated_pods(self) -> bool:
        return bool(self.by_node)

    def nominated_pods_for_node(self, node_name: str) -> list[Any]:
        return self.by_node.get(node_name, [])

    def nominated_node_names(self) -> set[str]:
        return set(self.by_node)


@pytest.mark.parametrize("prio,want", [
    (5, ["n0", "n2", "n3"]),  # a higher-priority pod nominated to n1 takes its room
    (20, ["n0", "n1", "n2", "n3"]),  # a lower-priority nomination does not count
], ids=["higher-priority-nomination", "lower-priority-nomination"])
def test_nominated_nodes_are_filtered_with_their_nominated_pods(prio: int, want: list[str]) -> None:
    from tests.unit.scheduler.builders import make_node, make_pod
    from tests.unit.scheduler.test_runtime import framework_with_nodes, only
    fwk = framework_with_nodes(only("NodeResourcesFit"), [make_node(f"n{i}", cpu="1") for i in range(4)])
    fwk.nominator = _Nominator({"n1": [pi(make_pod("nominated", cpu="800m", priority=10))]})
    feasible, diagnosis, _ = fwk.find_nodes_that_fit(CycleState(), pi(make_pod("new", cpu="500m", priority=prio)))
    assert [ni.name for ni in feasible] == want
    rejected = diagnosis.node_to_status.get("n1")
    assert (rejected.reasons if rejected else None) == (None if "n1" in want else ["Insufficient cpu"])


def test_reordered_filters_keep_upstreams_diagnosis_when_nothing_fits() -> None:
    """After the first chunk NodeResourcesFit (most rejections) runs first; the failure message must still name
    the first failing filter in the configured order (NodeUnschedulable) for nodes that fail both."""
    from tests.unit.scheduler.builders import make_node, make_pod
    from tests.unit.scheduler.test_runtime import framework_with_nodes, only
    nodes = [make_node(f"n{i:03}", cpu="1", unschedulable=i >= 230) for i in range(500)]
    fwk = framework_with_nodes(only("NodeUnschedulable", "NodeResourcesFit"), nodes)
    feasible, diagnosis, _ = fwk.find_nodes_that_fit(CycleState(), pi(make_pod("big", cpu="2")))
    assert feasible == []
    reasons = [st.reasons[0] for st in diagnosis.node_to_status.values()]
    assert reasons.count("node(s) were unschedulable") == 270 and reasons.count("Insufficient cpu") == 230
    assert diagnosis.unschedulable_plugins == {"NodeUnschedulable", "NodeResourcesFit"}

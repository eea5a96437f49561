"""The scheduling cycle's shortcuts give what the plain paths give: snapshot summaries, the free-resource floor,
per-generation score memos, the rotated node order and preemption's surely-unfit skip."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.scheduler.cache import Cache, Snapshot
from kybernetes.scheduler.framework.interface import SUCCESS, CycleState, NodeInfo
from kybernetes.scheduler.framework.runtime import Rotated
from kybernetes.scheduler.framework.types import add_pod, new_pod_info, remove_pod
from kybernetes.scheduler.plugins import imagelocality, noderesources, nodeunschedulable, tainttoleration
from kybernetes.scheduler.plugins.helpers.scoring import GenerationMemo

from .builders import make_node, make_pod


class SnapHandle:
    """The part of the framework Handle the batch shortcuts use: the cycle's snapshot."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def snapshot(self) -> Snapshot:
        return self.snap


def on(pod: dict[str, Any], node: str) -> dict[str, Any]:
    return {**pod, "spec": {**pod["spec"], "nodeName": node}}


def cluster(n: int = 20, cpu: str = "4") -> tuple[Cache, Snapshot]:
    cache = Cache()
    for i in range(n):
        cache.add_node(make_node(f"n{i}", cpu=cpu))
    snap = Snapshot()
    cache.update_snapshot(snap)
    return cache, snap


def test_snapshot_counts_tainted_and_unschedulable_nodes() -> None:
    cache, snap = cluster(3)
    assert (snap.num_tainted, snap.num_unschedulable) == (0, 0)
    tainted = make_node("n1")
    tainted["spec"] = {"taints": [{"key": "k", "effect": "NoSchedule"}], "unschedulable": True}
    cache.update_node(make_node("n1"), tainted)
    cache.update_snapshot(snap)
    assert (snap.num_tainted, snap.num_unschedulable) == (1, 1)
    cache.remove_node(tainted)
    cache.update_snapshot(snap)
    assert (snap.num_tainted, snap.num_unschedulable) == (0, 0)
    assert cache.snapshot().num_tainted == 0


def test_snapshot_image_names_follow_nodes() -> None:
    cache, snap = cluster(1)
    assert snap.image_names == frozenset()
    cache.add_node(make_node("img", images=[(["nginx:1"], 10)]))
    cache.update_snapshot(snap)
    assert snap.image_names == {"nginx:1"}
    plugin = imagelocality.new({}, SnapHandle(snap))
    assert plugin.pre_score(CycleState(), new_pod_info(make_pod(images=["nginx:1"])), snap.list()).is_success()
    assert plugin.pre_score(CycleState(), new_pod_info(make_pod(images=["redis"])), snap.list()).is_skip()


@pytest.mark.parametrize("plugin", [nodeunschedulable, tainttoleration], ids=["unschedulable", "taints"])
def test_batch_filters_pass_every_node_of_a_plain_snapshot(plugin: Any) -> None:
    _, snap = cluster(5)
    p = plugin.new({}, SnapHandle(snap))
    assert p.filter_nodes(CycleState(), new_pod_info(make_pod()), snap.list()) == [SUCCESS] * 5


def _fit_statuses(plugin: Any, pod: dict[str, Any], nodes: list[NodeInfo]) -> list[tuple[Any, list[str]]]:
    return [(s.code, s.reasons) for s in plugin.filter_nodes(CycleState(), new_pod_info(pod), nodes)]


@pytest.mark.parametrize("cpu", ["100m", "1500m", "3", "5"])
def test_free_floor_gives_what_the_filter_gives(cpu: str) -> None:
    cache, snap = cluster(10)
    for i in range(10):
        cache.add_pod(on(make_pod(f"p{i}", cpu=f"{i * 250}m"), f"n{i}"))
    fast = noderesources.new({}, SnapHandle(snap))
    plain = noderesources.new({}, None)
    pod, big = make_pod("new", cpu=cpu), on(make_pod("big", cpu="3"), "n0")
    changes = [lambda: cache.add_pod(big), lambda: cache.remove_pod(big), lambda: None]
    for change in changes:  # a node filling up, then freed again (the floor is stale), then nothing
        cache.update_snapshot(snap)
        assert _fit_statuses(fast, pod, snap.list()) == _fit_statuses(plain, pod, snap.list())
        change()


def test_generation_memo_recomputes_changed_nodes_only() -> None:
    cache, snap = cluster(4)
    memo, computed = GenerationMemo(), []

    def compute(nodes: list[NodeInfo]) -> list[int]:
        computed.extend(ni.name for ni in nodes)
        return [len(ni.pods) for ni in nodes]

    def by_name(key: str) -> dict[str, int]:
        return dict(zip((ni.name for ni in snap.list()), memo.values(key, snap.list(), compute)))

    assert by_name("k") == {"n0": 0, "n1": 0, "n2": 0, "n3": 0}
    cache.add_pod(on(make_pod("a"), "n2"))
    cache.update_snapshot(snap)
    computed.clear()
    assert by_name("k") == {"n0": 0, "n1": 0, "n2": 1, "n3": 0}
    assert computed == ["n2"]
    computed.clear()
    memo.values("other-pod-shape", snap.list(), compute)
    assert len(computed) == 4


def test_what_if_changes_give_new_generations() -> None:
    _, snap = cluster(1)
    clone = snap.list()[0].clone()
    gen = clone.generation
    pi = new_pod_info(on(make_pod("a", cpu="1"), "n0"))
    add_pod(clone, pi)
    assert clone.generation != gen
    after_add = clone.generation
    remove_pod(clone, pi.pod)
    assert clone.generation not in (gen, after_add)


@pytest.mark.parametrize("start", [0, 3, 9])
def test_rotated_order(start: int) -> None:
    nodes: list[Any] = list(range(10))
    want = nodes[start:] + nodes[:start]
    r = Rotated(nodes, start)
    assert list(r) == want and len(r) == 10
    for lo, hi in ((0, 4), (2, 9), (5, 10), (0, 10), (8, 20)):
        assert r[lo:hi] == want[lo:hi]


def test_scores_with_memo_match_plain_scores() -> None:
    cache, snap = cluster(6)
    for i in range(6):
        cache.add_pod(on(make_pod(f"p{i}", cpu=f"{i * 300}m", memory=f"{i}Gi"), f"n{i}"))
    cache.update_snapshot(snap)
    pod = new_pod_info(make_pod("new", cpu="200m", memory="1Gi"))
    fit, bal = noderesources.new({}, None), noderesources.new_balanced_allocation({}, None)
    for _ in range(2):
        assert fit.score_nodes(CycleState(), pod, snap.list()) == [fit.score(CycleState(), pod, ni)[0]
                                                                   for ni in snap.list()]
        assert bal.score_nodes(CycleState(), pod, snap.list()) == [bal.score(CycleState(), pod, ni)[0]
                                                                   for ni in snap.list()]


@pytest.mark.parametrize("cpu,unfit", [("3", {"n0", "n1"}), ("1500m", {"n0"}), ("500m", set())],
                         ids=["big", "medium", "small"])
def test_surely_unfit_agrees_with_victim_selection(cpu: str, unfit: set[str]) -> None:
    """n0: full of equal-priority pods; n1: a higher-priority pod and a nominated one; n2: only low-priority pods."""
    from kybernetes.scheduler.config import parse_config
    from kybernetes.scheduler.framework.registry import new_framework, register_default_plugins
    from kybernetes.scheduler.plugins.defaultpreemption import DefaultPreemption
    from kybernetes.scheduler.plugins.queuesort import PrioritySort
    from kybernetes.scheduler.queue import PriorityQueue
    cache = Cache()
    for n in ("n0", "n1", "n2"):
        cache.add_node(make_node(n, cpu="4"))
    for pod in (on(make_pod("eq", cpu="3", priority=10), "n0"), on(make_pod("hi", cpu="1", priority=20), "n1"),
                on(make_pod("lo1", cpu="2", priority=1), "n1"), on(make_pod("lo2", cpu="3", priority=1), "n2")):
        cache.add_pod(pod)
    enabled = [{"name": n} for n in ("PrioritySort", "DefaultBinder", "NodeResourcesFit", "DefaultPreemption")]
    cfg = parse_config({"profiles": [{"plugins": {"multiPoint": {"enabled": enabled, "disabled": [{"name": "*"}]}}}]})
    fwk = new_framework(cfg.profiles[0], register_default_plugins())
    fwk.nominator = PriorityQueue(less=PrioritySort().less)
    fwk.nominator.add_nominated_pod(new_pod_info(make_pod("nom", cpu="1500m", priority=15)), "n1")
    fwk.set_snapshot(cache.snapshot())
    plugin = next(p for p in fwk.points["postFilter"] if isinstance(p, DefaultPreemption))
    pod = new_pod_info(make_pod("new", cpu=cpu, priority=10))
    state = CycleState()
    fwk.run_pre_filter_plugins(state, pod, fwk.snapshot().list())
    assert plugin._fit_is_filtered(state)
    for ni in fwk.snapshot().list():
        victims, _, status = plugin.select_victims_on_node(state.clone(), pod, ni.clone(), [])
        found = status.is_success() and bool(victims)
        assert plugin.surely_unfit(pod, ni) == (ni.name in unfit)
        if plugin.surely_unfit(pod, ni):
            assert not found, ni.name

"""The scheduler cache: incremental NodeInfo aggregates, assume/confirm/forget/expire, incremental snapshots."""

from __future__ import annotations

from kybernetes.client.clock import FakeClock
from kybernetes.scheduler.cache import Cache, Snapshot
from kybernetes.scheduler.framework.types import new_pod_info

from .builders import make_node, make_pod


def bound(pod, node):
    return {**pod, "spec": {**pod["spec"], "nodeName": node}}


def test_aggregates_follow_pod_events():
    c = Cache()
    c.add_node(make_node("n1"))
    p = bound(make_pod("a", cpu="1", memory="1Gi", ports=[{"containerPort": 80, "hostPort": 80}]), "n1")
    c.add_pod(p)
    ni = c.node_info("n1")
    assert (ni.requested.milli_cpu, len(ni.pods), ni.used_ports) == (1000, 1, {("0.0.0.0", "TCP", 80)})
    c.remove_pod(p)
    assert (ni.requested.milli_cpu, len(ni.pods), ni.used_ports) == (0, 0, set())


def test_assume_then_confirm_by_informer():
    c = Cache()
    c.add_node(make_node("n1"))
    p = make_pod("a", cpu="1")
    pi = new_pod_info(bound(p, "n1"))
    c.assume_pod(pi)
    assert c.is_assumed(pi.uid) and c.node_info("n1").requested.milli_cpu == 1000
    c.finish_binding(pi)
    c.add_pod(bound(p, "n1"))
    assert not c.is_assumed(pi.uid)
    assert c.node_info("n1").requested.milli_cpu == 1000 and len(c.node_info("n1").pods) == 1


def test_confirmed_on_another_node_moves_the_pod():
    c = Cache()
    c.add_node(make_node("n1"))
    c.add_node(make_node("n2"))
    p = make_pod("a", cpu="1")
    c.assume_pod(new_pod_info(bound(p, "n1")))
    c.add_pod(bound(p, "n2"))
    assert c.node_info("n1").requested.milli_cpu == 0 and c.node_info("n2").requested.milli_cpu == 1000


def test_forget_undoes_assume():
    c = Cache()
    c.add_node(make_node("n1"))
    pi = new_pod_info(bound(make_pod("a", cpu="1"), "n1"))
    c.assume_pod(pi)
    c.forget_pod(pi)
    assert not c.is_assumed(pi.uid) and c.node_info("n1").requested.milli_cpu == 0 and c.pod_count() == 0


def test_assumed_pod_expires_after_ttl_once_bound():
    clock = FakeClock()
    c = Cache(ttl=30, clock=clock)
    c.add_node(make_node("n1"))
    pi = new_pod_info(bound(make_pod("a", cpu="1"), "n1"))
    c.assume_pod(pi)
    clock.step(100)
    assert c.cleanup_assumed_pods() == []  # binding not finished: never expires
    c.finish_binding(pi)
    clock.step(29)
    assert c.cleanup_assumed_pods() == []
    clock.step(2)
    assert [p.uid for p in c.cleanup_assumed_pods()] == [pi.uid]
    assert c.node_info("n1").requested.milli_cpu == 0


def test_snapshot_clones_only_changed_nodes():
    c = Cache()
    for n in ("n1", "n2", "n3"):
        c.add_node(make_node(n))
    snap = Snapshot()
    c.update_snapshot(snap)
    before = {ni.name: ni for ni in snap.list()}
    assert set(before) == {"n1", "n2", "n3"}
    c.add_pod(bound(make_pod("a", cpu="1"), "n2"))
    c.update_snapshot(snap)
    after = {ni.name: ni for ni in snap.list()}
    assert after["n1"] is before["n1"] and after["n3"] is before["n3"]
    assert after["n2"] is not before["n2"] and after["n2"].requested.milli_cpu == 1000
    assert after["n2"].generation > before["n2"].generation
    assert before["n2"].requested.milli_cpu == 0  # the old snapshot entry was not mutated


def test_snapshot_drops_removed_nodes_and_tracks_affinity():
    c = Cache()
    c.add_node(make_node("n1"))
    c.add_node(make_node("n2"))
    snap = Snapshot()
    c.update_snapshot(snap)
    p = bound(make_pod("a"), "n1")
    p["spec"]["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {}}]}}
    c.add_pod(p)
    c.remove_node(make_node("n2"))
    c.update_snapshot(snap)
    assert [ni.name for ni in snap.list()] == ["n1"]
    assert [ni.name for ni in snap.have_pods_with_required_anti_affinity_list()] == ["n1"]
    assert [ni.name for ni in snap.have_pods_with_affinity_list()] == ["n1"]


def test_image_states_count_nodes():
    c = Cache()
    c.add_node(make_node("n1", images=[(["nginx:1.25"], 100)]))
    c.add_node(make_node("n2", images=[(["nginx:1.25", "nginx@sha256:abc"], 100)]))
    snap = c.snapshot()
    assert snap.get("n1").image_states == {"nginx:1.25": (100, 2)}
    assert snap.get("n2").image_states["nginx@sha256:abc"] == (100, 1)

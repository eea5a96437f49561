"""Eviction: thresholds and upstream's ranking."""

from __future__ import annotations

import pytest

from kybernetes.kubelet.eviction import EvictionManager, Observation, rank_for_eviction, signals_under_pressure

Mi = 1024 * 1024


def pod(name: str, request_mi: int = 0, priority: int = 0) -> dict:
    res = {"requests": {"memory": f"{request_mi}Mi"}} if request_mi else {}
    return {"metadata": {"name": name, "uid": name}, "spec": {"priority": priority,
                                                              "containers": [{"name": "c", "resources": res}]}}


@pytest.mark.parametrize("pods,usage,want", [
    ([pod("within", 100), pod("above", 10)], {"within": 50, "above": 20}, ["above", "within"]),
    ([pod("high", 0, 1000), pod("low", 0, 0)], {"high": 10, "low": 10}, ["low", "high"]),
    ([pod("small"), pod("big")], {"small": 10, "big": 500}, ["big", "small"]),
    ([pod("low-within", 100, 0), pod("high-above", 0, 100)], {"low-within": 50, "high-above": 10},
     ["high-above", "low-within"]),
], ids=["exceeds-requests-first", "lower-priority-first", "larger-usage-first", "exceeding-beats-priority"])
def test_rank(pods, usage, want):
    ranked = rank_for_eviction(pods, lambda p: usage[p["metadata"]["name"]] * Mi, "memory")
    assert [p["metadata"]["name"] for p in ranked] == want


@pytest.mark.parametrize("mem_avail,disk_avail,want", [
    (200 * Mi, 50, []), (50 * Mi, 50, ["memory.available"]), (200 * Mi, 5, ["nodefs.available"]),
], ids=["fine", "memory", "disk"])
def test_signals(mem_avail, disk_avail, want):
    obs = {"memory.available": Observation(mem_avail, 1000 * Mi), "nodefs.available": Observation(disk_avail, 100)}
    assert signals_under_pressure({"memory.available": "100Mi", "nodefs.available": "10%"}, obs) == want


async def test_manager_evicts_top_ranked_and_reports_pressure():
    evicted = []

    async def usage(p, resource):
        return {"a": 10 * Mi, "b": 90 * Mi}[p["metadata"]["name"]]

    async def evict(p, message):
        evicted.append((p["metadata"]["name"], message))

    m = EvictionManager(root_dir="/", thresholds={"memory.available": "100Mi"}, pods=lambda: [pod("a"), pod("b")],
                        usage=usage, evict=evict,
                        observer=lambda _: {"memory.available": Observation(10 * Mi, 1000 * Mi)})
    await m.synchronize()
    assert evicted[0][0] == "b" and evicted[0][1].startswith("The node was low on resource: memory.")
    assert m.pressure() == {"MemoryPressure": True, "DiskPressure": False}

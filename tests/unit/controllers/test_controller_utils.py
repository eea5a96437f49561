"""Deletion ranking (ActivePodsWithRanks), availability and slow-start batches."""

from __future__ import annotations

import pytest

from kybernetes.controllers.controller_utils import (get_pods_to_delete, is_pod_available, rank_pods_for_deletion,
                                                     slow_start_batch)

NOW = 1_000_000.0


def ts(seconds_ago: float) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(NOW - seconds_ago, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, *, node: str = "n1", phase: str = "Running", ready: bool = True, ready_ago: float = 1000,
        created_ago: float = 1000, restarts: int = 0, cost: int | None = None) -> dict:
    md = {"name": name, "uid": f"uid-{name}", "creationTimestamp": ts(created_ago)}
    if cost is not None:
        md["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": str(cost)}
    conds = [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ts(ready_ago)}]
    return {"metadata": md, "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": conds, "containerStatuses": [{"restartCount": restarts}]}}


@pytest.mark.parametrize("first,second", [
    (pod("a", node=""), pod("b")),
    (pod("a", phase="Pending", ready=False), pod("b", phase="Running", ready=False)),
    (pod("a", phase="Unknown", ready=False), pod("b", phase="Running", ready=False)),
    (pod("a", ready=False), pod("b")),
    (pod("a", cost=-5), pod("b", cost=10)),
    (pod("a", ready_ago=10), pod("b", ready_ago=100_000)),
    (pod("a", restarts=5), pod("b", restarts=0)),
    (pod("a", created_ago=10), pod("b", created_ago=100_000)),
], ids=["unassigned-first", "pending-before-running", "unknown-before-running", "not-ready-first",
        "lower-deletion-cost-first", "ready-shorter-first", "more-restarts-first", "newer-first"])
def test_deletion_ranking(first: dict, second: dict) -> None:
    for order in ([first, second], [second, first]):
        ranked = rank_pods_for_deletion(order, order, NOW)
        assert [p["metadata"]["name"] for p in ranked] == ["a", "b"]


def test_doubled_up_pods_go_first() -> None:
    a, b = pod("a", node="crowded"), pod("b", node="alone")
    related = [a, b, pod("c", node="crowded")]
    assert [p["metadata"]["name"] for p in rank_pods_for_deletion([b, a], related, NOW)] == ["a", "b"]


def test_get_pods_to_delete_takes_the_top_of_the_ranking() -> None:
    pods = [pod("old", created_ago=100_000), pod("pending", phase="Pending", ready=False),
            pod("unready", ready=False)]
    assert [p["metadata"]["name"] for p in get_pods_to_delete(pods, pods, 2, NOW)] == ["pending", "unready"]


@pytest.mark.parametrize("ready,ready_ago,min_ready,want", [
    (True, 100, 0, True), (True, 5, 10, False), (True, 50, 10, True), (False, 50, 0, False),
], ids=["ready-no-min", "ready-too-recently", "ready-long-enough", "not-ready"])
def test_is_pod_available(ready: bool, ready_ago: float, min_ready: int, want: bool) -> None:
    assert is_pod_available(pod("p", ready=ready, ready_ago=ready_ago), min_ready, NOW) is want


@pytest.mark.parametrize("count,fail_at,want_calls,want_successes", [
    (10, None, 10, 10), (7, 4, 7, 6), (10, 1, 1, 0), (0, None, 0, 0),
], ids=["all", "fails-in-third-batch", "first-fails", "none"])
async def test_slow_start_batch(count: int, fail_at: int | None, want_calls: int, want_successes: int) -> None:
    calls = 0

    async def fn() -> None:
        nonlocal calls
        calls += 1
        if fail_at is not None and calls == fail_at:
            raise RuntimeError("boom")

    successes, err = await slow_start_batch(count, 1, fn)
    assert (calls, successes, err is not None) == (want_calls, want_successes, fail_at is not None)

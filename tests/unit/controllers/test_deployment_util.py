"""Deployment math: fenceposts, new RS size, proportional scaling, scale-down budget, revisions, hashing."""

from __future__ import annotations

import pytest

from kybernetes.controllers.deployment.rolling import max_scaled_down
from kybernetes.controllers.deployment.util import (compute_hash, equal_ignore_hash, last_revision,
                                                    max_surge, max_unavailable, new_rs_new_replicas, proportion,
                                                    resolve_fenceposts, set_new_replica_set_annotations)


def deploy(replicas: int, surge: int | str = "25%", unavailable: int | str = "25%", *, status_replicas: int = 0,
           strategy: str = "RollingUpdate") -> dict:
    spec = {"replicas": replicas, "strategy": {"type": strategy}}
    if strategy == "RollingUpdate":
        spec["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"metadata": {"name": "d", "generation": 1}, "spec": spec, "status": {"replicas": status_replicas}}


def rs(replicas: int, available: int = 0, max_replicas: int | None = None, revision: str | None = None) -> dict:
    ann = {}
    if max_replicas is not None:
        ann["deployment.kubernetes.io/max-replicas"] = str(max_replicas)
    if revision is not None:
        ann["deployment.kubernetes.io/revision"] = revision
    return {"metadata": {"name": "rs", "annotations": ann}, "spec": {"replicas": replicas},
            "status": {"availableReplicas": available}}


@pytest.mark.parametrize("surge,unavailable,desired,want", [
    ("25%", "25%", 10, (3, 2)),
    ("25%", "25%", 1, (1, 0)),
    ("25%", "25%", 4, (1, 1)),
    (0, "10%", 5, (0, 1)),
    ("0%", "0%", 3, (0, 1)),
    (2, 0, 10, (2, 0)),
    ("50%", "50%", 1000, (500, 500)),
], ids=["quarters-of-10", "quarters-of-1", "quarters-of-4", "unavailable-rounds-to-zero-then-1",
        "both-zero-forbidden", "ints", "half-of-1000"])
def test_resolve_fenceposts(surge: int | str, unavailable: int | str, desired: int, want: tuple[int, int]) -> None:
    assert resolve_fenceposts(surge, unavailable, desired) == want


def test_max_unavailable_is_capped_and_zero_for_recreate() -> None:
    assert max_unavailable(deploy(2, 0, 5)) == 2
    assert max_unavailable(deploy(3, strategy="Recreate")) == 0
    assert max_surge(deploy(3, strategy="Recreate")) == 0
    assert max_unavailable(deploy(0)) == 0


@pytest.mark.parametrize("d,old,new,want", [
    (deploy(10), [rs(10)], rs(0), 3),        # surge 3 on top of 10
    (deploy(10), [rs(10)], rs(3), 3),        # at the surge limit: no growth
    (deploy(10), [rs(7)], rs(3), 6),         # old scaled down by 3: new may reach 13 - 7
    (deploy(10), [rs(0)], rs(8), 10),        # never beyond spec.replicas
    (deploy(4, strategy="Recreate"), [rs(0)], rs(0), 4),
], ids=["first-step", "surge-exhausted", "after-scale-down", "capped", "recreate"])
def test_new_rs_new_replicas(d: dict, old: list[dict], new: dict, want: int) -> None:
    assert new_rs_new_replicas(d, [*old, new], new) == want


@pytest.mark.parametrize("d,old,new,want", [
    (deploy(10), [rs(10, 10)], rs(3, 0), 13 - 8 - 3),   # new pods unavailable: 2 old may go
    (deploy(10), [rs(7, 7)], rs(6, 3), 13 - 8 - 3),
    (deploy(10), [rs(10, 10)], rs(0, 0), 10 - 8),
    (deploy(4, 1, 0), [rs(4, 4)], rs(1, 0), 0),        # maxUnavailable 0: wait for the new pod
], ids=["start", "middle", "no-new-yet", "zero-unavailable"])
def test_max_scaled_down(d: dict, old: list[dict], new: dict, want: int) -> None:
    assert max_scaled_down([*old, new], new, d) == want


@pytest.mark.parametrize("rs_replicas,rs_max,d_replicas,to_add,added,want", [
    (5, 13, 20, 12, 0, 5),    # 5 * (20+5)/13 = 9.6 -> 10: +5
    (5, 13, 20, 12, 10, 2),   # bounded by what is left to add
    (8, 13, 5, -8, 0, -4),    # 8 * (5+2)/13 = 4.3 -> 4: -4 (within the -8 left to remove)
    (0, 13, 20, 12, 0, 0),    # empty RSs get nothing
], ids=["grow", "grow-bounded", "shrink", "empty"])
def test_proportion(rs_replicas: int, rs_max: int, d_replicas: int, to_add: int, added: int, want: int) -> None:
    d = deploy(d_replicas)
    assert proportion(rs(rs_replicas, max_replicas=rs_max), d, to_add, added) == want


@pytest.mark.parametrize("old_revision,history,new_revision,want_rev,want_history", [
    (None, None, "1", "1", None),
    ("1", None, "3", "3", "1"),
    ("3", "1", "5", "5", "1,3"),
    ("5", None, "5", "5", None),
], ids=["new-rs", "first-rollback", "second-rollback", "unchanged"])
def test_revision_annotations(old_revision: str | None, history: str | None, new_revision: str,
                              want_rev: str, want_history: str | None) -> None:
    r = rs(1, revision=old_revision)
    if history:
        r["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] = history
    set_new_replica_set_annotations(deploy(1), r, new_revision, exists=True)
    ann = r["metadata"]["annotations"]
    assert ann["deployment.kubernetes.io/revision"] == want_rev
    assert ann.get("deployment.kubernetes.io/revision-history") == want_history


def test_revision_history_is_bounded_in_characters() -> None:
    r = rs(1, revision="9")
    r["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] = "1,2,3,4"
    set_new_replica_set_annotations(deploy(1), r, "10", exists=True, rev_history_limit_chars=6)
    assert r["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "3,4,9"


def test_last_revision_is_the_second_highest() -> None:
    assert last_revision([rs(0, revision="1"), rs(0, revision="4"), rs(0, revision="2")]) == 2
    assert last_revision([rs(0, revision="1")]) == 0


def test_pod_template_hash_is_stable_and_ignores_itself() -> None:
    t = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "a"}]}}
    h = compute_hash(t, None)
    assert h == compute_hash({"spec": t["spec"], "metadata": {"labels": {"app": "x"}}}, None)
    assert h != compute_hash(t, 1) and h != compute_hash({**t, "spec": {"containers": [{"name": "c"}]}}, None)
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789")
    hashed = {"metadata": {"labels": {"app": "x", "pod-template-hash": h}, "creationTimestamp": None},
              "spec": t["spec"]}
    assert equal_ignore_hash(t, hashed)


class FakeDC:
    """Just enough of DeploymentController for sync.scale: records RS writes and events."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def update_rs(self, rs: dict) -> None:
        pass

    def event(self, d: dict, event_type: str, reason: str, message: str) -> None:
        self.events.append(message)


def named_rs(name: str, replicas: int, created: str, max_replicas: int) -> dict:
    return {"metadata": {"name": name, "creationTimestamp": created,
                         "annotations": {"deployment.kubernetes.io/max-replicas": str(max_replicas),
                                         "deployment.kubernetes.io/desired-replicas": "10"}},
            "spec": {"replicas": replicas}, "status": {}}


@pytest.mark.parametrize("new_size,want_old,want_new", [
    (20, 15, 10),   # 13 pods -> 20+5 allowed: +12 shared in proportion 8:5 (+7, +5)
    (5, 4, 3),      # down to 5+2 allowed: -6 shared, largest first
], ids=["scale-up-mid-rollout", "scale-down-mid-rollout"])
async def test_proportional_scaling_mid_rollout(new_size: int, want_old: int, want_new: int) -> None:
    from kybernetes.controllers.deployment import sync
    d = deploy(new_size, status_replicas=13)
    old = named_rs("old", 8, "2024-01-01T00:00:00Z", 13)
    new = named_rs("new", 5, "2024-01-02T00:00:00Z", 13)
    dc = FakeDC()
    await sync.scale(dc, d, new, [old])  # type: ignore[arg-type]
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (want_old, want_new)
    assert old["spec"]["replicas"] + new["spec"]["replicas"] == new_size + max_surge(d)
    assert old["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == str(new_size)
    assert any(m.startswith("Scaled ") for m in dc.events)

"""Node IPAM CIDR allocation, zone states and eviction rates, taints, toleration-based eviction delays, PodGC."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.client import FakeClock
from kybernetes.controllers.context import ControllerOptions
from kybernetes.controllers.nodeipam import CIDRRangeFull, CIDRSet
from kybernetes.controllers.nodelifecycle import (NOT_READY, UNREACHABLE, TokenBucket, ZoneState, compute_zone_state,
                                                  desired_no_execute, eviction_delay, eviction_qps, mark_unknown,
                                                  with_taints)
from kybernetes.controllers.podgc import terminated_pods_to_delete

Obj = dict[str, Any]


def test_cidr_allocation_in_order_and_never_twice() -> None:
    s = CIDRSet("198.18.0.0/16", 24)
    got = [s.allocate_next() for _ in range(3)]
    assert got == ["198.18.0.0/24", "198.18.1.0/24", "198.18.2.0/24"]
    s.release("198.18.1.0/24")
    assert s.allocate_next() == "198.18.3.0/24"  # the cursor moves on before reusing
    s.occupy("198.18.4.0/24")
    assert s.allocate_next() == "198.18.5.0/24"


def test_cidr_range_full_then_release() -> None:
    s = CIDRSet("198.18.0.0/30", 31)
    a, b = s.allocate_next(), s.allocate_next()
    assert {a, b} == {"198.18.0.0/31", "198.18.0.2/31"}
    with pytest.raises(CIDRRangeFull):
        s.allocate_next()
    s.release(a)
    assert s.allocate_next() == a


@pytest.mark.parametrize("cidr", ["10.0.0.0/24", "198.18.0.0/25", "198.19.0.0/24"],
                         ids=["outside", "wrong-mask", "other-range"])
def test_cidr_occupy_rejects_foreign(cidr: str) -> None:
    with pytest.raises(ValueError):
        CIDRSet("198.18.0.0/16", 24).occupy(cidr)


@pytest.mark.parametrize("statuses,want", [
    (["True", "True"], (0, ZoneState.NORMAL)),
    (["True", "Unknown"], (1, ZoneState.NORMAL)),
    (["Unknown", "False"], (2, ZoneState.FULL_DISRUPTION)),
    (["True", "Unknown", "Unknown", "Unknown"], (3, ZoneState.PARTIAL_DISRUPTION)),
    (["True"] * 3 + ["Unknown"] * 3, (3, ZoneState.NORMAL)),  # 50% < 55%
    (["True", "True", None, None, None], (3, ZoneState.PARTIAL_DISRUPTION)),
], ids=["healthy", "one-down", "all-down", "partial", "below-threshold", "never-reported"])
def test_compute_zone_state(statuses: list[str | None], want: tuple[int, ZoneState]) -> None:
    assert compute_zone_state(statuses, 0.55) == want


@pytest.mark.parametrize("state,size,want", [
    (ZoneState.NORMAL, 10, 0.1),
    (ZoneState.FULL_DISRUPTION, 10, 0.1),
    (ZoneState.PARTIAL_DISRUPTION, 10, 0.0),
    (ZoneState.PARTIAL_DISRUPTION, 51, 0.01),
], ids=["normal", "full", "partial-small-zone-halts", "partial-large-zone-secondary"])
def test_eviction_qps(state: ZoneState, size: int, want: float) -> None:
    assert eviction_qps(state, size, ControllerOptions()) == want


def test_token_bucket_paces_and_halts() -> None:
    clock = FakeClock()
    b = TokenBucket(0.5, clock)
    assert b.try_accept() and not b.try_accept()
    clock.step(2.0)
    assert b.try_accept()
    b.set_qps(0.0)
    clock.step(100.0)
    assert not b.try_accept()


@pytest.mark.parametrize("status,want", [("True", None), ("False", NOT_READY), ("Unknown", UNREACHABLE),
                                         (None, UNREACHABLE)], ids=["ready", "not-ready", "unknown", "never"])
def test_desired_no_execute(status: str | None, want: str | None) -> None:
    assert desired_no_execute(status) == want


def test_with_taints_swaps_and_keeps_foreign() -> None:
    taints = [{"key": "user", "effect": "NoSchedule"}, {"key": NOT_READY, "effect": "NoExecute", "timeAdded": "t0"},
              {"key": NOT_READY, "effect": "NoSchedule"}]
    out = with_taints(taints, {UNREACHABLE}, UNREACHABLE, "t1")
    assert out == [{"key": "user", "effect": "NoSchedule"}, {"key": UNREACHABLE, "effect": "NoSchedule"},
                   {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "t1"}]


def test_mark_unknown_sets_upstream_messages() -> None:
    node = {"metadata": {"creationTimestamp": "c"},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}
    conds = {c["type"]: c for c in mark_unknown(node, "now") or []}
    assert conds["Ready"]["status"] == "Unknown" and conds["Ready"]["reason"] == "NodeStatusUnknown"
    assert conds["Ready"]["message"] == "Kubelet stopped posting node status."
    assert conds["MemoryPressure"]["message"] == "Kubelet never posted node status."
    assert mark_unknown({"metadata": {}, "status": {"conditions": list(conds.values())}}, "later") is None


UNREACH_NE = {"key": UNREACHABLE, "effect": "NoExecute"}


@pytest.mark.parametrize("tolerations,taints,want", [
    ([], [], None),
    ([], [UNREACH_NE], 0.0),
    ([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}], [UNREACH_NE],
     300.0),
    ([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}], [UNREACH_NE], None),
    ([{"operator": "Exists"}], [UNREACH_NE], None),
    ([{"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}], [UNREACH_NE], 0.0),
    ([{"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 30},
      {"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 10}], [UNREACH_NE], 10.0),
    ([], [{"key": UNREACHABLE, "effect": "NoSchedule"}], None),
], ids=["no-taints", "untolerated", "toleration-seconds", "forever", "wildcard", "other-key",
        "smallest-seconds", "noschedule-only"])
def test_eviction_delay(tolerations: list[Obj], taints: list[Obj], want: float | None) -> None:
    assert eviction_delay({"spec": {"tolerations": tolerations}}, taints) == want


def _pod(name: str, phase: str, created: str, reason: str = "") -> Obj:
    return {"metadata": {"name": name, "creationTimestamp": created}, "status": {"phase": phase, "reason": reason}}


@pytest.mark.parametrize("threshold,want", [(0, []), (3, []), (2, ["evicted"]), (1, ["evicted", "old"])],
                         ids=["disabled", "under", "one-over-evicted-first", "two-over"])
def test_terminated_pods_to_delete(threshold: int, want: list[str]) -> None:
    pods = [_pod("running", "Running", "2020"), _pod("new", "Succeeded", "2024"), _pod("old", "Failed", "2021"),
            _pod("evicted", "Failed", "2023", "Evicted")]
    assert [p["metadata"]["name"] for p in terminated_pods_to_delete(pods, threshold)] == want

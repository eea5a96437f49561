"""ReplicaSet status calculation: counts, availability with minReadySeconds, the ReplicaFailure condition."""

from __future__ import annotations

import pytest

from kybernetes.controllers.replicaset import calculate_status
from tests.unit.controllers.test_controller_utils import NOW, pod


def rs(replicas: int, min_ready: int = 0, conditions: list | None = None) -> dict:
    return {"metadata": {"name": "rs", "uid": "u"},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                     "template": {"metadata": {"labels": {"app": "x", "tier": "web"}}}},
            "status": {"conditions": conditions or []}}


def labelled(p: dict, labels: dict) -> dict:
    p["metadata"]["labels"] = labels
    return p


FULL = {"app": "x", "tier": "web"}


@pytest.mark.parametrize("the_rs,pods,error,want", [
    (rs(3), [labelled(pod("a"), FULL), labelled(pod("b", ready=False), FULL), labelled(pod("c"), {"app": "x"})],
     None, {"replicas": 3, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}),
    (rs(2, min_ready=60), [labelled(pod("a", ready_ago=10), FULL), labelled(pod("b", ready_ago=100), FULL)],
     None, {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 1}),
], ids=["counts", "min-ready-seconds"])
def test_counts(the_rs: dict, pods: list, error: Exception | None, want: dict) -> None:
    status = calculate_status(the_rs, pods, error, NOW + 0.5)
    assert {k: status[k] for k in want} == want
    assert "conditions" not in status


@pytest.mark.parametrize("replicas,pods,had_failure,error,want_reason", [
    (2, 0, False, RuntimeError("quota exceeded"), "FailedCreate"),
    (0, 1, False, RuntimeError("forbidden"), "FailedDelete"),
    (2, 0, True, None, None),
], ids=["create-error", "delete-error", "cleared-on-success"])
def test_replica_failure_condition(replicas: int, pods: int, had_failure: bool, error: Exception | None,
                                   want_reason: str | None) -> None:
    conds = [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "x"}] \
        if had_failure else []
    status = calculate_status(rs(replicas, conditions=conds), [labelled(pod(f"p{i}"), FULL) for i in range(pods)],
                              error, NOW)
    failure = [c for c in status.get("conditions") or [] if c["type"] == "ReplicaFailure"]
    assert [c["reason"] for c in failure] == ([want_reason] if want_reason else [])
    if want_reason:
        assert failure[0]["message"] == str(error) and failure[0]["status"] == "True"

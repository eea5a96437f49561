"""TaintToleration: NoSchedule/NoExecute filtering and PreferNoSchedule scoring (upstream's cases)."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.scheduler.framework.interface import Code, CycleState
from kybernetes.scheduler.plugins import tainttoleration
from tests.unit.scheduler.plugins.fixtures import node, node_info, pi, pod


def taint(key: str, value: str, effect: str) -> dict[str, Any]:
    return {"key": key, "value": value, "effect": effect}


def tol(key: str = "", value: str = "", effect: str = "", op: str = "Equal") -> dict[str, Any]:
    t: dict[str, Any] = {"operator": op}
    for k, v in (("key", key), ("value", value), ("effect", effect)):
        if v:
            t[k] = v
    return t


FILTER_CASES = [
    ("no-tolerations-no-taints", [], [], None),
    ("untolerated-no-schedule", [], [taint("dedicated", "user1", "NoSchedule")],
     "node(s) had untolerated taint {dedicated: user1}"),
    ("tolerated-equal", [tol("dedicated", "user1", "NoSchedule")], [taint("dedicated", "user1", "NoSchedule")], None),
    ("value-mismatch", [tol("dedicated", "user2", "NoSchedule")], [taint("dedicated", "user1", "NoSchedule")],
     "node(s) had untolerated taint {dedicated: user1}"),
    ("exists-operator", [tol("foo", op="Exists", effect="NoSchedule")], [taint("foo", "bar", "NoSchedule")], None),
    ("empty-effect-tolerates-all-effects", [tol("foo", "bar")], [taint("foo", "bar", "NoSchedule")], None),
    ("wrong-effect", [tol("foo", "bar", "NoExecute")], [taint("foo", "bar", "NoSchedule")],
     "node(s) had untolerated taint {foo: bar}"),
    ("prefer-no-schedule-does-not-filter", [], [taint("foo", "bar", "PreferNoSchedule")], None),
    ("untolerated-no-execute", [], [taint("evict", "", "NoExecute")], "node(s) had untolerated taint {evict: }"),
    ("empty-key-exists-tolerates-everything", [tol(op="Exists")],
     [taint("a", "1", "NoSchedule"), taint("b", "2", "NoExecute")], None),
    ("second-taint-untolerated", [tol("a", "1", "NoSchedule")],
     [taint("a", "1", "NoSchedule"), taint("b", "2", "NoSchedule")], "node(s) had untolerated taint {b: 2}"),
]


@pytest.mark.parametrize("tolerations,taints,reason", [c[1:] for c in FILTER_CASES],
                         ids=[c[0] for c in FILTER_CASES])
def test_filter(tolerations: list[dict[str, Any]], taints: list[dict[str, Any]], reason: str | None) -> None:
    got = tainttoleration.new({}, None).filter(CycleState(), pi(pod(tolerations=tolerations)),
                                               node_info(node("n1", taints=taints)))
    if reason is None:
        assert got.is_success()
    else:
        assert got.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE and got.reasons == [reason]


PNS = "PreferNoSchedule"
SCORE_CASES = [
    ("tolerated-beats-intolerable", [tol("foo", "bar", PNS)],
     {"a": [taint("foo", "bar", PNS)], "b": [taint("foo", "blah", PNS)]}, {"a": 100, "b": 0}),
    ("all-tolerated-same-score", [tol("foo", "bar", PNS), tol("foo2", "bar2", PNS)],
     {"a": [], "b": [taint("foo", "bar", PNS)], "c": [taint("foo", "bar", PNS), taint("foo2", "bar2", PNS)]},
     {"a": 100, "b": 100, "c": 100}),
    ("more-intolerable-lower-score", [tol("foo", "bar", PNS)],
     {"a": [], "b": [taint("cpu", "arm64", PNS)], "c": [taint("cpu", "arm64", PNS), taint("disk", "ssd", PNS)]},
     {"a": 100, "b": 50, "c": 0}),
    ("only-prefer-no-schedule-counts", [tol("cpu", "arm64", "NoSchedule"), tol("disk", "ssd", PNS)],
     {"a": [], "b": [taint("cpu", "arm64", "NoSchedule")], "c": [taint("cpu", "arm64", PNS)]},
     {"a": 100, "b": 100, "c": 0}),
    ("no-tolerations", [], {"a": [], "b": [taint("cpu", "arm64", PNS)]}, {"a": 100, "b": 0}),
]


@pytest.mark.parametrize("tolerations,nodes,want", [c[1:] for c in SCORE_CASES], ids=[c[0] for c in SCORE_CASES])
def test_score(tolerations: list[dict[str, Any]], nodes: dict[str, list[dict[str, Any]]],
               want: dict[str, int]) -> None:
    pl = tainttoleration.new({}, None)
    p, state = pi(pod(tolerations=tolerations)), CycleState()
    infos = [node_info(node(n, taints=t)) for n, t in nodes.items()]
    assert pl.pre_score(state, p, infos).is_success()
    scores = {ni.name: pl.score(state, p, ni)[0] for ni in infos}
    pl.score_extensions().normalize_score(state, p, scores)
    assert scores == want

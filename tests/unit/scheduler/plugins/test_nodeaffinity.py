"""NodeAffinity: nodeSelector, required/preferred node affinity, matchFields, addedAffinity (upstream's cases)."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.scheduler.framework.interface import Code, CycleState
from kybernetes.scheduler.plugins import nodeaffinity
from tests.unit.scheduler.plugins.fixtures import node, node_info, pi, pod, term


def required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def exprs(*e: dict[str, Any]) -> dict[str, Any]:
    return {"matchExpressions": list(e)}


def name_in(*names: str) -> dict[str, Any]:
    return {"key": "metadata.name", "operator": "In", "values": list(names)}


ERR = nodeaffinity.ERR_REASON_POD

FILTER_CASES = [
    ("no-constraints", {}, {}, None),
    ("nodeSelector-missing-label", {"nodeSelector": {"foo": "bar"}}, {}, ERR),
    ("nodeSelector-matches", {"nodeSelector": {"foo": "bar"}}, {"foo": "bar"}, None),
    ("nodeSelector-wrong-value", {"nodeSelector": {"foo": "bar"}}, {"foo": "baz"}, ERR),
    ("in-matches", {"affinity": required(exprs(term("foo", "In", "value1", "value2")))}, {"foo": "value2"}, None),
    ("in-no-match", {"affinity": required(exprs(term("foo", "In", "value1")))}, {"foo": "other"}, ERR),
    ("gt-matches", {"affinity": required(exprs(term("kernel", "Gt", "0204")))}, {"kernel": "0206"}, None),
    ("gt-not-greater", {"affinity": required(exprs(term("kernel", "Gt", "0206")))}, {"kernel": "0206"}, ERR),
    ("lt-matches", {"affinity": required(exprs(term("mem", "Lt", "10")))}, {"mem": "8"}, None),
    ("gt-non-integer-label", {"affinity": required(exprs(term("kernel", "Gt", "3")))}, {"kernel": "abc"}, ERR),
    ("notin-matches", {"affinity": required(exprs(term("foo", "NotIn", "a", "b")))}, {"foo": "c"}, None),
    ("notin-rejects", {"affinity": required(exprs(term("foo", "NotIn", "a", "b")))}, {"foo": "a"}, ERR),
    ("exists", {"affinity": required(exprs(term("gpu", "Exists")))}, {"gpu": "x"}, None),
    ("exists-missing", {"affinity": required(exprs(term("gpu", "Exists")))}, {}, ERR),
    ("does-not-exist", {"affinity": required(exprs(term("gpu", "DoesNotExist")))}, {}, None),
    ("does-not-exist-present", {"affinity": required(exprs(term("gpu", "DoesNotExist")))}, {"gpu": "x"}, ERR),
    ("empty-terms-match-nothing", {"affinity": required()}, {"foo": "bar"}, ERR),
    ("empty-term-matches-nothing", {"affinity": required({})}, {"foo": "bar"}, ERR),
    ("empty-match-expressions", {"affinity": required({"matchExpressions": []})}, {"foo": "bar"}, ERR),
    ("expressions-anded", {"affinity": required(exprs(term("a", "Exists"), term("b", "In", "1")))},
     {"a": "x", "b": "2"}, ERR),
    ("terms-ored", {"affinity": required(exprs(term("a", "Exists")), exprs(term("b", "In", "1")))},
     {"b": "1"}, None),
    ("selector-and-affinity-both-needed", {"nodeSelector": {"foo": "bar"},
                                           "affinity": required(exprs(term("a", "Exists")))}, {"a": "1"}, ERR),
    ("selector-and-affinity-both-met", {"nodeSelector": {"foo": "bar"},
                                        "affinity": required(exprs(term("a", "Exists")))},
     {"a": "1", "foo": "bar"}, None),
    ("match-fields-name", {"affinity": required({"matchFields": [name_in("n1")]})}, {}, None),
    ("match-fields-other-name", {"affinity": required({"matchFields": [name_in("n2")]})}, {}, ERR),
    ("match-fields-and-expressions-anded",
     {"affinity": required({"matchFields": [name_in("n1")], "matchExpressions": [term("foo", "Exists")]})}, {}, ERR),
    ("invalid-operator-term-ignored", {"affinity": required(exprs(term("foo", "Bogus", "x")),
                                                             exprs(term("foo", "Exists")))}, {"foo": "1"}, None),
]


@pytest.mark.parametrize("spec,labels,reason", [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES])
def test_filter(spec: dict[str, Any], labels: dict[str, str], reason: str | None) -> None:
    pl = nodeaffinity.new({}, None)
    p, state = pi(pod(**spec)), CycleState()
    names, s = pl.pre_filter(state, p, [])
    if s.is_skip():
        assert reason is None
        return
    if not s.is_success():
        assert s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE and reason is not None
        return
    got = pl.filter(state, p, node_info(node("n1", labels)))
    if reason is None:
        assert got.is_success(), got
    else:
        assert got.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE and got.reasons == [reason]


PREFILTER_CASES = [
    ("no-affinity-skips", {}, "skip", None),
    ("node-selector-only", {"nodeSelector": {"a": "b"}}, "ok", None),
    ("name-in-one-term", {"affinity": required({"matchFields": [name_in("n1")]})}, "ok", {"n1"}),
    ("names-union-of-terms", {"affinity": required({"matchFields": [name_in("n1")]},
                                                    {"matchFields": [name_in("n2")]})}, "ok", {"n1", "n2"}),
    ("term-without-names-admits-all", {"affinity": required({"matchFields": [name_in("n1")]},
                                                             exprs(term("a", "Exists")))}, "ok", None),
    ("names-intersect-within-term", {"affinity": required({"matchFields": [name_in("n1"), name_in("n1")]})},
     "ok", {"n1"}),
    ("conflicting-names", {"affinity": required({"matchFields": [name_in("n1"), name_in("n2")]})},
     "conflict", None),
]


@pytest.mark.parametrize("spec,outcome,names", [c[1:] for c in PREFILTER_CASES], ids=[c[0] for c in PREFILTER_CASES])
def test_pre_filter(spec: dict[str, Any], outcome: str, names: set[str] | None) -> None:
    got_names, s = nodeaffinity.new({}, None).pre_filter(CycleState(), pi(pod(**spec)), [])
    if outcome == "skip":
        assert s.is_skip()
    elif outcome == "conflict":
        assert s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE and s.reasons == [nodeaffinity.ERR_REASON_CONFLICT]
    else:
        assert s.is_success() and got_names == names


def test_added_affinity_is_enforced_before_the_pods_own() -> None:
    args = {"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [exprs(term("pool", "In", "general"))]}}}
    pl = nodeaffinity.new(args, None)
    p, state = pi(pod()), CycleState()
    _, s = pl.pre_filter(state, p, [])
    assert s.is_success()  # no Skip: the enforced selector applies to every pod
    assert pl.filter(state, p, node_info(node("n1", {"pool": "general"}))).is_success()
    bad = pl.filter(state, p, node_info(node("n2", {"pool": "gpu"})))
    assert bad.reasons == [nodeaffinity.ERR_REASON_ENFORCED] and bad.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def preferred(*weighted: tuple[int, dict[str, Any]]) -> dict[str, Any]:
    return {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": w, "preference": t} for w, t in weighted]}}


SCORE_CASES = [
    ("no-preferences-skip", {}, {}, None),
    ("one-term", {"affinity": preferred((2, exprs(term("foo", "In", "bar"))))},
     {"n1": {"foo": "bar"}, "n2": {}, "n3": {"foo": "bar"}}, {"n1": 100, "n2": 0, "n3": 100}),
    ("weights-summed-and-normalized",
     {"affinity": preferred((2, exprs(term("foo", "In", "bar"))), (4, exprs(term("key", "In", "value"))))},
     {"n1": {"foo": "bar"}, "n2": {"key": "value", "foo": "bar"}, "n3": {}}, {"n1": 33, "n2": 100, "n3": 0}),
    ("no-node-matches", {"affinity": preferred((5, exprs(term("foo", "Exists"))))},
     {"n1": {}, "n2": {}}, {"n1": 0, "n2": 0}),
]


@pytest.mark.parametrize("spec,nodes,want", [c[1:] for c in SCORE_CASES], ids=[c[0] for c in SCORE_CASES])
def test_score(spec: dict[str, Any], nodes: dict[str, dict[str, str]], want: dict[str, int] | None) -> None:
    pl = nodeaffinity.new({}, None)
    p, state = pi(pod(**spec)), CycleState()
    infos = [node_info(node(n, labels)) for n, labels in nodes.items()]
    s = pl.pre_score(state, p, infos)
    if want is None:
        assert s.is_skip()
        return
    scores = {ni.name: pl.score(state, p, ni)[0] for ni in infos}
    pl.score_extensions().normalize_score(state, p, scores)
    assert scores == want


def test_added_preferred_affinity_scores_every_pod() -> None:
    args = {"addedAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 3, "preference": exprs(term("ssd", "Exists"))}]}}
    pl = nodeaffinity.new(args, None)
    p, state = pi(pod()), CycleState()
    assert pl.pre_score(state, p, []).is_success()
    assert pl.score(state, p, node_info(node("n1", {"ssd": "1"})))[0] == 3
    assert pl.score(state, p, node_info(node("n2")))[0] == 0

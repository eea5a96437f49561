"""InterPodAffinity: required affinity/anti-affinity (incoming and existing pods), namespaces and namespace
selectors, matchLabelKeys, PreFilter extensions, and preferred-term scoring (upstream's cases)."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.scheduler.framework.interface import Code, CycleState
from kybernetes.scheduler.plugins import interpodaffinity as ipa
from tests.unit.scheduler.plugins.fixtures import HOSTNAME, ZONE, FakeHandle, node, node_info, pi, pod

AFF, ANTI, EXISTING = ipa.ERR_REASON_AFFINITY, ipa.ERR_REASON_ANTI_AFFINITY, ipa.ERR_REASON_EXISTING_ANTI_AFFINITY


def aterm(labels: dict[str, str], key: str = HOSTNAME, **extra: Any) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": labels}, "topologyKey": key, **extra}


def affinity(*req: dict[str, Any], anti: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    a: dict[str, Any] = {}
    if req:
        a["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": list(req)}
    if anti:
        a["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": anti}
    return a


NODES = {"n1": {ZONE: "z1"}, "n2": {ZONE: "z1"}, "n3": {ZONE: "z2"}}
SEC = {"service": "securityscan"}
NAMESPACES = [{"metadata": {"name": "default", "labels": {"team": "a"}}},
              {"metadata": {"name": "other", "labels": {"team": "b"}}}]

# (id, incoming pod, existing pods by node, expected reason per node; None = fits, "skip" = PreFilter Skip)
FILTER_CASES = [
    ("nothing-to-do-skips", pod(), {"n1": [pod("e", labels=SEC)]}, "skip"),
    ("affinity-satisfied-on-host", pod(affinity=affinity(aterm(SEC))), {"n1": [pod("e", labels=SEC)]},
     {"n1": None, "n2": AFF, "n3": AFF}),
    ("affinity-by-zone", pod(affinity=affinity(aterm(SEC, ZONE))), {"n1": [pod("e", labels=SEC)]},
     {"n1": None, "n2": None, "n3": AFF}),
    ("affinity-unsatisfied-anywhere", pod(affinity=affinity(aterm(SEC))), {"n1": [pod("e")]},
     {"n1": AFF, "n2": AFF, "n3": AFF}),
    ("first-pod-with-self-affinity", pod(labels=SEC, affinity=affinity(aterm(SEC))), {"n1": [pod("e")]},
     {"n1": None, "n2": None, "n3": None}),
    ("self-affinity-but-node-lacks-key", pod(labels=SEC, affinity=affinity(aterm(SEC, "rack"))), {},
     {"n1": AFF, "n2": AFF, "n3": AFF}),
    ("affinity-other-namespace-does-not-count", pod(affinity=affinity(aterm(SEC))),
     {"n1": [pod("e", "other", labels=SEC)]}, {"n1": AFF, "n2": AFF, "n3": AFF}),
    ("affinity-namespaces-list", pod(affinity=affinity(aterm(SEC, namespaces=["other"]))),
     {"n1": [pod("e", "other", labels=SEC)]}, {"n1": None, "n2": AFF, "n3": AFF}),
    ("affinity-namespace-selector", pod(affinity=affinity(aterm(SEC, namespaceSelector={"matchLabels":
                                                                                         {"team": "b"}}))),
     {"n1": [pod("e", "other", labels=SEC)], "n2": [pod("f", labels=SEC)]}, {"n1": None, "n2": AFF, "n3": AFF}),
    ("affinity-empty-namespace-selector-all", pod(affinity=affinity(aterm(SEC, namespaceSelector={}))),
     {"n3": [pod("e", "other", labels=SEC)]}, {"n1": AFF, "n2": AFF, "n3": None}),
    ("affinity-two-terms-same-pod", pod(affinity=affinity(aterm(SEC), aterm({"tier": "db"}, ZONE))),
     {"n1": [pod("e", labels={**SEC, "tier": "db"})]}, {"n1": None, "n2": AFF, "n3": AFF}),
    ("anti-affinity-host", pod(affinity=affinity(anti=[aterm(SEC)])), {"n1": [pod("e", labels=SEC)]},
     {"n1": ANTI, "n2": None, "n3": None}),
    ("anti-affinity-zone", pod(affinity=affinity(anti=[aterm(SEC, ZONE)])), {"n1": [pod("e", labels=SEC)]},
     {"n1": ANTI, "n2": ANTI, "n3": None}),
    ("anti-affinity-other-namespace-ignored", pod(affinity=affinity(anti=[aterm(SEC)])),
     {"n1": [pod("e", "other", labels=SEC)]}, {"n1": None, "n2": None, "n3": None}),
    ("existing-pod-anti-affinity", pod(labels=SEC),
     {"n1": [pod("e", affinity=affinity(anti=[aterm(SEC)]))]}, {"n1": EXISTING, "n2": None, "n3": None}),
    ("existing-pod-anti-affinity-zone", pod(labels=SEC),
     {"n3": [pod("e", affinity=affinity(anti=[aterm(SEC, ZONE)]))]}, {"n1": None, "n2": None, "n3": EXISTING}),
    ("existing-anti-affinity-other-namespace", pod(labels=SEC),
     {"n1": [pod("e", "other", affinity=affinity(anti=[aterm(SEC)]))]}, "skip"),
    ("existing-anti-affinity-namespace-selector", pod(labels=SEC),
     {"n1": [pod("e", "other", affinity=affinity(anti=[aterm(SEC, namespaceSelector={"matchLabels":
                                                                                       {"team": "a"}})]))]},
     {"n1": EXISTING, "n2": None, "n3": None}),
    ("match-label-keys-separate-revisions",
     pod(labels={"app": "x", "rev": "2"}, affinity=affinity(anti=[aterm({"app": "x"}, matchLabelKeys=["rev"])])),
     {"n1": [pod("e", labels={"app": "x", "rev": "1"})], "n2": [pod("f", labels={"app": "x", "rev": "2"})]},
     {"n1": None, "n2": ANTI, "n3": None}),
    ("mismatch-label-keys", pod(labels={"tenant": "t1"}, affinity=affinity(anti=[
        {"labelSelector": {}, "topologyKey": HOSTNAME, "mismatchLabelKeys": ["tenant"]}])),
     {"n1": [pod("e", labels={"tenant": "t2"})], "n2": [pod("f", labels={"tenant": "t1"})]},
     {"n1": ANTI, "n2": None, "n3": None}),
]


def _setup(existing: dict[str, list[dict[str, Any]]]) -> tuple[Any, list[Any]]:
    infos = [node_info(node(n, labels), *existing.get(n, [])) for n, labels in NODES.items()]
    return FakeHandle(infos, {"namespaces": NAMESPACES}), infos


@pytest.mark.parametrize("incoming,existing,want", [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES])
def test_filter(incoming: dict[str, Any], existing: dict[str, list[dict[str, Any]]], want: Any) -> None:
    handle, infos = _setup(existing)
    pl = ipa.new({}, handle)
    p, state = pi(incoming), CycleState()
    _, s = pl.pre_filter(state, p, infos)
    if want == "skip":
        assert s.is_skip()
        return
    assert s.is_success()
    for ni in infos:
        got = pl.filter(state, p, ni)
        if want[ni.name] is None:
            assert got.is_success(), (ni.name, got)
        else:
            assert got.reasons == [want[ni.name]], ni.name
            assert got.code == (Code.UNSCHEDULABLE_AND_UNRESOLVABLE if want[ni.name] == AFF else Code.UNSCHEDULABLE)


EXTENSION_CASES = [
    ("remove-anti-affinity-match", pod(affinity=affinity(anti=[aterm(SEC)])), pod("e", labels=SEC), ANTI),
    ("remove-existing-anti-affinity-pod", pod(labels=SEC), pod("e", affinity=affinity(anti=[aterm(SEC)])), EXISTING),
    ("remove-only-affinity-match", pod(affinity=affinity(aterm(SEC))), pod("e", labels=SEC), None),
]


@pytest.mark.parametrize("incoming,victim,reason_with", [c[1:] for c in EXTENSION_CASES],
                         ids=[c[0] for c in EXTENSION_CASES])
def test_pre_filter_extensions(incoming: dict[str, Any], victim: dict[str, Any], reason_with: str | None) -> None:
    """Removing a pod (preemption's what-if) updates the counts; adding it back restores them; clones are apart."""
    handle, infos = _setup({"n1": [victim], "n3": [pod("keep", labels=SEC)] if reason_with is None else []})
    pl = ipa.new({}, handle)
    p, state = pi(incoming), CycleState()
    pl.pre_filter(state, p, infos)
    n1 = infos[0]
    before = pl.filter(state, p, n1)
    assert before.reasons == ([reason_with] if reason_with else [])
    copy = state.clone()
    ext = pl.pre_filter_extensions()
    ext.remove_pod(copy, p, n1.pods[0], n1)
    after = pl.filter(copy, p, n1)
    if reason_with is None:  # the only matching pod in n1's domain left: affinity now fails on n1
        assert after.reasons == [AFF]
    else:
        assert after.is_success()
    assert pl.filter(state, p, n1).reasons == before.reasons  # the original state is untouched
    ext.add_pod(copy, p, n1.pods[0], n1)
    assert pl.filter(copy, p, n1).reasons == before.reasons


def pref(kind: str, *weighted: tuple[int, dict[str, Any]]) -> dict[str, Any]:
    return {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": w, "podAffinityTerm": t} for w, t in weighted]}}


SCORE_CASES = [
    ("no-terms-anywhere-skips", pod(), {"n1": [pod("e", labels=SEC)]}, {}, None),
    ("preferred-affinity-zone", pod(affinity=pref("podAffinity", (5, aterm(SEC, ZONE)))),
     {"n1": [pod("e", labels=SEC)]}, {}, {"n1": 100, "n2": 100, "n3": 0}),
    ("preferred-anti-affinity-host", pod(affinity=pref("podAntiAffinity", (5, aterm(SEC)))),
     {"n1": [pod("e", labels=SEC)]}, {}, {"n1": 0, "n2": 100, "n3": 100}),
    ("affinity-and-anti-affinity-combined",
     pod(affinity={**pref("podAffinity", (8, aterm(SEC, ZONE))), **pref("podAntiAffinity", (4, aterm({"x": "y"})))}),
     {"n1": [pod("e", labels=SEC)], "n2": [pod("f", labels={"x": "y"})]}, {},
     {"n1": 100, "n2": 50, "n3": 0}),  # 8, 8-4, 0
    ("existing-hard-affinity-symmetry", pod(labels=SEC),
     {"n3": [pod("e", affinity=affinity(aterm(SEC)))]}, {}, {"n1": 0, "n2": 0, "n3": 100}),
    ("hard-weight-zero-ignores-existing-required", pod(labels=SEC),
     {"n3": [pod("e", affinity=affinity(aterm(SEC)))]}, {"hardPodAffinityWeight": 0}, None),
    ("existing-preferred-anti-affinity", pod(labels=SEC),
     {"n1": [pod("e", affinity=pref("podAntiAffinity", (10, aterm(SEC, ZONE))))]}, {},
     {"n1": 0, "n2": 0, "n3": 100}),
    ("ignore-preferred-terms-of-existing-pods", pod(labels=SEC),
     {"n1": [pod("e", affinity=pref("podAntiAffinity", (10, aterm(SEC, ZONE))))]},
     {"ignorePreferredTermsOfExistingPods": True}, None),
]


@pytest.mark.parametrize("incoming,existing,args,want", [c[1:] for c in SCORE_CASES], ids=[c[0] for c in SCORE_CASES])
def test_score(incoming: dict[str, Any], existing: dict[str, list[dict[str, Any]]], args: dict[str, Any],
               want: dict[str, int] | None) -> None:
    handle, infos = _setup(existing)
    pl = ipa.new(args, handle)
    p, state = pi(incoming), CycleState()
    s = pl.pre_score(state, p, infos)
    if want is None:
        assert s.is_skip()
        return
    assert s.is_success()
    scores = {ni.name: pl.score(state, p, ni)[0] for ni in infos}
    pl.score_extensions().normalize_score(state, p, scores)
    assert scores == want

"""PodTopologySpread: maxSkew filtering, minDomains, inclusion policies, matchLabelKeys, PreFilter extensions,
scoring and the system default constraints (upstream's cases)."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.scheduler.framework.interface import Code, CycleState
from kybernetes.scheduler.plugins import podtopologyspread as pts
from tests.unit.scheduler.plugins.fixtures import HOSTNAME, ZONE, FakeHandle, node, node_info, pi, pod

FOO = {"foo": ""}
NOT_MATCH, NO_LABEL = pts.ERR_REASON_CONSTRAINTS_NOT_MATCH, pts.ERR_REASON_NODE_LABEL_NOT_MATCH


def spread(key: str = ZONE, max_skew: int = 1, when: str = "DoNotSchedule", labels: dict[str, str] | None = None,
           **extra: Any) -> dict[str, Any]:
    return {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
            "labelSelector": {"matchExpressions": [{"key": k, "operator": "Exists"} for k in (labels or FOO)]},
            **extra}


def matching(n: int, ns: str = "default", prefix: str = "m", labels: dict[str, str] | None = None
             ) -> list[dict[str, Any]]:
    return [pod(f"{prefix}{i}", ns, labels=labels or FOO) for i in range(n)]


ZONES = {"a": {ZONE: "zone1"}, "b": {ZONE: "zone1"}, "x": {ZONE: "zone2"}, "y": {ZONE: "zone2"}}

# (id, incoming pod, node labels, existing matching pods by node, expected reason per node (None fits))
FILTER_CASES = [
    ("no-existing-pods", pod(labels=FOO, topologySpreadConstraints=[spread()]), ZONES, {},
     dict.fromkeys("abxy")),
    ("incoming-does-not-match-itself", pod(topologySpreadConstraints=[spread()]), ZONES, {"a": 1},
     dict.fromkeys("abxy")),
    ("other-namespace-pods-do-not-count", pod(labels=FOO, topologySpreadConstraints=[spread()]), ZONES,
     {"a": ("ns2", 2), "b": ("ns2", 1)}, dict.fromkeys("abxy")),
    ("zones-3-3-all-fit", pod(labels=FOO, topologySpreadConstraints=[spread()]), ZONES,
     {"a": 2, "b": 1, "x": 1, "y": 2}, dict.fromkeys("abxy")),
    ("node-without-zone-label", pod(labels=FOO, topologySpreadConstraints=[spread()]),
     {**ZONES, "b": {}}, {"a": 1, "x": 2}, {"a": None, "b": NO_LABEL, "x": NOT_MATCH, "y": NOT_MATCH}),
    ("no-node-has-key", pod(labels=FOO, topologySpreadConstraints=[spread("rack")]), ZONES, {},
     dict.fromkeys("abxy", NO_LABEL)),
    ("hosts-2-1-0-3-only-x", pod(labels=FOO, topologySpreadConstraints=[spread(HOSTNAME)]), ZONES,
     {"a": 2, "b": 1, "y": 3}, {"a": NOT_MATCH, "b": NOT_MATCH, "x": None, "y": NOT_MATCH}),
    ("hosts-2-1-0-3-max-skew-2", pod(labels=FOO, topologySpreadConstraints=[spread(HOSTNAME, 2)]), ZONES,
     {"a": 2, "b": 1, "y": 3}, {"a": NOT_MATCH, "b": None, "x": None, "y": NOT_MATCH}),
    ("hosts-2-1-0-3-not-self-matching", pod(topologySpreadConstraints=[spread(HOSTNAME)]), ZONES,
     {"a": 2, "b": 1, "y": 3}, {"a": NOT_MATCH, "b": None, "x": None, "y": NOT_MATCH}),
    ("zone-and-host-constraints", pod(labels=FOO, topologySpreadConstraints=[spread(), spread(HOSTNAME)]), ZONES,
     {"a": 1, "x": 1, "y": 1}, {"a": NOT_MATCH, "b": None, "x": NOT_MATCH, "y": NOT_MATCH}),
    ("node-affinity-honored-by-default",
     pod(labels=FOO, topologySpreadConstraints=[spread(HOSTNAME)], nodeSelector={"pool": "p"}),
     {n: {**l, "pool": "p"} if n in "ay" else l for n, l in ZONES.items()}, {"a": 1, "b": 0, "y": 1},
     {"a": None, "b": None, "x": None, "y": None}),
    ("node-affinity-ignored",
     pod(labels=FOO, topologySpreadConstraints=[spread(HOSTNAME, nodeAffinityPolicy="Ignore")],
         nodeSelector={"pool": "p"}),
     {n: {**l, "pool": "p"} if n in "ay" else l for n, l in ZONES.items()}, {"a": 1, "y": 1},
     {"a": NOT_MATCH, "b": None, "x": None, "y": NOT_MATCH}),
    ("min-domains-above-domain-count", pod(labels=FOO, topologySpreadConstraints=[spread(max_skew=2, minDomains=3)]),
     ZONES, {"a": 2, "x": 1}, {"a": NOT_MATCH, "b": NOT_MATCH, "x": None, "y": None}),
    ("min-domains-met", pod(labels=FOO, topologySpreadConstraints=[spread(max_skew=2, minDomains=2)]),
     ZONES, {"a": 2, "x": 1}, dict.fromkeys("abxy")),
    ("match-label-keys", pod(labels={"foo": "", "rev": "2"},
                             topologySpreadConstraints=[spread(HOSTNAME, matchLabelKeys=["rev"])]),
     ZONES, {"a": ("default", 3, {"foo": "", "rev": "1"}), "b": ("default", 1, {"foo": "", "rev": "2"})},
     {"a": None, "b": NOT_MATCH, "x": None, "y": None}),
]


def _infos(labels: dict[str, dict[str, str]], existing: dict[str, Any], taints: dict[str, Any] | None = None
           ) -> list[Any]:
    out = []
    for name, l in labels.items():
        spec = existing.get(name, 0)
        ns, n, lab = (spec + (None,))[:3] if isinstance(spec, tuple) else ("default", spec, None)
        out.append(node_info(node(name, l, taints=(taints or {}).get(name)), *matching(n, ns, f"{name}-", lab)))
    return out


@pytest.mark.parametrize("incoming,labels,existing,want", [c[1:] for c in FILTER_CASES],
                         ids=[c[0] for c in FILTER_CASES])
def test_filter(incoming: dict[str, Any], labels: dict[str, dict[str, str]], existing: dict[str, Any],
                want: dict[str, str | None]) -> None:
    infos = _infos(labels, existing)
    pl = pts.new({}, FakeHandle(infos))
    p, state = pi(incoming), CycleState()
    _, s = pl.pre_filter(state, p, infos)
    assert s.is_success()
    got = {ni.name: (pl.filter(state, p, ni).reasons or [None])[0] for ni in infos}
    assert got == want
    for ni in infos:
        st = pl.filter(state, p, ni)
        if st.reasons == [NO_LABEL]:
            assert st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        elif st.reasons:
            assert st.code == Code.UNSCHEDULABLE


def test_node_taints_policy_honor_excludes_tainted_domains() -> None:
    taints = {"x": [{"key": "t", "value": "", "effect": "NoSchedule"}]}
    base = pod(labels=FOO, topologySpreadConstraints=[spread(HOSTNAME)])
    honor = pod(labels=FOO, topologySpreadConstraints=[spread(HOSTNAME, nodeTaintsPolicy="Honor")])
    for incoming, b_fits in ((base, False), (honor, True)):
        infos = _infos(ZONES, {"a": 1, "b": 1, "y": 1}, taints)
        pl = pts.new({}, FakeHandle(infos))
        p, state = pi(incoming), CycleState()
        pl.pre_filter(state, p, infos)
        # Ignore: x (0 pods, tainted) is the global minimum, so b (1 pod) would exceed maxSkew 1.
        assert pl.filter(state, p, infos[1]).is_success() is b_fits


def test_no_constraints_skips() -> None:
    infos = _infos(ZONES, {})
    _, s = pts.new({}, FakeHandle(infos)).pre_filter(CycleState(), pi(pod(labels=FOO)), infos)
    assert s.is_skip()


def test_pre_filter_extensions_update_counts() -> None:
    infos = _infos(ZONES, {"a": 2, "b": 1, "y": 3})
    pl = pts.new({}, FakeHandle(infos))
    p, state = pi(pod(labels=FOO, topologySpreadConstraints=[spread(HOSTNAME)])), CycleState()
    pl.pre_filter(state, p, infos)
    b = infos[1]
    assert not pl.filter(state, p, b).is_success()  # b:1 + 1 - min 0 > 1
    copy = state.clone()
    pl.pre_filter_extensions().remove_pod(copy, p, b.pods[0], b)
    assert pl.filter(copy, p, b).is_success()
    assert not pl.filter(state, p, b).is_success()
    pl.pre_filter_extensions().add_pod(copy, p, pi(pod("other-ns", "ns2", labels=FOO)), b)  # other namespace: no-op
    assert pl.filter(copy, p, b).is_success()


SCORE_CASES = [
    ("no-existing-pods", [spread(HOSTNAME, when="ScheduleAnyway")], {"a": {}, "b": {}}, {}, {"a": 100, "b": 100}),
    ("same-count-everywhere", [spread(HOSTNAME, when="ScheduleAnyway")], {"a": {}, "b": {}}, {"a": 1, "b": 1},
     {"a": 100, "b": 100}),
    ("hosts-2-1-0-3", [spread(HOSTNAME, when="ScheduleAnyway")], {n: {} for n in "abcd"},
     {"a": 2, "b": 1, "d": 3}, {"a": 20, "b": 60, "c": 100, "d": 0}),
    ("zones", [spread(ZONE, when="ScheduleAnyway")], ZONES, {"a": 2, "b": 2, "x": 1},
     {"a": 16, "b": 16, "x": 100, "y": 100}),  # raw round(4*ln 4)=6 and round(1*ln 4)=1
    ("node-missing-key-ignored", [spread(ZONE, when="ScheduleAnyway")], {**ZONES, "b": {}}, {"a": 1, "x": 2},
     {"a": 100, "b": 0, "x": 33, "y": 33}),  # raw 1 and 3; b has no zone: ignored
    ("do-not-schedule-only-skips", [spread(HOSTNAME)], {"a": {}}, {}, None),
]


@pytest.mark.parametrize("constraints,labels,existing,want", [c[1:] for c in SCORE_CASES],
                         ids=[c[0] for c in SCORE_CASES])
def test_score(constraints: list[dict[str, Any]], labels: dict[str, dict[str, str]], existing: dict[str, Any],
               want: dict[str, int] | None) -> None:
    infos = _infos(labels, existing)
    pl = pts.new({}, FakeHandle(infos))
    p, state = pi(pod(labels=FOO, topologySpreadConstraints=constraints)), CycleState()
    s = pl.pre_score(state, p, infos)
    if want is None:
        assert s.is_skip()
        return
    scores = {ni.name: pl.score(state, p, ni)[0] for ni in infos}
    pl.score_extensions().normalize_score(state, p, scores)
    assert scores == want


OWNER = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "controller": True, "uid": "u"}
DEFAULT_CASES = [
    ("no-owner-no-service-skips", {}, {}, None),
    ("service-selects-pod", {}, {"services": [{"metadata": {"name": "s", "namespace": "default"},
                                               "spec": {"selector": {"app": "web"}}}]}, "app=web"),
    ("service-in-other-namespace", {}, {"services": [{"metadata": {"name": "s", "namespace": "x"},
                                                      "spec": {"selector": {"app": "web"}}}]}, None),
    ("replicaset-owner", {"ownerReferences": [OWNER]},
     {"replicasets": [{"metadata": {"name": "rs", "namespace": "default"},
                       "spec": {"selector": {"matchLabels": {"app": "web", "rev": "1"}}}}]}, "app=web,rev=1"),
]


@pytest.mark.parametrize("meta,objects,selector", [c[1:] for c in DEFAULT_CASES], ids=[c[0] for c in DEFAULT_CASES])
def test_system_default_constraints(meta: dict[str, Any], objects: dict[str, Any], selector: str | None) -> None:
    infos = _infos(ZONES, {})
    pl = pts.new({}, FakeHandle(infos, objects))
    p = pod(labels={"app": "web", "rev": "1"})
    p["metadata"].update(meta)
    constraints = pl.constraints_for(pi(p), pts.SCHEDULE_ANYWAY)
    if selector is None:
        assert constraints == []
        return
    assert [(c.topology_key, c.max_skew) for c in constraints] == [(HOSTNAME, 3), (ZONE, 5)]
    assert all(str(c.selector) == selector for c in constraints)
    assert pl.constraints_for(pi(p), pts.DO_NOT_SCHEDULE) == []  # defaults are ScheduleAnyway: no filtering


def test_default_constraints_spread_replicas_across_zones() -> None:
    rs = {"metadata": {"name": "rs", "namespace": "default"}, "spec": {"selector": {"matchLabels": {"app": "web"}}}}
    web = {"app": "web"}
    infos = _infos(ZONES, {"a": ("default", 2, web), "b": ("default", 1, web)})
    pl = pts.new({}, FakeHandle(infos, {"replicasets": [rs]}))
    p = pod(labels=web)
    p["metadata"]["ownerReferences"] = [OWNER]
    state = CycleState()
    assert pl.pre_score(state, pi(p), infos).is_success()
    scores = {ni.name: pl.score(state, pi(p), ni)[0] for ni in infos}
    pl.score_extensions().normalize_score(state, pi(p), scores)
    assert min(scores["x"], scores["y"]) > max(scores["a"], scores["b"])

"""DaemonSet node eligibility, daemon tolerations and node-name affinity, per-node pod decisions and the
rolling update (maxUnavailable and maxSurge) against a recording client."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.controllers import daemonutil as du
from kybernetes.controllers.daemonset import DaemonSetController
from tests.unit.controllers.workloads.fakes import fake_context

Obj = dict[str, Any]


def node(name: str = "n1", labels: Obj | None = None, taints: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []}}


def ds(pod_spec: Obj | None = None, **spec: Any) -> Obj:
    return {"metadata": {"name": "ds", "namespace": "ns", "uid": "ds-uid", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "d"}},
                     "template": {"metadata": {"labels": {"app": "d"}},
                                  "spec": {"containers": [{"name": "c"}], **(pod_spec or {})}}, **spec}}


def taint(key: str, effect: str, value: str = "") -> Obj:
    return {"key": key, "value": value, "effect": effect}


AFFINITY = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}


@pytest.mark.parametrize("the_node,the_ds,want", [
    (node(), ds(), (True, True)),
    (node(labels={"disk": "ssd"}), ds({"nodeSelector": {"disk": "ssd"}}), (True, True)),
    (node(labels={"disk": "hdd"}), ds({"nodeSelector": {"disk": "ssd"}}), (False, False)),
    (node(labels={"zone": "a"}), ds({"affinity": AFFINITY}), (True, True)),
    (node(labels={"zone": "b"}), ds({"affinity": AFFINITY}), (False, False)),
    (node("n2"), ds({"nodeName": "n1"}), (False, False)),
    (node(taints=[taint("dedicated", "NoSchedule")]), ds(), (False, True)),
    (node(taints=[taint("dedicated", "NoExecute")]), ds(), (False, False)),
    (node(taints=[taint("dedicated", "NoSchedule", "db")]),
     ds({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db"}]}), (True, True)),
    (node(taints=[taint("dedicated", "PreferNoSchedule")]), ds(), (True, True)),
    (node(taints=[taint("node.kubernetes.io/not-ready", "NoExecute"),
                  taint("node.kubernetes.io/unreachable", "NoExecute"),
                  taint("node.kubernetes.io/unschedulable", "NoSchedule"),
                  taint("node.kubernetes.io/disk-pressure", "NoSchedule"),
                  taint("node.kubernetes.io/memory-pressure", "NoSchedule"),
                  taint("node.kubernetes.io/pid-pressure", "NoSchedule")]), ds(), (True, True)),
    (node(taints=[taint("node.kubernetes.io/network-unavailable", "NoSchedule")]), ds(), (False, True)),
    (node(taints=[taint("node.kubernetes.io/network-unavailable", "NoSchedule")]), ds({"hostNetwork": True}),
     (True, True)),
], ids=["plain", "node-selector-match", "node-selector-miss", "affinity-match", "affinity-miss", "template-node-name",
        "noschedule-taint-keeps-running", "noexecute-taint-evicts", "tolerated-taint", "prefer-no-schedule",
        "daemon-tolerations", "network-unavailable", "network-unavailable-host-network"])
def test_node_should_run_daemon_pod(the_node: Obj, the_ds: Obj, want: tuple[bool, bool]) -> None:
    assert du.node_should_run_daemon_pod(the_node, the_ds) == want


def test_name_affinity_replaces_required_terms_and_is_read_back() -> None:
    affinity = du.replace_node_name_affinity({**AFFINITY, "podAntiAffinity": {"x": 1}}, "n7")
    assert affinity["podAntiAffinity"] == {"x": 1}
    assert affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n7"]}]}]}
    assert du.target_node_name({"spec": {"affinity": affinity}}) == "n7"
    assert du.target_node_name({"spec": {"nodeName": "n1", "affinity": affinity}}) == "n1"
    assert du.target_node_name({"spec": {}}) is None


def test_pod_template_gets_tolerations_once_and_hash_label() -> None:
    the_ds = ds({"tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                  "effect": "NoExecute", "tolerationSeconds": 5}]})
    template = du.create_pod_template(the_ds, "abc")
    keys = [(t["key"], t["effect"]) for t in template["spec"]["tolerations"]]
    assert len(keys) == len(set(keys)) == 6
    assert all("tolerationSeconds" not in t for t in template["spec"]["tolerations"])
    assert template["metadata"]["labels"] == {"app": "d", "controller-revision-hash": "abc"}
    assert "tolerations" not in the_ds["spec"]["template"]["spec"] or \
        len(the_ds["spec"]["template"]["spec"]["tolerations"]) == 1  # the DaemonSet itself is untouched


@pytest.mark.parametrize("rolling,desired,want", [
    ({"maxUnavailable": 1, "maxSurge": 0}, 10, (0, 1)),
    ({"maxUnavailable": "25%", "maxSurge": 0}, 10, (0, 3)),
    ({"maxUnavailable": 0, "maxSurge": "10%"}, 15, (2, 0)),
    ({"maxUnavailable": 0, "maxSurge": 0}, 5, (0, 1)),
], ids=["absolute", "percent-rounds-up", "surge-percent", "never-both-zero"])
def test_surge_and_unavailable(rolling: Obj, desired: int, want: tuple[int, int]) -> None:
    the_ds = ds(updateStrategy={"type": "RollingUpdate", "rollingUpdate": rolling})
    assert du.surge_and_unavailable(the_ds, desired) == want


def pod(name: str, node_name: str, hash_: str, *, ready: bool = True, phase: str = "Running",
        created: str = "2024-01-01T00:00:00Z") -> Obj:
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "creationTimestamp": created,
                         "labels": {"app": "d", "controller-revision-hash": hash_},
                         "ownerReferences": [{"kind": "DaemonSet", "name": "ds", "uid": "ds-uid", "controller": True}]},
            "spec": {"nodeName": node_name},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                       "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}


@pytest.mark.parametrize("pods,surge,want", [
    ([], False, (True, [])),
    ([pod("a", "n1", "new")], False, (False, [])),
    ([pod("a", "n1", "new"), pod("b", "n1", "new", created="2024-01-02T00:00:00Z")], False, (False, ["b"])),
    ([pod("a", "n1", "new", phase="Failed")], False, (True, ["a"])),
    ([pod("a", "n1", "old"), pod("b", "n1", "new", created="2024-01-02T00:00:00Z")], True, (False, ["a"])),
    ([pod("a", "n1", "old"), pod("b", "n1", "new", ready=False, created="2024-01-02T00:00:00Z")], True,
     (False, [])),
], ids=["missing", "one-running", "duplicate-newest-goes", "failed-replaced", "surge-old-goes-once-new-available",
        "surge-waits-for-new"])
def test_pods_should_be_on_node(pods: list[Obj], surge: bool, want: tuple[bool, list[str]]) -> None:
    ctx, _, _, events = fake_context()
    ctl = DaemonSetController(ctx, now=lambda: 1e10)
    need, victims = ctl.pods_should_be_on_node(ds(), node(), pods, "new", surge)
    assert (need, [p["metadata"]["name"] for p in victims]) == want
    if any((p.get("status") or {}).get("phase") == "Failed" for p in pods):
        assert events.reasons() == ["FailedDaemonPod"]


@pytest.mark.parametrize("rolling,on_nodes,want_deleted,want_created_on", [
    ({"maxUnavailable": 1, "maxSurge": 0}, {"n1": ["old"], "n2": ["old"], "n3": ["old"]}, ["p-n1-0"], []),
    ({"maxUnavailable": 2, "maxSurge": 0}, {"n1": ["old"], "n2": ["old"], "n3": ["old"]}, ["p-n1-0", "p-n2-0"], []),
    ({"maxUnavailable": 1, "maxSurge": 0}, {"n1": ["new-unready"], "n2": ["old"], "n3": ["old"]}, [], []),
    ({"maxUnavailable": 1, "maxSurge": 0}, {"n1": ["new-unready"], "n2": ["old-unready"], "n3": ["old"]},
     ["p-n2-0"], []),
    ({"maxUnavailable": 0, "maxSurge": 1}, {"n1": ["old"], "n2": ["old"], "n3": ["old"]}, [], ["n1"]),
    ({"maxUnavailable": 0, "maxSurge": 1}, {"n1": ["old", "new"], "n2": ["old"], "n3": ["old"]}, ["p-n1-0"],
     ["n2"]),
    ({"maxUnavailable": 0, "maxSurge": 1}, {"n1": ["old", "new-unready"], "n2": ["old"], "n3": ["old"]}, [], []),
], ids=["one-at-a-time", "two-at-a-time", "blocked-by-unavailable-new", "unavailable-old-replaced-freely",
        "surge-first", "surge-then-delete-old", "surge-budget-used"])
async def test_rolling_update(rolling: Obj, on_nodes: dict[str, list[str]], want_deleted: list[str],
                              want_created_on: list[str]) -> None:
    ctx, client, _, _ = fake_context()
    ctl = DaemonSetController(ctx, now=lambda: 1e10)
    the_ds = ds(updateStrategy={"type": "RollingUpdate", "rollingUpdate": rolling})
    nodes = [node(n) for n in sorted(on_nodes)]
    node_to_pods = {n: [pod(f"p-{n}-{i}", n, kind.split("-")[0], ready=not kind.endswith("unready"),
                            created=f"2024-01-0{i + 1}T00:00:00Z") for i, kind in enumerate(kinds)]
                    for n, kinds in on_nodes.items()}
    await ctl._rolling_update("ns/ds", the_ds, nodes, node_to_pods, "new")
    assert client.verbs("delete") == want_deleted
    made = [body for verb, _, body in client.calls if verb == "create"]
    assert [du.target_node_name(b) for b in made] == want_created_on
    for body in made:
        assert body["metadata"]["labels"]["controller-revision-hash"] == "new"

"""EndpointSlice computation and slicing: conditions, port groups, 100 per slice, reuse of existing slices."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.controllers.endpointslice import desired_endpoints, plan_slices, pod_to_endpoint
from kybernetes.controllers.endpointslicemirroring import mirrored_endpoints, should_mirror

Obj = dict[str, Any]

SVC = {"metadata": {"name": "web", "namespace": "ns"},
       "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def pod(i: int, ready: bool = True, deleting: bool = False) -> Obj:
    md: Obj = {"name": f"p{i:03d}", "namespace": "ns", "uid": f"u{i}"}
    if deleting:
        md["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {"metadata": md, "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIP": f"198.18.{i // 250}.{i % 250 + 1}",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


@pytest.mark.parametrize("p,publish,want", [
    (pod(1), False, {"ready": True, "serving": True, "terminating": False}),
    (pod(1, ready=False), False, {"ready": False, "serving": False, "terminating": False}),
    (pod(1, deleting=True), False, {"ready": False, "serving": True, "terminating": True}),
    (pod(1, ready=False), True, {"ready": True, "serving": False, "terminating": False}),
], ids=["ready", "not-ready", "terminating-serving", "publish-not-ready"])
def test_endpoint_conditions(p: Obj, publish: bool, want: Obj) -> None:
    service = {**SVC, "spec": {**SVC["spec"], "publishNotReadyAddresses": publish}}
    ep = pod_to_endpoint(p, service, {"metadata": {"labels": {"topology.kubernetes.io/zone": "z1"}}})
    assert ep["conditions"] == want
    assert ep["nodeName"] == "n1" and ep["zone"] == "z1" and ep["targetRef"]["name"] == "p001"


def build(ports: list[Obj], eps: list[Obj]) -> Obj:
    return {"metadata": {"generateName": "web-", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "ports": ports, "endpoints": eps}


def existing(name: str, eps: list[Obj], ports: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name, "resourceVersion": "1", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "endpoints": eps,
            "ports": ports if ports is not None else [{"name": "http", "port": 8080, "protocol": "TCP"}]}


@pytest.mark.parametrize("n_pods,n_existing,want", [
    (0, 0, (1, 0, 0)),      # placeholder slice
    (3, 0, (1, 0, 0)),
    (100, 0, (1, 0, 0)),
    (101, 0, (2, 0, 0)),
    (250, 0, (3, 0, 0)),
    (150, 1, (1, 1, 0)),    # reuse the one slice, create another
    (10, 3, (0, 1, 2)),     # shrink: update one, delete two
], ids=["empty", "few", "exactly-100", "101", "250", "grow", "shrink"])
def test_plan_slices_counts(n_pods: int, n_existing: int, want: tuple[int, int, int]) -> None:
    desired = desired_endpoints(SVC, [pod(i) for i in range(n_pods)], {})
    current = [existing(f"web-{i}", []) for i in range(n_existing)]
    plan = plan_slices(current, desired, build)
    assert (len(plan.create), len(plan.update), len(plan.delete)) == want
    for body in plan.create + plan.update:
        assert len(body["endpoints"]) <= 100
    assert sum(len(b["endpoints"]) for b in plan.create + plan.update) == n_pods


def test_plan_is_empty_when_up_to_date() -> None:
    desired = desired_endpoints(SVC, [pod(1), pod(2)], {})
    ((ports, eps),) = desired.values()
    plan = plan_slices([existing("web-a", eps, ports)], desired, build)
    assert (plan.create, plan.update, plan.delete) == ([], [], [])


def test_named_ports_split_slices_by_port_set() -> None:
    service = {**SVC, "spec": {**SVC["spec"], "ports": [{"name": "http", "port": 80, "targetPort": "web"}]}}
    a, b = pod(1), pod(2)
    a["spec"]["containers"][0]["ports"] = [{"name": "web", "containerPort": 8080}]
    b["spec"]["containers"][0]["ports"] = [{"name": "web", "containerPort": 9090}]
    desired = desired_endpoints(service, [a, b], {})
    assert sorted(ports[0]["port"] for ports, _ in desired.values()) == [8080, 9090]


@pytest.mark.parametrize("labels,selector,want", [
    ({}, None, True),
    ({"endpointslice.kubernetes.io/skip-mirror": "true"}, None, False),
    ({}, {"app": "x"}, False),
], ids=["custom-endpoints", "skip-mirror", "service-has-selector"])
def test_should_mirror(labels: Obj, selector: Obj | None, want: bool) -> None:
    ep = {"metadata": {"name": "ext", "labels": labels}}
    assert should_mirror(ep, {"metadata": {"name": "ext"}, "spec": {"selector": selector}}) is want


def test_mirrored_endpoints_keep_readiness() -> None:
    ep = {"metadata": {"name": "ext"}, "subsets": [{"addresses": [{"ip": "198.18.1.1"}],
                                                    "notReadyAddresses": [{"ip": "198.18.1.2"}],
                                                    "ports": [{"port": 53, "protocol": "UDP"}]}]}
    ((ports, eps),) = mirrored_endpoints(ep)["IPv4"].values()
    assert ports == [{"name": "", "port": 53, "protocol": "UDP"}]
    assert [(e["addresses"][0], e["conditions"]["ready"]) for e in eps] == [("198.18.1.1", True),
                                                                              ("198.18.1.2", False)]

"""Endpoints computation: readiness, named and numeric target ports, publishNotReadyAddresses, terminating pods."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.controllers.endpoints import compute_subsets

Obj = dict[str, Any]


def svc(ports: list[Obj] | None = None, **spec: Any) -> Obj:
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "s1"},
            "spec": {"selector": {"app": "web"}, "ports": ports if ports is not None else
                     [{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}], **spec}}


def pod(name: str, ip: str = "198.18.0.1", ready: bool = True, ports: list[Obj] | None = None,
        deleting: bool = False, phase: str = "Running") -> Obj:
    md: Obj = {"name": name, "namespace": "ns", "uid": f"u-{name}", "labels": {"app": "web"}}
    if deleting:
        md["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {"metadata": md,
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": ports if ports is not None else
                                                       [{"name": "web", "containerPort": 8080}]}]},
            "status": {"phase": phase, "podIP": ip,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def summary(subsets: list[Obj]) -> list[tuple[list[str], list[str], list[int]]]:
    return [([a["ip"] for a in s.get("addresses", [])], [a["ip"] for a in s.get("notReadyAddresses", [])],
             [p["port"] for p in s.get("ports", [])]) for s in subsets]


CASES = [
    ("ready pod, named port", svc(), [pod("a")], [(["198.18.0.1"], [], [8080])]),
    ("not ready pod", svc(), [pod("a", ready=False)], [([], ["198.18.0.1"], [8080])]),
    ("mixed readiness share a subset", svc(), [pod("b", "198.18.0.2"), pod("a", "198.18.0.1", ready=False)],
     [(["198.18.0.2"], ["198.18.0.1"], [8080])]),
    ("numeric target port", svc([{"name": "", "port": 80, "targetPort": 9090}]), [pod("a")],
     [(["198.18.0.1"], [], [9090])]),
    ("no target port means the port", svc([{"port": 80}]), [pod("a")], [(["198.18.0.1"], [], [80])]),
    ("named port missing on the pod", svc(), [pod("a", ports=[])], []),
    ("named ports resolve per pod", svc(),
     [pod("a", "198.18.0.1"), pod("b", "198.18.0.2", ports=[{"name": "web", "containerPort": 8081}])],
     [(["198.18.0.1"], [], [8080]), (["198.18.0.2"], [], [8081])]),
    ("publishNotReadyAddresses", svc(publishNotReadyAddresses=True), [pod("a", ready=False)],
     [(["198.18.0.1"], [], [8080])]),
    ("terminating pod excluded", svc(), [pod("a", deleting=True)], []),
    ("terminating kept with publishNotReadyAddresses", svc(publishNotReadyAddresses=True),
     [pod("a", deleting=True)], [(["198.18.0.1"], [], [8080])]),
    ("succeeded pod excluded", svc(), [pod("a", phase="Succeeded")], []),
    ("pod without IP excluded", svc(), [pod("a", ip="")], []),
    ("headless without ports", svc([], clusterIP="None"), [pod("a")], [(["198.18.0.1"], [], [])]),
]


@pytest.mark.parametrize("service,pods,want", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_compute_subsets(service: Obj, pods: list[Obj], want: list[Any]) -> None:
    assert summary(compute_subsets(service, pods)) == want


def test_address_carries_target_ref_and_node() -> None:
    (subset,) = compute_subsets(svc(), [pod("a")])
    assert subset["addresses"][0] == {"ip": "198.18.0.1", "nodeName": "n1",
                                      "targetRef": {"kind": "Pod", "namespace": "ns", "name": "a", "uid": "u-a"}}
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]

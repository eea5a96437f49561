"""Tiny builders of Services and EndpointSlices for the proxy's tests."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def service(name: str, *, ns: str = "default", ip: str = "198.19.0.10", ports: list[Obj] | None = None,
            type: str = "ClusterIP", **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": ns, "name": name},
            "spec": {"clusterIP": ip, "type": type,
                     "ports": ports if ports is not None else [{"name": "http", "port": 80, "protocol": "TCP"}],
                     **spec}}


def endpoint(ip: str, *, ready: bool | None = True, serving: bool | None = None, terminating: bool | None = None,
             node: str = "") -> Obj:
    cond: Obj = {}
    if ready is not None:
        cond["ready"] = ready
    if serving is not None:
        cond["serving"] = serving
    if terminating is not None:
        cond["terminating"] = terminating
    ep: Obj = {"addresses": [ip], "conditions": cond}
    if node:
        ep["nodeName"] = node
    return ep


def endpoint_slice(svc: str, endpoints: list[Obj], *, ns: str = "default", name: str = "",
                   ports: list[Obj] | None = None) -> Obj:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"namespace": ns, "name": name or f"{svc}-abc",
                         "labels": {"kubernetes.io/service-name": svc}},
            "ports": ports if ports is not None else [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": endpoints}

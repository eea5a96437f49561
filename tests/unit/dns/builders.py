"""Tiny builders of Services, EndpointSlices and Pods, and caches holding them, for the DNS unit tests."""

from __future__ import annotations

from typing import Any

from kybernetes.client.cache import Indexer
from kybernetes.dns.records import INDEXERS, ClusterRecords

Obj = dict[str, Any]


def service(name: str, ns: str = "default", *, cluster_ip: str = "10.96.0.10", ports: list[tuple] | None = None,
            type_: str = "ClusterIP", external_name: str = "", cluster_ips: list[str] | None = None,
            publish_not_ready: bool = False) -> Obj:
    """ports: (name, port, protocol) triples."""
    spec: Obj = {"type": type_, "ports": [{"name": n, "port": p, "protocol": proto}
                                          for n, p, proto in (ports if ports is not None else [("http", 80, "TCP")])]}
    if type_ == "ExternalName":
        spec["externalName"] = external_name
    else:
        spec["clusterIP"] = cluster_ip
        spec["clusterIPs"] = cluster_ips or [cluster_ip]
    if publish_not_ready:
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def endpoint(ip: str, *, ready: bool | None = True, hostname: str = "") -> Obj:
    ep: Obj = {"addresses": [ip], "conditions": {} if ready is None else {"ready": ready}}
    if hostname:
        ep["hostname"] = hostname
    return ep


def endpoint_slice(svc: str, ns: str = "default", *, endpoints: list[Obj], ports: list[tuple] | None = None,
                   name: str = "", address_type: str = "IPv4") -> Obj:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name or f"{svc}-abc", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": address_type, "endpoints": endpoints,
            "ports": [{"name": n, "port": p, "protocol": proto}
                      for n, p, proto in (ports if ports is not None else [("http", 8080, "TCP")])]}


def pod(name: str, ns: str = "default", *, ip: str, host_network: bool = False) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"hostNetwork": host_network}, "status": {"podIP": ip, "podIPs": [{"ip": ip}]}}


def cache(kind: str, objs: list[Obj]) -> Indexer:
    idx = Indexer(INDEXERS[kind])
    for o in objs:
        idx.upsert(o)
    return idx


def records(*, services: list[Obj] = (), slices: list[Obj] = (), pods: list[Obj] | None = None,
            pods_mode: str = "insecure", zone: str = "cluster.local") -> ClusterRecords:
    return ClusterRecords(services=cache("services", list(services)), endpointslices=cache("endpointslices",
                          list(slices)), pods=cache("pods", pods) if pods is not None else None,
                          pods_mode=pods_mode, zone=zone)

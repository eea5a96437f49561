"""Endpoint selection per Service port: ready endpoints, the serving-terminating fallback, and traffic policies."""

from __future__ import annotations

from typing import NamedTuple

from kybernetes.proxy.types import EndpointInfo, ServicePortInfo


class Categorized(NamedTuple):
    """Endpoints for cluster-wide traffic, for node-local traffic, their union, and whether any exist at all."""

    cluster: list[EndpointInfo]
    local: list[EndpointInfo]
    all_reachable: list[EndpointInfo]
    has_any: bool


def _serving_terminating(ep: EndpointInfo) -> bool:
    return ep.serving and ep.terminating


def categorize_endpoints(endpoints: list[EndpointInfo], svc: ServicePortInfo) -> Categorized:
    """Upstream's CategorizeEndpoints (without topology hints).

    Ready endpoints are used; when a set has none, its serving-and-terminating ones are used instead, so
    connections drain to pods that are shutting down rather than failing.
    """
    cluster: list[EndpointInfo] = []
    has_any = False
    if svc.uses_cluster_endpoints():
        cluster = [e for e in endpoints if e.ready]
        if not cluster:
            cluster = [e for e in endpoints if _serving_terminating(e)]
        has_any = bool(cluster)
    if not svc.uses_local_endpoints():
        return Categorized(cluster, [], cluster, has_any)
    local_ready = local_term = False
    for e in endpoints:
        if e.ready:
            has_any = True
            local_ready = local_ready or e.is_local
        elif _serving_terminating(e):
            has_any = True
            local_term = local_term or e.is_local
    local: list[EndpointInfo] = []
    if local_ready:
        local = [e for e in endpoints if e.is_local and e.ready]
    elif local_term:
        local = [e for e in endpoints if e.is_local and _serving_terminating(e)]
    if not svc.uses_cluster_endpoints():
        return Categorized([], local, local, has_any)
    seen = {e.address for e in cluster}
    return Categorized(cluster, local, cluster + [e for e in local if e.address not in seen], has_any)


def internal_endpoints(cat: Categorized, svc: ServicePortInfo) -> list[EndpointInfo]:
    """Endpoints for traffic to the ClusterIP."""
    return cat.local if svc.internal_policy_local else cat.cluster


def external_endpoints(cat: Categorized, svc: ServicePortInfo) -> list[EndpointInfo]:
    """Endpoints for traffic to NodePorts, LoadBalancer and external IPs."""
    return cat.local if svc.external_policy_local else cat.cluster

"""Objects every cluster has from its first start: system namespaces, the kubernetes Service, priority classes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kybernetes.api import errors
from kybernetes.apiserver.rest import RequestContext

if TYPE_CHECKING:
    from kybernetes.apiserver.server import APIServer

log = logging.getLogger(__name__)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
SYSTEM_PRIORITY_CLASSES = (
    ("system-node-critical", 2000001000, "Used for system critical pods that must not be moved from their current node."),
    ("system-cluster-critical", 2000000000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
)


def _ctx() -> RequestContext:
    return RequestContext(field_manager="kube-apiserver", user="system:apiserver", groups=["system:masters"])


async def _ensure(server: APIServer, group: str, version: str, plural: str, namespace: str, obj: dict[str, Any]) -> None:
    info = server.registry.get(group, version, plural)
    assert info is not None, plural
    key = info.key(namespace, obj["metadata"]["name"])
    if server.cache.cache_for(info.storage_prefix).objects.get(key) is not None:
        return
    try:
        await server.rest.create(info, namespace, obj, _ctx())
    except errors.StatusError as e:
        if e.code != 409:
            raise


async def _put(server: APIServer, group: str, version: str, plural: str, namespace: str, obj: dict[str, Any]) -> None:
    """Create or overwrite (used for objects the apiserver keeps current, like the kubernetes endpoints)."""
    info = server.registry.get(group, version, plural)
    assert info is not None, plural
    name = obj["metadata"]["name"]
    try:
        current = await server.rest.get(info, namespace, name)
    except errors.StatusError as e:
        if e.code != 404:
            raise
        await _ensure(server, group, version, plural, namespace, obj)
        return
    if all(current.get(k) == v for k, v in obj.items() if k != "metadata"):
        return
    obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    await server.rest.update(info, namespace, name, obj, _ctx())


async def bootstrap(server: APIServer) -> None:
    for ns in SYSTEM_NAMESPACES:
        await _ensure(server, "", "v1", "namespaces", "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    for name, value, description in SYSTEM_PRIORITY_CLASSES:
        await _ensure(server, "scheduling.k8s.io", "v1", "priorityclasses", "", {
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
            "value": value, "description": description})
    cfg = server.config
    await _ensure(server, "", "v1", "services", "default", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": server.ips.kubernetes_ip, "sessionAffinity": "None",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": cfg.secure_port}]},
    })
    address = cfg.advertise_address
    await _put(server, "", "v1", "endpoints", "default", {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": address}],
                     "ports": [{"name": "https", "port": cfg.secure_port, "protocol": "TCP"}]}],
    })
    await _put(server, "discovery.k8s.io", "v1", "endpointslices", "default", {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubernetes",
                                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": "IPv6" if ":" in address else "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": cfg.secure_port, "protocol": "TCP"}],
    })

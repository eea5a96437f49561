"""Objects every cluster has from its first start: system namespaces, the kubernetes Service and its endpoints
(kept by the lease endpoint reconciler), priority classes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kybernetes.api import errors
from kybernetes.apiserver.endpointreconciler import (LEASE_LABEL, LEASE_NAMESPACE, APIServerEndpoint,
                                                     LeaseEndpointReconciler, endpoint_slice_objects, endpoints_object)
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
        # another apiserver starting beside us created it: see it in our cache before anything relies on it
        await server.cache.wait_fresh()


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


async def publish_kubernetes_endpoints(server: APIServer, endpoints: list[APIServerEndpoint]) -> None:
    """Write the `kubernetes` Endpoints and EndpointSlice(s) listing `endpoints` (unchanged objects are not written)."""
    await _put(server, "", "v1", "endpoints", "default", endpoints_object(endpoints))
    slices = endpoint_slice_objects(endpoints)
    for obj in slices:
        await _put(server, "discovery.k8s.io", "v1", "endpointslices", "default", obj)
    # slices of a port no apiserver uses any more
    info = server.registry.get("discovery.k8s.io", "v1", "endpointslices")
    assert info is not None
    wanted = {obj["metadata"]["name"] for obj in slices}
    prefix = info.key("default", "kubernetes-")
    for key, obj in list(server.cache.cache_for(info.storage_prefix).objects.items()):
        name = obj["metadata"]["name"]
        if key.startswith(prefix) and name not in wanted and \
                (obj["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == "kubernetes":
            try:
                await server.rest.delete(info, "default", name, {}, _ctx())
            except errors.StatusError as e:
                if e.code != 404:
                    raise


class APIServerLeases:
    """The reconciler's leases, read from this apiserver's cache and written through its own storage path."""

    def __init__(self, server: APIServer) -> None:
        self.server = server
        info = server.registry.get("coordination.k8s.io", "v1", "leases")
        assert info is not None
        self.info = info

    async def list(self) -> list[dict[str, Any]]:
        cache = self.server.cache.cache_for(self.info.storage_prefix)
        return [o for o in cache.list(self.info.key(LEASE_NAMESPACE, ""))
                if (o["metadata"].get("labels") or {}).get(LEASE_LABEL) == "true"]

    async def put(self, lease: dict[str, Any]) -> None:
        await _put(self.server, "coordination.k8s.io", "v1", "leases", LEASE_NAMESPACE, lease)

    async def delete(self, name: str, resource_version: str) -> None:
        try:
            await self.server.rest.delete(self.info, LEASE_NAMESPACE, name,
                                          {"preconditions": {"resourceVersion": resource_version}}, _ctx())
        except errors.StatusError as e:
            if e.code not in (404, 409):  # gone, or renewed after all
                raise


def endpoint_reconciler(server: APIServer) -> LeaseEndpointReconciler | None:
    """The reconciler of --endpoint-reconciler-type ('lease'; 'none': the endpoints are left to the admin)."""
    cfg = server.config
    if cfg.endpoint_reconciler_type == "none":
        return None
    if cfg.endpoint_reconciler_type != "lease":
        raise ValueError(f"unknown endpoint reconciler type {cfg.endpoint_reconciler_type!r} (lease, none)")

    async def publish(endpoints: list[APIServerEndpoint]) -> None:
        for attempt in range(3):  # another apiserver may be writing the same objects
            try:
                await publish_kubernetes_endpoints(server, endpoints)
                return
            except errors.StatusError as e:
                if e.code != 409 or attempt == 2:
                    raise

    return LeaseEndpointReconciler(leases=APIServerLeases(server), publish=publish,
                                   endpoint=APIServerEndpoint(cfg.advertise_address, server.port),
                                   ttl=cfg.endpoint_lease_ttl)

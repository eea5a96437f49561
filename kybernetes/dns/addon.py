"""The cluster DNS add-on objects `kybernetes server` publishes: the kube-dns Service, its endpoints, its RBAC.

Like k3s's coredns manifest, but the server runs the DNS itself (a `kybernetes dns` child listening on the node
address), so the Service has no selector: a manual Endpoints (skip-mirror) and EndpointSlice point at it, and the
proxy carries `clusterIP:53` there in either mode.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Any

from kybernetes.client.rest import ApiError, RESTClient, resource_path

log = logging.getLogger(__name__)

COREDNS_IDENTITY = ("coredns", "system:coredns", ())  # (kubeconfig file name, user, groups) of the DNS process
DNS_SERVICE_INDEX = 10  # the kube-dns ClusterIP is the 10th address of the service range (upstream convention)
DEFAULT_DNS_PORT = 1053
DEFAULT_METRICS_PORT = 9153
SLICE_MANAGER = "cluster-dns.kybernetes.io"
LABELS = {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}

Obj = dict[str, Any]


def cluster_dns_ip(service_cidr: str) -> str:
    """The 10th address of the (first) service range: 198.19.0.10 for 198.19.0.0/16."""
    return str(ipaddress.ip_network(service_cidr.split(",")[0].strip(), strict=False)[DNS_SERVICE_INDEX])


def pick_port(host: str, preferred: int) -> int:
    """`preferred` when both its UDP and TCP are free on `host`, else a port free for both."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for candidate in (preferred, 0):
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind((host, candidate))
            except OSError:
                continue
            port = udp.getsockname()[1]
            with socket.socket(family, socket.SOCK_STREAM) as tcp:
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
            return port
    raise OSError(f"no free port for DNS on {host}")


async def published_ports(client: RESTClient) -> dict[str, int]:
    """Port name -> port of the kube-dns endpoints published before ({} when there are none)."""
    try:
        eps = await client.get(resource_path("discovery.k8s.io", "v1", "endpointslices", "kube-system",
                                             "kube-dns-local"))
    except ApiError as e:
        if e.not_found:
            return {}
        raise
    return {p["name"]: p["port"] for p in eps.get("ports") or () if p.get("name") and p.get("port")}


def rbac_objects() -> list[tuple[str, Obj]]:
    """ClusterRole and ClusterRoleBinding system:coredns: list/watch of what the DNS reads (as CoreDNS's)."""
    group = "rbac.authorization.k8s.io"
    role = {"apiVersion": f"{group}/v1", "kind": "ClusterRole",
            "metadata": {"name": "system:coredns", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "rules": [{"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
                       "verbs": ["list", "watch"]},
                      {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                       "verbs": ["list", "watch"]}]}
    binding = {"apiVersion": f"{group}/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "system:coredns", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
               "roleRef": {"apiGroup": group, "kind": "ClusterRole", "name": "system:coredns"},
               "subjects": [{"apiGroup": group, "kind": "User", "name": COREDNS_IDENTITY[1]}]}
    return [(resource_path(group, "v1", "clusterroles"), role),
            (resource_path(group, "v1", "clusterrolebindings"), binding)]


def service_objects(*, cluster_ip: str, address: str, dns_port: int, metrics_port: int) -> list[tuple[str, Obj]]:
    """The kube-dns Service (ports dns/53 UDP, dns-tcp/53 TCP, metrics/9153) and endpoints at address:ports."""
    ns = "kube-system"
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "kube-dns", "namespace": ns, "labels": dict(LABELS),
                        "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}},
           "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                    "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": dns_port},
                              {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": dns_port},
                              {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": metrics_port}]}}
    ports = [{"name": "dns", "port": dns_port, "protocol": "UDP"},
             {"name": "dns-tcp", "port": dns_port, "protocol": "TCP"},
             {"name": "metrics", "port": metrics_port, "protocol": "TCP"}]
    endpoints = {"apiVersion": "v1", "kind": "Endpoints",
                 "metadata": {"name": "kube-dns", "namespace": ns,
                              "labels": {**LABELS, "endpointslice.kubernetes.io/skip-mirror": "true"}},
                 "subsets": [{"addresses": [{"ip": address}], "ports": ports}]}
    eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "kube-dns-local", "namespace": ns,
                        "labels": {**LABELS, "kubernetes.io/service-name": "kube-dns",
                                   "endpointslice.kubernetes.io/managed-by": SLICE_MANAGER}},
           "addressType": "IPv6" if ":" in address else "IPv4",
           "endpoints": [{"addresses": [address], "conditions": {"ready": True, "serving": True,
                                                                 "terminating": False}}],
           "ports": ports}
    return [(resource_path("", "v1", "services", ns), svc), (resource_path("", "v1", "endpoints", ns), endpoints),
            (resource_path("discovery.k8s.io", "v1", "endpointslices", ns), eps)]


def _same(current: Obj, want: Obj) -> bool:
    """True when every field we set (but metadata's bookkeeping) already has our value."""
    for k, v in want.items():
        if k == "metadata":
            md = current.get("metadata") or {}
            if any((md.get(f) or {}) != (v.get(f) or {}) for f in ("labels", "annotations")):
                return False
        elif k == "spec":
            spec = current.get("spec") or {}
            if any(spec.get(f) != x for f, x in v.items()):
                return False
        elif current.get(k) != v:
            return False
    return True


async def apply(client: RESTClient, collection: str, obj: Obj) -> None:
    """Create `obj`, or bring an existing one to it (a Service whose ClusterIP differs is recreated)."""
    path = f"{collection}/{obj['metadata']['name']}"
    current: Obj | None = None
    try:
        current = await client.get(path)
    except ApiError as e:
        if not e.not_found:
            raise
    if current is None:
        await client.create(collection, obj)
        return
    if _same(current, obj):
        return
    if obj["kind"] == "Service" and (current.get("spec") or {}).get("clusterIP") != obj["spec"]["clusterIP"]:
        log.warning("kube-dns Service has ClusterIP %s, want %s: recreating it",
                    (current.get("spec") or {}).get("clusterIP"), obj["spec"]["clusterIP"])
        await client.delete(path)
        await client.create(collection, obj)
        return
    merged = {**obj, "metadata": {**current["metadata"], **obj["metadata"]}}
    if obj["kind"] == "Service":
        merged["spec"] = {**current.get("spec", {}), **obj["spec"]}
    await client.update(path, merged)


async def ensure_kube_dns(client: RESTClient, *, cluster_ip: str, address: str, dns_port: int,
                          metrics_port: int) -> None:
    """Create or update the RBAC, the kube-dns Service and its endpoints (idempotent)."""
    for collection, obj in rbac_objects() + service_objects(cluster_ip=cluster_ip, address=address,
                                                            dns_port=dns_port, metrics_port=metrics_port):
        await apply(client, collection, obj)

"""The cluster-info ConfigMap (kube-public): a kubeconfig naming the apiserver and its CA, readable without
credentials and signed by the bootstrap signer with each signing token (data `jws-kubeconfig-<token id>`)."""

from __future__ import annotations

import base64
from typing import Any

import yaml

from kybernetes.client import ApiError, RESTClient, resource_path

Obj = dict[str, Any]

NAMESPACE = "kube-public"
NAME = "cluster-info"
KUBECONFIG_KEY = "kubeconfig"
JWS_PREFIX = "jws-kubeconfig-"


def cluster_info_kubeconfig(server: str, ca_pem: bytes) -> str:
    """The kubeconfig cluster-info publishes: one unnamed cluster, no users (as kubeadm writes it)."""
    doc = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": "", "cluster": {"server": server,
                                                 "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
           "contexts": None, "current-context": "", "preferences": {}, "users": None}
    return yaml.safe_dump(doc, sort_keys=True)


def parse_cluster_info_kubeconfig(content: str) -> tuple[str, bytes]:
    """(server, CA PEM) of the first cluster of a cluster-info kubeconfig; ValueError if it has none."""
    try:
        doc = yaml.safe_load(content) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"cluster-info kubeconfig is not YAML: {e}") from None
    clusters = [c for c in (doc.get("clusters") or []) if isinstance(c, dict)] if isinstance(doc, dict) else []
    if not clusters:
        raise ValueError("the cluster-info kubeconfig has no cluster")
    cluster = clusters[0].get("cluster") or {}
    ca = cluster.get("certificate-authority-data") or ""
    if not ca:
        raise ValueError("the cluster-info kubeconfig has no certificate-authority-data")
    return str(cluster.get("server") or ""), base64.b64decode(ca)


def cluster_info_configmap(kubeconfig: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": NAME, "namespace": NAMESPACE},
            "data": {KUBECONFIG_KEY: kubeconfig}}


async def ensure_cluster_info(client: RESTClient, server: str, ca_pem: bytes) -> None:
    """Create cluster-info, or rewrite its kubeconfig when the server or CA changed (signatures are the
    bootstrap signer's business: it re-signs)."""
    want = cluster_info_kubeconfig(server, ca_pem)
    path = resource_path("", "v1", "configmaps", NAMESPACE)
    try:
        await client.create(path, cluster_info_configmap(want))
        return
    except ApiError as e:
        if e.code != 409:
            raise
    current = await client.get(resource_path("", "v1", "configmaps", NAMESPACE, NAME))
    data = dict(current.get("data") or {})
    if data.get(KUBECONFIG_KEY) == want:
        return
    data[KUBECONFIG_KEY] = want
    current["data"] = data
    await client.update(resource_path("", "v1", "configmaps", NAMESPACE, NAME), current)

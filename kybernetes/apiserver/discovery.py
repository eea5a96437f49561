"""API discovery documents from the registry: /api, /apis, resource lists per group-version, aggregated discovery."""

from __future__ import annotations

import base64
import hashlib

from kybernetes.api.openapi import subresource_info
from kybernetes.api.registry import Registry, ResourceInfo

AGGREGATED_GROUP = "apidiscovery.k8s.io"
AGGREGATED_VERSIONS = ("v2", "v2beta1")


def api_versions(server_address: str) -> dict:
    """The /api document: the legacy core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_version(group: str, version: str) -> dict:
    return {"groupVersion": f"{group}/{version}", "version": version}


def _api_group(group: str, versions: list[str]) -> dict:
    return {
        "name": group,
        "versions": [_group_version(group, v) for v in versions],
        "preferredVersion": _group_version(group, versions[0]),
    }


def api_group_list(registry: Registry) -> dict:
    """The /apis document: every named group with its versions, preferred first."""
    groups = [_api_group(g, vs) for g, vs in registry.groups().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict | None:
    """The /apis/<group> document, or None if the group is not served."""
    versions = registry.groups().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(group, versions)}


def storage_version_hash(group: str, resource: str, kind: str) -> str:
    """A stable hash, equal across a resource's versions, shaped as upstream's (8 bytes of SHA-256, base64)."""
    digest = hashlib.sha256(f"{group}/{resource}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def _resource_entry(info: ResourceInfo) -> dict:
    entry = {
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    entry["storageVersionHash"] = storage_version_hash(info.group, info.storage_plural or info.plural, info.kind)
    return entry


def _subresource_entry(info: ResourceInfo, sub: str) -> dict:
    si = subresource_info(info, sub)
    entry = {
        "name": f"{info.plural}/{sub}",
        "singularName": "",
        "namespaced": info.namespaced,
        "kind": si.kind,
        "verbs": list(si.verbs),
    }
    if (si.group, si.version) != (info.group, info.version):
        entry["group"] = si.group
        entry["version"] = si.version
    return entry


def api_resource_list(registry: Registry, group: str, version: str) -> dict | None:
    """The /api/v1 or /apis/<group>/<version> document, or None if the group-version is not served."""
    resources = registry.resources(group, version)
    if not resources:
        return None
    entries: list[dict] = []
    for info in resources:
        entries.append(_resource_entry(info))
        entries.extend(_subresource_entry(info, sub) for sub in sorted(info.subresources))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }


def _discovery_resource(info: ResourceInfo) -> dict:
    entry: dict = {
        "resource": info.plural,
        "responseKind": {"group": info.group, "kind": info.kind, "version": info.version},
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    subs = []
    for sub in sorted(info.subresources):
        si = subresource_info(info, sub)
        subs.append({"subresource": sub,
                     "responseKind": {"group": si.group, "kind": si.kind, "version": si.version},
                     "verbs": list(si.verbs)})
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated_discovery(registry: Registry, *, legacy: bool, version: str = "v2") -> dict:
    """APIGroupDiscoveryList of /api (legacy=True: the core group) or /apis (every named group)."""
    if version not in AGGREGATED_VERSIONS:
        raise ValueError(f"unsupported aggregated discovery version {version!r}")
    items = []
    for group, versions in registry.groups().items():
        if legacy != (group == ""):
            continue
        metadata = {"creationTimestamp": None} if legacy else {"name": group, "creationTimestamp": None}
        items.append({
            "metadata": metadata,
            "versions": [{"version": v,
                          "resources": [_discovery_resource(i) for i in registry.resources(group, v)],
                          "freshness": "Current"} for v in versions],
        })
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"{AGGREGATED_GROUP}/{version}",
            "metadata": {}, "items": items}


def aggregated_content_type(version: str) -> str:
    """The Content-Type an aggregated discovery response must carry; client-go checks it."""
    return f"application/json;g={AGGREGATED_GROUP};v={version};as=APIGroupDiscoveryList"


def negotiate_aggregated(accept: str | None) -> str | None:
    """The aggregated discovery version ('v2' or 'v2beta1') an Accept header asks for first, else None.

    kubectl 1.32 sends 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,
    application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
    a None result means: answer the plain APIVersions / APIGroupList document.
    """
    if not accept:
        return None
    for media_range in accept.split(","):
        mime, *raw_params = (p.strip() for p in media_range.split(";"))
        if mime.lower() not in ("application/json", "*/*", "application/*"):
            continue
        params = dict(p.split("=", 1) for p in raw_params if "=" in p)
        params = {k.strip().lower(): v.strip() for k, v in params.items()}
        if params.get("g") == AGGREGATED_GROUP and params.get("as") == "APIGroupDiscoveryList" \
                and params.get("v") in AGGREGATED_VERSIONS and mime.lower() == "application/json":
            return params["v"]
        if "g" not in params:
            return None  # a plain JSON range listed before any aggregated one wins
    return None

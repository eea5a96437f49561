"""Discovery documents built from the registry: /api, /apis, resource lists and aggregated discovery."""

from __future__ import annotations

import pytest

from kybernetes.api.registry import Registry, ResourceInfo
from kybernetes.apiserver import discovery

KUBECTL_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")


def crontab(version: str = "v1") -> ResourceInfo:
    return ResourceInfo("stable.example.com", version, "CronTab", "crontabs", "crontab", True, ("ct",), ("all",),
                        ("scale", "status"), crd=True, storage_plural="crontabs")


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    reg.register(crontab("v1"))
    reg.register(crontab("v1beta1"))
    return reg


def entries(doc: dict) -> dict[str, dict]:
    return {r["name"]: r for r in doc["resources"]}


def test_api_versions() -> None:
    assert discovery.api_versions("10.0.0.1:6443") == {
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}]}


def test_api_group_list(registry: Registry) -> None:
    doc = discovery.api_group_list(registry)
    assert doc["kind"] == "APIGroupList"
    groups = {g["name"]: g for g in doc["groups"]}
    assert "" not in groups
    assert list(groups)[0] == "apps"  # upstream's order
    assert groups["apps"]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    crd = groups["stable.example.com"]
    assert [v["version"] for v in crd["versions"]] == ["v1", "v1beta1"]
    assert crd["preferredVersion"]["version"] == "v1"


@pytest.mark.parametrize(("group", "found"), [("apps", True), ("stable.example.com", True), ("", False),
                                              ("nope.example.com", False)], ids=["apps", "crd", "core", "unknown"])
def test_api_group(registry: Registry, group: str, found: bool) -> None:
    doc = discovery.api_group(registry, group)
    assert (doc is not None) is found
    if doc:
        assert doc["kind"] == "APIGroup" and doc["name"] == group


@pytest.mark.parametrize(("group", "version"), [("", "v2"), ("apps", "v1beta1"), ("nope", "v1")],
                         ids=["core-v2", "apps-beta", "unknown"])
def test_api_resource_list_of_unserved_version(registry: Registry, group: str, version: str) -> None:
    assert discovery.api_resource_list(registry, group, version) is None


def test_core_resource_list(registry: Registry) -> None:
    doc = discovery.api_resource_list(registry, "", "v1")
    assert doc["kind"] == "APIResourceList" and doc["groupVersion"] == "v1"
    pods = entries(doc)["pods"]
    assert pods["singularName"] == "pod" and pods["namespaced"] and pods["kind"] == "Pod"
    assert pods["shortNames"] == ["po"] and pods["categories"] == ["all"]
    assert "watch" in pods["verbs"]
    assert pods["storageVersionHash"]
    assert entries(doc)["namespaces"]["namespaced"] is False
    assert "shortNames" not in entries(doc)["secrets"]


@pytest.mark.parametrize(("group", "name", "kind", "verbs", "gv"), [
    ("", "pods/status", "Pod", ["get", "patch", "update"], None),
    ("", "pods/log", "Pod", ["get"], None),
    ("", "pods/exec", "PodExecOptions", ["create", "get"], None),
    ("", "pods/attach", "PodAttachOptions", ["create", "get"], None),
    ("", "pods/portforward", "PodPortForwardOptions", ["create", "get"], None),
    ("", "pods/binding", "Binding", ["create"], None),
    ("", "pods/eviction", "Eviction", ["create"], ("policy", "v1")),
    ("", "pods/ephemeralcontainers", "Pod", ["get", "patch", "update"], None),
    ("", "serviceaccounts/token", "TokenRequest", ["create"], ("authentication.k8s.io", "v1")),
    ("", "namespaces/finalize", "Namespace", ["update"], None),
    ("", "nodes/proxy", "NodeProxyOptions", ["create", "delete", "get", "patch", "update"], None),
    ("apps", "deployments/scale", "Scale", ["get", "patch", "update"], ("autoscaling", "v1")),
    ("apps", "statefulsets/status", "StatefulSet", ["get", "patch", "update"], None),
    ("stable.example.com", "crontabs/scale", "Scale", ["get", "patch", "update"], ("autoscaling", "v1")),
], ids=lambda x: x if isinstance(x, str) and "/" in x else None)
def test_subresource_entries(registry: Registry, group: str, name: str, kind: str, verbs: list[str],
                             gv: tuple[str, str] | None) -> None:
    version = "v1"
    entry = entries(discovery.api_resource_list(registry, group, version))[name]
    assert entry["kind"] == kind
    assert entry["verbs"] == verbs
    assert entry["singularName"] == ""
    assert (entry.get("group"), entry.get("version")) == (gv or (None, None))


def test_storage_version_hash_is_shared_across_versions(registry: Registry) -> None:
    v1 = entries(discovery.api_resource_list(registry, "stable.example.com", "v1"))["crontabs"]
    beta = entries(discovery.api_resource_list(registry, "stable.example.com", "v1beta1"))["crontabs"]
    apps = entries(discovery.api_resource_list(registry, "apps", "v1"))["deployments"]
    assert v1["storageVersionHash"] == beta["storageVersionHash"] != apps["storageVersionHash"]


@pytest.mark.parametrize("version", ["v2", "v2beta1"])
def test_aggregated_legacy(registry: Registry, version: str) -> None:
    doc = discovery.aggregated_discovery(registry, legacy=True, version=version)
    assert doc["kind"] == "APIGroupDiscoveryList"
    assert doc["apiVersion"] == f"apidiscovery.k8s.io/{version}"
    [core] = doc["items"]
    assert "name" not in core["metadata"]
    [v1] = core["versions"]
    assert v1["version"] == "v1" and v1["freshness"] == "Current"
    pods = next(r for r in v1["resources"] if r["resource"] == "pods")
    assert pods["responseKind"] == {"group": "", "kind": "Pod", "version": "v1"}
    assert pods["scope"] == "Namespaced" and pods["singularResource"] == "pod"
    eviction = next(s for s in pods["subresources"] if s["subresource"] == "eviction")
    assert eviction == {"subresource": "eviction", "responseKind": {"group": "policy", "kind": "Eviction",
                                                                     "version": "v1"}, "verbs": ["create"]}


def test_aggregated_groups(registry: Registry) -> None:
    doc = discovery.aggregated_discovery(registry, legacy=False)
    names = [item["metadata"]["name"] for item in doc["items"]]
    assert "" not in names and names[0] == "apps" and "stable.example.com" in names
    crd = doc["items"][names.index("stable.example.com")]
    assert [v["version"] for v in crd["versions"]] == ["v1", "v1beta1"]
    [crontabs] = crd["versions"][0]["resources"]
    assert crontabs["shortNames"] == ["ct"] and crontabs["categories"] == ["all"]
    assert [s["subresource"] for s in crontabs["subresources"]] == ["scale", "status"]
    namespaces = next(r for i in discovery.aggregated_discovery(registry, legacy=True)["items"]
                      for v in i["versions"] for r in v["resources"] if r["resource"] == "namespaces")
    assert namespaces["scope"] == "Cluster"


def test_aggregated_rejects_unknown_version(registry: Registry) -> None:
    with pytest.raises(ValueError):
        discovery.aggregated_discovery(registry, legacy=False, version="v1")


@pytest.mark.parametrize(("accept", "expected"), [
    (KUBECTL_ACCEPT, "v2"),
    ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json", "v2beta1"),
    ("application/json; g=apidiscovery.k8s.io; v=v2; as=APIGroupDiscoveryList", "v2"),
    ("application/json", None),
    ("application/json, */*", None),
    ("application/json,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", None),
    ("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json", None),
    ("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", None),
    (None, None),
], ids=["kubectl", "v2beta1-only", "spaces", "json", "json-any", "json-first", "unknown-version", "protobuf",
        "none"])
def test_negotiate_aggregated(accept: str | None, expected: str | None) -> None:
    assert discovery.negotiate_aggregated(accept) == expected


def test_aggregated_content_type() -> None:
    assert discovery.aggregated_content_type("v2") == \
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

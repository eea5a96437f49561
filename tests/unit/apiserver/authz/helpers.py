"""Tiny builders for the authorization unit tests: a watch cache filled with RBAC objects and pods."""

from __future__ import annotations

from typing import Any

from kybernetes.apiserver.authn import AUTHENTICATED, UserInfo
from kybernetes.apiserver.authz import Attributes
from kybernetes.apiserver.watchcache import WatchCache, WatchEvent

G = "rbac.authorization.k8s.io"


def user(name: str, *groups: str) -> UserInfo:
    return UserInfo(name=name, groups=tuple(groups) + (AUTHENTICATED,))


def res(u: UserInfo, verb: str, resource: str, *, group: str = "", ns: str = "", name: str = "",
        sub: str = "", field_selector: str = "") -> Attributes:
    return Attributes(user=u, verb=verb, is_resource_request=True, api_group=group, api_version="v1", namespace=ns,
                      resource=resource, subresource=sub, name=name, field_selector=field_selector)


def url(u: UserInfo, verb: str, path: str) -> Attributes:
    return Attributes(user=u, verb=verb, is_resource_request=False, path=path)


def rule(verbs: list[str], groups: list[str] | None = None, resources: list[str] | None = None,
         names: list[str] | None = None, urls: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"verbs": verbs}
    if groups is not None:
        out["apiGroups"] = groups
    if resources is not None:
        out["resources"] = resources
    if names:
        out["resourceNames"] = names
    if urls:
        out["nonResourceURLs"] = urls
    return out


class Cluster:
    """A WatchCache (never started) whose objects the test puts in directly."""

    def __init__(self) -> None:
        self.cache = WatchCache(store=None)  # type: ignore[arg-type]
        self.rev = 0

    def put(self, prefix: str, key: str, obj: dict[str, Any]) -> None:
        self.rev += 1
        rc = self.cache.cache_for(prefix)
        prev = rc.objects.get(prefix + key)
        rc.apply(WatchEvent("ADDED" if prev is None else "MODIFIED", prefix + key, obj, prev, self.rev))

    def delete(self, prefix: str, key: str) -> None:
        self.rev += 1
        rc = self.cache.cache_for(prefix)
        prev = rc.objects.get(prefix + key)
        if prev is not None:
            rc.apply(WatchEvent("DELETED", prefix + key, prev, prev, self.rev))

    def cluster_role(self, name: str, rules: list[dict[str, Any]], labels: dict[str, str] | None = None,
                     **extra: Any) -> dict[str, Any]:
        obj = {"metadata": {"name": name, "labels": labels or {}}, "rules": rules, **extra}
        self.put(f"/registry/{G}/clusterroles/", name, obj)
        return obj

    def role(self, ns: str, name: str, rules: list[dict[str, Any]]) -> None:
        self.put(f"/registry/{G}/roles/", f"{ns}/{name}", {"metadata": {"name": name, "namespace": ns},
                                                           "rules": rules})

    def cluster_binding(self, name: str, role: str, *subjects: dict[str, Any]) -> None:
        self.put(f"/registry/{G}/clusterrolebindings/", name, {
            "metadata": {"name": name}, "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": role},
            "subjects": list(subjects)})

    def binding(self, ns: str, name: str, kind: str, role: str, *subjects: dict[str, Any]) -> None:
        self.put(f"/registry/{G}/rolebindings/", f"{ns}/{name}", {
            "metadata": {"name": name, "namespace": ns}, "roleRef": {"apiGroup": G, "kind": kind, "name": role},
            "subjects": list(subjects)})

    def pod(self, ns: str, name: str, node: str, **spec: Any) -> None:
        self.put("/registry/core/pods/", f"{ns}/{name}", {"metadata": {"name": name, "namespace": ns},
                                                          "spec": {"nodeName": node, **spec}})


def U(name: str) -> dict[str, Any]:  # noqa: N802 - subject builders read like the kinds
    return {"kind": "User", "name": name, "apiGroup": G}


def Grp(name: str) -> dict[str, Any]:  # noqa: N802
    return {"kind": "Group", "name": name, "apiGroup": G}


def SA(ns: str, name: str) -> dict[str, Any]:  # noqa: N802
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}

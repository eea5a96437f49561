"""Builders shared by the admission unit tests."""

from __future__ import annotations

from typing import Any

from kybernetes.api.registry import BUILTIN_RESOURCES, ResourceInfo
from kybernetes.apiserver.admission.interfaces import Attributes


def info(group: str, plural: str) -> ResourceInfo:
    return next(i for i in BUILTIN_RESOURCES if (i.group, i.plural) == (group, plural))


def pod(*containers: dict[str, Any], name: str = "p", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ns"},
            "spec": {"containers": list(containers) or [{"name": "c", "image": "i"}], **spec}}


def container(name: str = "c", requests: dict[str, str] | None = None, limits: dict[str, str] | None = None,
              **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if requests is not None:
        res["requests"] = requests
    if limits is not None:
        res["limits"] = limits
    return {"name": name, "image": "i", "resources": res, **extra}


def attrs(group: str, plural: str, obj: dict[str, Any] | None, *, op: str = "CREATE", namespace: str = "ns",
          old: dict[str, Any] | None = None, subresource: str = "", user: str = "u",
          groups: list[str] | None = None) -> Attributes:
    name = ((obj or old or {}).get("metadata") or {}).get("name", "")
    return Attributes(info=info(group, plural), operation=op, namespace=namespace, name=name, obj=obj, old=old,
                      subresource=subresource, user=user, groups=groups or [])


class FakeCache:
    """The watch cache's shape as plugins read it: caches[prefix].objects[key]."""

    def __init__(self, objects: dict[str, dict[str, Any]]) -> None:
        self.caches: dict[str, Any] = {}
        for key, obj in objects.items():
            prefix = "/".join(key.split("/")[:4]) + "/"
            self.caches.setdefault(prefix, type("C", (), {"objects": {}})()).objects[key] = obj

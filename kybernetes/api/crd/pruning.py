"""Structural pruning: drop fields a CRD schema does not specify, as apiextensions' pruning algorithm does."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

Schema = dict[str, Any]
META_FIELDS = ("apiVersion", "kind", "metadata")


@lru_cache(maxsize=1)
def object_meta_fields() -> frozenset[str]:
    """The fields of metav1.ObjectMeta, the only ones kept in a custom resource's metadata."""
    from kybernetes.api.schema import definition

    d = definition("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") or {}
    return frozenset(d.get("properties") or ()) or frozenset((
        "annotations", "creationTimestamp", "deletionGracePeriodSeconds", "deletionTimestamp", "finalizers",
        "generateName", "generation", "labels", "managedFields", "name", "namespace", "ownerReferences",
        "resourceVersion", "selfLink", "uid"))


def prune(obj: Any, schema: Schema | None, *, is_resource_root: bool = True) -> list[str]:
    """Remove unspecified fields from obj in place; return the pruned paths ('spec.foo', 'spec.items[0].bar')."""
    pruned: list[str] = []
    if is_resource_root:
        schema = dict(schema or {})
        schema["x-kubernetes-embedded-resource"] = True
    _prune(obj, schema, "", pruned)
    return pruned


def _join(parent: str, k: str) -> str:
    return f"{parent}.{k}" if parent else k


def _prune(x: Any, s: Schema | None, path: str, pruned: list[str]) -> None:
    if s is not None and s.get("x-kubernetes-preserve-unknown-fields"):
        _skip_prune(x, s, path, pruned)
        return
    if isinstance(x, dict):
        if s is None:
            for k in list(x):
                pruned.append(_join(path, k))
                del x[k]
            return
        props = s.get("properties") or {}
        addl = s.get("additionalProperties")
        embedded = bool(s.get("x-kubernetes-embedded-resource"))
        for k in list(x):
            if embedded and k in META_FIELDS:
                if k == "metadata":
                    _prune_meta(x[k], _join(path, k), pruned)
                continue
            if k in props:
                _prune(x[k], props[k], _join(path, k), pruned)
            elif isinstance(addl, dict):
                _prune(x[k], addl, _join(path, k), pruned)
            elif addl is True:
                continue
            else:
                pruned.append(_join(path, k))
                del x[k]
    elif isinstance(x, list):
        items = s.get("items") if s is not None else None
        for i, v in enumerate(x):
            _prune(v, items if isinstance(items, dict) else None, f"{path}[{i}]", pruned)


def _skip_prune(x: Any, s: Schema, path: str, pruned: list[str]) -> None:
    """Inside x-kubernetes-preserve-unknown-fields: keep unknown fields, still prune inside specified ones."""
    if isinstance(x, dict):
        props = s.get("properties") or {}
        addl = s.get("additionalProperties")
        for k in list(x):
            if s.get("x-kubernetes-embedded-resource") and k in META_FIELDS:
                if k == "metadata":
                    _prune_meta(x[k], _join(path, k), pruned)
                continue
            if k in props:
                _prune(x[k], props[k], _join(path, k), pruned)
            elif isinstance(addl, dict):
                _prune(x[k], addl, _join(path, k), pruned)
    elif isinstance(x, list):
        items = s.get("items")
        if isinstance(items, dict):
            for i, v in enumerate(x):
                _prune(v, items, f"{path}[{i}]", pruned)


def _prune_meta(meta: Any, path: str, pruned: list[str]) -> None:
    if not isinstance(meta, dict):
        return
    known = object_meta_fields()
    for k in list(meta):
        if k not in known:
            pruned.append(_join(path, k))
            del meta[k]

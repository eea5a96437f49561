"""Small accessors for pods and nodes as plain dicts, and safe access to the framework handle's listers."""

from __future__ import annotations

from typing import Any

from kybernetes.scheduler.framework.interface import Handle


def labels_of(obj: dict[str, Any] | None) -> dict[str, str]:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def namespace_of(obj: dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("namespace") or ""


def name_of(obj: dict[str, Any] | None) -> str:
    return ((obj or {}).get("metadata") or {}).get("name") or ""


def is_terminating(pod: dict[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def priority_of(pod: dict[str, Any]) -> int:
    """corev1helpers.PodPriority: spec.priority, 0 when unset."""
    return (pod.get("spec") or {}).get("priority") or 0


def lister_or_none(handle: Handle | None, group: str, version: str, plural: str) -> Any:
    """The handle's informer cache for a resource, or None when the scheduler does not watch it."""
    if handle is None:
        return None
    try:
        return handle.lister(group, version, plural)
    except (KeyError, LookupError, ValueError, AttributeError):
        return None


def namespace_labels(handle: Handle | None, namespace: str) -> dict[str, str]:
    """The labels of a namespace from the informer cache (empty when unknown)."""
    lister = lister_or_none(handle, "", "v1", "namespaces")
    ns = lister.get_by_key(namespace) if lister is not None else None
    return labels_of(ns)


def snapshot_or_none(handle: Handle | None) -> Any:
    """The handle's current snapshot if it keeps cluster-wide summaries (num_tainted, num_unschedulable,
    image_names: see scheduler.cache.Snapshot), else None. Batch paths use it only on nodes of that snapshot."""
    if handle is None:
        return None
    try:
        snap = handle.snapshot()
    except (AssertionError, AttributeError):
        return None
    return snap if hasattr(snap, "num_tainted") else None

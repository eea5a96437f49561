"""Conversion between API versions that share one storage: events.k8s.io/v1 Events are stored as core/v1 Events."""

from __future__ import annotations

from typing import Any

from kybernetes.api.registry import ResourceInfo

# events.k8s.io/v1 field -> core/v1 field (same values)
_EVENT_RENAMES = (
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
)
_EVENT_SHARED = ("eventTime", "series", "reportingInstance", "action", "reason", "related", "type")


def is_events_v1(info: ResourceInfo) -> bool:
    return info.group == "events.k8s.io"


def event_to_core(obj: dict[str, Any]) -> dict[str, Any]:
    """An events.k8s.io/v1 Event as the core/v1 Event that stores it."""
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "Event", "metadata": obj.get("metadata", {})}
    for new, old in _EVENT_RENAMES:
        if new in obj:
            out[old] = obj[new]
    for k in _EVENT_SHARED:
        if k in obj:
            out[k] = obj[k]
    if isinstance(out.get("series"), dict) and "count" in out["series"] and "count" not in out:
        out["count"] = out["series"]["count"]
    return out


def event_from_core(obj: dict[str, Any]) -> dict[str, Any]:
    """A stored core/v1 Event as events.k8s.io/v1 serves it."""
    out: dict[str, Any] = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": obj.get("metadata", {})}
    for new, old in _EVENT_RENAMES:
        if old in obj:
            out[new] = obj[old]
    for k in _EVENT_SHARED:
        if k in obj:
            out[k] = obj[k]
    if "eventTime" not in out:
        out["eventTime"] = None
    return out


def to_storage(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """The stored form of an object written through info's endpoint."""
    if is_events_v1(info):
        return event_to_core(obj) if obj.get("apiVersion") != "v1" else obj
    return obj


def from_storage(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """A stored object as info's endpoint serves it (CRD versions only differ in apiVersion)."""
    if is_events_v1(info):
        return event_from_core(obj) if obj.get("apiVersion") == "v1" else obj
    if obj.get("apiVersion") != info.group_version:
        obj = dict(obj)
        obj["apiVersion"] = info.group_version
    return obj

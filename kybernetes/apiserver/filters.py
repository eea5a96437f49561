"""Build the per-request object filter from labelSelector and fieldSelector query parameters."""

from __future__ import annotations

from typing import Any, Callable

from kybernetes.api import fields as fieldsel
from kybernetes.api.registry import ResourceInfo
from kybernetes.api.selectors import parse_label_selector

Filter = Callable[[dict[str, Any]], bool]


def selectable_fields(info: ResourceInfo) -> list[str]:
    """A custom resource's spec.versions[].selectableFields JSONPaths."""
    return [f.get("jsonPath", "") for f in info.extra.get("selectable_fields") or [] if isinstance(f, dict)]


def build_filter(info: ResourceInfo, label_selector: str, field_selector: str) -> Filter | None:
    """None when nothing is selected (every object matches)."""
    labels = parse_label_selector(label_selector) if label_selector else None
    extra = selectable_fields(info)
    fields = fieldsel.parse_and_convert(field_selector, info, extra) if field_selector else None
    if labels is not None and labels.empty():
        labels = None
    if fields is not None and fields.empty():
        fields = None
    if labels is None and fields is None:
        return None
    getter = fieldsel.field_getter(info, extra) if fields is not None else None

    def matches(obj: dict[str, Any]) -> bool:
        if labels is not None:
            md = obj.get("metadata") or {}
            if not labels.matches(md.get("labels") or {}):
                return False
        if fields is not None and getter is not None:
            return fields.matches(getter(obj))
        return True

    return matches

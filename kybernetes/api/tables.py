"""meta.k8s.io/v1 Table responses (server-side printing for `kubectl get`), built from the printers."""

from __future__ import annotations

from datetime import datetime, timezone

from kybernetes.api import errors
from kybernetes.api.printers import printer_for
from kybernetes.api.registry import ResourceInfo

INCLUDE_OBJECT = ("Object", "Metadata", "None")


def column_definitions(info: ResourceInfo) -> list[dict]:
    """The TableColumnDefinitions of a resource: {name, type, format, description, priority} each."""
    return [c.definition() for c in printer_for(info).columns]


def _embedded(obj: dict, include_object: str) -> dict | None:
    if include_object == "Object":
        return obj
    if include_object == "None":
        return None
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata") or {}}


def build_table(info: ResourceInfo, objs: list[dict], *, include_object: str = "Metadata",
                resource_version: str = "", continue_: str = "", remaining_item_count: int | None = None,
                now: datetime | None = None) -> dict:
    """The whole Table for objs; include_object is the request's includeObject (Object, Metadata or None).

    Raises StatusError (400) for an unknown includeObject, as upstream does.
    """
    if include_object == "":
        include_object = "Metadata"
    if include_object not in INCLUDE_OBJECT:
        raise errors.bad_request(f'unrecognized includeObject value: "{include_object}"')
    now = now or datetime.now(timezone.utc)
    printer = printer_for(info)
    rows = []
    for obj in objs:
        row: dict = {"cells": printer.cells(obj, now), "object": _embedded(obj, include_object)}
        conditions = printer.conditions(obj) if printer.conditions else None
        if conditions:
            row["conditions"] = conditions
        rows.append(row)
    metadata: dict = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_:
        metadata["continue"] = continue_
    if remaining_item_count is not None:
        metadata["remainingItemCount"] = remaining_item_count
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
            "columnDefinitions": [c.definition() for c in printer.columns], "rows": rows}

"""Tables for custom resources (additionalPrinterColumns) and upstream's default Name/Created At table."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from kybernetes.api import jsonpath
from kybernetes.api.printers.common import META, NAME, Column, Printer, human_duration, meta, name, parse_time

# rest.DefaultTableConvertor: every resource without a printer of its own (roles, CRDs, limit ranges, ...)


def _created_at(obj: dict, now: datetime) -> list:
    t = parse_time(meta(obj).get("creationTimestamp"))
    stamp = "0001-01-01T00:00:00Z" if t is None else t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [name(obj), stamp]


DEFAULT = Printer((NAME, Column("Created At", "date", (META, "creationTimestamp"))), _created_at)


# apiextensions-apiserver's tableconvertor: Name, then the CRD version's columns (Age when it has none)

def _default_columns() -> list[dict]:
    return [{"name": "Age", "type": "date", "description": (META, "creationTimestamp"),
             "jsonPath": ".metadata.creationTimestamp"}]


def cell_for_value(column_type: str, value: Any, now: datetime) -> Any:
    """cellForJSONValue, plus string columns printed as client-go's JSONPath prints one result."""
    if column_type == "string":
        return jsonpath.to_text(value)
    if value is None:
        return None
    if column_type == "integer":
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return int(value)
    elif column_type == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif column_type == "boolean":
        if isinstance(value, bool):
            return value
    elif column_type == "date":
        if isinstance(value, str):
            if value in ("", "null"):
                return "<unknown>"
            t = parse_time(value)
            if t is None:
                return "<invalid>"
            return human_duration(now - t)
    return None


def crd_printer(printer_columns: list[dict] | None) -> Printer:
    """The Printer for a custom resource version; a column whose JSONPath does not parse ends the list."""
    columns: list[Column] = [NAME]
    paths: list[tuple] = []
    for col in printer_columns or _default_columns():
        path = col.get("jsonPath") or ""
        try:
            paths.append(jsonpath.parse("{" + path + "}"))
        except jsonpath.JSONPathError:
            break
        description = col.get("description") or f"Custom resource definition column (in JSONPath format): {path}"
        columns.append(Column(col.get("name", ""), col.get("type", "string"), description,
                              int(col.get("priority") or 0), col.get("format") or ""))

    def cells(obj: dict, now: datetime) -> list:
        out: list[Any] = [name(obj)]
        for column, nodes in zip(columns[1:], paths):
            try:
                results = jsonpath.evaluate(nodes, obj)
            except jsonpath.JSONPathError:
                results = []
            out.append(cell_for_value(column.type, results[0], now) if results else None)
        return out

    return Printer(tuple(columns), cells)

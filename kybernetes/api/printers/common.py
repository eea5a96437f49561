"""Shared pieces of the server-side printers: columns, ages as upstream's HumanDuration, label formatting."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from kybernetes.api import schema

META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

Doc = tuple[str, str]  # (OpenAPI definition, field): the description upstream takes from a type's SwaggerDoc


@dataclass(frozen=True)
class Column:
    """One TableColumnDefinition; description is text, or a Doc resolved from upstream's OpenAPI."""

    name: str
    type: str = "string"
    description: str | Doc = ""
    priority: int = 0
    format: str = ""

    def definition(self) -> dict:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": describe(self.description), "priority": self.priority}


Cells = Callable[[dict, datetime], list]
Conditions = Callable[[dict], "list[dict] | None"]


@dataclass(frozen=True)
class Printer:
    """A resource's columns and the function computing one object's cells (server side is always wide)."""

    columns: tuple[Column, ...]
    cells: Cells
    conditions: Conditions | None = None


@functools.lru_cache(maxsize=None)
def _doc(definition: str, field: str) -> str:
    props = (schema.definition(definition) or {}).get("properties") or {}
    if field not in props:
        raise KeyError(f"no field {field!r} in {definition}")
    text = props[field].get("description", "")
    return text.split("\n\nPossible enum values:")[0]


def describe(description: str | Doc) -> str:
    return description if isinstance(description, str) else _doc(*description)


NAME = Column("Name", "string", (META, "name"), format="name")
AGE = Column("Age", "string", (META, "creationTimestamp"))
CONTAINERS = Column("Containers", "string", "Names of each container in the template.", priority=1)
IMAGES = Column("Images", "string", "Images referenced by each container in the template.", priority=1)


# --------------------------------------------------------------------------------------- durations


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 (Micro)Time as an aware datetime; None when absent, zero or unparseable."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01T00:00:00"):
        return None
    text = value.strip()
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def human_duration(d: timedelta) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    us = d // timedelta(microseconds=1)
    seconds = int(us / 1_000_000)  # truncates toward zero, like Go's int(d.Seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = us // 60_000_000
    if minutes < 10:
        s = (us // 1_000_000) % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = us // 3_600_000_000
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def since(value: Any, now: datetime) -> str:
    """translateTimestampSince: the age of a timestamp, '<unknown>' when it is not set."""
    t = parse_time(value)
    return "<unknown>" if t is None else human_duration(now - t)


def age(obj: dict, now: datetime) -> str:
    return since(meta(obj).get("creationTimestamp"), now)


# ------------------------------------------------------------------------------------------ accessors


def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def name(obj: dict) -> str:
    return meta(obj).get("name") or ""


def spec(obj: dict) -> dict:
    return obj.get("spec") or {}


def status(obj: dict) -> dict:
    return obj.get("status") or {}


def dig(obj: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return default
        obj = obj.get(key)
        if obj is None:
            return default
    return obj


def int_or_string(value: Any) -> str:
    return str(value)


def quantity(value: Any) -> str:
    """A resource.Quantity as stored (the apiserver keeps them canonical); the zero quantity is '0'."""
    return "0" if value is None or value == "" else str(value)


# ------------------------------------------------------------------------------------------- labels


def format_labels(labels: dict | None) -> str:
    """labels.FormatLabels: 'k=v,...' sorted by key, '<none>' when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


class SelectorError(ValueError):
    pass


def _requirement(key: str, op: str, values: list[str]) -> str:
    if op == "DoesNotExist":
        return "!" + key
    if op == "Exists":
        return key
    vals = sorted(values) if len(values) > 1 else list(values)
    if op == "=":
        return f"{key}={vals[0] if vals else ''}"
    word = {"In": " in ", "NotIn": " notin "}.get(op)
    if word is None:
        raise SelectorError(f"{op!r} is not a valid label selector operator")
    return f"{key}{word}({','.join(vals)})"


def selector_string(selector: dict | None) -> str:
    """metav1.LabelSelectorAsSelector(sel).String(); '' for a nil or empty selector."""
    if not selector:
        return ""
    reqs: list[tuple[str, str, list[str]]] = []
    for k, v in (selector.get("matchLabels") or {}).items():
        reqs.append((k, "=", [v]))
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator", "")
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise SelectorError(f"{op!r} is not a valid label selector operator")
        reqs.append((expr.get("key", ""), op, list(expr.get("values") or [])))
    reqs.sort(key=lambda r: r[0])
    return ",".join(_requirement(*r) for r in reqs)


def format_label_selector(selector: dict | None) -> str:
    """metav1.FormatLabelSelector: '<none>' when empty, '<error>' when invalid."""
    try:
        text = selector_string(selector)
    except SelectorError:
        return "<error>"
    return text or "<none>"


def layout_containers(containers: list | None) -> tuple[str, str]:
    """Names and images of the containers, each comma-joined."""
    containers = containers or []
    return (",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers))


def pod_template_containers(obj: dict, *path: str) -> list:
    return dig(obj, *path, "template", "spec", "containers", default=[]) or []

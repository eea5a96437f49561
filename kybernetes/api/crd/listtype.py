"""x-kubernetes-list-type set/map uniqueness of custom resources, as apiextensions' listtype validation words it."""

from __future__ import annotations

from typing import Any

import orjson

from kybernetes.api.errors import FieldError, invalid
from kybernetes.api.crd.names import GoValue, go_float

Schema = dict[str, Any]


def go_sharp_v(value: Any) -> str:
    """Go's %#v of a decoded JSON scalar or map, as upstream prints a duplicate map key."""
    if isinstance(value, dict):
        inner = ", ".join(f"{go_sharp_v(k)}:{go_sharp_v(v)}" for k, v in sorted(value.items()))
        return "map[string]interface {}{" + inner + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if value is None:
        return "interface {}(nil)"
    return repr(value)


def validate_list_types(obj: Any, schema: Schema | None, path: str = "") -> list[FieldError]:
    """ValidateListSetsAndMaps: duplicates in set and map lists anywhere in obj."""
    if obj is None or not schema:
        return []
    errs: list[FieldError] = []
    if isinstance(obj, dict):
        addl = schema.get("additionalProperties")
        props = schema.get("properties") or {}
        for k, v in obj.items():
            if isinstance(addl, dict):
                errs += validate_list_types(v, addl, f"{path}[{k}]")
            if k in props:
                errs += validate_list_types(v, props[k], f"{path}.{k}" if path else k)
    elif isinstance(obj, list):
        lt = schema.get("x-kubernetes-list-type")
        if lt == "set":
            errs += _set_duplicates(obj, path)
        elif lt == "map":
            errs += _map_duplicates(obj, schema, path)
        items = schema.get("items")
        if isinstance(items, dict):
            for i, v in enumerate(obj):
                errs += validate_list_types(v, items, f"{path}[{i}]")
    return errs


def _hashable(v: Any) -> Any:
    return orjson.dumps(v, option=orjson.OPT_SORT_KEYS)


def _set_duplicates(items: list[Any], path: str) -> list[FieldError]:
    for i, x in enumerate(items):
        if isinstance(x, (dict, list)):
            return [invalid(f"{path}[{i}]", x, "must be a scalar value for an array of list-type set")] \
                if isinstance(x, dict) else []
    seen: set[Any] = set()
    errs = []
    for i, x in enumerate(items):
        h = _hashable(x)
        if h in seen:
            errs.append(FieldError("FieldValueDuplicate", f"{path}[{i}]", x))
        seen.add(h)
    return errs


def _map_duplicates(items: list[Any], schema: Schema, path: str) -> list[FieldError]:
    for i, x in enumerate(items):
        if x is not None and not isinstance(x, dict):
            return [invalid(f"{path}[{i}]", x, "must be an object for an array of list-type map")]
    if len(items) <= 1:
        return []
    keys: list[str] = schema.get("x-kubernetes-list-map-keys") or []
    item_props = ((schema.get("items") or {}).get("properties")) or {}
    seen: set[Any] = set()
    errs = []
    for i, x in enumerate(items):
        key_values: dict[str, Any] = {}
        for k in keys:
            if isinstance(x, dict) and k in x:
                key_values[k] = x[k]
            elif (item_props.get(k) or {}).get("default") is not None:
                key_values[k] = item_props[k]["default"]
        h = _hashable(key_values)
        if h in seen:
            errs.append(FieldError("FieldValueDuplicate", f"{path}[{i}]", GoValue(go_sharp_v(key_values))))
        seen.add(h)
    return errs

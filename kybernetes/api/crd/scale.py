"""The scale subresource of a custom resource: autoscaling/v1 Scale read from and written to the object."""

from __future__ import annotations

from typing import Any

import orjson

from kybernetes.api.errors import FieldError, invalid
from kybernetes.api.registry import ResourceInfo

MAX_INT32 = 2**31 - 1


class ScaleError(ValueError):
    """A replicas or selector field of the custom resource holds a value of the wrong type."""


def _split(path: str) -> list[str]:
    return [p for p in path.lstrip(".").split(".") if p]


def _nested(obj: Any, path: str) -> tuple[Any, bool]:
    cur = obj
    for part in _split(path):
        if not isinstance(cur, dict) or part not in cur:
            return None, False
        cur = cur[part]
    return cur, True


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    return {str: "string", int: "int64"}.get(type(value), type(value).__name__)


def _accessor_error(path: str, value: Any, expected: str) -> ScaleError:
    shown = value if isinstance(value, str) else orjson.dumps(value).decode()
    return ScaleError(f".{'.'.join(_split(path))} accessor error: {shown} is of the type {_go_type(value)}, "
                      f"expected {expected}")


def _nested_int(obj: dict, path: str) -> int:
    value, found = _nested(obj, path)
    if not found:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise _accessor_error(path, value, "int64")
    return value


def _scale_spec(info: ResourceInfo) -> dict:
    scale = info.extra.get("scale")
    if not scale:
        raise ScaleError(f"{info.plural} has no scale subresource")
    return scale


def scale_from_custom_resource(info: ResourceInfo, obj: dict) -> dict:
    """The autoscaling/v1 Scale of a custom resource (spec/status replicas and the label selector)."""
    scale = _scale_spec(info)
    spec_replicas = _nested_int(obj, scale.get("specReplicasPath") or "")
    status_replicas = _nested_int(obj, scale.get("statusReplicasPath") or "")
    selector = ""
    if scale.get("labelSelectorPath"):
        value, found = _nested(obj, scale["labelSelectorPath"])
        if found and value is not None:
            if not isinstance(value, str):
                raise _accessor_error(scale["labelSelectorPath"], value, "string")
            selector = value
    meta = obj.get("metadata") or {}
    out_meta = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if meta.get(k)}
    out_meta.setdefault("creationTimestamp", None)
    status: dict[str, Any] = {"replicas": status_replicas}
    if selector:
        status["selector"] = selector
    return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": out_meta,
            "spec": {"replicas": spec_replicas} if spec_replicas else {}, "status": status}


def apply_scale_to_custom_resource(info: ResourceInfo, obj: dict, scale: dict) -> None:
    """Write a Scale's spec.replicas to the custom resource (and its resourceVersion, as a precondition)."""
    spec = _scale_spec(info)
    parts = _split(spec.get("specReplicasPath") or "")
    cur = obj
    for part in parts[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = cur[part] = {}
        cur = nxt
    cur[parts[-1]] = int((scale.get("spec") or {}).get("replicas") or 0)
    rv = (scale.get("metadata") or {}).get("resourceVersion")
    if rv:
        obj.setdefault("metadata", {})["resourceVersion"] = rv


def validate_scale(info: ResourceInfo, obj: dict) -> list[FieldError]:
    """ValidateScaleSpec and ValidateScaleStatus: replicas must be non-negative int32 values."""
    scale = info.extra.get("scale")
    if not scale:
        return []
    errs: list[FieldError] = []
    for key in ("specReplicasPath", "statusReplicasPath"):
        path = scale.get(key) or ""
        try:
            replicas = _nested_int(obj, path)
        except ScaleError as e:
            errs.append(invalid(path, 0, str(e)))
            continue
        if replicas < 0:
            errs.append(invalid(path, replicas, "should be a non-negative integer"))
        elif replicas > MAX_INT32:
            errs.append(invalid(path, replicas, f"should be less than or equal to {MAX_INT32}"))
    selector_path = scale.get("labelSelectorPath")
    if selector_path:
        value, found = _nested(obj, selector_path)
        if found and value is not None and not isinstance(value, str):
            errs.append(invalid(selector_path, "", str(_accessor_error(selector_path, value, "string"))))
    return errs

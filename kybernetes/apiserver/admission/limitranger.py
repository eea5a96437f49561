"""LimitRanger: default container requests/limits from the namespace's LimitRanges, then enforce min, max and
maxLimitRequestRatio for Containers, Pods and PersistentVolumeClaims with upstream's messages."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from kybernetes.api.quota import format_quantity, pod_resources, quantity
from kybernetes.apiserver.admission.interfaces import CREATE, Attributes, PluginContext

PLUGIN_NAME = "LimitRanger"
LIMIT_RANGES_KEY_PREFIX = "/registry/core/limitranges/"
ANNOTATION = "kubernetes.io/limit-ranger"

Obj = dict[str, Any]


def container_defaults(item: Obj) -> tuple[dict[str, Any], dict[str, Any]]:
    """(default limits, default requests) of a Container item, defaulted as upstream's LimitRange defaults:
    default falls back to max, defaultRequest to default, then to min."""
    default = dict(item.get("default") or {})
    for k, v in (item.get("max") or {}).items():
        default.setdefault(k, v)
    request = dict(item.get("defaultRequest") or {})
    for k, v in default.items():
        request.setdefault(k, v)
    for k, v in (item.get("min") or {}).items():
        request.setdefault(k, v)
    return default, request


def apply_defaults(pod: Obj, ranges: list[Obj]) -> str:
    """Fill missing container requests/limits; returns the annotation text ('' when nothing was set)."""
    notes: list[str] = []
    for lr in ranges:
        for item in (lr.get("spec") or {}).get("limits") or []:
            if item.get("type") != "Container":
                continue
            limits, requests = container_defaults(item)
            spec = pod.setdefault("spec", {})
            for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
                res = c.setdefault("resources", {})
                set_req = [k for k in requests if k not in (res.get("requests") or {})
                           and not (k in (res.get("limits") or {}))]
                set_lim = [k for k in limits if k not in (res.get("limits") or {})]
                for k in set_req:
                    res.setdefault("requests", {})[k] = requests[k]
                for k in set_lim:
                    res.setdefault("limits", {})[k] = limits[k]
                # a request with no stated request but a stated limit takes the limit (api defaulting did that)
                if set_req:
                    notes.append(f"{', '.join(sorted(set_req))} request for {_kind(c, spec)} {c.get('name', '')}")
                if set_lim:
                    notes.append(f"{', '.join(sorted(set_lim))} limit for {_kind(c, spec)} {c.get('name', '')}")
    return ("LimitRanger plugin set: " + "; ".join(notes)) if notes else ""


def _kind(c: Obj, spec: Obj) -> str:
    return "init container" if any(c is i for i in spec.get("initContainers") or []) else "container"


def _value(q: Any) -> Fraction:
    return quantity(q)


def min_constraint(limit_type: str, name: str, enforced: Any, request: Obj, limit: Obj) -> str | None:
    if name not in request:
        return f"minimum {name} usage per {limit_type} is {enforced}.  No request is specified"
    if _value(request[name]) < _value(enforced):
        return f"minimum {name} usage per {limit_type} is {enforced}, but request is {request[name]}"
    if name in limit and _value(limit[name]) < _value(enforced):
        return f"minimum {name} usage per {limit_type} is {enforced}, but limit is {limit[name]}"
    return None


def max_constraint(limit_type: str, name: str, enforced: Any, request: Obj, limit: Obj) -> str | None:
    if name not in limit:
        return f"maximum {name} usage per {limit_type} is {enforced}.  No limit is specified"
    if _value(limit[name]) > _value(enforced):
        return f"maximum {name} usage per {limit_type} is {enforced}, but limit is {limit[name]}"
    if name in request and _value(request[name]) > _value(enforced):
        return f"maximum {name} usage per {limit_type} is {enforced}, but request is {request[name]}"
    return None


def ratio_constraint(limit_type: str, name: str, enforced: Any, request: Obj, limit: Obj) -> str | None:
    req = _value(request[name]) if name in request else Fraction(0)
    lim = _value(limit[name]) if name in limit else Fraction(0)
    if req == 0:
        return (f"{name} max limit to request ratio per {limit_type} is {enforced}, "
                "but no request is specified or request is 0")
    if lim == 0:
        return (f"{name} max limit to request ratio per {limit_type} is {enforced}, "
                "but no limit is specified or limit is 0")
    ratio = lim / req
    if ratio > _value(enforced):
        return f"{name} max limit to request ratio per {limit_type} is {enforced}, but provided ratio is {float(ratio):f}"
    return None


def check_item(item: Obj, limit_type: str, request: Obj, limit: Obj) -> list[str]:
    errs = []
    for field, check in (("min", min_constraint), ("max", max_constraint), ("maxLimitRequestRatio", ratio_constraint)):
        for name, enforced in sorted((item.get(field) or {}).items()):
            msg = check(limit_type, name, enforced, request, limit)
            if msg:
                errs.append(msg)
    return errs


def validate_pod(pod: Obj, ranges: list[Obj]) -> list[str]:
    errs: list[str] = []
    spec = pod.get("spec") or {}
    for lr in ranges:
        for item in (lr.get("spec") or {}).get("limits") or []:
            if item.get("type") == "Container":
                for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
                    res = c.get("resources") or {}
                    errs += check_item(item, "Container", res.get("requests") or {}, res.get("limits") or {})
            elif item.get("type") == "Pod":
                req = {k: format_quantity(k, v) for k, v in pod_resources(pod, "requests").items()}
                lim = {k: format_quantity(k, v) for k, v in pod_resources(pod, "limits").items()}
                errs += check_item(item, "Pod", req, lim)
    return errs


def validate_pvc(pvc: Obj, ranges: list[Obj]) -> list[str]:
    errs: list[str] = []
    res = (pvc.get("spec") or {}).get("resources") or {}
    for lr in ranges:
        for item in (lr.get("spec") or {}).get("limits") or []:
            if item.get("type") == "PersistentVolumeClaim":
                item = {k: v for k, v in item.items() if k in ("min", "max")}
                errs += check_item(item, "PersistentVolumeClaim", res.get("requests") or {}, res.get("limits") or {})
    return errs


def aggregate(errs: list[str]) -> str:
    """utilerrors.NewAggregate's text: one error alone, several in brackets."""
    return errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"


class LimitRanger:
    """Mutating (defaults) and validating (bounds) for pods and PVCs on create."""

    name = PLUGIN_NAME

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def handles(self, operation: str) -> bool:
        return operation == CREATE

    def _ranges(self, namespace: str) -> list[Obj]:
        prefix = f"{LIMIT_RANGES_KEY_PREFIX}{namespace}/"
        return [lr for k, lr in sorted(self.ctx.objects(LIMIT_RANGES_KEY_PREFIX).items()) if k.startswith(prefix)]

    async def admit(self, a: Attributes) -> None:
        if not a.is_("", "pods") or a.obj is None:
            return
        ranges = self._ranges(a.namespace)
        if ranges:
            note = apply_defaults(a.obj, ranges)
            if note:
                a.obj.setdefault("metadata", {}).setdefault("annotations", {})[ANNOTATION] = note

    async def validate(self, a: Attributes) -> None:
        if a.obj is None or a.subresource:
            return
        if a.is_("", "pods"):
            errs = validate_pod(a.obj, self._ranges(a.namespace))
        elif a.is_("", "persistentvolumeclaims"):
            errs = validate_pvc(a.obj, self._ranges(a.namespace))
        else:
            return
        if errs:
            raise a.forbidden(aggregate(errs))

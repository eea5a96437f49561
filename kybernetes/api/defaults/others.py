"""Defaults of the smaller groups: discovery, scheduling, storage, rbac, apiextensions."""

from __future__ import annotations

from kybernetes.api.defaults.core import _d, _dicts

RBAC_GROUP = "rbac.authorization.k8s.io"


def set_defaults_endpoint_slice(obj: dict) -> None:
    for port in _dicts(obj.get("ports")):
        if port.get("name") is None:
            port["name"] = ""
        if port.get("protocol") is None:
            port["protocol"] = "TCP"


def set_defaults_priority_class(obj: dict) -> None:
    if obj.get("preemptionPolicy") is None:
        obj["preemptionPolicy"] = "PreemptLowerPriority"


def set_defaults_storage_class(obj: dict) -> None:
    if obj.get("reclaimPolicy") is None:
        obj["reclaimPolicy"] = "Delete"
    if obj.get("volumeBindingMode") is None:
        obj["volumeBindingMode"] = "Immediate"


def set_defaults_binding(obj: dict) -> None:
    """SetDefaults_Subject for every subject, and roleRef.apiGroup."""
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = RBAC_GROUP
    for subject in _dicts(obj.get("subjects")):
        if subject.get("apiGroup"):
            continue
        kind = subject.get("kind")
        if kind == "ServiceAccount":
            subject["apiGroup"] = ""
        elif kind in ("User", "Group"):
            subject["apiGroup"] = RBAC_GROUP


def set_defaults_crd(obj: dict) -> None:
    """SetDefaults_CustomResourceDefinition: names.singular/listKind, conversion None, storedVersions."""
    spec = _d(obj, "spec")
    names = _d(spec, "names")
    kind = names.get("kind") or ""
    if not names.get("singular"):
        names["singular"] = kind.lower()
    if not names.get("listKind") and kind:
        names["listKind"] = kind + "List"
    conversion = spec.get("conversion")
    if conversion is None:
        spec["conversion"] = {"strategy": "None"}
    elif isinstance(conversion, dict):
        service = ((conversion.get("webhook") or {}).get("clientConfig") or {}).get("service")
        if isinstance(service, dict):
            service.setdefault("port", 443)
    status = _d(obj, "status")
    if not status.get("storedVersions"):
        stored = [v.get("name") for v in _dicts(spec.get("versions")) if v.get("storage")]
        if stored:
            status["storedVersions"] = stored[:1]

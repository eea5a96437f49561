"""A CRD as the apiserver serves it: its defaults, the status it gets once established, its ResourceInfos."""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api.registry import ALL_VERBS, ResourceInfo


def apply_crd_defaults(crd: dict) -> None:
    """SetDefaults_CustomResourceDefinition (v1), plus the status a new CRD starts with."""
    spec = crd.setdefault("spec", {})
    names = spec.setdefault("names", {})
    kind = names.get("kind") or ""
    if not names.get("singular"):
        names["singular"] = kind.lower()
    if not names.get("listKind") and kind:
        names["listKind"] = kind + "List"
    conversion = spec.get("conversion")
    if conversion is None:
        spec["conversion"] = {"strategy": "None"}
    else:
        service = ((conversion.get("webhook") or {}).get("clientConfig") or {}).get("service")
        if isinstance(service, dict) and service.get("port") is None:
            service["port"] = 443
    for v in spec.get("versions") or []:
        v.setdefault("served", False)
        v.setdefault("storage", False)
    status = crd.setdefault("status", {})
    status.setdefault("acceptedNames", {"plural": "", "kind": ""})
    if not status.get("storedVersions"):
        storage = storage_version(crd)
        status["storedVersions"] = [storage] if storage else []
    if status.get("conditions") == []:
        del status["conditions"]


def storage_version(crd: dict) -> str | None:
    for v in (crd.get("spec") or {}).get("versions") or []:
        if v.get("storage"):
            return v.get("name")
    return None


def accepted_names(crd: dict) -> dict[str, Any]:
    names = (crd.get("spec") or {}).get("names") or {}
    out = {k: copy.deepcopy(names[k]) for k in ("plural", "singular", "shortNames", "kind", "listKind", "categories")
           if names.get(k)}
    out.setdefault("plural", "")
    out.setdefault("kind", "")
    return out


def _set_condition(conditions: list[dict], cond: dict) -> None:
    for i, existing in enumerate(conditions):
        if existing.get("type") == cond["type"]:
            if existing.get("status") == cond["status"] and existing.get("lastTransitionTime"):
                cond["lastTransitionTime"] = existing["lastTransitionTime"]
            conditions[i] = cond
            return
    conditions.append(cond)


def established_status(crd: dict, now: str) -> dict:
    """The status the naming and establishing controllers give a CRD with no name conflicts."""
    status = copy.deepcopy(crd.get("status") or {})
    conditions: list[dict] = status.get("conditions") or []
    _set_condition(conditions, {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now,
                                "reason": "NoConflicts", "message": "no conflicts found"})
    _set_condition(conditions, {"type": "Established", "status": "True", "lastTransitionTime": now,
                                "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"})
    status["conditions"] = conditions
    status["acceptedNames"] = accepted_names(crd)
    stored = list(status.get("storedVersions") or [])
    storage = storage_version(crd)
    if storage and storage not in stored:
        stored.append(storage)
    status["storedVersions"] = stored
    return status


def version_schema(crd: dict, version: str) -> dict | None:
    for v in (crd.get("spec") or {}).get("versions") or []:
        if v.get("name") == version:
            return (v.get("schema") or {}).get("openAPIV3Schema")
    return None


def resources_for_crd(crd: dict) -> list[ResourceInfo]:
    """One ResourceInfo per served version; all versions share the plural's storage key space."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    plural = names.get("plural") or ""
    kind = names.get("kind") or ""
    storage = storage_version(crd)
    infos = []
    for v in spec.get("versions") or []:
        if not v.get("served"):
            continue
        sub = v.get("subresources") or {}
        subresources = tuple(s for s in ("scale", "status") if s in sub and sub[s] is not None)
        infos.append(ResourceInfo(
            group=spec.get("group") or "",
            version=v.get("name") or "",
            kind=kind,
            plural=plural,
            singular=names.get("singular") or kind.lower(),
            namespaced=spec.get("scope") != "Cluster",
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            subresources=subresources,
            verbs=ALL_VERBS,
            crd=True,
            storage_plural=plural,
            extra={
                "crd": crd,
                "openapi_schema": (v.get("schema") or {}).get("openAPIV3Schema"),
                "printer_columns": list(v.get("additionalPrinterColumns") or []),
                "scale": sub.get("scale"),
                "storage_version": storage,
                "selectable_fields": [f["jsonPath"].lstrip(".") for f in v.get("selectableFields") or []
                                      if f.get("jsonPath")],
                "deprecated": bool(v.get("deprecated")),
                "deprecation_warning": v.get("deprecationWarning"),
            },
        ))
    return infos

"""TypeMeta and ObjectMeta checks of custom resources and their embedded resources, as apiextensions words them."""

from __future__ import annotations

import re
from typing import Any

from kybernetes.api.errors import FieldError, forbidden, invalid, required
from kybernetes.api.crd import names as dns

Schema = dict[str, Any]


def validate_type_meta(obj: dict, group: str, version: str, kind: str) -> list[FieldError]:
    """customResourceValidator.ValidateTypeMeta."""
    errs = []
    if obj.get("kind") != kind:
        errs.append(invalid("kind", obj.get("kind") or "", f"must be {kind}"))
    want = f"{group}/{version}" if group else version
    if obj.get("apiVersion") != want:
        errs.append(invalid("apiVersion", obj.get("apiVersion") or "", f"must be {want}"))
    return errs


def validate_object_meta(meta: Any, namespaced: bool, path: str = "metadata") -> list[FieldError]:
    """The name and namespace rules of ValidateObjectMetaAccessor with NameIsDNSSubdomain."""
    if not isinstance(meta, dict):
        return [invalid(path, meta, "must be an object")]
    errs: list[FieldError] = []
    name = meta.get("name") or ""
    generate = meta.get("generateName") or ""
    if generate:
        errs += [invalid(f"{path}.generateName", generate, m) for m in dns.name_is_dns_subdomain(generate, True)]
    if not name:
        if not generate:
            errs.append(required(f"{path}.name", "name or generateName is required"))
    else:
        errs += [invalid(f"{path}.name", name, m) for m in dns.is_dns1123_subdomain(name)]
    ns = meta.get("namespace") or ""
    if namespaced:
        if not ns:
            errs.append(required(f"{path}.namespace"))
        else:
            errs += [invalid(f"{path}.namespace", ns, m) for m in dns.is_dns1123_label(ns)]
    elif ns:
        errs.append(forbidden(f"{path}.namespace", "not allowed on this type"))
    return errs


_GROUP_VERSION = re.compile(r"^([^/]+/)?[^/]+$")


def validate_embedded(obj: Any, schema: Schema | None, path: str = "") -> list[FieldError]:
    """schemaobjectmeta.Validate: apiVersion, kind and metadata of every x-kubernetes-embedded-resource value."""
    if not schema or obj is None:
        return []
    errs: list[FieldError] = []
    if isinstance(obj, dict):
        if schema.get("x-kubernetes-embedded-resource"):
            errs += _embedded_resource(obj, path)
        props = schema.get("properties") or {}
        addl = schema.get("additionalProperties")
        for k, v in obj.items():
            child = f"{path}.{k}" if path else k
            if schema.get("x-kubernetes-embedded-resource") and k == "metadata":
                errs += _embedded_meta(v, child)
            elif k in props:
                errs += validate_embedded(v, props[k], child)
            elif isinstance(addl, dict):
                errs += validate_embedded(v, addl, f"{path}[{k}]")
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(obj):
            errs += validate_embedded(v, schema["items"], f"{path}[{i}]")
    return errs


def _embedded_resource(x: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    p = (lambda k: f"{path}.{k}" if path else k)
    if "apiVersion" not in x:
        errs.append(required(p("apiVersion"), "must not be empty"))
    if "kind" not in x:
        errs.append(required(p("kind"), "must not be empty"))
    api_version = x.get("apiVersion", None)
    if "apiVersion" in x:
        if not isinstance(api_version, str):
            errs.append(invalid(p("apiVersion"), api_version, "must be a string"))
        elif not api_version:
            errs.append(invalid(p("apiVersion"), api_version, "must not be empty"))
        elif not _GROUP_VERSION.match(api_version):
            errs.append(invalid(p("apiVersion"), api_version, f'unexpected GroupVersion string: {api_version}'))
    if "kind" in x:
        kind = x["kind"]
        if not isinstance(kind, str):
            errs.append(invalid(p("kind"), kind, "must be a string"))
        elif not kind:
            errs.append(invalid(p("kind"), kind, "must not be empty"))
        elif msgs := dns.is_dns1035_label(kind.lower()):
            errs.append(invalid(p("kind"), kind, "may have mixed case, but should otherwise match: " + ",".join(msgs)))
    return errs


def _embedded_meta(meta: Any, path: str) -> list[FieldError]:
    if not isinstance(meta, dict):
        return [invalid(path, meta, "must be an object")]
    errs: list[FieldError] = []
    name = meta.get("name") or ""
    if name:
        errs += [invalid(f"{path}.name", name, m) for m in dns.is_dns1123_subdomain(name)]
    generate = meta.get("generateName") or ""
    if generate:
        errs += [invalid(f"{path}.generateName", generate, m) for m in dns.name_is_dns_subdomain(generate, True)]
    return errs

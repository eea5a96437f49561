"""Validation, defaulting and pruning of custom resources against their version's schema (the CR strategy)."""

from __future__ import annotations

from typing import Any

from kybernetes.api.errors import FieldError
from kybernetes.api.registry import ResourceInfo
from kybernetes.api.crd import cel
from kybernetes.api.crd.defaulting import apply_defaults
from kybernetes.api.crd.listtype import validate_list_types
from kybernetes.api.crd.objectmeta import validate_embedded, validate_object_meta, validate_type_meta
from kybernetes.api.crd.openapi import MISSING, NIL_FIELD, SchemaValidator
from kybernetes.api.crd.pruning import prune
from kybernetes.api.crd.scale import validate_scale

_BLOCKING = ("FieldValueTypeInvalid", "FieldValueNotSupported")
UNCHECKED_RULES = "some validation rules were not checked because the object was invalid; correct the existing " \
                  "errors to complete validation"


def _schema(info: ResourceInfo) -> dict[str, Any] | None:
    return info.extra.get("openapi_schema")


def validate_custom_resource(info: ResourceInfo, obj: dict, old: dict | None = None) -> list[FieldError]:
    """customResourceStrategy.Validate / ValidateUpdate: type meta, metadata, schema, scale, embedded
    resources, list types, then CEL rules (skipped when a type or enum error already blocks them).

    On update, values unchanged from old are not re-checked against the schema (validation ratcheting).
    """
    errs = validate_type_meta(obj, info.group, info.version, info.kind)
    if errs:
        return errs
    schema = _schema(info)
    errs += validate_object_meta(obj.get("metadata"), info.namespaced)
    old_value: Any = MISSING if old is None else old
    errs += SchemaValidator(schema).validate(obj, old_value)
    errs += validate_scale(info, obj)
    errs += validate_embedded(obj, schema)
    errs += validate_list_types(obj, schema)
    if cel.AVAILABLE and schema and _has_rules(schema):
        if any(e.type in _BLOCKING for e in errs):
            errs.append(FieldError("FieldValueInvalid", NIL_FIELD, None, UNCHECKED_RULES))
        else:
            errs += cel.validate_rules(obj, schema, old_value)
    return errs


def _has_rules(schema: Any) -> bool:
    if isinstance(schema, dict):
        if schema.get("x-kubernetes-validations"):
            return True
        return any(_has_rules(v) for k, v in schema.items() if k not in ("default", "enum", "example"))
    if isinstance(schema, list):
        return any(_has_rules(v) for v in schema)
    return False


def default_custom_resource(info: ResourceInfo, obj: dict) -> None:
    """Apply the version schema's defaults in place (structural defaulting)."""
    schema = _schema(info)
    if schema:
        apply_defaults(obj, schema)


def prune_custom_resource(info: ResourceInfo, obj: dict) -> list[str]:
    """Drop fields the schema does not specify; return their paths ('spec.foo', 'metadata.bogus')."""
    return prune(obj, _schema(info), is_resource_root=True)

"""Upstream's OpenAPI definitions (shipped by kubernetes-validate), with helpers to walk them."""

from __future__ import annotations

import functools
import os
from typing import Any

import orjson

KUBERNETES_VERSION = "1.32.0"
REF_PREFIX = "#/$defs/"

Schema = dict[str, Any]


@functools.lru_cache(maxsize=1)
def definitions() -> dict[str, Schema]:
    """Every upstream definition by its OpenAPI name, e.g. 'io.k8s.api.core.v1.Pod'.

    Definitions are JSON Schema as kubernetes-validate writes them: refs are '#/$defs/<name>'
    and types may be lists such as ["object", "null"]. Use schema_type() to read a type.
    """
    import kubernetes_validate

    path = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema",
                        f"v{KUBERNETES_VERSION}-local", "_definitions.json")
    with open(path, "rb") as f:
        return orjson.loads(f.read())["$defs"]


def definition(name: str) -> Schema | None:
    return definitions().get(name)


def ref_name(schema: Schema) -> str | None:
    """The definition name a {'$ref': ...} schema points to, if any."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX):
        return ref[len(REF_PREFIX):]
    return None


def resolve(schema: Schema | None) -> Schema | None:
    """Follow $ref (and a single-element allOf wrapping one) to the schema it names."""
    seen = 0
    while schema is not None and seen < 32:
        name = ref_name(schema)
        if name is None:
            all_of = schema.get("allOf")
            if isinstance(all_of, list) and len(all_of) == 1:
                schema = all_of[0]
                seen += 1
                continue
            return schema
        schema = definitions().get(name)
        seen += 1
    return schema


def schema_type(schema: Schema | None) -> str | None:
    """The non-null JSON type of a schema: 'object', 'array', 'string', ... or None if unknown."""
    schema = resolve(schema)
    if not schema:
        return None
    t = schema.get("type")
    if isinstance(t, list):
        rest = [x for x in t if x != "null"]
        return rest[0] if len(rest) == 1 else None
    if t is None and "properties" in schema:
        return "object"
    return t


def field_schema(schema: Schema | None, field: str) -> Schema | None:
    """Schema of an object field: from properties, else additionalProperties; resolved."""
    schema = resolve(schema)
    if not schema:
        return None
    props = schema.get("properties")
    if isinstance(props, dict) and field in props:
        return resolve(props[field])
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return resolve(extra)
    return None


def items_schema(schema: Schema | None) -> Schema | None:
    schema = resolve(schema)
    if not schema:
        return None
    items = schema.get("items")
    return resolve(items) if isinstance(items, dict) else None


def patch_strategy(schema: Schema | None) -> tuple[set[str], str | None]:
    """x-kubernetes-patch-strategy (as a set: 'merge', 'retainKeys', 'replace') and patch merge key.

    Reads the field's own (unresolved) schema first, since upstream puts the extensions beside the $ref.
    """
    if not schema:
        return set(), None
    strategy = schema.get("x-kubernetes-patch-strategy")
    key = schema.get("x-kubernetes-patch-merge-key")
    if strategy is None and key is None:
        resolved = resolve(schema)
        if resolved is not schema and resolved:
            strategy = resolved.get("x-kubernetes-patch-strategy")
            key = resolved.get("x-kubernetes-patch-merge-key")
    return (set(strategy.split(",")) if strategy else set()), key


def raw_field_schema(schema: Schema | None, field: str) -> Schema | None:
    """Like field_schema but without resolving the field's own $ref, keeping its x-kubernetes-* extensions."""
    schema = resolve(schema)
    if not schema:
        return None
    props = schema.get("properties")
    if isinstance(props, dict) and field in props:
        return props[field]
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return extra
    return None


def list_type(schema: Schema | None) -> tuple[str | None, list[str]]:
    """x-kubernetes-list-type ('atomic', 'set', 'map' or None) and x-kubernetes-list-map-keys."""
    if not schema:
        return None, []
    lt = schema.get("x-kubernetes-list-type")
    keys = schema.get("x-kubernetes-list-map-keys") or []
    if lt is None:
        resolved = resolve(schema)
        if resolved is not schema and resolved:
            lt = resolved.get("x-kubernetes-list-type")
            keys = resolved.get("x-kubernetes-list-map-keys") or []
    return lt, list(keys)


def map_type(schema: Schema | None) -> str | None:
    """x-kubernetes-map-type ('atomic' or 'granular') of an object schema."""
    if not schema:
        return None
    mt = schema.get("x-kubernetes-map-type")
    if mt is None:
        resolved = resolve(schema)
        mt = resolved.get("x-kubernetes-map-type") if resolved else None
    return mt


def gvk_definitions() -> dict[tuple[str, str, str], str]:
    """(group, version, kind) -> definition name, from x-kubernetes-group-version-kind."""
    out: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            out.setdefault((gvk.get("group", ""), gvk["version"], gvk["kind"]), name)
    return out

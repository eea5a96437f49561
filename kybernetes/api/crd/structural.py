"""Checks on a CRD version's openAPIV3Schema: structural-schema invariants and the OpenAPI subset CRDs accept."""

from __future__ import annotations

import re
from typing import Any

from kybernetes.api.errors import FieldError, forbidden, invalid, not_supported, required

Schema = dict[str, Any]

OPENAPI_V3_TYPES = ["array", "boolean", "integer", "number", "object", "string"]
META_FIELDS = ("metadata", "kind", "apiVersion")
_JUNCTORS = ("anyOf", "allOf", "oneOf")
_ROOT, _ITEM, _FIELD = "root", "item", "field"


def key(path: str, name: str) -> str:
    return f"{path}[{name}]"


# --- ValidateStructural: invariants of a structural schema (errors sorted, as upstream sorts them) ---

def validate_structural(path: str, s: Schema) -> list[FieldError]:
    errs = _invariants(s, _ROOT, path) + _completeness(s, path)
    return sorted(errs, key=str)


def _is_int_or_string_any_of(any_of: Any) -> bool:
    return isinstance(any_of, list) and len(any_of) == 2 and any_of[0] == {"type": "integer"} \
        and any_of[1] == {"type": "string"}


def _invariants(s: Schema, lvl: str, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    t = s.get("type") or ""
    if t == "array" and not isinstance(s.get("items"), dict):
        errs.append(required(f"{path}.items", "must be specified"))
    if isinstance(s.get("items"), dict):
        errs += _invariants(s["items"], _ITEM, f"{path}.items")
    for k, v in (s.get("properties") or {}).items():
        errs += _invariants(v, _FIELD, key(f"{path}.properties", k))
    addl = s.get("additionalProperties")
    if addl is not None and addl is not True:
        if lvl == _ROOT:
            errs.append(forbidden(f"{path}.additionalProperties", "must not be used at the root"))
        if isinstance(addl, dict):
            errs += _invariants(addl, _FIELD, f"{path}.additionalProperties")
    ios, pres, emb = (bool(s.get("x-kubernetes-int-or-string")), bool(s.get("x-kubernetes-preserve-unknown-fields")),
                      bool(s.get("x-kubernetes-embedded-resource")))
    if ios and pres:
        errs.append(invalid(f"{path}.x-kubernetes-preserve-unknown-fields", True,
                            "must be false if x-kubernetes-int-or-string is true"))
    if ios and emb:
        errs.append(invalid(f"{path}.x-kubernetes-embedded-resource", True,
                            "must be false if x-kubernetes-int-or-string is true"))
    skip_any_of = _is_int_or_string_any_of(s.get("anyOf"))
    all_of = s.get("allOf") or []
    skip_first = bool(all_of) and isinstance(all_of[0], dict) and _is_int_or_string_any_of(all_of[0].get("anyOf"))
    errs += _value_validation(s, skip_any_of, skip_first, lvl, path)
    if emb and t != "object":
        detail = "must be object if x-kubernetes-embedded-resource is true"
        errs.append(required(f"{path}.type", detail) if not t else invalid(f"{path}.type", t, detail))
    elif not t and not ios and not pres:
        detail = {_ROOT: "must not be empty at the root", _ITEM: "must not be empty for specified array items",
                  _FIELD: "must not be empty for specified object fields"}[lvl]
        errs.append(required(f"{path}.type", detail))
    if emb and addl is not None:
        errs.append(forbidden(f"{path}.additionalProperties", "must not be used if x-kubernetes-embedded-resource is set"))
    if lvl == _ROOT and t and t != "object":
        errs.append(invalid(f"{path}.type", t, "must be object at the root"))
    props = s.get("properties") or {}
    if lvl == _ROOT or emb:
        for name, want in (("kind", "string"), ("apiVersion", "string"), ("metadata", "object")):
            if name in props and (props[name].get("type") or "") != want:
                errs.append(invalid(f"{key(path + '.properties', name)}.type", props[name].get("type") or "",
                                    f"must be {want}"))
    if lvl == _ROOT and "metadata" in props:
        meta = {k: v for k, v in props["metadata"].items() if k not in ("type", "default", "description")}
        mprops = dict(meta.pop("properties", None) or {})
        for allowed in ("name", "generateName"):
            mprops.pop(allowed, None)
        if meta or mprops:
            errs.append(forbidden(key(f"{path}.properties", "metadata"),
                                  "must not specify anything other than name and generateName, but metadata is "
                                  "implicitly specified"))
    if emb and not pres and not props:
        errs.append(required(f"{path}.properties", "must not be empty if x-kubernetes-embedded-resource is true "
                                                   "without x-kubernetes-preserve-unknown-fields"))
    return errs


def _value_validation(v: Schema, skip_any_of: bool, skip_first_all_of_any_of: bool, lvl: str,
                      path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not skip_any_of:
        for i, sub in enumerate(v.get("anyOf") or []):
            errs += _nested(sub, False, lvl, f"{path}.anyOf[{i}]")
    for i, sub in enumerate(v.get("allOf") or []):
        errs += _nested(sub, skip_first_all_of_any_of and i == 0, lvl, f"{path}.allOf[{i}]")
    for i, sub in enumerate(v.get("oneOf") or []):
        errs += _nested(sub, False, lvl, f"{path}.oneOf[{i}]")
    if isinstance(v.get("not"), dict):
        errs += _nested(v["not"], False, lvl, f"{path}.not")
    if v.get("pattern"):
        try:
            re.compile(v["pattern"])
        except re.error as e:
            errs.append(invalid(f"{path}.pattern", v["pattern"],
                                f"must be a valid regular expression, but isn't: {e}"))
    return errs


_FORBIDDEN_IN_JUNCTORS = (
    ("type", "must be empty to be structural"),
    ("additionalProperties", "must be undefined to be structural"),
    ("default", "must be undefined to be structural"),
    ("title", "must be empty to be structural"),
    ("description", "must be empty to be structural"),
    ("nullable", "must be false to be structural"),
    ("x-kubernetes-preserve-unknown-fields", "must be false to be structural"),
    ("x-kubernetes-embedded-resource", "must be false to be structural"),
    ("x-kubernetes-int-or-string", "must be false to be structural"),
    ("x-kubernetes-list-map-keys", "must be empty to be structural"),
    ("x-kubernetes-list-type", "must be undefined to be structural"),
)


def _nested(v: Schema, skip_any_of: bool, lvl: str, path: str) -> list[FieldError]:
    if not isinstance(v, dict):
        return []
    errs = _value_validation(v, skip_any_of, False, lvl, path)
    if isinstance(v.get("items"), dict):
        errs += _nested(v["items"], False, lvl, f"{path}.items")
    for k, sub in (v.get("properties") or {}).items():
        errs += _nested(sub, False, _FIELD, key(f"{path}.properties", k))
    for name, detail in _FORBIDDEN_IN_JUNCTORS:
        val = v.get(name)
        if val not in (None, False, "", []):
            errs.append(forbidden(f"{path}.{name}", detail))
    if "metadata" in (v.get("properties") or {}):
        errs.append(forbidden(key(f"{path}.properties", "metadata"), "must not be specified in a nested context"))
    return errs


def _completeness(s: Schema, path: str) -> list[FieldError]:
    """Every field or item named inside a junctor must also be specified outside of it."""
    errs: list[FieldError] = []

    def check(node: Schema, value: Schema, vpath: str, npath: str) -> None:
        for k, sub in (value.get("properties") or {}).items():
            props = node.get("properties") or {}
            if k not in props:
                if not node.get("x-kubernetes-preserve-unknown-fields") and not isinstance(
                        node.get("additionalProperties"), dict):
                    errs.append(required(key(f"{npath}.properties", k),
                                         f"because it is defined in {key(vpath + '.properties', k)}"))
                continue
            check(props[k], sub, key(f"{vpath}.properties", k), key(f"{npath}.properties", k))
        if isinstance(value.get("items"), dict):
            if not isinstance(node.get("items"), dict):
                errs.append(required(f"{npath}.items", f"because it is defined in {vpath}.items"))
            else:
                check(node["items"], value["items"], f"{vpath}.items", f"{npath}.items")
        for j in _JUNCTORS:
            for i, sub in enumerate(value.get(j) or []):
                if isinstance(sub, dict):
                    check(node, sub, f"{vpath}.{j}[{i}]", npath)
        if isinstance(value.get("not"), dict):
            check(node, value["not"], f"{vpath}.not", npath)

    def walk(node: Schema, npath: str) -> None:
        for j in _JUNCTORS:
            for i, sub in enumerate(node.get(j) or []):
                if isinstance(sub, dict):
                    check(node, sub, f"{npath}.{j}[{i}]", npath)
        if isinstance(node.get("not"), dict):
            check(node, node["not"], f"{npath}.not", npath)
        for k, sub in (node.get("properties") or {}).items():
            walk(sub, key(f"{npath}.properties", k))
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{npath}.items")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{npath}.additionalProperties")

    walk(s, path)
    return errs


# --- ValidateCustomResourceDefinitionOpenAPISchema: the OpenAPI subset and Kubernetes extensions ---

class _Ctx:
    def __init__(self, allow_defaults: bool = True, reason: str = "", inside_meta: bool = False) -> None:
        self.allow_defaults = allow_defaults
        self.reason = reason
        self.inside_meta = inside_meta

    def forbid_defaults(self, reason: str) -> "_Ctx":
        return _Ctx(False, reason, self.inside_meta)

    def in_meta(self) -> "_Ctx":
        return _Ctx(self.allow_defaults, self.reason, True)


def validate_openapi_schema(s: Schema, path: str, is_root: bool = True, ctx: _Ctx | None = None) -> list[FieldError]:
    ctx = ctx or _Ctx()
    if not isinstance(s, dict):
        return []
    errs = _standard(s, path, ctx)
    if s.get("uniqueItems"):
        errs.append(forbidden(f"{path}.uniqueItems",
                              "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"))
    addl = s.get("additionalProperties")
    if addl is not None:
        if s.get("properties") and (addl is False or isinstance(addl, dict)):
            errs.append(forbidden(f"{path}.additionalProperties",
                                  "additionalProperties and properties are mutual exclusive"))
        if isinstance(addl, dict):
            sub = ctx.forbid_defaults("inside additionalProperties applying to object metadata") \
                if ctx.inside_meta else ctx
            errs += validate_openapi_schema(addl, f"{path}.additionalProperties", False, sub)
    for prop, ps in (s.get("properties") or {}).items():
        sub = ctx
        if (is_root or s.get("x-kubernetes-embedded-resource")) and prop in META_FIELDS:
            sub = sub.in_meta()
            if is_root:
                sub = sub.forbid_defaults(f"in top-level {prop}")
        errs += validate_openapi_schema(ps, key(f"{path}.properties", prop), False, sub)
    if isinstance(s.get("not"), dict):
        errs += validate_openapi_schema(s["not"], f"{path}.not", False, ctx)
    for j in ("allOf", "oneOf", "anyOf"):
        for i, sub_s in enumerate(s.get(j) or []):
            errs += validate_openapi_schema(sub_s, f"{path}.{j}[{i}]", False, ctx)
    for name, sub_s in (s.get("definitions") or {}).items():
        errs += validate_openapi_schema(sub_s, key(f"{path}.definitions", name), False, ctx)
    items = s.get("items")
    if isinstance(items, dict):
        errs += validate_openapi_schema(items, f"{path}.items", False, ctx)
    elif isinstance(items, list):
        for i, sub_s in enumerate(items):
            errs += validate_openapi_schema(sub_s, f"{path}.items[{i}]", False, ctx)
    errs += _extensions(s, path)
    return errs


def _standard(s: Schema, path: str, ctx: _Ctx) -> list[FieldError]:
    errs: list[FieldError] = []
    t = s.get("type")
    if t and t not in OPENAPI_V3_TYPES and t != "null":
        errs.append(not_supported(f"{path}.type", t, OPENAPI_V3_TYPES))
    if "default" in s and s["default"] is not None and not ctx.allow_defaults:
        errs.append(forbidden(f"{path}.default", "must not be set" + (f" {ctx.reason}" if ctx.reason else "")))
    for name, detail in (("id", "id is not supported"), ("additionalItems", "additionalItems is not supported"),
                         ("patternProperties", "patternProperties is not supported"),
                         ("definitions", "definitions is not supported"),
                         ("dependencies", "dependencies is not supported"), ("$ref", "$ref is not supported")):
        if s.get(name) not in (None, "", {}):
            errs.append(forbidden(f"{path}.{name}", detail))
    if t == "null":
        errs.append(forbidden(f"{path}.type", "type cannot be set to null, use nullable as an alternative"))
    if isinstance(s.get("items"), list) and s["items"]:
        errs.append(forbidden(f"{path}.items", "items must be a schema object and not an array"))
    if ctx.inside_meta and s.get("x-kubernetes-embedded-resource"):
        errs.append(forbidden(f"{path}.x-kubernetes-embedded-resource", "must not be used inside of resource meta"))
    return errs


def _extensions(s: Schema, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    t = s.get("type") or ""
    if s.get("x-kubernetes-preserve-unknown-fields") is False:
        errs.append(invalid(f"{path}.x-kubernetes-preserve-unknown-fields", False, "must be true or undefined"))
    map_type = s.get("x-kubernetes-map-type")
    if map_type is not None and t != "object":
        detail = "must be object if x-kubernetes-map-type is specified"
        errs.append(required(f"{path}.type", detail) if not t else invalid(f"{path}.type", t, detail))
    if map_type is not None and map_type not in ("atomic", "granular"):
        errs.append(not_supported(f"{path}.x-kubernetes-map-type", map_type, ["atomic", "granular"]))
    list_type = s.get("x-kubernetes-list-type")
    items = s.get("items") if isinstance(s.get("items"), dict) else None
    if list_type is not None and t != "array":
        detail = "must be array if x-kubernetes-list-type is specified"
        errs.append(required(f"{path}.type", detail) if not t else invalid(f"{path}.type", t, detail))
    elif list_type == "set" and items is not None:
        it = items.get("type")
        if it == "array" and items.get("x-kubernetes-list-type") not in (None, "atomic"):
            errs.append(invalid(f"{path}.items.x-kubernetes-list-type", items["x-kubernetes-list-type"],
                                "must be atomic as item of a list with x-kubernetes-list-type=set"))
        if it == "object" and items.get("x-kubernetes-map-type") != "atomic":
            errs.append(invalid(f"{path}.items.x-kubernetes-map-type", items.get("x-kubernetes-list-type"),
                                "must be atomic as item of a list with x-kubernetes-list-type=set"))
    if list_type is not None and list_type not in ("atomic", "set", "map"):
        errs.append(not_supported(f"{path}.x-kubernetes-list-type", list_type, ["atomic", "set", "map"]))
    map_keys = s.get("x-kubernetes-list-map-keys") or []
    if map_keys:
        if list_type is None:
            errs.append(required(f"{path}.x-kubernetes-list-type", "must be map if x-kubernetes-list-map-keys is non-empty"))
        elif list_type != "map":
            errs.append(invalid(f"{path}.x-kubernetes-list-type", list_type,
                                "must be map if x-kubernetes-list-map-keys is non-empty"))
    if list_type == "map":
        errs += _map_list(s, path, items, map_keys)
    if list_type in ("set", "map") and items is not None:
        errs += _map_set_keys(s, path, items, list_type, map_keys)
    for i, rule in enumerate(s.get("x-kubernetes-validations") or []):
        errs += _rule(rule, f"{path}.x-kubernetes-validations[{i}]")
    return errs


def _map_list(s: Schema, path: str, items: Schema | None, map_keys: list[str]) -> list[FieldError]:
    errs: list[FieldError] = []
    if not map_keys:
        errs.append(required(f"{path}.x-kubernetes-list-map-keys", "must not be empty if x-kubernetes-list-type is map"))
    if s.get("items") is None:
        errs.append(required(f"{path}.items", "must have a schema if x-kubernetes-list-type is map"))
    if items is not None and items.get("type") != "object":
        errs.append(invalid(f"{path}.items.type", items.get("type") or "",
                            "must be object if parent array's x-kubernetes-list-type is map"))
    if items is not None and items.get("type") == "object":
        seen: set[str] = set()
        props = items.get("properties") or {}
        for k in map_keys:
            if k in props:
                if props[k].get("type") in ("array", "object"):
                    errs.append(invalid(f"{key(path + '.items.properties', k)}.type", "object",
                                        "must be a scalar type if parent array's x-kubernetes-list-type is map"))
            else:
                errs.append(invalid(f"{path}.x-kubernetes-list-map-keys", map_keys,
                                    "entries must all be names of item properties"))
            if k in seen:
                errs.append(invalid(f"{path}.x-kubernetes-list-map-keys", map_keys, "must not contain duplicate entries"))
            seen.add(k)
    return errs


def _map_set_keys(s: Schema, path: str, items: Schema, list_type: str, map_keys: list[str]) -> list[FieldError]:
    errs: list[FieldError] = []
    if items.get("nullable"):
        errs.append(forbidden(f"{path}.items.nullable", f"cannot be nullable when x-kubernetes-list-type is {list_type}"))
    if list_type == "map":
        req = set(items.get("required") or [])
        props = items.get("properties") or {}
        for k in map_keys:
            if k not in props:
                continue
            if k not in req and props[k].get("default") is None:
                errs.append(required(f"{key(path + '.items.properties', k)}.default",
                                     "this property is in x-kubernetes-list-map-keys, so it must have a default or be "
                                     "a required property"))
            if props[k].get("nullable"):
                errs.append(forbidden(f"{key(path + '.items.properties', k)}.nullable",
                                      "this property is in x-kubernetes-list-map-keys, so it cannot be nullable"))
    return errs


def _rule(rule: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    text = (rule.get("rule") or "").strip()
    msg = rule.get("message") or ""
    if not text:
        errs.append(required(f"{path}.rule", "rule is not specified"))
    elif msg and not msg.strip():
        errs.append(invalid(f"{path}.message", msg, "message must be non-empty if specified"))
    elif re.search(r"[\n\r]", msg.strip()):
        errs.append(invalid(f"{path}.message", msg, "message must not contain line breaks"))
    elif re.search(r"[\n\r]", text) and not msg.strip():
        errs.append(required(f"{path}.message", "message must be specified if rule contains line breaks"))
    expr = rule.get("messageExpression") or ""
    if expr and not expr.strip():
        errs.append(required(f"{path}.messageExpression", "messageExpression must be non-empty if specified"))
    reason = rule.get("reason")
    supported = ["FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"]
    if reason is not None and reason not in supported:
        errs.append(not_supported(f"{path}.reason", reason, supported))
    return errs

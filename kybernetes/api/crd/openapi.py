"""An OpenAPI v3 value validator that reports what kube-openapi's validator reports, as apiextensions' field errors.

Paths and messages follow kube-openapi (`spec.replicas in body must be of type integer: "string"`) and the way
apiextensions-apiserver turns them into field errors (Required, Unsupported value, Too long, Too many, Invalid).
On update, a subtree equal to its correlated old value is not checked (CRD validation ratcheting).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from kybernetes.api.errors import FieldError
from kybernetes.api.crd.formats import format_valid
from kybernetes.api.crd.names import go_number

Schema = dict[str, Any]
MISSING: Any = object()

NIL_FIELD = "<nil>"  # how upstream prints an empty field.Path


def json_type(value: Any) -> str:
    """The JSON type name kube-openapi infers for decoded data."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def schema_types(schema: Schema) -> list[str]:
    if schema.get("x-kubernetes-int-or-string"):
        return ["integer", "string"]
    t = schema.get("type")
    if not t:
        return []
    return list(t) if isinstance(t, list) else [t]


def _compile(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return a == b


def _enum_equal(value: Any, allowed: Any) -> bool:
    if isinstance(value, (int, float)) and isinstance(allowed, (int, float)) \
            and not isinstance(value, bool) and not isinstance(allowed, bool):
        return float(value) == float(allowed)
    return _json_equal(value, allowed)


class SchemaValidator:
    """Validates decoded JSON against one CRD version's openAPIV3Schema."""

    def __init__(self, schema: Schema | None, field_path: str = "") -> None:
        self.schema = schema or {}
        self.field_path = field_path  # the field.Path the value sits at ("" for a whole object)

    def _field(self, name: str) -> str:
        """The field of an error kube-openapi reports under name (apiextensions' fldPath.Child(name))."""
        name = name[1:] if name.startswith(".") else name
        if self.field_path:
            return f"{self.field_path}.{name}" if name else self.field_path
        return name or NIL_FIELD

    def validate(self, data: Any, old: Any = MISSING) -> list[FieldError]:
        return self._validate(self.schema, data, "", old)

    # --- one schema node: the validator chain of kube-openapi's SchemaValidator ---

    def _validate(self, s: Schema, data: Any, path: str, old: Any) -> list[FieldError]:
        if old is not MISSING and _json_equal(data, old):
            return []  # ratcheting: unchanged values are not re-validated
        errs: list[FieldError] = []
        if data is None:
            types = schema_types(s)
            if types and "null" not in types and not s.get("nullable"):
                errs.append(self._type_error(path, ",".join(types), "null"))
            return errs
        type_err = self._check_type(s, data, path)
        if type_err:
            errs.append(type_err)
        errs += self._composition(s, data, path, old)
        if isinstance(data, str):
            errs += self._string(s, data, path)
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            errs += self._number(s, data, path)
        if isinstance(data, list):
            errs += self._array(s, data, path, old)
        if "enum" in s and s["enum"] is not None:
            if not any(_enum_equal(data, allowed) for allowed in s["enum"]):
                errs.append(self._enum_error(path, data, s["enum"]))
        if isinstance(data, dict):
            errs += self._object(s, data, path, old)
        return errs

    def _type_error(self, path: str, expected: str, got: str) -> FieldError:
        return FieldError("FieldValueTypeInvalid", self._field(path), got,
                          f'{path} in body must be of type {expected}: "{got}"')

    def _check_type(self, s: Schema, data: Any, path: str) -> FieldError | None:
        types = schema_types(s)
        if not types:
            return None
        got = json_type(data)
        if got in types:
            return None
        if got == "number" and "integer" in types and float(data).is_integer():
            return None
        if got == "integer" and "number" in types:
            return None
        return self._type_error(path, ",".join(types), got)

    def _enum_error(self, path: str, data: Any, allowed: list[Any]) -> FieldError:
        values = [a if isinstance(a, str) else orjson.dumps(a).decode() for a in allowed]
        detail = "supported values: " + ", ".join(orjson.dumps(v).decode() for v in values)
        return FieldError("FieldValueNotSupported", self._field(path), data, detail)

    def _invalid(self, path: str, value: Any, message: str) -> FieldError:
        return FieldError("FieldValueInvalid", self._field(path), value, message)

    def _junctor(self, message: str) -> FieldError:
        return FieldError("FieldValueInvalid", self.field_path or NIL_FIELD, "", message)

    # --- keyword groups ---

    def _string(self, s: Schema, data: str, path: str) -> list[FieldError]:
        errs = []
        n = len(data)
        if s.get("maxLength") is not None and n > s["maxLength"]:
            m = int(s["maxLength"])
            errs.append(FieldError("FieldValueTooLong", self._field(path), data,
                                   f"may not be more than {m} {'byte' if m == 1 else 'bytes'}"))
        if s.get("minLength") is not None and n < s["minLength"]:
            errs.append(self._invalid(path, data, f"{path} in body should be at least {int(s['minLength'])} chars long"))
        if s.get("pattern"):
            rx = _compile(s["pattern"])
            if rx is not None and not rx.search(data):
                errs.append(self._invalid(path, data, f"{path} in body should match '{s['pattern']}'"))
        fmt = s.get("format")
        if fmt and not format_valid(fmt, data):
            errs.append(FieldError("FieldValueTypeInvalid", self._field(path), data,
                                   f'{path} in body must be of type {fmt}: "{data}"'))
        return errs

    def _number(self, s: Schema, data: int | float, path: str) -> list[FieldError]:
        errs = []
        mult = s.get("multipleOf")
        if mult is not None and mult > 0:
            q = data / mult
            if not float(q).is_integer():
                errs.append(self._invalid(path, data, f"{path} in body should be a multiple of {go_number(mult)}"))
        mx = s.get("maximum")
        if mx is not None:
            if s.get("exclusiveMaximum") and data >= mx:
                errs.append(self._invalid(path, data, f"{path} in body should be less than {go_number(mx)}"))
            elif not s.get("exclusiveMaximum") and data > mx:
                errs.append(self._invalid(path, data,
                                          f"{path} in body should be less than or equal to {go_number(mx)}"))
        mn = s.get("minimum")
        if mn is not None:
            if s.get("exclusiveMinimum") and data <= mn:
                errs.append(self._invalid(path, data, f"{path} in body should be greater than {go_number(mn)}"))
            elif not s.get("exclusiveMinimum") and data < mn:
                errs.append(self._invalid(path, data,
                                          f"{path} in body should be greater than or equal to {go_number(mn)}"))
        return errs

    def _array(self, s: Schema, data: list[Any], path: str, old: Any) -> list[FieldError]:
        errs: list[FieldError] = []
        items = s.get("items")
        if isinstance(items, dict):
            olds = _correlate_items(s, data, old)
            for i, v in enumerate(data):
                errs += self._validate(items, v, f"{path}[{i}]", olds[i])
        n = len(data)
        if s.get("minItems") is not None and n < s["minItems"]:
            errs.append(self._invalid(path, n, f"{path} in body should have at least {int(s['minItems'])} items"))
        if s.get("maxItems") is not None and n > s["maxItems"]:
            m = int(s["maxItems"])
            errs.append(FieldError("FieldValueTooMany", self._field(path), n,
                                   f"must have at most {m} {'item' if m == 1 else 'items'}"))
        if s.get("uniqueItems"):
            seen: list[Any] = []
            for v in data:
                if any(_json_equal(v, x) for x in seen):
                    errs.append(self._invalid(path, "", f"{path} in body shouldn't contain duplicates"))
                    break
                seen.append(v)
        return errs

    def _object(self, s: Schema, data: dict[str, Any], path: str, old: Any) -> list[FieldError]:
        n = len(data)
        if s.get("minProperties") is not None and n < s["minProperties"]:
            return [self._invalid(path, n, f"{path} in body should have at least {int(s['minProperties'])} properties")]
        if s.get("maxProperties") is not None and n > s["maxProperties"]:
            m = int(s["maxProperties"])
            return [FieldError("FieldValueTooMany", self._field(path), n,
                               f"must have at most {m} {'item' if m == 1 else 'items'}")]
        errs: list[FieldError] = []
        props: dict[str, Schema] = s.get("properties") or {}
        addl = s.get("additionalProperties")
        old_map = old if isinstance(old, dict) else {}
        if addl is False:
            for k in data:
                if k not in props:
                    errs.append(self._invalid(path, k,
                                              f"{path}.{k} in body is a forbidden property"))
        elif isinstance(addl, dict):
            for k, v in data.items():
                if k not in props:
                    errs += self._validate(addl, v, f"{path}.{k}", old_map.get(k, MISSING))
        for k, ps in props.items():
            if k in data:
                errs += self._validate(ps, data[k], f"{path}.{k}" if path else k, old_map.get(k, MISSING))
        for k in s.get("required") or []:
            if k not in data:
                errs.append(FieldError("FieldValueRequired", self._field(f"{path}.{k}")))
        return errs

    def _composition(self, s: Schema, data: Any, path: str, old: Any) -> list[FieldError]:
        errs: list[FieldError] = []
        quoted = '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'
        any_of = s.get("anyOf") or []
        if any_of:
            results = [self._validate(sub, data, path, old) for sub in any_of]
            if not any(not r for r in results):
                errs.append(self._junctor(f"{quoted} must validate at least one schema (anyOf)"))
                errs += min(results, key=len)
        one_of = s.get("oneOf") or []
        if one_of:
            results = [self._validate(sub, data, path, old) for sub in one_of]
            valid = sum(1 for r in results if not r)
            if valid != 1:
                extra = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
                errs.append(self._junctor(f"{quoted} must validate one and only one schema (oneOf). {extra}"))
                if valid == 0:
                    errs += min(results, key=len)
        all_of = s.get("allOf") or []
        if all_of:
            results = [self._validate(sub, data, path, old) for sub in all_of]
            for r in results:
                errs += r
            valid = sum(1 for r in results if not r)
            if valid != len(all_of):
                extra = ". None validated" if valid == 0 else ""
                errs.append(self._junctor(f"{quoted} must validate all the schemas (allOf){extra}"))
        if isinstance(s.get("not"), dict):
            if not self._validate(s["not"], data, path, MISSING):
                errs.append(self._junctor(f"{quoted} must not validate the schema (not)"))
        return errs


def _correlate_items(s: Schema, data: list[Any], old: Any) -> list[Any]:
    """Old values for each item: only map lists correlate items (by their keys); others do not ratchet items."""
    out: list[Any] = [MISSING] * len(data)
    if not isinstance(old, list) or s.get("x-kubernetes-list-type") != "map":
        return out
    keys = s.get("x-kubernetes-list-map-keys") or []

    def key_of(item: Any) -> tuple | None:
        if not isinstance(item, dict):
            return None
        return tuple(repr(item.get(k)) for k in keys)

    index = {key_of(o): o for o in old if key_of(o) is not None}
    for i, item in enumerate(data):
        k = key_of(item)
        if k is not None and k in index:
            out[i] = index[k]
    return out

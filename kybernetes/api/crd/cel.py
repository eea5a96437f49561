"""x-kubernetes-validations: CEL rules of a CRD schema evaluated with cel-python (`self`, `oldSelf`).

Runs what the cel-python interpreter supports (the CEL standard library); Kubernetes' CEL extension
libraries (quantity, url, ip, cidr, format, ...) and cost budgets are not available.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

from kybernetes.api.errors import FieldError
from kybernetes.api.crd.openapi import MISSING, NIL_FIELD

Schema = dict[str, Any]
log = logging.getLogger(__name__)

try:  # cel-python is optional: without it, rules are not evaluated
    import celpy
except ImportError:  # pragma: no cover - depends on the environment
    celpy = None

AVAILABLE = celpy is not None


@functools.lru_cache(maxsize=1024)
def _program(expression: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(expression))


def _schema_type(s: Schema) -> str:
    if s.get("x-kubernetes-int-or-string"):
        return "integer"  # upstream reports the declared type; int-or-string has none
    return s.get("type") or "object"


def _uses_old_self(rule: str) -> bool:
    return "oldSelf" in rule


def validate_rules(obj: Any, schema: Schema | None, old: Any = MISSING) -> list[FieldError]:
    """Every failing rule as upstream reports it, e.g. `spec: Invalid value: "object": <message>`."""
    if not AVAILABLE or not schema:
        return []
    errs: list[FieldError] = []
    _walk(obj, schema, "", old, errs)
    return errs


def _walk(x: Any, s: Schema, path: str, old: Any, errs: list[FieldError]) -> None:
    if x is None or (old is not MISSING and x == old):
        return  # ratcheting: rules are not re-run on unchanged values
    rules = s.get("x-kubernetes-validations") or []
    if rules:
        _run_rules(x, s, rules, path, old, errs)
    if isinstance(x, dict):
        props = s.get("properties") or {}
        addl = s.get("additionalProperties")
        old_map = old if isinstance(old, dict) else {}
        for k, v in x.items():
            sub = props.get(k) if k in props else (addl if isinstance(addl, dict) else None)
            if sub is not None:
                child = f"{path}.{k}" if k in props else f"{path}[{k}]"
                _walk(v, sub, child.lstrip(".") if k in props else child, old_map.get(k, MISSING), errs)
    elif isinstance(x, list) and isinstance(s.get("items"), dict):
        olds = _correlated_items(s, x, old)
        for i, v in enumerate(x):
            _walk(v, s["items"], f"{path}[{i}]", olds[i], errs)


def _correlated_items(s: Schema, x: list[Any], old: Any) -> list[Any]:
    out = [MISSING] * len(x)
    if s.get("x-kubernetes-list-type") != "map" or not isinstance(old, list):
        return out
    keys = s.get("x-kubernetes-list-map-keys") or []
    index = {tuple(repr(o.get(k)) for k in keys): o for o in old if isinstance(o, dict)}
    for i, item in enumerate(x):
        if isinstance(item, dict):
            out[i] = index.get(tuple(repr(item.get(k)) for k in keys), MISSING)
    return out


def _typed(x: Any, s: Schema | None) -> Any:
    """Decoded JSON with the schema's types: whole floats of integer fields become ints, as upstream converts."""
    if s is None:
        return x
    if isinstance(x, float) and x.is_integer() and (s.get("type") == "integer" or s.get("x-kubernetes-int-or-string")):
        return int(x)
    if isinstance(x, dict):
        props = s.get("properties") or {}
        addl = s.get("additionalProperties")
        return {k: _typed(v, props.get(k) if k in props else (addl if isinstance(addl, dict) else None))
                for k, v in x.items()}
    if isinstance(x, list):
        items = s.get("items")
        return [_typed(v, items if isinstance(items, dict) else None) for v in x]
    return x


def _run_rules(x: Any, s: Schema, rules: list[dict], path: str, old: Any, errs: list[FieldError]) -> None:
    activation = {"self": celpy.json_to_cel(_typed(x, s))}
    for rule in rules:
        text = (rule.get("rule") or "").strip()
        if not text:
            continue
        uses_old = _uses_old_self(text)
        if uses_old:
            if old is MISSING and not rule.get("optionalOldSelf"):
                continue  # transition rules only run on update, against a correlated old value
            act = dict(activation)
            act["oldSelf"] = celpy.json_to_cel(None if old is MISSING else _typed(old, s))
        else:
            act = activation
        field = path or NIL_FIELD
        if rule.get("fieldPath"):
            suffix = rule["fieldPath"].strip()
            field = (f"{path}{suffix}" if suffix.startswith(("[", ".")) else f"{path}.{suffix}").lstrip(".")
        try:
            result = _program(text).evaluate(act)
        except Exception as e:  # compile and evaluation errors are reported, not raised
            errs.append(FieldError("FieldValueInvalid", field, _schema_type(s), f"{_rule_string(rule)}: {_err(e)}"))
            continue
        if isinstance(result, Exception) or not isinstance(result, (bool, celpy.celtypes.BoolType)):
            errs.append(FieldError("FieldValueInvalid", field, _schema_type(s),
                                   f"{_rule_string(rule)}: {_err(result)}"))
            continue
        if bool(result):
            continue
        errs.append(_failure(rule, field, _schema_type(s), _message(rule, act)))


def _err(e: Any) -> str:
    text = str(e.args[0]) if isinstance(e, Exception) and e.args else str(e)
    m = re.match(r"no such member in mapping: '(.*)'$", text)
    return f"no such key: {m.group(1)}" if m else text


def _rule_string(rule: dict) -> str:
    return (rule.get("message") or "").strip() or (rule.get("rule") or "").strip()


def _message(rule: dict, act: dict) -> str:
    expr = (rule.get("messageExpression") or "").strip()
    if expr:
        try:
            msg = _program(expr).evaluate(act)
            if isinstance(msg, str) and msg.strip() and "\n" not in msg:
                return msg.strip()
        except Exception as e:  # fall back to message, as upstream does
            log.debug("messageExpression %r failed: %s", expr, e)
    if (rule.get("message") or "").strip():
        return rule["message"].strip()
    return f"failed rule: {_rule_string(rule)}"


def _failure(rule: dict, field: str, type_name: str, detail: str) -> FieldError:
    reason = rule.get("reason")
    if reason == "FieldValueForbidden":
        return FieldError("FieldValueForbidden", field, detail=detail)
    if reason == "FieldValueRequired":
        return FieldError("FieldValueRequired", field, detail=detail)
    if reason == "FieldValueDuplicate":
        return FieldError("FieldValueDuplicate", field, type_name)
    return FieldError("FieldValueInvalid", field, type_name, detail)

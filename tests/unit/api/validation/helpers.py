"""Tiny builders shared by the validation tests."""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api.defaults import apply_defaults
from kybernetes.api.registry import Registry
from kybernetes.api.validation import validate

REG = Registry()


def info(group: str, plural: str, version: str = "v1"):
    return REG.get(group, version, plural)


def check(gp: tuple[str, str], obj: dict, old: dict | None = None, *, default: bool = True) -> list[tuple[str, str]]:
    """Default (like decoding does) then validate; (type, field) of every error."""
    i = info(*gp)
    obj = copy.deepcopy(obj)
    if default:
        apply_defaults(i, obj)
    if old is not None:
        old = copy.deepcopy(old)
        if default:
            apply_defaults(i, old)
    return [(e.type, e.field) for e in validate(i, obj, old)]


def errors(gp: tuple[str, str], obj: dict, old: dict | None = None) -> list:
    i = info(*gp)
    obj = copy.deepcopy(obj)
    apply_defaults(i, obj)
    return validate(i, obj, copy.deepcopy(old))


def set_path(obj: dict, path: str, value: Any) -> dict:
    """A copy of obj with value at a dotted path ('spec.containers.0.image'); value DELETE removes it."""
    obj = copy.deepcopy(obj)
    parts = path.split(".")
    cur: Any = obj
    for part in parts[:-1]:
        cur = cur[int(part)] if isinstance(cur, list) else cur.setdefault(part, {})
    last = parts[-1]
    if value is DELETE:
        del cur[int(last) if isinstance(cur, list) else last]
    elif isinstance(cur, list):
        cur[int(last)] = value
    else:
        cur[last] = value
    return obj


DELETE = object()

REQ, INV, NS, FORB, DUP, NF, LONG = ("FieldValueRequired", "FieldValueInvalid", "FieldValueNotSupported",
                                     "FieldValueForbidden", "FieldValueDuplicate", "FieldValueNotFound",
                                     "FieldValueTooLong")

"""Structural defaulting: fill in schema `default`s, as apiextensions' defaulting algorithm does."""

from __future__ import annotations

import copy
from typing import Any

Schema = dict[str, Any]


def _non_nullable_null(x: Any, s: Schema | None) -> bool:
    return x is None and s is not None and not s.get("nullable") and s.get("default") is not None


def apply_defaults(x: Any, s: Schema | None) -> None:
    """Default x in place: a missing field (or a null one that may not be null) gets its schema's default.

    Defaults apply only inside values that exist: a nested object is not created unless its own default is set.
    """
    if s is None:
        return
    if isinstance(x, dict):
        props: dict[str, Schema] = s.get("properties") or {}
        for k, ps in props.items():
            if ps.get("default") is None:
                continue
            if k not in x or _non_nullable_null(x[k], ps):
                x[k] = copy.deepcopy(ps["default"])
        addl = s.get("additionalProperties")
        for k, v in list(x.items()):
            if k in props:
                apply_defaults(v, props[k])
            elif isinstance(addl, dict):
                if _non_nullable_null(v, addl):
                    x[k] = copy.deepcopy(addl["default"])
                apply_defaults(x[k], addl)
    elif isinstance(x, list):
        items = s.get("items")
        if not isinstance(items, dict):
            return
        for i in range(len(x)):
            if _non_nullable_null(x[i], items):
                x[i] = copy.deepcopy(items["default"])
            apply_defaults(x[i], items)

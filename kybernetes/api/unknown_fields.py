"""Find fields an object carries that its type's schema does not know (fieldValidation Strict/Warn)."""

from __future__ import annotations

from typing import Any

from kybernetes.api import schema as schemas

# ObjectMeta is known everywhere; its unknown fields are reported like any other
_MAX_DEPTH = 64


def find_unknown_fields(obj: Any, type_schema: schemas.Schema | None, *, prune: bool = False) -> list[str]:
    """Dotted paths ('spec.template.spec.containers[0].foo') of fields absent from the schema.

    With prune, those fields are also removed from obj (a typed decoder drops them, as upstream's does).
    """
    out: list[str] = []
    _walk(obj, schemas.resolve(type_schema), "", out, 0, prune)
    return out


def _walk(value: Any, schema: schemas.Schema | None, path: str, out: list[str], depth: int,
          prune: bool = False) -> None:
    if schema is None or depth > _MAX_DEPTH:
        return
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for k, v in list(value.items()):
            child_path = f"{path}.{k}" if path else k
            if isinstance(props, dict) and k in props:
                _walk(v, schemas.resolve(props[k]), child_path, out, depth + 1, prune)
            elif isinstance(extra, dict):
                _walk(v, schemas.resolve(extra), child_path, out, depth + 1, prune)
            elif extra is True or (props is None and extra is None):
                continue
            else:
                out.append(child_path)
                if prune:
                    del value[k]
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            item_schema = schemas.resolve(items)
            for i, v in enumerate(value):
                _walk(v, item_schema, f"{path}[{i}]", out, depth + 1, prune)

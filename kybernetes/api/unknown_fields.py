"""Find fields an object carries that its type's schema does not know (fieldValidation Strict/Warn)."""

from __future__ import annotations

from typing import Any

from kybernetes.api import schema as schemas

# ObjectMeta is known everywhere; its unknown fields are reported like any other
_MAX_DEPTH = 64


class _Node:
    """A schema with its references resolved once: what the walk needs at each level of an object."""

    __slots__ = ("preserve", "props", "extra", "any_key", "items")

    def __init__(self, schema: schemas.Schema) -> None:
        self.preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        props = schema.get("properties")
        self.props: dict[str, Any] | None = props if isinstance(props, dict) else None
        extra = schema.get("additionalProperties")
        self.extra: dict[str, Any] | None = extra if isinstance(extra, dict) else None
        self.any_key = extra is True or (props is None and extra is None)
        items = schema.get("items")
        self.items: dict[str, Any] | None = items if isinstance(items, dict) else None


# id(schema) -> (schema, its node); holding the schema keeps its id from being reused
_nodes: dict[int, tuple[schemas.Schema, _Node | None]] = {}


def _node(schema: schemas.Schema | None) -> _Node | None:
    """The resolved node of a (possibly $ref) schema, built once per schema object."""
    if schema is None:
        return None
    hit = _nodes.get(id(schema))
    if hit is None:
        resolved = schemas.resolve(schema)
        hit = _nodes[id(schema)] = (schema, None if resolved is None else _Node(resolved))
    return hit[1]


def find_unknown_fields(obj: Any, type_schema: schemas.Schema | None, *, prune: bool = False) -> list[str]:
    """Dotted paths ('spec.template.spec.containers[0].foo') of fields absent from the schema.

    With prune, those fields are also removed from obj (a typed decoder drops them, as upstream's does).
    """
    out: list[str] = []
    _walk(obj, _node(type_schema), "", out, 0, prune)
    return out


def _walk(value: Any, node: _Node | None, path: str, out: list[str], depth: int, prune: bool) -> None:
    if node is None or depth > _MAX_DEPTH or node.preserve:
        return
    if isinstance(value, dict):
        props, extra = node.props, node.extra
        unknown: list[str] = []
        for k, v in value.items():
            if props is not None and k in props:
                child = props[k]
            elif extra is not None:
                child = extra
            elif node.any_key:
                continue
            else:
                out.append(f"{path}.{k}" if path else k)
                unknown.append(k)
                continue
            if isinstance(v, (dict, list)):  # scalars have nothing below them to check
                _walk(v, _node(child), f"{path}.{k}" if path else k, out, depth + 1, prune)
        if prune:
            for k in unknown:
                del value[k]
    elif isinstance(value, list):
        if node.items is None:
            return
        item = _node(node.items)
        for i, v in enumerate(value):
            if isinstance(v, (dict, list)):
                _walk(v, item, f"{path}[{i}]", out, depth + 1, prune)

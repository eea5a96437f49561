"""Merging an applied configuration into a live object, and removing field paths from a value, per the schema."""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api.apply import fieldpath as fp
from kybernetes.api.apply.fieldpath import FieldSet, Path, PathElement
from kybernetes.api.apply.typed import LEAF, LIST, MAP, MISSING, Type, index_items, shape


def merge(lhs: Any, rhs: Any, t: Type) -> Any:
    """lhs with rhs merged in (upstream's TypedValue.Merge): rhs wins at leaves and atomic nodes, maps and
    associative lists are unioned, shared list items merged and ordered as rhs orders them."""
    return _merge(copy.deepcopy(lhs), copy.deepcopy(rhs), t, ())


def _merge(lhs: Any, rhs: Any, t: Type, path: Path) -> Any:
    if rhs is MISSING:
        return lhs
    if lhs is MISSING:
        return rhs
    sl, sr = shape(t, lhs), shape(t, rhs)
    if sl != sr or sr == LEAF:
        return rhs
    if sr == MAP:
        lm = lhs if isinstance(lhs, dict) else {}
        rm = rhs if isinstance(rhs, dict) else {}
        if not lm and not rm:
            return rhs
        out = {}
        for k, lv in lm.items():
            out[k] = _merge(lv, rm.get(k, MISSING), t.field(k)[0], path + (fp.field(k),))
        for k, rv in rm.items():
            if k not in lm:
                out[k] = rv
        return out
    ll = lhs if isinstance(lhs, list) else []
    rl = rhs if isinstance(rhs, list) else []
    if not ll and not rl:
        return rhs
    return _merge_items(ll, rl, t, path)


def _merge_items(lhs: list, rhs: list, t: Type, path: Path) -> list:
    """Upstream's list merge order: rhs order for shared and new items, lhs-only items kept in place."""
    rpes, rby = index_items(t, rhs, path, allow_duplicates=False)
    lpes, lby = index_items(t, lhs, path)
    it = t.item()

    def lchild(pe: PathElement) -> Any:
        items = lby.get(pe)
        return items[0] if items and len(items) == 1 else MISSING

    shared = [pe for pe in rpes if pe in lby]
    shared.reverse()
    next_shared = shared.pop() if shared else None
    merged_rhs: set[PathElement] = set()
    out: list = []
    li = ri = 0
    while li < len(lpes) or ri < len(rpes):
        if li < len(lpes) and ri < len(rpes):
            pe = lpes[li]
            if pe == rpes[ri]:
                merged_rhs.add(pe)
                out.append(_merge(lchild(pe), rby[pe][0], it, path + (pe,)))
                li += 1
                ri += 1
                next_shared = shared.pop() if shared else None
                continue
            if pe in rby and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(lpes):
            pe = lpes[li]
            if pe not in rby:
                out.append(lhs[li])
                li += 1
                continue
            if pe in merged_rhs:
                li += 1
                continue
        if ri < len(rpes):
            pe = rpes[ri]
            merged_rhs.add(pe)
            out.append(_merge(lchild(pe), rby[pe][0], it, path + (pe,)))
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared.pop() if shared else None
    return out


def remove_items(obj: Any, to_remove: FieldSet, t: Type) -> Any:
    """A copy of obj without the members of to_remove (and everything below them)."""
    if to_remove.empty():
        return copy.deepcopy(obj)
    return _remove(copy.deepcopy(obj), _group(to_remove.paths), t, ())


def _group(paths: frozenset[Path] | set[Path]) -> tuple[set[PathElement], dict[PathElement, set[Path]]]:
    members: set[PathElement] = set()
    below: dict[PathElement, set[Path]] = {}
    for p in paths:
        if len(p) == 1:
            members.add(p[0])
        else:
            below.setdefault(p[0], set()).add(p[1:])
    return members, below


def _remove(v: Any, groups: tuple[set[PathElement], dict[PathElement, set[Path]]], t: Type, path: Path) -> Any:
    members, below = groups
    s = shape(t, v)
    if s == MAP and isinstance(v, dict) and v:
        out = {}
        for k, val in v.items():
            pe = fp.field(k)
            if pe in members:
                continue
            sub = below.get(pe)
            out[k] = _remove(val, _group(sub), t.field(k)[0], path + (pe,)) if sub else val
        return out
    if s == LIST and isinstance(v, list) and v:
        pes, _ = index_items(t, v, path)
        it = t.item()
        items = []
        for pe, item in zip(pes, v):
            if pe in members:
                continue
            sub = below.get(pe)
            items.append(_remove(item, _group(sub), it, path + (pe,)) if sub else item)
        return items
    return v

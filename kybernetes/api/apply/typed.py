"""Walking an object against its schema as structured-merge-diff types it: field sets and comparisons.

A schema is either an upstream OpenAPI definition (with $ref) or a CRD's openAPIV3Schema; both are read through
kybernetes.api.schema's helpers. Lists are atomic or associative (keyed by list-map-keys, or a set of scalars);
maps are granular or atomic; a missing schema is upstream's "deduced" type (maps granular, lists atomic).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from kybernetes.api import schema as sch
from kybernetes.api.apply import fieldpath as fp
from kybernetes.api.apply.fieldpath import FieldSet, Path, PathElement

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
# Upstream declares `+default="TCP"` on the protocol key of port lists; the shipped definitions lack it.
KEY_DEFAULTS = {"protocol": "TCP"}

SCALAR, MAP, LIST, DEDUCED = "scalar", "map", "list", "deduced"
LEAF = "leaf"
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()


class TypedError(ValueError):
    """The value does not fit its schema the way structured-merge-diff needs (e.g. a list item without its key)."""


class Type:
    """One node of the schema: kind, atomicity, list keys; children are computed lazily and remembered."""

    __slots__ = ("kind", "schema", "atomic", "keys", "root", "_fields", "_item", "_key_defaults")

    def __init__(self, kind: str, schema: dict | None = None, *, atomic: bool = False,
                 keys: tuple[str, ...] = (), root: bool = False) -> None:
        self.kind = kind
        self.schema = schema
        self.atomic = atomic
        self.keys = keys
        self.root = root
        self._fields: dict[str, tuple[Type, bool]] = {}
        self._item: Type | None = None
        self._key_defaults: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"Type({self.kind}, atomic={self.atomic}, keys={self.keys})"

    def field(self, name: str) -> tuple[Type, bool]:
        """The type of a map member and whether it is a declared (struct) field."""
        hit = self._fields.get(name)
        if hit is None:
            hit = self._fields[name] = self._field(name)
        return hit

    def _field(self, name: str) -> tuple[Type, bool]:
        if self.root and name == "metadata":
            raw = _properties(self.schema).get("metadata")
            if raw is None or not _properties(raw):
                return type_of(sch.definition(OBJECT_META)), True
        if self.kind != MAP:
            return DEDUCED_TYPE, False
        props = _properties(self.schema)
        if name in props:
            return type_of(props[name]), True
        extra = (sch.resolve(self.schema) or {}).get("additionalProperties")
        if isinstance(extra, dict):
            return type_of(extra), False
        return DEDUCED_TYPE, False

    def item(self) -> Type:
        it = self._item
        if it is None:
            if self.kind != LIST:
                it = DEDUCED_TYPE
            else:
                items = (sch.resolve(self.schema) or {}).get("items")
                it = type_of(items) if isinstance(items, dict) else DEDUCED_TYPE
            self._item = it
        return it

    def key_defaults(self) -> dict[str, Any]:
        """For an associative list: each key field's default (MISSING when it has none)."""
        kd = self._key_defaults
        if kd is None:
            item_props = _properties(self.item().schema)
            kd = self._key_defaults = {
                k: (sch.resolve(item_props.get(k)) or {}).get("default", KEY_DEFAULTS.get(k, MISSING))
                for k in self.keys}
        return kd


DEDUCED_TYPE = Type(DEDUCED)


def _properties(schema: dict | None) -> dict[str, Any]:
    props = (sch.resolve(schema) or {}).get("properties")
    return props if isinstance(props, dict) else {}


_cache: dict[int, tuple[dict, Type]] = {}


def type_of(raw: dict | None) -> Type:
    """The structured-merge-diff type of a (possibly $ref'd) schema node."""
    if raw is None:
        return DEDUCED_TYPE
    hit = _cache.get(id(raw))
    if hit is not None and hit[0] is raw:
        return hit[1]
    t = _compute_type(raw)
    if len(_cache) > 8192:
        _cache.clear()
    _cache[id(raw)] = (raw, t)
    return t


_root_cache: dict[int, tuple[dict | None, Type]] = {}


def root_type(schema: dict | None) -> Type:
    """The type of a whole object: like type_of, and metadata is always ObjectMeta."""
    hit = _root_cache.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    t = type_of(schema)
    root = Type(t.kind if t.kind != SCALAR else DEDUCED, t.schema, atomic=False, keys=t.keys, root=True)
    if len(_root_cache) > 1024:
        _root_cache.clear()
    _root_cache[id(schema)] = (schema, root)
    return root


def _compute_type(raw: dict) -> Type:
    res = sch.resolve(raw) or {}
    if raw.get("x-kubernetes-int-or-string") or res.get("x-kubernetes-int-or-string"):
        return Type(SCALAR, raw)
    st = sch.schema_type(raw)
    if st is None:
        if "properties" in res or isinstance(res.get("additionalProperties"), dict):
            st = "object"
        elif "items" in res:
            st = "array"
        elif "oneOf" in res or "anyOf" in res:
            return Type(SCALAR, raw)
        else:
            return DEDUCED_TYPE
    if st == "array":
        return _list_type(raw)
    if st == "object":
        atomic = sch.map_type(raw) == "atomic"
        if not atomic and not res.get("properties") and not isinstance(res.get("additionalProperties"), dict):
            return DEDUCED_TYPE
        return Type(MAP, raw, atomic=atomic)
    return Type(SCALAR, raw)


def _list_type(raw: dict) -> Type:
    lt, keys = sch.list_type(raw)
    if lt == "map" and keys:
        return Type(LIST, raw, keys=tuple(keys))
    if lt == "set":
        return Type(LIST, raw)
    if lt is None:
        strategy, merge_key = sch.patch_strategy(raw)
        if "merge" in strategy:
            return Type(LIST, raw, keys=(merge_key,) if merge_key else ())
    return Type(LIST, raw, atomic=True)


def shape(t: Type, v: Any) -> str:
    """How a value of type t is walked: as a leaf, a granular map or an associative list."""
    if t.kind == DEDUCED:
        return MAP if isinstance(v, dict) else LEAF
    if t.kind == MAP:
        return MAP if not t.atomic and (v is None or isinstance(v, dict)) else LEAF
    if t.kind == LIST:
        return LIST if not t.atomic and (v is None or isinstance(v, list)) else LEAF
    return LEAF


def item_element(t: Type, item: Any, path: Path, i: int) -> PathElement:
    """The path element naming one item of an associative list."""
    if t.keys:
        if not isinstance(item, dict):
            raise TypedError(f"{fp.path_string(path)}: element {i}: expected a map for an associative list item")
        fields: dict[str, Any] = {}
        for k, default in t.key_defaults().items():
            v = item.get(k)
            if v is not None:
                fields[k] = v
                continue
            if default is MISSING:
                raise TypedError(f"{fp.path_string(path)}: element {i}: associative list with keys has an element "
                                 f'that omits key field "{k}" (and doesn\'t have default value)')
            fields[k] = default
        return fp.key(fields)
    if isinstance(item, dict):
        raise TypedError(f"{fp.path_string(path)}: element {i}: associative list without keys has an element "
                         "that's a map type")
    if isinstance(item, list):
        raise TypedError(f"{fp.path_string(path)}: element {i}: not supported: associative list with lists as elements")
    return fp.value(item)


def index_items(t: Type, items: list | None, path: Path, *, allow_duplicates: bool = True
                ) -> tuple[list[PathElement], dict[PathElement, list[Any]]]:
    """Each item's element in order, and the items by element (more than one when duplicated)."""
    pes: list[PathElement] = []
    by_pe: dict[PathElement, list[Any]] = {}
    for i, item in enumerate(items or ()):
        pe = item_element(t, item, path, i)
        if pe in by_pe:
            if not allow_duplicates:
                raise TypedError(f"{fp.path_string(path)}: duplicate entries for key {fp.element_string(pe)}")
            by_pe[pe].append(item)
        else:
            by_pe[pe] = [item]
        pes.append(pe)
    return pes, by_pe


_SCALARS = (str, int, float, type(None))


_CONTAINERS = (dict, list)


def equal(a: Any, b: Any) -> bool:
    """Value equality as upstream's: booleans are not numbers, ints and floats compare numerically."""
    ta, tb = type(a), type(b)
    if ta is tb and ta in _SCALARS:
        return a == b
    if a is b:
        return True
    if ta is tb and (ta is dict or ta is list):
        # Python's == is never more lenient than this one (it only also equates booleans and numbers), so a
        # difference it sees is final; identical canonical JSON settles equality without a Python-level walk
        if a != b:
            return False
        try:
            if orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS):
                return True
        except TypeError:
            pass
    return _equal(a, b)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


# ---- ToFieldSet ----

def to_field_set(obj: Any, t: Type, *, allow_duplicates: bool = True) -> FieldSet:
    """Every leaf, list item and undeclared map key of obj (upstream's TypedValue.ToFieldSet)."""
    out: set[Path] = set()
    _to_field_set(obj, t, (), out, allow_duplicates)
    return FieldSet(out)


def _to_field_set(v: Any, t: Type, path: Path, out: set[Path], allow_dups: bool) -> None:
    s = shape(t, v)
    if s == LEAF:
        if path:
            out.add(path)
        return
    if s == MAP:
        for k, val in (v or {}).items():
            ft, declared = t.field(k)
            p = path + (fp.field(k),)
            _to_field_set(val, ft, p, out, allow_dups)
            if val is None or (isinstance(val, dict) and not val) or not declared:
                out.add(p)
        return
    it = t.item()
    pes, _ = index_items(t, v, path, allow_duplicates=allow_dups)
    for pe, item in zip(pes, v or ()):
        p = path + (pe,)
        _to_field_set(item, it, p, out, allow_dups)
        out.add(p)


# ---- Compare ----

@dataclass
class Comparison:
    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)

    def sets(self) -> tuple[FieldSet, FieldSet, FieldSet]:
        return FieldSet(self.added), FieldSet(self.modified), FieldSet(self.removed)


def compare(lhs: Any, rhs: Any, t: Type) -> Comparison:
    """Which paths rhs added, modified or removed relative to lhs (upstream's TypedValue.Compare)."""
    c = Comparison()
    if lhs is MISSING:
        if rhs is not MISSING:
            _one_side(rhs, t, (), c.added)
    elif rhs is MISSING:
        _one_side(lhs, t, (), c.removed)
    else:
        _compare(lhs, rhs, t, (), c)
    return c


def _one_side(v: Any, t: Type, path: Path, out: set[Path]) -> None:
    """A value present on one side only: its path and every path below it were added (or removed)."""
    if path:
        out.add(path)
    s = shape(t, v)
    if s == MAP:
        if v:
            field = t.field
            for k, val in v.items():
                _one_side(val, field(k)[0], path + (("f", k),), out)
    elif s == LIST and v:
        pes, by_pe = index_items(t, v, path)
        it = t.item()
        for pe in dict.fromkeys(pes):
            items = by_pe[pe]
            if len(items) > 1:
                out.add(path + (pe,))
            else:
                _one_side(items[0], it, path + (pe,), out)


def _compare(lhs: Any, rhs: Any, t: Type, path: Path, c: Comparison) -> None:
    """Both sides present."""
    if lhs is rhs or (type(lhs) is type(rhs) and type(lhs) in _CONTAINERS and equal(lhs, rhs)):
        return  # an unchanged subtree (a status write's whole spec): nothing below it was added or changed
    s = shape(t, lhs)
    if s != shape(t, rhs):
        s = LEAF
    if s == MAP:
        lm = lhs if isinstance(lhs, dict) else {}
        rm = rhs if isinstance(rhs, dict) else {}
        if lm or rm:
            field = t.field
            for k, lv in lm.items():
                ft = field(k)[0]
                rv = rm.get(k, MISSING)
                p = path + (("f", k),)
                if rv is MISSING:
                    _one_side(lv, ft, p, c.removed)
                elif ft.kind == SCALAR or (ft.kind == DEDUCED and not isinstance(lv, dict) and not isinstance(rv, dict)):
                    if not equal(lv, rv):  # a leaf: the common case, without a call
                        c.modified.add(p)
                else:
                    _compare(lv, rv, ft, p, c)
            for k, rv in rm.items():
                if k not in lm:
                    _one_side(rv, field(k)[0], path + (("f", k),), c.added)
            return
    elif s == LIST:
        ll = lhs if isinstance(lhs, list) else []
        rl = rhs if isinstance(rhs, list) else []
        if ll or rl:
            _compare_items(ll, rl, t, path, c)
            return
    if path and not equal(lhs, rhs):
        c.modified.add(path)


def _compare_items(ll: list, rl: list, t: Type, path: Path, c: Comparison) -> None:
    lpes, lby = index_items(t, ll, path)
    rpes, rby = index_items(t, rl, path)
    it = t.item()
    for pe in dict.fromkeys(lpes + rpes):
        litems, ritems = lby.get(pe), rby.get(pe)
        p = path + (pe,)
        if (litems is not None and len(litems) > 1) or (ritems is not None and len(ritems) > 1):
            if litems is None:
                c.added.add(p)
            elif ritems is None:
                c.removed.add(p)
            elif not equal(litems, ritems):
                c.modified.add(p)
        elif litems is None:
            _one_side(ritems[0], it, p, c.added)  # type: ignore[index]
        elif ritems is None:
            _one_side(litems[0], it, p, c.removed)
        else:
            _compare(litems[0], ritems[0], it, p, c)


# ---- set helpers that need the schema ----

def ensure_named_fields_are_members(s: FieldSet, t: Type) -> FieldSet:
    """Add every declared struct field that has children in s as a member (upstream's helper of the same name)."""
    extra: set[Path] = set()
    for path in s.paths:
        cur = t
        for n, pe in enumerate(path[:-1]):
            if pe[0] == "f":
                cur, declared = cur.field(pe[1])
                if declared:
                    extra.add(path[:n + 1])
            else:
                cur = cur.item()
    return FieldSet(s.paths | extra) if extra else s

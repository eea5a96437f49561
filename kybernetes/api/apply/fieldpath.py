"""Field paths and field sets as structured-merge-diff models them, with the FieldsV1 wire encoding."""

from __future__ import annotations

import functools
from typing import Any, Iterable, Iterator

import orjson

# A path element is a (kind, value) tuple:
#   ("f", name)                  a struct field or map key         -> "f:name"     ".name"
#   ("k", ((key, json), ...))    an associative-list item by keys  -> 'k:{"name":"nginx"}'  '[name="nginx"]'
#   ("v", json)                  a set item by its value           -> 'v:"x"'      '[="x"]'
#   ("i", index)                 a list item by position           -> "i:0"        "[0]"
# Values inside "k" and "v" are canonical JSON text (sorted keys, compact), so elements are hashable.
PathElement = tuple[str, Any]
Path = tuple[PathElement, ...]


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys, escaping <, > and & as Go's encoder does."""
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    if "<" in text or ">" in text or "&" in text:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text


def field(name: str) -> PathElement:
    return ("f", name)


_SCALAR_JSON: dict[tuple[type, Any], str] = {}
_SCALAR_TYPES = (str, int, float, bool, type(None))


def _canonical(v: Any) -> str:
    """canonical_json, remembered for scalars (list keys repeat: container names, ports, condition types)."""
    if type(v) not in _SCALAR_TYPES:
        return canonical_json(v)
    k = (type(v), v)
    text = _SCALAR_JSON.get(k)
    if text is None:
        if len(_SCALAR_JSON) > 8192:
            _SCALAR_JSON.clear()
        text = _SCALAR_JSON[k] = canonical_json(v)
    return text


def key(fields: dict[str, Any]) -> PathElement:
    if len(fields) == 1:
        for k, v in fields.items():
            return ("k", ((k, _canonical(v)),))
    return ("k", tuple(sorted((k, _canonical(v)) for k, v in fields.items())))


def value(v: Any) -> PathElement:
    return ("v", _canonical(v))


def index(i: int) -> PathElement:
    return ("i", i)


def make_path(*parts: str | PathElement) -> Path:
    """A path from field names and elements: make_path("spec", "replicas")."""
    return tuple(field(p) if isinstance(p, str) else p for p in parts)


# ---- ordering (structured-merge-diff's PathElement.Compare and value.Compare) ----

@functools.lru_cache(maxsize=4096)
def _json_sort_key(text: str) -> tuple:
    return _value_sort_key(orjson.loads(text))


def _value_sort_key(v: Any) -> tuple:
    if isinstance(v, bool):
        return (2, v)
    if isinstance(v, (int, float)):
        return (0, float(v))
    if isinstance(v, str):
        return (1, v)
    if isinstance(v, list):
        return (3, tuple(_value_sort_key(x) for x in v))
    if isinstance(v, dict):
        return (4, tuple(sorted((k, _value_sort_key(x)) for k, x in v.items())))
    return (5,)


def element_sort_key(pe: PathElement) -> tuple:
    kind, val = pe
    if kind == "f":
        return (0, val)
    if kind == "k":
        return (1, len(val), tuple((name, _json_sort_key(text)) for name, text in val))
    if kind == "v":
        return (2, _json_sort_key(val))
    return (3, val)


# ---- rendering ----

def _go_string(v: Any) -> str:
    """value.ToString: strings quoted, numbers and bools bare, null as null."""
    if isinstance(v, str):
        return orjson.dumps(v).decode()
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return canonical_json(v)


def element_string(pe: PathElement) -> str:
    kind, val = pe
    if kind == "f":
        return "." + val
    if kind == "k":
        return "[" + ",".join(f"{name}={_go_string(orjson.loads(text))}" for name, text in val) + "]"
    if kind == "v":
        return "[=" + _go_string(orjson.loads(val)) + "]"
    return f"[{val}]"


def path_string(path: Path) -> str:
    """Upstream's Path.String(): '.spec.template.spec.containers[name="nginx"].image'."""
    return "".join(element_string(pe) for pe in path)


def element_to_fields_v1_key(pe: PathElement) -> str:
    kind, val = pe
    if kind == "f":
        return "f:" + val
    if kind == "k":
        return "k:{" + ",".join(orjson.dumps(name).decode() + ":" + text for name, text in val) + "}"
    if kind == "v":
        return "v:" + val
    return f"i:{val}"


def element_from_fields_v1_key(text: str) -> PathElement:
    prefix, _, rest = text.partition(":")
    if prefix == "f":
        return ("f", rest)
    if prefix == "k":
        fields = orjson.loads(rest)
        if not isinstance(fields, dict):
            raise ValueError(f"invalid key path element {text!r}")
        return key(fields)
    if prefix == "v":
        return value(orjson.loads(rest))
    if prefix == "i":
        return ("i", int(rest))
    raise ValueError(f"unknown path element prefix in {text!r}")


# ---- the set ----

class _Node:
    __slots__ = ("members", "children")

    def __init__(self) -> None:
        self.members: set[PathElement] = set()
        self.children: dict[PathElement, _Node] = {}


class FieldSet:
    """A set of field paths; a path is in the set when it is a member (its parents need not be)."""

    __slots__ = ("paths",)

    def __init__(self, paths: Iterable[Path] = ()) -> None:
        self.paths: frozenset[Path] = paths if isinstance(paths, frozenset) else frozenset(paths)

    # set algebra
    def union(self, other: FieldSet) -> FieldSet:
        return FieldSet(self.paths | other.paths)

    def difference(self, other: FieldSet) -> FieldSet:
        """Members of self that are not members of other (children of other's members stay)."""
        return FieldSet(self.paths - other.paths)

    def intersection(self, other: FieldSet) -> FieldSet:
        return FieldSet(self.paths & other.paths)

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Drop every path that is a member of other or lies below one."""
        theirs = other.paths
        if not theirs or not self.paths:
            return self
        # only prefixes as long as one of other's paths can be in it
        lengths = {len(q) for q in theirs}
        if len(lengths) == 1:
            n = lengths.pop()
            kept = [p for p in self.paths if p[:n] not in theirs]
        else:
            ordered = sorted(lengths)
            kept = [p for p in self.paths if not any(p[:n] in theirs for n in ordered)]
        return self if len(kept) == len(self.paths) else FieldSet(kept)

    __or__ = union
    __sub__ = difference
    __and__ = intersection

    def has(self, path: Path) -> bool:
        return path in self.paths

    def with_prefix(self, pe: PathElement) -> FieldSet:
        """The paths below pe, with pe taken off the front."""
        return FieldSet(p[1:] for p in self.paths if len(p) > 1 and p[0] == pe)

    def empty(self) -> bool:
        return not self.paths

    def __bool__(self) -> bool:
        return bool(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __contains__(self, path: object) -> bool:
        return path in self.paths

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSet) and self.paths == other.paths

    def __hash__(self) -> int:
        return hash(self.paths)

    def __repr__(self) -> str:
        return "FieldSet{" + ", ".join(path_string(p) for p in self) + "}"

    # ordered views
    def _tree(self) -> _Node:
        root = _Node()
        for path in self.paths:
            node = root
            for pe in path[:-1]:
                node = node.children.setdefault(pe, _Node())
            node.members.add(path[-1])
        return root

    def __iter__(self) -> Iterator[Path]:
        """Paths in upstream's Set.Iterate order: a node's members first, then its children, each sorted."""
        def walk(node: _Node, prefix: Path) -> Iterator[Path]:
            for pe in sorted(node.members, key=element_sort_key):
                yield prefix + (pe,)
            for pe in sorted(node.children, key=element_sort_key):
                yield from walk(node.children[pe], prefix + (pe,))
        if self.paths:
            yield from walk(self._tree(), ())

    def to_fields_v1(self) -> dict[str, Any]:
        """The FieldsV1 document, keys in upstream's serialization order (a new document on every call)."""
        if not self.paths:
            return {}
        encoded = _ENCODED.get(self.paths)
        if encoded is not None:
            return orjson.loads(encoded)
        doc = self._to_fields_v1()
        encoded = orjson.dumps(doc)
        if len(_ENCODED) > _CODEC_CACHE_SIZE:
            _ENCODED.clear()
        _ENCODED[self.paths] = encoded
        if len(_DECODED) > _CODEC_CACHE_SIZE:
            _DECODED.clear()
        _DECODED[encoded] = self  # the next write of this object decodes what this one encodes
        return doc

    def _to_fields_v1(self) -> dict[str, Any]:
        info = _ELEMENT_INFO

        def emit(paths: Iterable[Path], depth: int) -> dict[str, Any]:
            # element at this depth -> [its FieldsV1 key, a member itself, the longer paths below it]
            groups: dict[PathElement, list[Any]] = {}
            for p in paths:
                pe = p[depth]
                g = groups.get(pe)
                if g is None:
                    g = groups[pe] = [False, []]
                if len(p) == depth + 1:
                    g[0] = True
                else:
                    g[1].append(p)
            order = []
            for pe in groups:
                e = info.get(pe)
                if e is None:
                    if len(info) > 16384:
                        info.clear()
                    e = info[pe] = (element_sort_key(pe), element_to_fields_v1_key(pe))
                order.append((e[0], e[1], pe))
            order.sort(key=_first)
            out: dict[str, Any] = {}
            for _, name, pe in order:
                member, below = groups[pe]
                if not below:
                    out[name] = {}
                elif member:
                    out[name] = {".": {}, **emit(below, depth + 1)}
                else:
                    out[name] = emit(below, depth + 1)
            return out
        return emit(self.paths, 0) if self.paths else {}

    @classmethod
    def from_fields_v1(cls, doc: dict[str, Any]) -> FieldSet:
        if not isinstance(doc, dict):
            raise ValueError("FieldsV1 must be a JSON object")
        try:
            text = orjson.dumps(doc)
        except TypeError:
            return cls._from_fields_v1(doc)
        hit = _DECODED.get(text)
        if hit is None:
            hit = cls._from_fields_v1(doc)  # raises on an invalid document: those are not remembered
            if len(_DECODED) > _CODEC_CACHE_SIZE:
                _DECODED.clear()
            _DECODED[text] = hit
        return hit

    @classmethod
    def _from_fields_v1(cls, doc: dict[str, Any]) -> FieldSet:
        paths: list[Path] = []

        def read(d: dict[str, Any], prefix: Path) -> None:
            for name, sub in d.items():
                if name == ".":
                    continue
                pe = _element_from_fields_v1_key(name)
                path = prefix + (pe,)
                if not isinstance(sub, dict):
                    raise ValueError(f"invalid FieldsV1 at {path_string(path)}")
                if not sub or "." in sub:
                    paths.append(path)
                read(sub, path)
        read(doc, ())
        return cls(paths)


EMPTY = FieldSet()


def _first(entry: tuple[Any, ...]) -> Any:
    return entry[0]

# path elements repeat across objects of one kind: their keys and orderings are remembered
_ELEMENT_INFO: dict[PathElement, tuple[tuple, str]] = {}
_element_from_fields_v1_key = functools.lru_cache(maxsize=16384)(element_from_fields_v1_key)

# FieldsV1 documents of the sets seen lately, both ways: objects of one kind carry the same few sets over and over
_CODEC_CACHE_SIZE = 4096
_ENCODED: dict[frozenset[Path], bytes] = {}
_DECODED: dict[bytes, FieldSet] = {}


def set_from_fields_v1(d: dict[str, Any]) -> FieldSet:
    """Decode a managedFields entry's fieldsV1 document into a FieldSet."""
    return FieldSet.from_fields_v1(d)

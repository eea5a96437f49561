"""Strategic merge patch (application/strategic-merge-patch+json) as k8s.io/apimachinery/pkg/util/strategicpatch.

Lists whose schema says `x-kubernetes-patch-strategy: merge` merge by their patch merge key (lists of maps) or as
sets (lists of primitives); other lists are replaced. Directives: `$patch: replace|delete` in maps and
`$patch: delete|replace` items in merge lists, `$retainKeys`, `$deleteFromPrimitiveList/<field>` and
`$setElementOrder/<field>`; a null value deletes its key. The element order follows upstream: the order of
`$setElementOrder`, then the patch's, then the live object's (so items a patch adds without an order directive
come first, as in kube-apiserver).
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from kybernetes.api import schema as openapi
from kybernetes.api.errors import StatusError, bad_request
from kybernetes.api.patch.json_patch import unprocessable

Schema = dict[str, Any]

DIRECTIVE_MARKER = "$patch"
REPLACE = "replace"
DELETE = "delete"
MERGE = "merge"
RETAIN_KEYS_DIRECTIVE = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST_PREFIX = "$deleteFromPrimitiveList"
SET_ELEMENT_ORDER_PREFIX = "$setElementOrder"
RETAIN_KEYS_STRATEGY = "retainKeys"

# mergepatch's sentinel errors, with the status kube-apiserver answers each with
ERR_BAD_JSON_DOC = "invalid JSON document"
ERR_NO_LIST_OF_LISTS = "lists of lists are not supported"
ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST = "invalid patch format of primitive list"
ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS = "invalid patch format of retainKeys"
ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST = "invalid patch format of setElementOrder list"


class _Error(Exception):
    """A patch failure; `status()` gives the answer kube-apiserver sends for it."""

    def __init__(self, message: str, code: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def status(self) -> StatusError:
        if self.code == 400:
            return bad_request(self.message)
        if self.code == 422:
            return unprocessable(self.message)
        # an error that is not a metav1.Status reaches the client as 500 with no reason
        return StatusError(500, "", self.message)


# --- Go-style rendering for upstream's error messages -----------------------------------------------------

def _gofmt(v: Any) -> str:
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e21 else repr(v)
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_gofmt(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(_gofmt(x) for x in v) + "]"
    return str(v)


def _gotype(v: Any) -> str:
    if v is None:
        return "%!s(<nil>)"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "[]interface {}"
    return "map[string]interface {}"


def _bad_arg_type(expected: str, actual: Any) -> _Error:
    return _Error(f"expected a {expected}, but received a {_gotype(actual)}")


def _no_merge_key(m: Any, key: str) -> _Error:
    return _Error(f"map: {_gofmt(m)} does not contain declared merge key: {key}")


# --- values ------------------------------------------------------------------------------------------------

def _kind(v: Any) -> str:
    """The reflect type of a decoded JSON value, as upstream compares element types."""
    if isinstance(v, dict):
        return "map"
    if isinstance(v, list):
        return "slice"
    return _gotype(v)


def _same(a: Any, b: Any) -> bool:
    """Go's interface equality for merge-key values and primitives: same type and value."""
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    return type(a) is type(b) and a == b


def _discard_nulls(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _discard_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_discard_nulls(x) for x in v]
    return v


def _slice_element_kind(*slices: list[Any]) -> str:
    prev: str | None = None
    for s in slices:
        for v in s:
            k = _kind(v)
            if prev is None:
                if k == "slice":
                    raise _Error(ERR_NO_LIST_OF_LISTS, 422)
                prev = k
            elif prev != k:
                raise _Error("list element types are not identical: "
                             + "[" + " ".join(_gofmt(x) for x in slices) + "]")
    if prev is None:
        raise _Error("no elements in any of the given slices")
    return prev


# --- schema lookups ----------------------------------------------------------------------------------------

class _Meta:
    """Patch metadata of one field: its resolved schema, strategy ('merge', 'replace' or ''), merge key, items."""

    __slots__ = ("schema", "strategy", "merge_key", "items")

    def __init__(self, parent: Schema | None, key: str) -> None:
        raw = openapi.raw_field_schema(parent, key) if parent else None
        strategies, self.merge_key = openapi.patch_strategy(raw)
        rest = sorted(s for s in strategies if s != RETAIN_KEYS_STRATEGY)
        if len(rest) > 1 or len(strategies) > 2:
            raise _Error(f"unexpected patch strategy: [{' '.join(sorted(strategies))}]")
        self.strategy = rest[0] if rest else ""
        self.schema = openapi.resolve(raw) if raw else None
        self.items = openapi.items_schema(raw) if raw else None


# --- maps --------------------------------------------------------------------------------------------------

def _extract_key(s: str, prefix: str) -> str:
    parts = s.split("/", 1)
    if len(parts) <= 1 or parts[0] != prefix:
        if prefix == DELETE_FROM_PRIMITIVE_LIST_PREFIX:
            raise _Error(ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST, 400)
        raise _Error(ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST, 400)
    return parts[1]


def _merge_map(original: dict[str, Any] | None, patch: dict[str, Any], schema: Schema | None) -> dict[str, Any]:
    if DIRECTIVE_MARKER in patch:
        directive = patch[DIRECTIVE_MARKER]
        if directive == REPLACE:
            rest = {k: v for k, v in patch.items() if k != DIRECTIVE_MARKER}
            return _merge_map({}, rest, schema)
        if directive == DELETE:
            return {}
        raise _Error(f"unknown patch type: {_gofmt(directive)} in map: {_gofmt(patch)}")
    if original is None:
        original = {}
    _apply_retain_keys(original, patch)
    _merge_set_element_order(original, patch, schema)
    for key, pv in list(patch.items()):
        is_delete_list = False
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST_PREFIX):
            key = _extract_key(key, DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            is_delete_list = True
        if pv is None:
            original.pop(key, None)
            continue
        meta = _Meta(schema, key)
        ov = original.get(key)
        if key not in original or _kind(ov) != _kind(pv):
            if not is_delete_list:
                original[key] = _new_value(pv, meta)
            continue
        if isinstance(ov, dict):
            original[key] = _new_value(pv, meta) if meta.strategy == REPLACE else _merge_map(ov, pv, meta.schema)
        elif isinstance(ov, list):
            original[key] = _merge_slice_handler(ov, pv, meta, is_delete_list)
        elif not is_delete_list:
            original[key] = pv
    return original


def _new_value(pv: Any, meta: _Meta) -> Any:
    """A patch value for a key the original lacks (or holds with another type), its directives applied."""
    if isinstance(pv, dict):
        return _merge_map({}, pv, meta.schema)
    if isinstance(pv, list):
        return _merge_slice_handler([], pv, meta, False)
    return pv


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS_DIRECTIVE not in patch:
        return
    retain = patch.pop(RETAIN_KEYS_DIRECTIVE)
    if not isinstance(retain, list):
        raise _Error(ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS, 400)
    keep = {k for k in retain if isinstance(k, str)}
    for k, v in patch.items():
        if v is None or k.startswith(DELETE_FROM_PRIMITIVE_LIST_PREFIX) or k.startswith(SET_ELEMENT_ORDER_PREFIX):
            continue
        if k not in keep:
            raise _Error(ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS, 400)
    for k in list(original):
        if k not in keep:
            del original[k]


def _merge_set_element_order(original: dict[str, Any], patch: dict[str, Any], schema: Schema | None) -> None:
    """Process each `$setElementOrder/<field>` together with the patch's list for that field."""
    for key in [k for k in patch if k.startswith(SET_ELEMENT_ORDER_PREFIX)]:
        order = patch.pop(key)
        if not isinstance(order, list):
            raise _bad_arg_type("[]interface {}", order)
        okey = _extract_key(key, SET_ELEMENT_ORDER_PREFIX)
        found_original, found_patch = okey in original, okey in patch
        ov, pv = original.get(okey), patch.get(okey)
        if found_original and not isinstance(ov, list):
            raise _bad_arg_type("[]interface {}", ov)
        if found_patch and not isinstance(pv, list):
            raise _bad_arg_type("[]interface {}", pv)
        meta = _Meta(schema, okey)
        _validate_patch_with_set_order_list(pv or [], order, meta.merge_key)
        live = ov or []
        if found_original and found_patch:
            merged, live = _merge_slice_handler_with_view(ov, pv, meta, False)
        elif found_original:
            merged = ov
        elif found_patch:
            merged = _merge_slice_handler([], pv, meta, False)
        else:
            continue
        patch.pop(okey, None)
        if not (ov or pv):
            original[okey] = merged
            continue
        if meta.merge_key:
            patch_items, server_only = _partition_maps(merged, order, meta.merge_key)
        else:
            patch_items, server_only = _partition_primitives(merged, order)
        kind = _slice_element_kind(ov or [], pv or [])
        original[okey] = _normalize_element_order(patch_items, server_only, order, live, meta.merge_key, kind)


def _validate_patch_with_set_order_list(patch_list: list[Any], order: list[Any], merge_key: str | None) -> None:
    if not order or not patch_list:
        return
    if merge_key:
        non_delete, _ = _extract_to_delete_items(patch_list)
    else:
        non_delete = patch_list
    pi = oi = 0
    while pi < len(non_delete) and oi < len(order):
        item = non_delete[pi]
        if isinstance(item, dict) and DIRECTIVE_MARKER in item:
            pi += 1
            continue
        if _merge_key_value_equal(item, order[oi], merge_key):
            pi += 1
        oi += 1
    if pi < len(non_delete) and oi >= len(order):
        raise _Error(f"The order in patch list:\n{_gofmt(patch_list)}\n doesn't match "
                     f"{SET_ELEMENT_ORDER_PREFIX} list:\n{_gofmt(order)}\n")


def _merge_key_value_equal(left: Any, right: Any, merge_key: str | None) -> bool:
    if not merge_key:
        return _same(left, right)
    for v in (left, right):
        if not isinstance(v, dict):
            raise _bad_arg_type("map[string]interface {}", v)
        if merge_key not in v:
            raise _no_merge_key(v, merge_key)
    return _same(left[merge_key], right[merge_key])


# --- lists -------------------------------------------------------------------------------------------------

def _merge_slice_handler(original: list[Any], patch: list[Any], meta: _Meta, is_delete_list: bool) -> list[Any]:
    return _merge_slice_handler_with_view(original, patch, meta, is_delete_list)[0]


def _merge_slice_handler_with_view(original: list[Any], patch: list[Any], meta: _Meta,
                                   is_delete_list: bool) -> tuple[list[Any], list[Any]]:
    """The merged list, and the live list as upstream's caller sees it afterwards (see _merge_slice)."""
    if meta.strategy == MERGE:
        return _merge_slice(original, patch, meta, is_delete_list)
    if is_delete_list:
        return _delete_from_slice(original, patch), original
    return [_discard_nulls(v) for v in patch], original


def _merge_slice(original: list[Any], patch: list[Any], meta: _Meta,
                 is_delete_list: bool) -> tuple[list[Any], list[Any]]:
    """Merge a list with the merge strategy.

    Upstream deletes and appends in place on the live list's backing array, so the live list its caller later
    orders by (for `$setElementOrder`) shows the deletions compacted and the first appended items in the freed
    slots. The second value reproduces that view, so element order matches kube-apiserver's exactly.
    """
    if not original and not patch:
        return original, original
    kind = _slice_element_kind(original, patch)
    merge_key = meta.merge_key
    view = original
    if kind != "map":
        if is_delete_list:
            return _delete_from_slice(original, patch), original
        merged = _dedup_scalars(original + patch)
    else:
        if not merge_key:
            raise _Error("cannot merge lists without merge key for type struct")
        backing = list(original)
        original, patch = _merge_slice_with_special_elements(backing, patch, merge_key, meta.items)
        merged = _merge_slice_without_special_elements(original, patch, merge_key, meta.items, backing)
        view = backing
    if merge_key and kind == "map":
        patch_items, server_only = _partition_maps(merged, patch, merge_key)
    else:
        patch_items, server_only = _partition_primitives(merged, patch)
    result = _normalize_element_order(patch_items, server_only, patch, original,
                                      merge_key if kind == "map" else None, kind)
    return result, view


def _merge_slice_with_special_elements(backing: list[Any], patch: list[Any], merge_key: str,
                                       items: Schema | None) -> tuple[list[Any], list[Any]]:
    """Apply `$patch: delete` items (compacting `backing` in place, as Go's append does) and `$patch: replace`;
    return the new original and the patch without directive items."""
    plain: list[Any] = []
    replace = False
    n = len(backing)
    for v in patch:
        if DIRECTIVE_MARKER not in v:
            plain.append(v)
            continue
        directive = v[DIRECTIVE_MARKER]
        if directive == DELETE:
            if merge_key not in v:
                raise _no_merge_key(v, merge_key)
            while (i := _find(backing[:n], merge_key, v[merge_key])) >= 0:
                backing[i:n - 1] = backing[i + 1:n]
                n -= 1
        elif directive == REPLACE:
            replace = True
        elif directive == MERGE:
            raise _Error("merging lists cannot yet be specified in the patch")
        else:
            raise _Error(f"unknown patch type: {_gofmt(directive)} in map: {_gofmt(v)}")
    if replace:
        return [_merge_map({}, v, items) for v in plain], []
    return backing[:n], plain


def _find(items: list[Any], key: str, value: Any) -> int:
    for i, v in enumerate(items):
        if not isinstance(v, dict):
            raise _Error(f"value for key {i} is not a map.")
        if key in v and _same(v[key], value):
            return i
    return -1


def _delete_matching_entries(original: list[Any], key: str, value: Any) -> list[Any]:
    original = list(original)
    while (i := _find(original, key, value)) >= 0:
        del original[i]
    return original


def _merge_slice_without_special_elements(original: list[Any], patch: list[Any], merge_key: str,
                                          items: Schema | None, backing: list[Any]) -> list[Any]:
    original = list(original)
    aliased = True  # writes land in `backing` until an append outgrows it
    for v in patch:
        if merge_key not in v:
            raise _no_merge_key(v, merge_key)
        i = _find(original, merge_key, v[merge_key])
        if i >= 0:
            original[i] = _merge_map(original[i], v, items)
            if aliased:
                backing[i] = original[i]
            continue
        new = _merge_map({}, v, items)
        if aliased and len(original) < len(backing):
            backing[len(original)] = new
        else:
            aliased = False
        original.append(new)
    return original


def _delete_from_slice(current: list[Any], to_delete: list[Any]) -> list[Any]:
    return [v for v in current if not any(_same(v, d) for d in to_delete)]


def _dedup_scalars(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in items:
        if not any(_same(v, o) for o in out):
            out.append(v)
    return out


def _partition_primitives(items: list[Any], by: list[Any]) -> tuple[list[Any], list[Any]]:
    inside, outside = [], []
    for v in items:
        (inside if any(_same(v, b) for b in by) else outside).append(v)
    return inside, outside


def _partition_maps(items: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    inside, outside = [], []
    for v in items:
        if not isinstance(v, dict):
            raise _bad_arg_type("map[string]interface {}", v)
        if merge_key not in v:
            raise _no_merge_key(v, merge_key)
        (inside if _find(by, merge_key, v[merge_key]) >= 0 else outside).append(v)
    return inside, outside


def _extract_to_delete_items(items: list[Any]) -> tuple[list[Any], list[Any]]:
    keep, delete = [], []
    for v in items:
        if not isinstance(v, dict):
            raise _bad_arg_type("map[string]interface {}", v)
        (delete if v.get(DIRECTIVE_MARKER) == DELETE else keep).append(v)
    return keep, delete


def _index(items: list[Any], value: Any, merge_key: str | None, kind: str) -> int:
    def val(x: Any) -> Any:
        if kind == "map":
            return x.get(merge_key) if isinstance(x, dict) else None
        return x
    want = val(value)
    for i, v in enumerate(items):
        got = val(v)
        if (got is None and want is None) or _same(got, want):
            return i
    return -1


def _normalize_slice_order(to_sort: list[Any], order: list[Any], merge_key: str | None, kind: str) -> list[Any]:
    to_delete: list[Any] = []
    if kind == "map":
        for lst in (to_sort, order):
            for item in lst:
                if not isinstance(item, dict):
                    raise _bad_arg_type("map[string]interface {}", item)
                if merge_key not in item:
                    raise _no_merge_key(item, merge_key or "")
        to_sort, to_delete = _extract_to_delete_items(to_sort)

    def position(item: Any) -> int:
        i = _index(order, item, merge_key, kind)
        return i if i >= 0 else len(order)
    return sorted(to_sort, key=position) + to_delete


def _normalize_element_order(patch: list[Any], server_only: list[Any], patch_order: list[Any],
                             server_order: list[Any], merge_key: str | None, kind: str) -> list[Any]:
    """Sort patch items by the patch's order and server-only items by the live order, then interleave them."""
    patch = _normalize_slice_order(patch, patch_order, merge_key, kind)
    server_only = _normalize_slice_order(server_only, server_order, merge_key, kind)
    return _merge_sorted_slice(server_only, patch, server_order, merge_key, kind)


def _merge_sorted_slice(left: list[Any], right: list[Any], server_order: list[Any], merge_key: str | None,
                        kind: str) -> list[Any]:
    """Insert each server-only item (left) before the first patch item (right) it precedes in the live list."""
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _index(server_order, left[i], merge_key, kind)
            ri = _index(server_order, right[j], merge_key, kind)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


# --- entry point -------------------------------------------------------------------------------------------

def decode_strategic_merge_patch(patch: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(patch, (bytes, bytearray, memoryview, str)):
        try:
            patch = orjson.loads(patch)
        except orjson.JSONDecodeError as e:
            raise bad_request(str(e)) from None
    if not isinstance(patch, dict):
        kind = {list: "array", str: "string", bool: "bool", int: "number", float: "number"}.get(type(patch), "null")
        raise bad_request(f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}")
    return patch


def apply_strategic_merge_patch(obj: dict[str, Any], patch: bytes | str | dict[str, Any],
                                schema: Schema | None, *, copy_inputs: bool = True) -> dict[str, Any]:
    """Apply a strategic merge patch to a copy of obj, reading patch strategies from `schema`, the type's
    OpenAPI definition (e.g. schema.definition('io.k8s.api.apps.v1.Deployment')).

    Errors are StatusErrors as kube-apiserver answers them: malformed directives 400, lists of lists 422,
    other failures (an unknown `$patch`, a missing merge key) 500. With copy_inputs=False obj itself is changed
    and the patch's values are taken over (both must be the caller's own).
    """
    decoded = decode_strategic_merge_patch(patch)
    if copy_inputs:
        obj, decoded = copy.deepcopy(obj), copy.deepcopy(decoded)
    try:
        return _merge_map(obj, decoded, schema)
    except _Error as e:
        raise e.status() from None

"""JSON patch (RFC 6902, application/json-patch+json) applied as kube-apiserver applies it, errors included."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer
import orjson

from kybernetes.api.errors import StatusError, bad_request

MAX_JSON_PATCH_OPERATIONS = 10000
_OPS = ("add", "remove", "replace", "move", "copy", "test")


def unprocessable(cause: str) -> StatusError:
    """NewGenericServerResponse(422) as the patch handler builds it: a fixed message, the cause in details."""
    return StatusError(422, "Invalid", "the server rejected our request due to an error in our request",
                       details={"causes": [{"reason": "UnexpectedServerResponse", "message": cause}]})


def _go_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def decode_json_patch(patch: bytes | str | list[Any]) -> list[dict[str, Any]]:
    """jsonpatch.DecodePatch: the body must be a JSON array of objects; anything else is 400 BadRequest."""
    if isinstance(patch, (bytes, bytearray, memoryview, str)):
        try:
            patch = orjson.loads(patch)
        except orjson.JSONDecodeError as e:
            raise bad_request(str(e)) from None
    if not isinstance(patch, list):
        raise bad_request(f"json: cannot unmarshal {_go_type(patch)} into Go value of type jsonpatch.Patch")
    for op in patch:
        if not isinstance(op, dict):
            raise bad_request(f"json: cannot unmarshal {_go_type(op)} into Go value of type jsonpatch.Operation")
    if len(patch) > MAX_JSON_PATCH_OPERATIONS:
        raise StatusError(413, "RequestEntityTooLarge",
                          "Request entity too large: The allowed maximum operations in a JSON patch is "
                          f"{MAX_JSON_PATCH_OPERATIONS}, got {len(patch)}")
    return patch


def json_equal(a: Any, b: Any) -> bool:
    """Equality of decoded JSON values that keeps booleans apart from numbers (1 is not true)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _resolve(doc: Any, path: str) -> tuple[bool, Any]:
    try:
        return True, jsonpointer.resolve_pointer(doc, path)
    except (jsonpointer.JsonPointerException, TypeError, ValueError):
        return False, None


def _parent_exists(doc: Any, path: str) -> bool:
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    ok, v = _resolve(doc, parent)
    return ok and isinstance(v, (dict, list))


def _test(doc: Any, op: dict[str, Any]) -> None:
    path = op["path"]
    if not _parent_exists(doc, path):
        raise unprocessable(f"test operation does not apply: is missing path: {path}: missing value")
    found, have = _resolve(doc, path)
    want = op.get("value")
    if (not found and want is None) or (found and json_equal(have, want)):
        return
    raise unprocessable(f"testing value {path} failed: test failed")


def _cause(doc: Any, op: dict[str, Any], err: Exception) -> str:
    """A failure worded as evanphx/json-patch (which kube-apiserver uses) words it."""
    kind, path, frm = op["op"], op.get("path", ""), op.get("from", "")
    if kind in ("move", "copy") and not _resolve(doc, frm)[0]:
        return f"{kind} operation does not apply: doc is missing from path: {frm}: missing value"
    if not _parent_exists(doc, path):
        if kind in ("add", "remove"):
            return f'{kind} operation does not apply: doc is missing path: "{path}": missing value'
        return f"{kind} operation does not apply: doc is missing path: {path}: missing value"
    key = path.rsplit("/", 1)[-1]
    if kind == "replace":
        return f"replace operation does not apply: doc is missing key: {path}: missing value"
    if kind == "remove":
        return f"error in remove for path: '{path}': Unable to remove nonexistent key: {key}: missing value"
    if "outside" in str(err) or "index" in str(err).lower():
        return (f"error in {kind} for path: '{path}': Unable to access invalid index: {key}: "
                "invalid index referenced")
    return f"error in {kind} for path: '{path}': {err}"


def apply_json_patch(obj: dict[str, Any], patch: bytes | str | list[Any]) -> dict[str, Any]:
    """Apply an RFC 6902 patch to a copy of obj.

    A body that is not an array of operations is 400 BadRequest; an operation that fails (a failing `test`, a
    missing path, an unknown op) is 422 Invalid with the cause in details, as kube-apiserver answers.
    """
    ops = decode_json_patch(patch)
    doc: Any = copy.deepcopy(obj)
    for raw in ops:
        kind = raw.get("op")
        if kind not in _OPS:
            raise unprocessable(f"Unexpected kind: {kind if isinstance(kind, str) else 'unknown'}")
        if not isinstance(raw.get("path"), str):
            raise unprocessable(f"{kind} operation failed to decode path: missing value")
        if kind in ("move", "copy") and not isinstance(raw.get("from"), str):
            raise unprocessable(f"{kind} operation failed to decode from: missing value")
        op = dict(raw)
        if kind in ("add", "replace", "test"):
            op.setdefault("value", None)
        if kind == "test":
            _test(doc, op)
            continue
        try:
            doc = jsonpatch.JsonPatch([op]).apply(doc, in_place=True)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, ValueError,
                KeyError, IndexError) as e:
            raise unprocessable(_cause(doc, op, e)) from None
    if not isinstance(doc, dict):
        raise unprocessable("the patched document is not a JSON object")
    return doc

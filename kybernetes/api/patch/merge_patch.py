"""JSON merge patch (RFC 7386, application/merge-patch+json) with the null pruning kube-apiserver's library does."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from kybernetes.api.errors import bad_request


def _prune_nulls(value: Any) -> Any:
    """Drop null members of objects, recursively (also inside arrays); array elements that are null stay."""
    if isinstance(value, dict):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value]
    return value


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
            continue
        current = target.get(key)
        if isinstance(current, dict):
            target[key] = _merge(current, value) if isinstance(value, dict) else value
        else:
            target[key] = _prune_nulls(value)
    return target


def decode_merge_patch(patch: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(patch, (bytes, bytearray, memoryview, str)):
        try:
            patch = orjson.loads(patch)
        except orjson.JSONDecodeError:
            raise bad_request("Invalid JSON Patch") from None
    if not isinstance(patch, dict):
        raise bad_request("Invalid JSON Patch")
    return patch


def apply_merge_patch(obj: dict[str, Any], patch: bytes | str | dict[str, Any], *,
                      copy_inputs: bool = True) -> dict[str, Any]:
    """Apply an RFC 7386 merge patch to a copy of obj: objects merge, null deletes, anything else replaces.
    With copy_inputs=False obj itself is changed and the patch's values are taken over (both must be the
    caller's own, e.g. a fresh copy of a stored object and a just-decoded body).

    A patch that is not a JSON object is 400 BadRequest ("Invalid JSON Patch").
    """
    decoded = decode_merge_patch(patch)
    if copy_inputs:
        return _merge(copy.deepcopy(obj), copy.deepcopy(decoded))
    return _merge(obj, decoded)

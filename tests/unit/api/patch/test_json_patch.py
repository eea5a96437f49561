"""Tests for JSON patch (RFC 6902) and JSON merge patch (RFC 7386) as kube-apiserver applies them."""

from __future__ import annotations

import pytest

from kybernetes.api.errors import StatusError
from kybernetes.api.patch import apply_json_patch, apply_merge_patch, apply_patch

CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}},
      "data": {"k": "v"}, "list": [1, 2, 3]}


@pytest.mark.parametrize("ops,want", [
    ([{"op": "add", "path": "/data/x", "value": "y"}], {"k": "v", "x": "y"}),
    ([{"op": "replace", "path": "/data/k", "value": "w"}], {"k": "w"}),
    ([{"op": "remove", "path": "/data/k"}], {}),
    ([{"op": "test", "path": "/data/k", "value": "v"}, {"op": "add", "path": "/data/t", "value": "1"}],
     {"k": "v", "t": "1"}),
    ([{"op": "copy", "from": "/data/k", "path": "/data/c"}], {"k": "v", "c": "v"}),
    ([{"op": "move", "from": "/data/k", "path": "/data/m"}], {"m": "v"}),
    ([{"op": "add", "path": "/data/a~1b", "value": "s"}], {"k": "v", "a/b": "s"}),
], ids=["add", "replace", "remove", "test-then-add", "copy", "move", "escaped-slash"])
def test_json_patch_ops(ops: list, want: dict) -> None:
    out = apply_json_patch(CM, ops)
    assert out["data"] == want
    assert CM["data"] == {"k": "v"}, "the input object must not be modified"


def test_json_patch_list_ops_and_bytes() -> None:
    out = apply_json_patch(CM, b'[{"op":"add","path":"/list/-","value":4},{"op":"remove","path":"/list/0"}]')
    assert out["list"] == [2, 3, 4]


@pytest.mark.parametrize("patch,code,message", [
    (b"{not json", 400, None),
    (b'{"op":"add"}', 400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
    (b"[1]", 400, "json: cannot unmarshal number into Go value of type jsonpatch.Operation"),
    ([{"op": "test", "path": "/data/k", "value": "other"}], 422, "testing value /data/k failed: test failed"),
    ([{"op": "test", "path": "/list/0", "value": True}], 422, "testing value /list/0 failed: test failed"),
    ([{"op": "replace", "path": "/data/nope", "value": 1}], 422,
     "replace operation does not apply: doc is missing key: /data/nope: missing value"),
    ([{"op": "add", "path": "/spec/x/y", "value": 1}], 422,
     'add operation does not apply: doc is missing path: "/spec/x/y": missing value'),
    ([{"op": "remove", "path": "/data/nope"}], 422,
     "error in remove for path: '/data/nope': Unable to remove nonexistent key: nope: missing value"),
    ([{"op": "move", "from": "/nope", "path": "/x"}], 422,
     "move operation does not apply: doc is missing from path: /nope: missing value"),
    ([{"op": "frob", "path": "/x"}], 422, "Unexpected kind: frob"),
    ([{"path": "/x"}], 422, "Unexpected kind: unknown"),
], ids=["bad-json", "object", "number-op", "test-fails", "test-bool-is-not-1", "replace-missing", "add-missing-parent",
        "remove-missing", "move-missing-from", "unknown-op", "no-op"])
def test_json_patch_errors(patch: object, code: int, message: str | None) -> None:
    with pytest.raises(StatusError) as exc:
        apply_json_patch(CM, patch)
    assert exc.value.code == code
    if code == 422:
        assert exc.value.reason == "Invalid"
        assert exc.value.message == "the server rejected our request due to an error in our request"
        assert exc.value.details == {"causes": [{"reason": "UnexpectedServerResponse", "message": message}]}
    else:
        assert exc.value.reason == "BadRequest"
        if message:
            assert exc.value.message == message


def test_json_patch_too_many_operations_is_413() -> None:
    with pytest.raises(StatusError) as exc:
        apply_json_patch(CM, [{"op": "test", "path": "/data/k", "value": "v"}] * 10001)
    assert exc.value.code == 413
    assert exc.value.message.endswith("The allowed maximum operations in a JSON patch is 10000, got 10001")


@pytest.mark.parametrize("patch,want", [
    ({"data": {"x": "y"}}, {**CM, "data": {"k": "v", "x": "y"}}),
    ({"data": {"k": None}}, {**CM, "data": {}}),
    ({"data": None}, {k: v for k, v in CM.items() if k != "data"}),
    ({"list": [9]}, {**CM, "list": [9]}),
    ({"new": {"a": 1, "b": None}}, {**CM, "new": {"a": 1}}),
    ({"data": "scalar"}, {**CM, "data": "scalar"}),
    ({"list": {"k": 1, "z": None}}, {**CM, "list": {"k": 1}}),
    ({"metadata": {"labels": {"a": None, "b": "2"}}}, {**CM, "metadata": {"name": "c", "labels": {"b": "2"}}}),
    ({}, CM),
], ids=["add-key", "null-deletes", "null-deletes-map", "list-replaced", "new-map-pruned", "map-to-scalar",
        "scalar-to-map-pruned", "nested", "empty"])
def test_merge_patch(patch: dict, want: dict) -> None:
    assert apply_merge_patch(CM, patch) == want
    assert CM["data"] == {"k": "v"}


@pytest.mark.parametrize("patch", [b"[1]", b"null", b"5", b"{bad"])
def test_merge_patch_not_an_object_is_400(patch: bytes) -> None:
    with pytest.raises(StatusError) as exc:
        apply_merge_patch(CM, patch)
    assert (exc.value.code, exc.value.message) == (400, "Invalid JSON Patch")


@pytest.mark.parametrize("content_type,patch,want_k", [
    ("application/json-patch+json", b'[{"op":"replace","path":"/data/k","value":"j"}]', "j"),
    ("application/merge-patch+json; charset=utf-8", b'{"data":{"k":"m"}}', "m"),
    ("application/strategic-merge-patch+json", b'{"data":{"k":"s"}}', "s"),
])
def test_apply_patch_dispatch(content_type: str, patch: bytes, want_k: str) -> None:
    assert apply_patch(content_type, CM, patch, None)["data"]["k"] == want_k


def test_apply_patch_refuses_strategic_for_custom_resources() -> None:
    with pytest.raises(StatusError) as exc:
        apply_patch("application/strategic-merge-patch+json", CM, b"{}", None, strategic_allowed=False)
    assert exc.value.code == 415

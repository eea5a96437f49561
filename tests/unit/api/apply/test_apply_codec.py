"""FieldsV1 encoding and decoding remembered per set: results as if computed afresh, never shared."""

from __future__ import annotations

import pytest

from kybernetes.api.apply import FieldSet, fieldpath as fp
from kybernetes.api.apply.fieldpath import make_path
from kybernetes.api.apply.typed import equal

DOC = {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
       "f:spec": {"f:containers": {'k:{"name":"c"}': {".": {}, "f:image": {}, "f:name": {}}}}}


def test_encoded_documents_are_fresh_and_decode_back() -> None:
    s = FieldSet.from_fields_v1(DOC)
    first = s.to_fields_v1()
    assert first == DOC
    first["f:spec"]["junk"] = {}
    assert s.to_fields_v1() == DOC  # changing one result changes no other
    assert FieldSet.from_fields_v1(s.to_fields_v1()) == s
    again = FieldSet(set(s.paths) | {make_path("spec", "replicas")})
    assert again.to_fields_v1()["f:spec"]["f:replicas"] == {}


@pytest.mark.parametrize("doc", [{"f:a": 1}, {"x:a": {}}, {"k:[1]": {}}], ids=["not-a-map", "prefix", "key"])
def test_invalid_documents_fail_every_time(doc: dict) -> None:
    for _ in range(2):
        with pytest.raises(ValueError):
            FieldSet.from_fields_v1(doc)


def test_recursive_difference_with_paths_of_several_lengths() -> None:
    s = FieldSet([make_path("a"), make_path("a", "b"), make_path("c", "d"), make_path("c", "e", "f"), make_path("g")])
    ignore = FieldSet([make_path("a"), make_path("c", "e")])
    assert s.recursive_difference(ignore) == FieldSet([make_path("c", "d"), make_path("g")])
    assert s.recursive_difference(FieldSet([make_path("x")])) is s


@pytest.mark.parametrize("a,b,want", [
    (1, 1.0, True), (True, 1, False), ({"a": [1, True]}, {"a": [1.0, True]}, True),
    ({"a": [1, True]}, {"a": [1, 1]}, False), ({"a": {"b": None}}, {"a": {"b": None}}, True),
    ({"a": 1}, {"a": 1, "b": 2}, False), ([1, 2], [2, 1], False), ("x", "x", True), (None, {}, False),
], ids=["int-float", "bool-int", "nested-numbers", "nested-bool-int", "nested-null", "keys", "order", "str",
        "null-map"])
def test_equal_as_upstream(a: object, b: object, want: bool) -> None:
    assert equal(a, b) is want
    assert equal(b, a) is want


def test_scalar_list_keys_keep_their_type() -> None:
    assert fp.value(1) != fp.value(True)
    assert fp.key({"port": 80}) != fp.key({"port": "80"})

"""FieldSet algebra, FieldsV1 encoding/decoding and path rendering."""

import pytest

from kybernetes.api.apply import FieldSet, path_string, set_from_fields_v1
from kybernetes.api.apply import fieldpath as fp
from kybernetes.api.apply.fieldpath import make_path

NGINX = fp.key({"name": "nginx"})


@pytest.mark.parametrize("path,text", [
    (make_path("spec", "replicas"), ".spec.replicas"),
    (make_path("spec", "template", "spec", "containers", NGINX, "image"),
     '.spec.template.spec.containers[name="nginx"].image'),
    (make_path("spec", "ports", fp.key({"protocol": "TCP", "port": 80})), '.spec.ports[port=80,protocol="TCP"]'),
    (make_path("metadata", "finalizers", fp.value("a/b")), '.metadata.finalizers[="a/b"]'),
    (make_path("x", fp.index(3)), ".x[3]"),
], ids=["field", "keyed", "multi-key-sorted", "set-value", "index"])
def test_path_string(path, text):
    assert path_string(path) == text


@pytest.mark.parametrize("paths,doc", [
    ([make_path("metadata", "labels", "app")], {"f:metadata": {"f:labels": {"f:app": {}}}}),
    ([make_path("spec", "containers", NGINX), make_path("spec", "containers", NGINX, "image")],
     {"f:spec": {"f:containers": {'k:{"name":"nginx"}': {".": {}, "f:image": {}}}}}),
    ([make_path("p", fp.key({"containerPort": 443, "protocol": "TCP"})),
      make_path("p", fp.key({"containerPort": 80, "protocol": "TCP"})), make_path("a")],
     {"f:a": {}, "f:p": {'k:{"containerPort":80,"protocol":"TCP"}': {},
                         'k:{"containerPort":443,"protocol":"TCP"}': {}}}),
    ([make_path("metadata", "finalizers", fp.value("b")), make_path("metadata", "finalizers", fp.value("a"))],
     {"f:metadata": {"f:finalizers": {'v:"a"': {}, 'v:"b"': {}}}}),
    ([], {}),
], ids=["nested", "dot-for-member-with-children", "keys-numeric-order", "set-values", "empty"])
def test_fields_v1_round_trip(paths, doc):
    s = FieldSet(paths)
    encoded = s.to_fields_v1()
    assert encoded == doc
    assert list(encoded) == list(doc)  # upstream's key order
    assert set_from_fields_v1(doc) == s


@pytest.mark.parametrize("doc", [{"x:foo": {}}, {"f:a": []}], ids=["bad-prefix", "bad-child"])
def test_fields_v1_rejects_garbage(doc):
    with pytest.raises(ValueError):
        set_from_fields_v1(doc)


def test_index_elements_decode():
    assert set_from_fields_v1({"f:a": {"i:2": {}}}) == FieldSet([make_path("a", fp.index(2))])


@pytest.mark.parametrize("op,expected", [
    ("difference", {make_path("a", "b")}),
    ("recursive_difference", set()),
    ("union", {make_path("a"), make_path("a", "b")}),
    ("intersection", set()),
], ids=["difference-keeps-children", "recursive-drops-children", "union", "intersection"])
def test_set_algebra(op, expected):
    s = FieldSet([make_path("a", "b")])
    other = FieldSet([make_path("a")])
    assert getattr(s, op)(other).paths == expected


def test_iteration_order_members_before_children():
    s = FieldSet([make_path("b"), make_path("a", "z"), make_path("c")])
    assert [path_string(p) for p in s] == [".b", ".c", ".a.z"]

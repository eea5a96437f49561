"""ObjectMeta, names, labels, annotations and selectors: paths and upstream wording."""

from __future__ import annotations

import pytest

from kybernetes.api.validation import meta as m
from kybernetes.api.validation import validate

from .helpers import FORB, INV, LONG, REQ, check, info

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                 "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
                 r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
             "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
               "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
               "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


def cm(**meta) -> dict:
    return {"metadata": {"name": "c", "namespace": "default", **meta}}


def test_subdomain_message_exact() -> None:
    errs = validate(info("", "configmaps"), cm(name="Bad_Name"))
    assert [(e.field, e.value, e.detail) for e in errs] == [("metadata.name", "Bad_Name", SUBDOMAIN_MSG)]
    assert str(errs[0]) == 'metadata.name: Invalid value: "Bad_Name": ' + SUBDOMAIN_MSG


@pytest.mark.parametrize("plural,group,name,msg", [
    ("namespaces", "", "a.b", LABEL_MSG),
    ("services", "", "1abc", DNS1035_MSG),
    ("roles", "rbac.authorization.k8s.io", "a/b", "may not contain '/'"),
    ("clusterroles", "rbac.authorization.k8s.io", "..", "may not be '..'"),
], ids=["namespace-label", "service-1035", "role-slash", "clusterrole-dotdot"])
def test_name_rules_per_type(plural: str, group: str, name: str, msg: str) -> None:
    i = info(group, plural)
    obj = {"metadata": {"name": name, **({"namespace": "default"} if i.namespaced else {})}}
    errs = [e for e in validate(i, obj) if e.field == "metadata.name"]
    assert [e.detail for e in errs] == [msg]


@pytest.mark.parametrize("name", ["system:controller:foo", "Upper.Case", "a@b"], ids=["colon", "upper", "at"])
def test_rbac_names_are_path_segments(name: str) -> None:
    errs = validate(info("rbac.authorization.k8s.io", "clusterroles"), {"metadata": {"name": name}})
    assert [e for e in errs if e.field == "metadata.name"] == []


CASES = [
    ("ok", cm(), []),
    ("no-name", {"metadata": {"namespace": "default"}}, [(REQ, "metadata.name")]),
    ("generateName", {"metadata": {"generateName": "web-", "name": "web-x7k2p", "namespace": "default"}}, []),
    ("bad-generateName", {"metadata": {"generateName": "Web-", "name": "web-1", "namespace": "default"}},
     [(INV, "metadata.generateName")]),
    ("no-namespace", {"metadata": {"name": "c"}}, [(REQ, "metadata.namespace")]),
    ("bad-namespace", cm(namespace="Bad"), [(INV, "metadata.namespace")]),
    ("label-key", cm(labels={"-bad": "x"}), [(INV, "metadata.labels")]),
    ("label-value", cm(labels={"ok": "a b"}), [(INV, "metadata.labels")]),
    ("label-value-long", cm(labels={"ok": "a" * 64}), [(INV, "metadata.labels")]),
    ("label-prefix", cm(labels={"example.com/app": "x"}), []),
    ("annotation-key", cm(annotations={"a/b/c": "x"}), [(INV, "metadata.annotations")]),
    ("annotation-upper-ok", cm(annotations={"Example.com/Key": "x"}), []),
    ("annotation-size", cm(annotations={"k": "x" * (256 * 1024)}), [(LONG, "metadata.annotations")]),
    ("finalizer-unqualified", cm(finalizers=["foo"]), [(INV, "metadata.finalizers")]),
    ("finalizer-ok", cm(finalizers=["example.com/f", "kubernetes"]), []),
    ("owner-missing-uid", cm(ownerReferences=[{"apiVersion": "v1", "kind": "X", "name": "n"}]),
     [(INV, "metadata.ownerReferences.uid")]),
    ("negative-generation", cm(generation=-1), [(INV, "metadata.generation")]),
]


@pytest.mark.parametrize("obj,want", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_object_meta_create(obj: dict, want: list) -> None:
    assert check(("", "configmaps"), obj, default=False) == want


def test_namespace_forbidden_on_cluster_scoped() -> None:
    errs = validate(info("", "nodes"), {"metadata": {"name": "n1", "namespace": "default"}})
    assert [(e.type, e.field, e.detail) for e in errs] == [(FORB, "metadata.namespace", "not allowed on this type")]


def test_label_errors_are_reported_at_the_map() -> None:
    errs = validate(info("", "configmaps"), cm(labels={"app": "-x-"}))
    assert errs[0].field == "metadata.labels" and errs[0].value == "-x-"


OLD = {"metadata": {"name": "c", "namespace": "default", "uid": "u1", "resourceVersion": "5",
                    "creationTimestamp": "2024-01-01T00:00:00Z", "generation": 2}}
UPDATE_CASES = [
    ("same", {}, []),
    ("name", {"name": "d"}, [(INV, "metadata.name")]),
    ("uid", {"uid": "u2"}, [(INV, "metadata.uid")]),
    ("creationTimestamp", {"creationTimestamp": "2025-01-01T00:00:00Z"}, [(INV, "metadata.creationTimestamp")]),
    ("namespace", {"namespace": "other"}, [(INV, "metadata.namespace")]),
    ("no-rv", {"resourceVersion": ""}, [(INV, "metadata.resourceVersion")]),
    ("generation-down", {"generation": 1}, [(INV, "metadata.generation")]),
    # ValidateConfigMapUpdate re-runs ValidateObjectMeta, so upstream reports label errors twice
    ("labels-checked", {"labels": {"a": "b c"}}, [(INV, "metadata.labels")] * 2),
]


@pytest.mark.parametrize("change,want", [c[1:] for c in UPDATE_CASES], ids=[c[0] for c in UPDATE_CASES])
def test_object_meta_update(change: dict, want: list) -> None:
    new = {"metadata": {**OLD["metadata"], **change}}
    assert check(("", "configmaps"), new, OLD, default=False) == want


def test_immutable_message() -> None:
    errs = validate(info("", "configmaps"), {"metadata": {**OLD["metadata"], "uid": "u2"}}, OLD)
    assert str(errs[0]) == 'metadata.uid: Invalid value: "u2": field is immutable'


def test_no_new_finalizers_while_deleting() -> None:
    old = {"metadata": {**OLD["metadata"], "deletionTimestamp": "2024-01-02T00:00:00Z"}}
    new = {"metadata": {**old["metadata"], "finalizers": ["example.com/x"]}}
    errs = validate(info("", "configmaps"), new, old)
    assert [(e.field, e.detail) for e in errs] == [
        ("metadata.finalizers", 'no new finalizers can be added if the object is being deleted, found new finalizers '
                                '[]string{"example.com/x"}')]


@pytest.mark.parametrize("selector,want", [
    ({"matchLabels": {"a": "b"}}, []),
    ({"matchExpressions": [{"key": "a", "operator": "In"}]}, ["s.matchExpressions[0].values"]),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, ["s.matchExpressions[0].values"]),
    ({"matchExpressions": [{"key": "a", "operator": "Bad"}]}, ["s.matchExpressions[0].operator"]),
    ({"matchLabels": {"a": "b c"}}, ["s.matchLabels"]),
], ids=["ok", "in-no-values", "exists-values", "bad-op", "bad-value"])
def test_label_selector(selector: dict, want: list) -> None:
    assert [e.field for e in m.validate_label_selector(selector, "s")] == want


@pytest.mark.parametrize("selector,labels,want", [
    ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, {}, None),
], ids=["labels", "labels-miss", "in", "notin", "dne", "invalid"])
def test_selector_matches(selector: dict, labels: dict, want: bool | None) -> None:
    assert m.selector_matches(selector, labels) is want

"""Typing objects against upstream and CRD schemas: field sets, comparisons, merges and removals."""

import pytest

from kybernetes.api import schema as sch
from kybernetes.api.apply import FieldSet, fields_v1, path_string
from kybernetes.api.apply.merge import merge, remove_items
from kybernetes.api.apply.typed import TypedError, compare, ensure_named_fields_are_members, root_type, to_field_set

DEPLOYMENT = sch.definition("io.k8s.api.apps.v1.Deployment")
POD_SPEC = sch.definition("io.k8s.api.core.v1.PodSpec")

CRD = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "size": {"type": "integer"},
                "port": {"x-kubernetes-int-or-string": True},
                "routes": {"type": "array", "x-kubernetes-list-type": "map",
                           "x-kubernetes-list-map-keys": ["host", "path"],
                           "items": {"type": "object", "properties": {
                               "host": {"type": "string"}, "path": {"type": "string"},
                               "weight": {"type": "integer"}}}},
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "args": {"type": "array", "items": {"type": "string"}},
                "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                             "additionalProperties": {"type": "string"}},
            },
        },
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}


def paths(s):
    return sorted(path_string(p) for p in s)


def container(name, **kw):
    return {"name": name, **kw}


def deploy_spec(*containers):
    return {"spec": {"template": {"spec": {"containers": list(containers)}}}}


@pytest.mark.parametrize("schema,obj,expected", [
    (DEPLOYMENT, {"metadata": {"labels": {"app": "a"}}, "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}}}},
     [".metadata.labels.app", ".spec.replicas", ".spec.selector"]),
    (DEPLOYMENT, deploy_spec(container("nginx", image="i", args=["a"], resources={})),
     ['.spec.template.spec.containers[name="nginx"]', '.spec.template.spec.containers[name="nginx"].args',
      '.spec.template.spec.containers[name="nginx"].image', '.spec.template.spec.containers[name="nginx"].name',
      '.spec.template.spec.containers[name="nginx"].resources']),
    (DEPLOYMENT, {"metadata": {"finalizers": ["x", "y"]}},
     ['.metadata.finalizers[="x"]', '.metadata.finalizers[="y"]']),
    (CRD, {"spec": {"routes": [{"host": "h", "path": "/", "weight": 1}], "tags": ["t"], "args": ["x"],
                    "config": {"a": {"b": 1}, "l": [1]}, "port": "http"}},
     ['.spec.args', '.spec.config.a', '.spec.config.a.b', '.spec.config.l', '.spec.port',
      '.spec.routes[host="h",path="/"]', '.spec.routes[host="h",path="/"].host',
      '.spec.routes[host="h",path="/"].path', '.spec.routes[host="h",path="/"].weight', '.spec.tags[="t"]']),
    (None, {"metadata": {"labels": {"a": "b"}}, "spec": {"x": {"y": [1, 2]}}},
     [".metadata.labels.a", ".spec", ".spec.x", ".spec.x.y"]),
], ids=["deployment-atomic-selector", "containers-list-map", "finalizers-set", "crd", "deduced"])
def test_to_field_set(schema, obj, expected):
    assert paths(to_field_set(obj, root_type(schema))) == expected


def test_ports_default_protocol_key():
    obj = deploy_spec(container("c", ports=[{"containerPort": 80}]))
    doc = fields_v1(obj, DEPLOYMENT)
    ports = doc["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"c"}']["f:ports"]
    assert list(ports) == ['k:{"containerPort":80,"protocol":"TCP"}']


@pytest.mark.parametrize("obj,message", [
    (deploy_spec({"image": "x"}), 'omits key field "name"'),
    ({"spec": {"routes": [{"host": "h"}]}}, 'omits key field "path"'),
], ids=["container-without-name", "crd-route-without-path"])
def test_missing_keys_are_errors(obj, message):
    schema = DEPLOYMENT if "template" in obj["spec"] else CRD
    with pytest.raises(TypedError, match=message):
        to_field_set(obj, root_type(schema))


def test_duplicate_keys_rejected_only_when_asked():
    obj = deploy_spec(container("a"), container("a"))
    t = root_type(DEPLOYMENT)
    assert to_field_set(obj, t)
    with pytest.raises(TypedError, match="duplicate entries"):
        to_field_set(obj, t, allow_duplicates=False)


@pytest.mark.parametrize("lhs,rhs,added,modified,removed", [
    ({"spec": {"replicas": 1}}, {"spec": {"replicas": 2}}, [], [".spec.replicas"], []),
    ({"spec": {"replicas": 1}}, {"spec": {"replicas": 1}}, [], [], []),
    ({}, {"metadata": {"labels": {"a": "b"}}}, [".metadata", ".metadata.labels", ".metadata.labels.a"], [], []),
    ({"metadata": {"labels": {"a": "b", "c": "d"}}}, {"metadata": {"labels": {"a": "b"}}}, [], [],
     [".metadata.labels.c"]),
    (deploy_spec(container("a", image="1")), deploy_spec(container("a", image="2"), container("b")),
     ['.spec.template.spec.containers[name="b"]', '.spec.template.spec.containers[name="b"].name'],
     ['.spec.template.spec.containers[name="a"].image'], []),
    ({"spec": {"selector": {"matchLabels": {"a": "b"}}}}, {"spec": {"selector": {"matchLabels": {"a": "c"}}}},
     [], [".spec.selector"], []),
], ids=["scalar-modified", "equal", "added-map-owns-itself", "removed-label", "list-map-items", "atomic-map"])
def test_compare(lhs, rhs, added, modified, removed):
    c = compare(lhs, rhs, root_type(DEPLOYMENT))
    assert (paths(c.added), paths(c.modified), paths(c.removed)) == (added, modified, removed)


@pytest.mark.parametrize("schema,lhs,rhs,expected", [
    (DEPLOYMENT, deploy_spec(container("a", image="1"), container("b", image="1")),
     deploy_spec(container("c"), container("a", image="2")),
     deploy_spec(container("c"), container("a", image="2"), container("b", image="1"))),
    (DEPLOYMENT, deploy_spec(container("a", args=["1", "2"])), deploy_spec(container("a", args=["3"])),
     deploy_spec(container("a", args=["3"]))),
    (DEPLOYMENT, {"metadata": {"finalizers": ["x", "y"]}}, {"metadata": {"finalizers": ["z", "x"]}},
     {"metadata": {"finalizers": ["z", "x", "y"]}}),
    (DEPLOYMENT, {"spec": {"selector": {"matchLabels": {"a": "b"}}}},
     {"spec": {"selector": {"matchExpressions": []}}}, {"spec": {"selector": {"matchExpressions": []}}}),
    (DEPLOYMENT, {"metadata": {"labels": {"a": "1"}}}, {"metadata": {"labels": {"b": "2"}}},
     {"metadata": {"labels": {"a": "1", "b": "2"}}}),
    (CRD, {"spec": {"routes": [{"host": "h", "path": "/", "weight": 1}], "config": {"a": 1, "l": [1]}}},
     {"spec": {"routes": [{"host": "h", "path": "/", "weight": 2}, {"host": "h", "path": "/x"}],
               "config": {"b": 2, "l": [2]}}},
     {"spec": {"routes": [{"host": "h", "path": "/", "weight": 2}, {"host": "h", "path": "/x"}],
               "config": {"a": 1, "l": [2], "b": 2}}}),
], ids=["containers-rhs-order", "atomic-args", "set-union", "atomic-selector", "labels-union", "crd"])
def test_merge(schema, lhs, rhs, expected):
    assert merge(lhs, rhs, root_type(schema)) == expected


def test_remove_items_and_named_fields():
    t = root_type(DEPLOYMENT)
    obj = {"metadata": {"labels": {"a": "1", "b": "2"}},
           "spec": {"replicas": 1, "template": {"spec": {"containers": [container("x"), container("y")]}}}}
    s = FieldSet(to_field_set({"metadata": {"labels": {"b": "2"}},
                               "spec": {"template": {"spec": {"containers": [container("y")]}}}}, t))
    named = ensure_named_fields_are_members(s, t)
    # named struct fields become members; map keys (labels) are members already; list items are not fields
    assert {".metadata", ".metadata.labels", ".spec", ".spec.template", ".spec.template.spec",
            ".spec.template.spec.containers"} <= set(paths(named))
    out = remove_items(obj, s, t)
    assert out == {"metadata": {"labels": {"a": "1"}},
                   "spec": {"replicas": 1, "template": {"spec": {"containers": [container("x")]}}}}
    assert remove_items(obj, named, t) == {}

"""Tests for the kubectl/client-go JSONPath dialect."""

import pytest

from kybernetes.api import jsonpath

OBJ = {
    "kind": "Pod",
    "metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "web", "tier": "fe"}},
    "spec": {"containers": [{"name": "a", "image": "nginx", "ports": [{"containerPort": 80}]},
                            {"name": "b", "image": "busybox"}]},
    "status": {"conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "False"}],
               "replicas": 3},
    "items": [1, 2, 3, 4, 5],
}


@pytest.mark.parametrize("expr,want", [
    (".metadata.name", ["web"]),
    ("{.metadata.name}", ["web"]),
    ("{$.metadata.name}", ["web"]),
    ("{.metadata.labels['app.kubernetes.io/name']}", ["web"]),
    ('{.metadata.labels["tier"]}', ["fe"]),
    ("{.metadata.labels.app\\.kubernetes\\.io/name}", ["web"]),
    ("{.spec.containers[0].name}", ["a"]),
    ("{.spec.containers[-1].image}", ["busybox"]),
    ("{.spec.containers[*].name}", ["a", "b"]),
    ("{.spec.containers.*.name}", ["a", "b"]),
    ("{.items[1:3]}", [2, 3]),
    ("{.items[::2]}", [1, 3, 5]),
    ("{.items[0,4]}", [1, 5]),
    ("{.metadata.labels['tier','nope']}", ["fe"]),
    ("{..name}", ["web", "a", "b"]),
    ("{..containerPort}", [80]),
    ('{.status.conditions[?(@.type=="Ready")].status}', ["False"]),
    ("{.status.conditions[?(@.status!='True')].type}", ["Ready"]),
    ("{.items[?(@ > 3)]}", [4, 5]),
    ("{.spec.containers[?(@.ports)].name}", ["a"]),
    ("{.status.replicas}", [3]),
    ("{.missing.path}", []),
    ("{.metadata.name}/{.kind}", ["web", "/", "Pod"]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_evaluate(expr, want):
    assert jsonpath.evaluate(expr, OBJ) == want


@pytest.mark.parametrize("expr", [
    "{.items[9]}", "{.metadata[0]}", "{.metadata[?(@.x)]}", "{.items[3:1]}",
], ids=["out-of-range", "index-map", "filter-map", "reversed-slice"])
def test_evaluate_errors(expr):
    with pytest.raises(jsonpath.JSONPathError):
        jsonpath.evaluate(expr, OBJ)


def test_missing_key_strict():
    with pytest.raises(jsonpath.JSONPathError, match="nope is not found"):
        jsonpath.evaluate("{.nope}", OBJ, allow_missing=False)


@pytest.mark.parametrize("expr", ["{.a", "{.a[}", "{.a[?(@.b}", "{range .a}", "{end}", "{.a]}"],
                         ids=["unclosed", "bracket", "filter", "range", "end", "stray"])
def test_parse_errors(expr):
    with pytest.raises(jsonpath.JSONPathError):
        jsonpath.parse(expr)


@pytest.mark.parametrize("expr,want", [
    ('{range .spec.containers[*]}{.name}={.image}{"\\n"}{end}', "a=nginx\nb=busybox\n"),
    ("{.spec.containers[*].name}", "a b"),
    ("{.metadata.labels}", '{"app.kubernetes.io/name":"web","tier":"fe"}'),
], ids=["range", "join", "map-json"])
def test_render(expr, want):
    assert jsonpath.render(expr, OBJ) == want


@pytest.mark.parametrize("value,want", [
    ("x", "x"), (3, "3"), (1.5, "1.5"), (3.0, "3"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
    (0.00001, "1e-05"), (True, "true"), (None, "<no value>"), ([1, "a"], '[1,"a"]'),
    ({"b": 1, "a": "<&>"}, '{"a":"\\u003c\\u0026\\u003e","b":1}'),
], ids=lambda v: repr(v))
def test_to_text(value, want):
    assert jsonpath.to_text(value) == want

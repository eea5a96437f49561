"""Tests for strategic merge patch: upstream's merge-list vectors and kubectl-generated Deployment patches."""

from __future__ import annotations

import copy

import pytest
import yaml

from kybernetes.api import schema
from kybernetes.api.errors import StatusError
from kybernetes.api.patch import apply_strategic_merge_patch

# a schema shaped like upstream's test type (strategicpatch's mergeItem)
ITEM = {"properties": {
    "mergingList": {"type": "array", "items": {"$ref": "#/$defs/none"}, "x-kubernetes-patch-strategy": "merge",
                    "x-kubernetes-patch-merge-key": "name"},
    "mergingIntList": {"type": "array", "items": {"type": "integer"}, "x-kubernetes-patch-strategy": "merge"},
    "nonMergingList": {"type": "array", "items": {"type": "object"}},
    "retainKeysMap": {"type": "object", "x-kubernetes-patch-strategy": "retainKeys"},
    "replacingMap": {"type": "object", "x-kubernetes-patch-strategy": "replace"},
}}
ITEM["properties"]["mergingList"]["items"] = ITEM  # nested lists merge the same way


def y(text: str) -> dict:
    return yaml.safe_load(text)


UPSTREAM_CASES = [
    ("add-and-delete-with-server-only-item",
     "mergingList: [{name: 1}, {name: 2, other: b}, {name: 4, other: c}]",
     "{$setElementOrder/mergingList: [{name: 2}, {name: 3}], mergingList: [{name: 3}, {name: 1, $patch: delete}]}",
     "mergingList: [{name: 2, other: b}, {name: 4, other: c}, {name: 3}]"),
    ("add-and-delete-server-only-first",
     "mergingList: [{name: 1, other: a}, {name: 4, other: c}]",
     "{$setElementOrder/mergingList: [{name: 2}, {name: 3}], mergingList: [{name: 2}, {name: 3}, "
     "{name: 1, $patch: delete}]}",
     "mergingList: [{name: 4, other: c}, {name: 2}, {name: 3}]"),
    ("delete-missing-item",
     "mergingList: [{name: 2, other: b}]",
     "{$setElementOrder/mergingList: [{name: 2}], mergingList: [{name: 1, $patch: delete}]}",
     "mergingList: [{name: 2, other: b}]"),
    ("de-duplicate-by-delete",
     "mergingList: [{name: 1}, {name: 1}]",
     "{$setElementOrder/mergingList: [{name: 1}], mergingList: [{name: 1, $patch: delete}]}",
     "{mergingList: []}"),
    ("delete-field-in-item",
     "mergingList: [{name: 1, value: 1, other: a}, {name: 2, value: 2}]",
     "{$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 1, value: null}]}",
     "mergingList: [{name: 1, other: a}, {name: 2, value: 2}]"),
    ("non-merging-list-in-merging-list-is-replaced",
     "mergingList: [{name: 1, other: a, nonMergingList: [{name: 1}, {name: 2, value: 2}]}, {name: 2}]",
     "{mergingList: [{name: 1, nonMergingList: [{name: 1, value: 1}]}]}",
     "mergingList: [{name: 1, other: a, nonMergingList: [{name: 1, value: 1}]}, {name: 2}]"),
    ("add-without-order-directive-goes-first",
     "mergingList: [{name: 1}, {name: 2}]",
     "mergingList: [{name: 3}]",
     "mergingList: [{name: 3}, {name: 1}, {name: 2}]"),
    ("replace-directive-in-list",
     "mergingList: [{name: 1}, {name: 2}]",
     "mergingList: [{name: 3}, {$patch: replace}]",
     "mergingList: [{name: 3}]"),
    ("replace-directive-in-map",
     "{a: {b: 1, c: 2}, mergingList: [{name: 1}]}",
     "{a: {$patch: replace, d: 4}}",
     "{a: {d: 4}, mergingList: [{name: 1}]}"),
    ("delete-directive-in-map",
     "{a: {b: 1}, z: 1}",
     "{a: {$patch: delete}}",
     "{a: {}, z: 1}"),
    ("primitive-merge-list-is-a-set",
     "mergingIntList: [1, 2]",
     "mergingIntList: [2, 3]",
     "mergingIntList: [1, 2, 3]"),
    ("primitive-new-item-goes-first",
     "mergingIntList: [1, 2]",
     "mergingIntList: [3, 1]",
     "mergingIntList: [3, 1, 2]"),
    ("primitive-delete-and-order",
     "mergingIntList: [1, 2, 3]",
     "{$setElementOrder/mergingIntList: [3, 1], $deleteFromPrimitiveList/mergingIntList: [2]}",
     "mergingIntList: [3, 1]"),
    ("primitive-add-with-order",
     "mergingIntList: [1, 2]",
     "{$setElementOrder/mergingIntList: [1, 4, 2], mergingIntList: [4]}",
     "mergingIntList: [1, 4, 2]"),
    ("delete-list-on-missing-field-is-ignored",
     "{}",
     "{$deleteFromPrimitiveList/mergingIntList: [1]}",
     "{}"),
    ("non-merging-list-replaced",
     "nonMergingList: [{name: 1}, {name: 2}]",
     "nonMergingList: [{name: 3, x: null}]",
     "nonMergingList: [{name: 3}]"),
    ("empty-patch-list-keeps-merging-list",
     "mergingList: [{name: 1}]",
     "mergingList: []",
     "mergingList: [{name: 1}]"),
    ("retain-keys",
     "retainKeysMap: {a: 1, b: 2, c: 3}",
     "retainKeysMap: {$retainKeys: [a, c], c: 4}",
     "retainKeysMap: {a: 1, c: 4}"),
    ("replace-strategy-map",
     "replacingMap: {a: 1, b: 2}",
     "replacingMap: {c: 3}",
     "replacingMap: {c: 3}"),
    ("null-deletes-and-unmatched-null-is-ignored",
     "{a: 1, b: 2}",
     "{a: null, zz: null, n: {x: null, y: 1}}",
     "{b: 2, n: {y: 1}}"),
    ("type-change-replaces",
     "{a: {b: 1}, l: [1]}",
     "{a: [1], l: {x: 1}}",
     "{a: [1], l: {x: 1}}"),
    ("directives-in-new-values-are-applied",
     "{}",
     "{m: {mergingList: [{name: 1}, {name: 2, $patch: delete}], $setElementOrder/mergingList: [{name: 1}]}}",
     "{m: {mergingList: [{name: 1}]}}"),
]


@pytest.mark.parametrize("original,patch,want", [c[1:] for c in UPSTREAM_CASES], ids=[c[0] for c in UPSTREAM_CASES])
def test_merge_cases(original: str, patch: str, want: str) -> None:
    sch = copy.deepcopy(ITEM)
    sch["properties"]["m"] = {"type": "object", "properties": ITEM["properties"]}
    orig = y(original)
    before = copy.deepcopy(orig)
    assert apply_strategic_merge_patch(orig, y(patch), sch) == y(want)
    assert orig == before, "the input object must not be modified"


DEPLOYMENT = schema.definition("io.k8s.api.apps.v1.Deployment")

LIVE = y("""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web}
  finalizers: [example.com/a, example.com/b]
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx:1.25
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
        ports: [{containerPort: 80, protocol: TCP}, {containerPort: 443, protocol: TCP}]
      - name: sidecar
        image: busybox
      volumes:
      - name: data
        emptyDir: {}
      tolerations: [{key: a, operator: Exists}]
""")


def containers(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]


def test_kubectl_set_image() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}
    out = apply_strategic_merge_patch(LIVE, patch, DEPLOYMENT)
    assert [(c["name"], c["image"]) for c in containers(out)] == [("app", "nginx:1.27"), ("sidecar", "busybox")]
    assert containers(out)[0]["env"] == containers(LIVE)[0]["env"]


def test_kubectl_apply_env_and_ports_changes() -> None:
    # what kubectl apply sends after removing env B, adding env C, and dropping port 443
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{
            "name": "app",
            "$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
            "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "B"}],
            "$setElementOrder/ports": [{"containerPort": 80}],
            "ports": [{"$patch": "delete", "containerPort": 443}],
        }]}}}}
    out = apply_strategic_merge_patch(LIVE, patch, DEPLOYMENT)
    app = containers(out)[0]
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]
    assert app["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert app["image"] == "nginx:1.25"


def test_kubectl_apply_remove_container() -> None:
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "app"}],
                                            "containers": [{"$patch": "delete", "name": "sidecar"}]}}}}
    out = apply_strategic_merge_patch(LIVE, patch, DEPLOYMENT)
    assert [c["name"] for c in containers(out)] == ["app"]


def test_kubectl_apply_reorder_and_add_container() -> None:
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "new"}, {"name": "app"}],
        "containers": [{"name": "new", "image": "redis"}]}}}}
    out = apply_strategic_merge_patch(LIVE, patch, DEPLOYMENT)
    assert [c["name"] for c in containers(out)] == ["sidecar", "new", "app"]


def test_retain_keys_for_deployment_strategy() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}}
    out = apply_strategic_merge_patch(LIVE, patch, DEPLOYMENT)
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_rejects_patch_keys_outside_the_list() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {"maxSurge": 1}}}}
    with pytest.raises(StatusError) as exc:
        apply_strategic_merge_patch(LIVE, patch, DEPLOYMENT)
    assert (exc.value.code, exc.value.message) == (400, "invalid patch format of retainKeys")


def test_finalizers_primitive_list_and_labels() -> None:
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a"], "finalizers": ["example.com/c"],
                          "labels": {"app": None, "tier": "web"}}}
    out = apply_strategic_merge_patch(LIVE, patch, DEPLOYMENT)
    assert out["metadata"]["finalizers"] == ["example.com/c", "example.com/b"]
    assert out["metadata"]["labels"] == {"tier": "web"}


def test_atomic_list_is_replaced_and_volume_merged_with_retain_keys() -> None:
    patch = {"spec": {"template": {"spec": {
        "tolerations": [{"key": "b", "operator": "Exists"}],
        "volumes": [{"name": "data", "$retainKeys": ["name", "configMap"], "configMap": {"name": "cm"}}]}}}}
    out = apply_strategic_merge_patch(LIVE, patch, DEPLOYMENT)
    spec = out["spec"]["template"]["spec"]
    assert spec["tolerations"] == [{"key": "b", "operator": "Exists"}]
    assert spec["volumes"] == [{"name": "data", "configMap": {"name": "cm"}}]


def test_bytes_patch() -> None:
    out = apply_strategic_merge_patch(LIVE, b'{"spec":{"replicas":5}}', DEPLOYMENT)
    assert out["spec"]["replicas"] == 5


@pytest.mark.parametrize("patch,code,message", [
    (b"[1]", 400, "json: cannot unmarshal array into Go value of type map[string]interface {}"),
    ({"spec": {"$patch": "bogus"}}, 500, "unknown patch type: bogus in map: map[$patch:bogus]"),
    ({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}, 500,
     "map: map[image:x] does not contain declared merge key: name"),
    ({"spec": {"template": {"spec": {"containers": [{"name": "x", "$patch": "merge"}]}}}}, 500,
     "merging lists cannot yet be specified in the patch"),
    ({"metadata": {"$retainKeys": "name"}}, 400, "invalid patch format of retainKeys"),
    ({"metadata": {"$deleteFromPrimitiveList": ["a"]}}, 400, "invalid patch format of primitive list"),
    ({"spec": {"template": {"spec": {"$setElementOrder": []}}}}, 400, "invalid patch format of setElementOrder list"),
    ({"metadata": {"finalizers": [["a"]]}}, 422, "lists of lists are not supported"),
], ids=["not-object", "bad-directive", "missing-merge-key", "merge-directive-in-list", "retain-keys-not-list",
        "bad-delete-prefix", "bad-order-prefix", "list-of-lists"])
def test_errors(patch: object, code: int, message: str) -> None:
    live = copy.deepcopy(LIVE)
    live["metadata"]["finalizers"] = []
    with pytest.raises(StatusError) as exc:
        apply_strategic_merge_patch(live, patch, DEPLOYMENT)
    assert exc.value.code == code
    if code == 422:
        assert exc.value.details["causes"][0]["message"] == message
    else:
        assert exc.value.message == message


def test_no_schema_merges_maps_and_replaces_lists() -> None:
    out = apply_strategic_merge_patch({"a": {"b": 1}, "l": [1, 2]}, {"a": {"c": 2}, "l": [3]}, None)
    assert out == {"a": {"b": 1, "c": 2}, "l": [3]}

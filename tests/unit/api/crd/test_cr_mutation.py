"""Defaulting, pruning and the scale subresource of custom resources."""

from __future__ import annotations

import pytest

from kybernetes.api.crd import (apply_scale_to_custom_resource, default_custom_resource, prune_custom_resource,
                                scale_from_custom_resource)


@pytest.mark.parametrize("spec,expected", [
    ({}, {"cronSpec": "*/5 * * * *", "replicas": 1, "maxReplicas": 5, "size": "M", "backoff": {"limit": 6}}),
    ({"size": "S", "backoff": {"limit": 2}},
     {"cronSpec": "*/5 * * * *", "replicas": 1, "maxReplicas": 5, "size": "S", "backoff": {"limit": 2}}),
    ({"history": {}, "ports": [{"name": "a"}]},
     {"cronSpec": "*/5 * * * *", "replicas": 1, "maxReplicas": 5, "size": "M", "backoff": {"limit": 6},
      "history": {"keep": 3}, "ports": [{"name": "a", "protocol": "TCP"}]}),
    ({"replicas": None}, {"cronSpec": "*/5 * * * *", "replicas": 1, "maxReplicas": 5, "size": "M",
                          "backoff": {"limit": 6}}),
], ids=["empty", "given-values-kept", "nested-only-when-parent-exists", "null-non-nullable-defaulted"])
def test_defaulting(info, make_crontab, spec, expected):
    obj = make_crontab(**spec)
    default_custom_resource(info, obj)
    assert obj["spec"] == expected
    assert "status" not in obj


def test_pruning(info, make_crontab):
    obj = make_crontab(bogus=1, config={"level": "x", "free": {"any": [1]}},
                       ports=[{"name": "a", "extra": True}],
                       template={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "junk": 1}, "x": 1})
    obj["metadata"]["unknownMeta"] = "x"
    obj["status"] = {"replicas": 1, "phase": "Running"}
    obj["topLevel"] = 1
    pruned = prune_custom_resource(info, obj)
    assert sorted(pruned) == sorted(["metadata.unknownMeta", "spec.bogus", "spec.ports[0].extra",
                                     "spec.template.metadata.junk", "status.phase", "topLevel"])
    assert obj["spec"]["config"] == {"level": "x", "free": {"any": [1]}}
    assert obj["spec"]["template"] == {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "x": 1}
    assert obj["apiVersion"] == "stable.example.com/v1" and obj["metadata"]["name"] == "my-cron"
    assert obj["status"] == {"replicas": 1}


def test_scale_roundtrip(info, make_crontab):
    obj = make_crontab(replicas=3)
    obj["metadata"].update(uid="u-1", resourceVersion="7", creationTimestamp="2024-01-01T00:00:00Z")
    obj["status"] = {"replicas": 2, "labelSelector": "app=cron"}
    assert scale_from_custom_resource(info, obj) == {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": "my-cron", "namespace": "default", "uid": "u-1", "resourceVersion": "7",
                     "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=cron"}}
    apply_scale_to_custom_resource(info, obj, {"spec": {"replicas": 5}, "metadata": {"resourceVersion": "7"}})
    assert obj["spec"]["replicas"] == 5


def test_scale_of_empty_object(info, make_crontab):
    obj = make_crontab()
    del obj["spec"]
    scale = scale_from_custom_resource(info, obj)
    assert scale["spec"] == {} and scale["status"] == {"replicas": 0}
    apply_scale_to_custom_resource(info, obj, {"spec": {"replicas": 2}})
    assert obj["spec"] == {"replicas": 2}

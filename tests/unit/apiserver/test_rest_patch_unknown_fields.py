"""Unknown fields of a merge-patched object: only what the patch set is looked at, with a full walk's answer."""

from __future__ import annotations

import copy

import pytest

from kybernetes.api.patch.merge_patch import apply_merge_patch
from kybernetes.api.registry import Registry
from kybernetes.api.unknown_fields import find_unknown_fields
from kybernetes.apiserver.rest import RequestContext, ResourceStore, type_schema

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns", "labels": {"a": "b"}},
       "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]},
       "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}}

PATCHES = [
    ({"status": {"phase": "Running", "bogus": 1}}, ["status.bogus"]),
    ({"status": {"conditions": [{"type": "Ready", "status": "True", "junk": "x"}]}}, ["status.conditions[0].junk"]),
    ({"zzz": {"a": 1}, "metadata": {"labels": {"c": "d"}, "nope": True}}, ["metadata.nope", "zzz"]),
    ({"spec": {"containers": [{"name": "c", "image": "j", "extra": {"deep": 1}}]}}, ["spec.containers[0].extra"]),
    ({"status": {"phase": None, "hostIP": "1.2.3.4"}}, []),
    ({"spec": {"nodeName": "n"}, "status": {"podIP": "10.0.0.1", "qosClass": "BestEffort"}}, []),
]


@pytest.mark.parametrize("patch,expected", PATCHES,
                         ids=["status-field", "in-replaced-list", "top-and-metadata", "nested-in-list", "none",
                              "none-nested"])
@pytest.mark.parametrize("validation", ["Warn", "Ignore"])
def test_patched_view_finds_and_prunes_as_a_full_walk(patch: dict, expected: list[str], validation: str) -> None:
    info = Registry().get("", "v1", "pods")
    full = apply_merge_patch(POD, copy.deepcopy(patch))
    assert find_unknown_fields(full, type_schema(info), prune=True) == expected

    rest = ResourceStore.__new__(ResourceStore)
    ctx = RequestContext(field_validation=validation)
    obj = apply_merge_patch(POD, copy.deepcopy(patch))
    rest.check_unknown_fields(info, obj, ctx, changed_by=patch)
    assert obj == full  # the same fields were pruned
    want = [f'unknown field "{p}"' for p in expected] if validation == "Warn" else []
    assert ctx.warnings == want


def test_patched_view_strict_rejects() -> None:
    info = Registry().get("", "v1", "pods")
    rest = ResourceStore.__new__(ResourceStore)
    patch = {"status": {"bogus": 1}}
    with pytest.raises(Exception, match='unknown field "status.bogus"'):
        rest.check_unknown_fields(info, apply_merge_patch(POD, patch), RequestContext(field_validation="Strict"),
                                  changed_by=patch)

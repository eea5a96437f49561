"""Lease, EndpointSlice, PDB, PriorityClass, RBAC, StorageClass validation, and validate()'s dispatch."""

from __future__ import annotations

import pytest

from kybernetes.api.registry import ResourceInfo
from kybernetes.api.validation import validate

from .helpers import DUP, FORB, INV, NS, REQ, check, errors, info

NSM = {"name": "x", "namespace": "default"}


@pytest.mark.parametrize("spec,want", [
    ({"holderIdentity": "a", "leaseDurationSeconds": 15, "leaseTransitions": 0}, []),
    ({"leaseDurationSeconds": 0}, [(INV, "spec.leaseDurationSeconds")]),
    ({"leaseTransitions": -1}, [(INV, "spec.leaseTransitions")]),
], ids=["ok", "duration", "transitions"])
def test_lease(spec: dict, want: list) -> None:
    assert check(("coordination.k8s.io", "leases"), {"metadata": NSM, "spec": spec}) == want


SLICE = ("discovery.k8s.io", "endpointslices")


@pytest.mark.parametrize("body,want", [
    ({"addressType": "IPv4", "endpoints": [{"addresses": ["198.18.0.4"]}], "ports": [{"name": "http", "port": 80}]}, []),
    ({"addressType": "IPv5"}, [(NS, "addressType")]),
    ({}, [(REQ, "addressType")]),
    ({"addressType": "IPv4", "endpoints": [{"addresses": ["::1"]}]}, [(INV, "endpoints[0].addresses[0]")]),
    ({"addressType": "IPv4", "endpoints": [{"addresses": []}]}, [(REQ, "endpoints[0].addresses")]),
    ({"addressType": "FQDN", "ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]}, [(DUP, "ports[1].name")]),
], ids=["ok", "type", "no-type", "v6-in-v4", "no-addresses", "dup-port"])
def test_endpoint_slice(body: dict, want: list) -> None:
    assert check(SLICE, {"metadata": NSM, **body}) == want


def test_endpoint_slice_address_type_immutable() -> None:
    old = {"metadata": {**NSM, "resourceVersion": "1"}, "addressType": "IPv4"}
    assert check(SLICE, {**old, "addressType": "IPv6"}, old) == [(INV, "addressType")]


@pytest.mark.parametrize("spec,want", [
    ({"minAvailable": 2, "selector": {"matchLabels": {"app": "a"}}}, []),
    ({"maxUnavailable": "50%"}, []),
    ({"minAvailable": 1, "maxUnavailable": 1}, [(INV, "spec")]),
    ({"minAvailable": "120%"}, [(INV, "spec.minAvailable")]),
    ({"maxUnavailable": -1}, [(INV, "spec.maxUnavailable")]),
], ids=["min", "max-percent", "both", "over-100", "negative"])
def test_pdb(spec: dict, want: list) -> None:
    assert check(("policy", "poddisruptionbudgets"), {"metadata": NSM, "spec": spec}) == want


PC = ("scheduling.k8s.io", "priorityclasses")


@pytest.mark.parametrize("obj,want", [
    ({"metadata": {"name": "high"}, "value": 1000000, "globalDefault": False}, []),
    ({"metadata": {"name": "high"}, "value": 1000000001}, [(FORB, "value")]),
    ({"metadata": {"name": "system-foo"}, "value": 1}, [(FORB, "metadata.name")]),
    ({"metadata": {"name": "system-node-critical"}, "value": 2000001000}, []),
    ({"metadata": {"name": "low"}, "value": 1, "preemptionPolicy": "Sometimes"}, [(NS, "preemptionPolicy")]),
], ids=["ok", "too-high", "system-prefix", "system-known", "policy"])
def test_priority_class(obj: dict, want: list) -> None:
    assert check(PC, obj) == want


def test_priority_class_value_immutable() -> None:
    old = {"metadata": {"name": "high", "resourceVersion": "1"}, "value": 10, "preemptionPolicy": "PreemptLowerPriority"}
    errs = errors(PC, {**old, "value": 11}, old)
    assert [(e.field, e.detail) for e in errs] == [("value", "may not be changed in an update.")]


RBAC = "rbac.authorization.k8s.io"


@pytest.mark.parametrize("plural,obj,want", [
    ("roles", {"metadata": NSM, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}, []),
    ("roles", {"metadata": NSM, "rules": [{"apiGroups": [""], "resources": ["pods"]}]}, [(REQ, "rules[0].verbs")]),
    ("roles", {"metadata": NSM, "rules": [{"nonResourceURLs": ["/x"], "verbs": ["get"]}]},
     [(INV, "rules[0].nonResourceURLs")]),
    ("clusterroles", {"metadata": {"name": "system:x"}, "rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]}, []),
    ("clusterroles", {"metadata": {"name": "r"}, "rules": [{"verbs": ["get"]}]},
     [(REQ, "rules[0].apiGroups"), (REQ, "rules[0].resources")]),
    ("rolebindings", {"metadata": NSM, "roleRef": {"kind": "Role", "name": "r"},
                      "subjects": [{"kind": "ServiceAccount", "name": "default"}, {"kind": "User", "name": "jane"}]}, []),
    ("rolebindings", {"metadata": NSM, "roleRef": {"kind": "Thing", "name": "r"}}, [(NS, "roleRef.kind")]),
    ("clusterrolebindings", {"metadata": {"name": "b"}, "roleRef": {"kind": "Role", "name": "r"}}, [(NS, "roleRef.kind")]),
    ("clusterrolebindings", {"metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "r"},
                             "subjects": [{"kind": "ServiceAccount", "name": "s"}]}, [(REQ, "subjects[0].namespace")]),
    ("rolebindings", {"metadata": NSM, "roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "Robot", "name": "x"}]},
     [(NS, "subjects[0].kind")]),
], ids=["role", "no-verbs", "ns-urls", "cluster-urls", "no-groups", "binding", "ref-kind", "crb-role",
        "sa-namespace", "subject-kind"])
def test_rbac(plural: str, obj: dict, want: list) -> None:
    assert check((RBAC, plural), obj) == want


def test_role_ref_immutable() -> None:
    old = {"metadata": {**NSM, "resourceVersion": "1"}, "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "a"}}
    new = {**old, "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "b"}}
    assert check((RBAC, "rolebindings"), new, old) == [(INV, "roleRef")]


@pytest.mark.parametrize("obj,want", [
    ({"metadata": {"name": "local"}, "provisioner": "rancher.io/local-path"}, []),
    ({"metadata": {"name": "local"}}, [(REQ, "provisioner")]),
    ({"metadata": {"name": "local"}, "provisioner": "p", "reclaimPolicy": "Recycle"}, [(NS, "reclaimPolicy")]),
], ids=["ok", "no-provisioner", "recycle"])
def test_storage_class(obj: dict, want: list) -> None:
    assert check(("storage.k8s.io", "storageclasses"), obj) == want


def test_unlisted_kinds_get_metadata_checks_only() -> None:
    assert check(("", "limitranges"), {"metadata": NSM, "spec": {"limits": "anything"}}) == []
    assert check(("", "limitranges"), {"metadata": {"name": "Bad", "namespace": "d"}}) == [(INV, "metadata.name")]


def test_crds_are_left_to_apiextensions() -> None:
    i = info("apiextensions.k8s.io", "customresourcedefinitions")
    assert validate(i, {"metadata": {"name": "BAD"}}) == []


def test_custom_resources_get_metadata_checks() -> None:
    cr = ResourceInfo("example.com", "v1", "Widget", "widgets", "widget", True, crd=True)
    errs = validate(cr, {"metadata": {"name": "w_1", "namespace": "d"}, "spec": {"replicas": -1}})
    assert [e.field for e in errs] == ["metadata.name"]


def test_scale_subresource() -> None:
    i = info("apps", "deployments")
    scale = {"metadata": {"name": "d", "namespace": "n", "resourceVersion": "1"}, "spec": {"replicas": -2}}
    assert [e.field for e in validate(i, scale, scale, subresource="scale")] == ["spec.replicas"]


def test_status_subresource_checks_metadata() -> None:
    i = info("apps", "deployments")
    old = {"metadata": {"name": "d", "namespace": "n", "uid": "1", "resourceVersion": "1"}}
    new = {"metadata": {"name": "d", "namespace": "n", "uid": "2", "resourceVersion": "1"}, "status": {"replicas": 1}}
    assert [e.field for e in validate(i, new, old, subresource="status")] == ["metadata.uid"]

"""Audit: policy rules matched as upstream matches them, and the log backend's size rotation."""

from __future__ import annotations

import os

import orjson
import pytest

from kybernetes.apiserver import audit

POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"]},
        {"level": "None", "userGroups": ["system:nodes"], "resources": [{"group": "", "resources": ["events"]}]},
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets", "configmaps/status"]}]},
        {"level": "RequestResponse", "resources": [{"group": "", "resources": ["configmaps"],
                                                    "resourceNames": ["controller-leader"]}]},
        {"level": "Request", "namespaces": ["kube-system"], "resources": [{"group": "apps"}]},
        {"level": "Metadata", "resources": [{"group": "", "resources": ["*/log"]}], "omitStages": ["ResponseStarted"]},
        {"level": "Request", "resources": [{"group": "batch", "resources": ["jobs/*"]}]},
        {"level": "None", "nonResourceURLs": ["/healthz*", "/version"]},
        {"level": "Metadata", "omitManagedFields": True},
    ],
}


def attrs(**kw) -> audit.Attributes:
    base = {"user": "alice", "groups": ("system:authenticated",), "verb": "get", "resource_request": True}
    base.update(kw)
    return audit.Attributes(**base)


@pytest.mark.parametrize("a,level", [
    (attrs(user="system:kube-proxy", verb="watch", resource="endpoints"), "None"),
    (attrs(user="system:kube-proxy", verb="list", resource="endpoints"), "Metadata"),
    (attrs(groups=("system:nodes",), resource="events", verb="create"), "None"),
    (attrs(resource="events", verb="create"), "Metadata"),
    (attrs(resource="secrets", namespace="default", name="s"), "Metadata"),
    (attrs(resource="configmaps", subresource="status"), "Metadata"),
    (attrs(resource="configmaps", name="controller-leader"), "RequestResponse"),
    (attrs(resource="configmaps", name="other"), "Metadata"),
    (attrs(api_group="apps", resource="deployments", namespace="kube-system"), "Request"),
    (attrs(api_group="apps", resource="deployments", namespace="default"), "Metadata"),
    (attrs(resource="pods", subresource="log"), "Metadata"),
    (attrs(api_group="batch", resource="jobs", subresource="status"), "Request"),
    (attrs(api_group="batch", resource="jobs"), "Request"),  # upstream: "jobs/*" covers jobs itself too
    (attrs(resource_request=False, path="/healthz/ping"), "None"),
    (attrs(resource_request=False, path="/version"), "None"),
    (attrs(resource_request=False, path="/versions"), "Metadata"),
    (attrs(resource_request=False, path="/api"), "Metadata"),
], ids=["user+verb", "user-other-verb", "group", "group-not-member", "secrets", "subresource", "resourceName",
        "resourceName-other", "namespace+group", "namespace-other", "*/subresource", "resource/*",
        "resource/*-no-sub", "nonResourceURL-prefix", "nonResourceURL-exact", "nonResourceURL-no-match",
        "catch-all"])
def test_policy_levels(a: audit.Attributes, level: str) -> None:
    assert audit.parse_policy(POLICY).evaluate(a).level == level


def test_stages_and_managed_fields_from_rule_and_policy() -> None:
    p = audit.parse_policy(POLICY)
    log_rule = p.evaluate(attrs(resource="pods", subresource="log"))
    assert log_rule.omit_stages == {"RequestReceived", "ResponseStarted"}
    assert not log_rule.omit_managed_fields
    assert p.evaluate(attrs(resource="nodes")).omit_managed_fields


def test_no_rule_matches_is_none() -> None:
    p = audit.parse_policy({"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                            "rules": [{"level": "Metadata", "users": ["bob"]}]})
    assert p.evaluate(attrs()).level == "None"


@pytest.mark.parametrize("doc,message", [
    ({"apiVersion": "v1", "kind": "Policy"}, "audit.k8s.io/v1"),
    ({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Everything"}]}, "level"),
    ({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "None", "omitStages": ["Done"]}]},
     "unknown stage"),
    ({"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
      "rules": [{"level": "None", "nonResourceURLs": ["/x"], "resources": [{"group": ""}]}]}, "both"),
], ids=["kind", "level", "stage", "resources-and-urls"])
def test_invalid_policies(doc: dict, message: str) -> None:
    with pytest.raises(audit.PolicyError, match=message):
        audit.parse_policy(doc)


def test_backend_rotates_by_size_and_keeps_max_backups(tmp_path) -> None:
    path = str(tmp_path / "audit.log")
    backend = audit.LogBackend(path, max_bytes=1000, max_backups=2)
    for i in range(60):  # ~100 bytes each: about 6 files' worth
        backend.write({"i": i, "pad": "x" * 80})
        if i % 10 == 9:  # distinct rotation timestamps
            import time
            time.sleep(0.002)
    backend.close()
    backups = backend.backups()
    assert len(backups) == 2
    assert os.path.getsize(path) <= 1000
    assert all(os.path.getsize(b) <= 1000 for b in backups)
    lines = [orjson.loads(line) for f in backups + [path] for line in open(f, "rb")]
    assert [ev["i"] for ev in lines] == list(range(60 - len(lines), 60))  # newest kept, in order

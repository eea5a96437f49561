"""Webhook matching: rules (operations, groups, versions, resources, scope) and the two selectors."""

from __future__ import annotations

import pytest

from kybernetes.apiserver.admission.webhook.dispatcher import denied
from kybernetes.apiserver.admission.webhook.rules import resource_matches, rule_matches, webhook_matches

from .helpers import attrs, pod

RULE = {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}


@pytest.mark.parametrize("patterns,resource,sub,want", [
    (["pods"], "pods", "", True), (["pods"], "pods", "status", False), (["pods/status"], "pods", "status", True),
    (["pods/*"], "pods", "status", True), (["pods/*"], "pods", "", False), (["*"], "pods", "", True),
    (["*"], "pods", "status", False), (["*/status"], "nodes", "status", True), (["*/*"], "pods", "exec", True),
    (["services"], "pods", "", False)],
    ids=["plain", "plain-no-sub", "sub", "sub-wild", "sub-wild-main", "star", "star-no-sub", "star-sub", "all",
         "other"])
def test_resource_matches(patterns: list[str], resource: str, sub: str, want: bool) -> None:
    assert resource_matches(patterns, resource, sub) is want


@pytest.mark.parametrize("rule,group,plural,op,want", [
    (RULE, "", "pods", "CREATE", True), (RULE, "", "pods", "UPDATE", False),
    (dict(RULE, operations=["*"]), "", "pods", "DELETE", True),
    (dict(RULE, apiGroups=["apps"], resources=["deployments"]), "apps", "deployments", "CREATE", True),
    (RULE, "apps", "deployments", "CREATE", False),
    (dict(RULE, scope="Cluster"), "", "pods", "CREATE", False),
    (dict(RULE, resources=["*"], scope="Cluster"), "", "nodes", "CREATE", True),
    (dict(RULE, resources=["*"], scope="Namespaced"), "", "nodes", "CREATE", False)],
    ids=["match", "wrong-op", "any-op", "group", "wrong-group", "scope-cluster-miss", "scope-cluster",
         "scope-namespaced-miss"])
def test_rule_matches(rule: dict, group: str, plural: str, op: str, want: bool) -> None:
    obj = {"metadata": {"name": "x"}}
    assert rule_matches(rule, attrs(group, plural, obj, op=op)) is want


@pytest.mark.parametrize("webhook,labels,ns_labels,want", [
    ({"rules": [RULE]}, {}, {}, True),
    ({"rules": [RULE], "objectSelector": {"matchLabels": {"a": "b"}}}, {"a": "b"}, {}, True),
    ({"rules": [RULE], "objectSelector": {"matchLabels": {"a": "b"}}}, {}, {}, False),
    ({"rules": [RULE], "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In",
                                                                    "values": ["prod"]}]}}, {}, {"env": "prod"}, True),
    ({"rules": [RULE], "namespaceSelector": {"matchLabels": {"env": "prod"}}}, {}, {"env": "dev"}, False),
    ({"rules": []}, {}, {}, False)],
    ids=["no-selectors", "object-match", "object-miss", "ns-match", "ns-miss", "no-rules"])
def test_webhook_matches(webhook: dict, labels: dict, ns_labels: dict, want: bool) -> None:
    p = pod()
    p["metadata"]["labels"] = labels
    assert webhook_matches(webhook, attrs("", "pods", p), {"metadata": {"labels": ns_labels}}) is want


@pytest.mark.parametrize("response,code,message", [
    ({"allowed": False, "status": {"message": "no", "code": 403}}, 403, 'admission webhook "w.x" denied the request: no'),
    ({"allowed": False}, 400, 'admission webhook "w.x" denied the request without explanation'),
    ({"allowed": False, "status": {"reason": "Why"}}, 400, 'admission webhook "w.x" denied the request: Why')],
    ids=["message", "bare", "reason"])
def test_denied(response: dict, code: int, message: str) -> None:
    e = denied("w.x", response)
    assert (e.code, e.message) == (code, message)


@pytest.mark.parametrize("port,want", [(443, ("198.18.0.9", 8443)), (80, None)], ids=["resolved", "no-such-port"])
def test_service_resolution(port: int, want: tuple | None) -> None:
    from kybernetes.apiserver.admission.interfaces import PluginContext
    from kybernetes.apiserver.admission.webhook.dispatcher import ValidatingAdmissionWebhook

    from .helpers import FakeCache

    svc = {"metadata": {"name": "hook", "namespace": "sys"},
           "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 8443}]}}
    ep = {"metadata": {"name": "hook", "namespace": "sys"},
          "subsets": [{"addresses": [{"ip": "198.18.0.9"}], "ports": [{"name": "https", "port": 8443}]}]}
    plugin = ValidatingAdmissionWebhook(PluginContext(FakeCache({  # type: ignore[arg-type]
        "/registry/core/services/sys/hook": svc, "/registry/core/endpoints/sys/hook": ep})))
    assert plugin.resolve("sys", "hook", port) == want

"""ValidatingAdmissionPolicy: matching, CEL validations, variables, matchConditions and validation actions."""

from __future__ import annotations

import pytest

from kybernetes.api import errors
from kybernetes.apiserver.admission.interfaces import PluginContext
from kybernetes.apiserver.admission.validatingadmissionpolicy import ValidatingAdmissionPolicy

from .helpers import FakeCache, attrs

RULES = {"resourceRules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"],
                            "resources": ["deployments"]}]}


def deployment(replicas: int, labels: dict | None = None) -> dict:
    return {"metadata": {"name": "d", "namespace": "ns", "labels": labels or {}}, "spec": {"replicas": replicas}}


def plugin(policy_spec: dict, actions: list[str] | None = None, binding_match: dict | None = None) -> ValidatingAdmissionPolicy:
    policy = {"metadata": {"name": "max-replicas"}, "spec": {"matchConstraints": RULES, **policy_spec}}
    bspec: dict = {"policyName": "max-replicas", "validationActions": actions or ["Deny"]}
    if binding_match:
        bspec["matchResources"] = binding_match
    binding = {"metadata": {"name": "b"}, "spec": bspec}
    return ValidatingAdmissionPolicy(PluginContext(FakeCache({
        "/registry/admissionregistration.k8s.io/validatingadmissionpolicies/max-replicas": policy,
        "/registry/admissionregistration.k8s.io/validatingadmissionpolicybindings/b": binding,
        "/registry/core/namespaces/ns": {"metadata": {"name": "ns", "labels": {"env": "prod"}}}})))  # type: ignore[arg-type]


LIMIT = {"validations": [{"expression": "object.spec.replicas <= 5"}]}
CASES = [
    ("within", LIMIT, None, None, deployment(3), None),
    ("denied", LIMIT, None, None, deployment(6),
     (422, "ValidatingAdmissionPolicy 'max-replicas' with binding 'b' denied request: "
           "failed expression: object.spec.replicas <= 5")),
    ("message-and-reason", {"validations": [{"expression": "object.spec.replicas <= 5", "message": "too many",
                                             "reason": "Forbidden"}]}, None, None, deployment(9),
     (403, "ValidatingAdmissionPolicy 'max-replicas' with binding 'b' denied request: too many")),
    ("message-expression", {"validations": [{"expression": "object.spec.replicas <= 5",
                                             "messageExpression": "'replicas ' + string(object.spec.replicas)"}]},
     None, None, deployment(7), (422, "ValidatingAdmissionPolicy 'max-replicas' with binding 'b' denied request: "
                                      "replicas 7")),
    ("variables", {"variables": [{"name": "max", "expression": "2"}],
                   "validations": [{"expression": "object.spec.replicas <= variables.max"}]}, None, None,
     deployment(3), (422, "ValidatingAdmissionPolicy 'max-replicas' with binding 'b' denied request: "
                          "failed expression: object.spec.replicas <= variables.max")),
    ("match-condition-skips", {**LIMIT, "matchConditions": [
        {"name": "labelled", "expression": "'limited' in object.metadata.labels"}]}, None, None, deployment(9), None),
    ("binding-namespace-miss", LIMIT, None, {"namespaceSelector": {"matchLabels": {"env": "dev"}}}, deployment(9), None),
    ("warn-only", LIMIT, ["Warn"], None, deployment(9), None),
    ("error-fails-closed", {"validations": [{"expression": "object.spec.missing > 1"}]}, None, None, deployment(1),
     (422, None)),
    ("error-ignored", {"failurePolicy": "Ignore", "validations": [{"expression": "object.spec.missing > 1"}]}, None,
     None, deployment(1), None),
]


@pytest.mark.parametrize("spec,actions,match,obj,want", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_policy(spec: dict, actions: list | None, match: dict | None, obj: dict, want: tuple | None) -> None:
    p = plugin(spec, actions, match)
    a = attrs("apps", "deployments", obj)
    if want is None:
        await p.validate(a)
        if actions == ["Warn"]:
            assert a.warnings == ["Validation failed for ValidatingAdmissionPolicy 'max-replicas' with binding 'b': "
                                  "failed expression: object.spec.replicas <= 5"]
        return
    with pytest.raises(errors.StatusError) as e:
        await p.validate(a)
    assert e.value.code == want[0]
    if want[1] is not None:
        assert e.value.message == want[1]


async def test_other_resources_untouched() -> None:
    await plugin(LIMIT).validate(attrs("", "configmaps", {"metadata": {"name": "c", "namespace": "ns"}}))

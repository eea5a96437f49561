"""Pod Security levels: which pods each level refuses, with upstream's reasons; enforce versus warn."""

from __future__ import annotations

import pytest

from kybernetes.api import errors
from kybernetes.apiserver.admission.interfaces import PluginContext
from kybernetes.apiserver.admission.podsecurity.admission import PodSecurity, namespace_policy
from kybernetes.apiserver.admission.podsecurity.policy import describe, evaluate

from .helpers import FakeCache, attrs, pod

RESTRICTED_SC = {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
                 "seccompProfile": {"type": "RuntimeDefault"}}


def c(**sc: object) -> dict:
    return {"name": "c", "image": "i", "securityContext": sc}


CASES = [
    ("plain-baseline-ok", "baseline", pod(), []),
    ("hostnetwork", "baseline", pod(hostNetwork=True, hostPID=True), ["host namespaces"]),
    ("privileged", "baseline", pod(c(privileged=True)), ["privileged"]),
    ("net-admin", "baseline", pod(c(capabilities={"add": ["NET_ADMIN"]})), ["non-default capabilities"]),
    ("hostpath", "baseline", pod(volumes=[{"name": "h", "hostPath": {"path": "/"}}]), ["hostPath volumes"]),
    ("hostport", "baseline", pod({"name": "c", "image": "i", "ports": [{"containerPort": 80, "hostPort": 80}]}),
     ["hostPort"]),
    ("unconfined-seccomp", "baseline", pod(securityContext={"seccompProfile": {"type": "Unconfined"}}),
     ["seccompProfile"]),
    ("unsafe-sysctl", "baseline", pod(securityContext={"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}),
     ["forbidden sysctls"]),
    ("plain-restricted", "restricted", pod(),
     ["allowPrivilegeEscalation != false", "runAsNonRoot != true", "seccompProfile", "unrestricted capabilities"]),
    ("restricted-ok", "restricted", pod(c(**RESTRICTED_SC)), []),
    ("restricted-root", "restricted", pod(c(**RESTRICTED_SC, runAsUser=0)), ["runAsUser=0"]),
    ("restricted-hostpath-volume", "restricted", pod(c(**RESTRICTED_SC), volumes=[{"name": "h", "hostPath": {}}]),
     ["hostPath volumes", "restricted volume types"]),
    ("privileged-allows-all", "privileged", pod(c(privileged=True), hostNetwork=True), []),
]


@pytest.mark.parametrize("level,p,reasons", [x[1:] for x in CASES], ids=[x[0] for x in CASES])
def test_levels(level: str, p: dict, reasons: list[str]) -> None:
    assert [v.reason for v in evaluate(level, p["metadata"], p["spec"])] == reasons


def test_restricted_message() -> None:
    p = pod()
    assert describe(evaluate("restricted", p["metadata"], p["spec"])) == (
        'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), '
        'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), '
        'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
        '"Localhost"), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"])')


@pytest.mark.parametrize("labels,mode,want", [
    ({}, "enforce", ("privileged", "latest")),
    ({"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "v1.32"},
     "enforce", ("restricted", "v1.32")),
    ({"pod-security.kubernetes.io/warn": "bogus"}, "warn", ("privileged", "latest")),
], ids=["unset", "set", "invalid"])
def test_namespace_policy(labels: dict, mode: str, want: tuple) -> None:
    assert namespace_policy(labels, mode) == want


def _plugin(labels: dict) -> PodSecurity:
    ns = {"metadata": {"name": "ns", "labels": labels}}
    return PodSecurity(PluginContext(FakeCache({"/registry/core/namespaces/ns": ns})))  # type: ignore[arg-type]


async def test_enforce_refuses_pod() -> None:
    plugin = _plugin({"pod-security.kubernetes.io/enforce": "baseline"})
    with pytest.raises(errors.StatusError) as e:
        await plugin.validate(attrs("", "pods", pod(c(privileged=True))))
    assert (e.value.code, e.value.message) == (403, 'pods "p" is forbidden: violates PodSecurity "baseline:latest": '
                                                    'privileged (container "c" must not set '
                                                    'securityContext.privileged=true)')


async def test_warn_and_workloads_only_warn() -> None:
    plugin = _plugin({"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "restricted"})
    a = attrs("", "pods", pod())
    await plugin.validate(a)
    assert len(a.warnings) == 1 and a.warnings[0].startswith('would violate PodSecurity "restricted:latest": ')
    deploy = {"metadata": {"name": "d", "namespace": "ns"},
              "spec": {"template": {"metadata": {}, "spec": pod(c(privileged=True))["spec"]}}}
    a = attrs("apps", "deployments", deploy)
    await plugin.validate(a)
    assert [w.split(":")[0] for w in a.warnings] == ['would violate PodSecurity "baseline', 'would violate PodSecurity "restricted']

"""The admission plugin flags and NodeRestriction's rules."""

from __future__ import annotations

import pytest

from kybernetes.api import errors
from kybernetes.apiserver.admission.interfaces import PluginContext
from kybernetes.apiserver.admission.noderestriction import NodeRestriction, label_restricted
from kybernetes.apiserver.admission.plugins import enabled_plugins

from .helpers import FakeCache, attrs, pod

DEFAULTS = ["NamespaceLifecycle", "LimitRanger", "ServiceAccount", "PodSecurity", "Priority",
            "DefaultTolerationSeconds", "CertificateApproval", "CertificateSigning", "CertificateSubjectRestriction",
            "MutatingAdmissionWebhook", "ValidatingAdmissionPolicy", "ValidatingAdmissionWebhook",
            "ResourceQuota"]


@pytest.mark.parametrize("enable,disable,want", [
    (None, None, DEFAULTS),
    (["NodeRestriction"], None, DEFAULTS[:3] + ["NodeRestriction"] + DEFAULTS[3:]),
    (None, ["PodSecurity,ResourceQuota"], [n for n in DEFAULTS if n not in ("PodSecurity", "ResourceQuota")])],
    ids=["defaults", "enable", "disable"])
def test_enabled_plugins(enable: list | None, disable: list | None, want: list[str]) -> None:
    assert enabled_plugins(enable, disable) == want


@pytest.mark.parametrize("enable,disable", [(["Nope"], None), (["PodSecurity"], ["PodSecurity"])],
                         ids=["unknown", "overlap"])
def test_enabled_plugins_errors(enable: list, disable: list | None) -> None:
    with pytest.raises(ValueError):
        enabled_plugins(enable, disable)


@pytest.mark.parametrize("key,restricted", [
    ("kubernetes.io/hostname", False), ("node-role.kubernetes.io/control-plane", True),
    ("node-restriction.kubernetes.io/x", True), ("kubelet.kubernetes.io/foo", False), ("example.com/x", False),
    ("topology.kubernetes.io/zone", False)],
    ids=["hostname", "node-role", "node-restriction", "kubelet-prefix", "custom", "zone"])
def test_label_restricted(key: str, restricted: bool) -> None:
    assert label_restricted(key) is restricted


NODE = {"user": "system:node:n1", "groups": ["system:nodes", "system:authenticated"]}
OTHER_POD = dict(pod(name="q"), spec={"nodeName": "n2", "containers": []})
MIRROR = {"metadata": {"name": "m", "namespace": "ns", "annotations": {"kubernetes.io/config.mirror": "h"}},
          "spec": {"nodeName": "n1"}}


@pytest.mark.parametrize("a,allowed", [
    (attrs("", "pods", MIRROR, **NODE), True),
    (attrs("", "pods", pod(), **NODE), False),
    (attrs("", "pods", dict(MIRROR, spec={"nodeName": "n2"}), **NODE), False),
    (attrs("", "pods", OTHER_POD, op="UPDATE", old=OTHER_POD, subresource="status", **NODE), False),
    (attrs("", "pods", MIRROR, op="UPDATE", old=MIRROR, subresource="status", **NODE), True),
    (attrs("", "pods", MIRROR, op="UPDATE", old=MIRROR, **NODE), False),
    (attrs("", "nodes", {"metadata": {"name": "n2"}}, op="UPDATE", old={"metadata": {"name": "n2"}}, **NODE), False),
    (attrs("", "nodes", {"metadata": {"name": "n1", "labels": {"kubernetes.io/os": "linux"}}}, **NODE), True),
    (attrs("", "nodes", {"metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/x": ""}}}, op="UPDATE",
           old={"metadata": {"name": "n1"}}, **NODE), False),
    (attrs("", "pods", pod(), user="alice"), True)],
    ids=["mirror", "not-mirror", "mirror-elsewhere", "other-status", "own-status", "own-spec", "other-node",
         "own-node", "node-role-label", "not-a-node"])
async def test_node_restriction(a, allowed: bool) -> None:
    plugin = NodeRestriction(PluginContext(FakeCache({})))  # type: ignore[arg-type]
    if allowed:
        await plugin.validate(a)
        return
    with pytest.raises(errors.StatusError) as e:
        await plugin.validate(a)
    assert e.value.code == 403

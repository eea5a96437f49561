"""ResourceQuota arithmetic and the plugin's refusals with upstream's messages."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kybernetes.api import errors, quota
from kybernetes.apiserver.admission.interfaces import PluginContext
from kybernetes.apiserver.admission.resourcequota import ResourceQuota, missing_requirements
from kybernetes.api.registry import BUILTIN_RESOURCES

from .helpers import FakeCache, attrs, container, pod

USAGE = [
    ("pod-count", "", "pods", pod(), ["pods"], {"pods": Fraction(1)}),
    ("count-prefix", "", "pods", pod(), ["count/pods"], {"count/pods": Fraction(1)}),
    ("finished-pod-free", "", "pods", dict(pod(), status={"phase": "Succeeded"}), ["pods", "requests.cpu"], {}),
    ("pod-requests", "", "pods", pod(container(requests={"cpu": "250m", "memory": "64Mi"}),
                                     container("d", requests={"cpu": "1"}, limits={"cpu": "2"})),
     ["requests.cpu", "cpu", "requests.memory", "limits.cpu"],
     {"requests.cpu": Fraction(5, 4), "cpu": Fraction(5, 4), "requests.memory": Fraction(64 * 2**20),
      "limits.cpu": Fraction(2)}),
    ("init-max", "", "pods", pod(container(requests={"cpu": "1"}),
                                 initContainers=[container("i", requests={"cpu": "3"})]), ["requests.cpu"],
     {"requests.cpu": Fraction(3)}),
    ("nodeport-service", "", "services", {"spec": {"type": "NodePort", "ports": [{"port": 1}, {"port": 2}]}},
     ["services", "services.nodeports"], {"services": Fraction(1), "services.nodeports": Fraction(2)}),
    ("deployment-count", "apps", "deployments", {}, ["count/deployments.apps", "pods"],
     {"count/deployments.apps": Fraction(1)}),
    ("pvc-storage", "", "persistentvolumeclaims",
     {"spec": {"resources": {"requests": {"storage": "1Gi"}}}}, ["persistentvolumeclaims", "requests.storage"],
     {"persistentvolumeclaims": Fraction(1), "requests.storage": Fraction(2**30)}),
]


@pytest.mark.parametrize("group,plural,obj,names,want", [u[1:] for u in USAGE], ids=[u[0] for u in USAGE])
def test_usage_of(group: str, plural: str, obj: dict, names: list[str], want: dict) -> None:
    assert quota.usage_of(group, plural, obj, names) == want


@pytest.mark.parametrize("name,value,want", [
    ("cpu", Fraction(3, 2), "1500m"), ("cpu", Fraction(2), "2"), ("memory", Fraction(2**30), "1Gi"),
    ("memory", Fraction(1000), "1000"), ("pods", Fraction(3), "3")], ids=["milli", "int", "gi", "plain", "count"])
def test_format_quantity(name: str, value: Fraction, want: str) -> None:
    assert quota.format_quantity(name, value) == want


def test_missing_requirements() -> None:
    p = pod(container(requests={"cpu": "1"}), container("d"))
    assert missing_requirements(p, ["requests.cpu", "limits.memory", "pods"]) == \
        ["limits.memory for: c,d", "requests.cpu for: d"]


def _plugin(objects: dict) -> ResourceQuota:
    return ResourceQuota(PluginContext(FakeCache(objects), {"registry": BUILTIN_RESOURCES}))  # type: ignore[arg-type]


def _quota(hard: dict) -> dict:
    return {"metadata": {"name": "q", "namespace": "ns"}, "spec": {"hard": hard}}


REFUSALS = [
    ("pods-full", {"pods": "1"}, pod(), 'pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, '
                                        'limited: pods=1'),
    ("cpu", {"requests.cpu": "1"}, pod(container(requests={"cpu": "800m"})),
     'pods "p" is forbidden: exceeded quota: q, requested: requests.cpu=800m, used: requests.cpu=500m, '
     'limited: requests.cpu=1'),
    ("must-specify", {"limits.memory": "1Gi"}, pod(container()),
     'pods "p" is forbidden: failed quota: q: must specify limits.memory for: c'),
    ("fits", {"pods": "5", "requests.cpu": "2"}, pod(container(requests={"cpu": "1"})), None),
    ("other-namespace-ignored", {"pods": "1"}, dict(pod(), metadata={"name": "p", "namespace": "other"}), None),
]


@pytest.mark.parametrize("hard,obj,want", [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
async def test_plugin(hard: dict, obj: dict, want: str | None) -> None:
    existing = pod(container(requests={"cpu": "500m"}), name="old")
    plugin = _plugin({"/registry/core/resourcequotas/ns/q": _quota(hard), "/registry/core/pods/ns/old": existing})
    a = attrs("", "pods", obj, namespace=obj["metadata"]["namespace"])
    if want is None:
        await plugin.validate(a)
        return
    with pytest.raises(errors.StatusError) as e:
        await plugin.validate(a)
    assert (e.value.code, e.value.message) == (403, want)

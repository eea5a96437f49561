"""Environment: $(VAR) expansion, downward API values, key references, service links."""

from __future__ import annotations

import base64

import pytest

from kybernetes.kubelet.envvars import (EnvConfigError, expand, field_ref_value, make_environment, mapping_for,
                                        resource_field_value)

VARS = {"A": "a", "B": "b", "EMPTY": ""}


@pytest.mark.parametrize("text,want", [
    ("$(A)", "a"), ("x$(A)y$(B)", "xayb"), ("$(MISSING)", "$(MISSING)"), ("$$(A)", "$(A)"), ("$$", "$"),
    ("$$$(A)", "$a"), ("$A", "$A"), ("$(A", "$(A"), ("trailing$", "trailing$"), ("$()", "$()"),
    ("$(EMPTY)x", "x"), ("no vars", "no vars"),
], ids=["simple", "several", "missing", "escaped", "dollar-dollar", "escape-then-var", "no-parens", "unclosed",
        "trailing", "empty-name", "empty-value", "plain"])
def test_expand(text, want):
    assert expand(text, mapping_for(VARS)) == want


POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"app": "x", "tier": "web"},
                    "annotations": {"note": 'say "hi"'}},
       "spec": {"nodeName": "n1", "serviceAccountName": "sa",
                "containers": [{"name": "c", "resources": {"limits": {"cpu": "500m", "memory": "128Mi"},
                                                          "requests": {"cpu": "250m"}}}]},
       "status": {"podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}], "hostIP": "192.0.2.1"}}


@pytest.mark.parametrize("path,want", [
    ("metadata.name", "p"), ("metadata.namespace", "ns"), ("metadata.uid", "u1"), ("metadata.labels['app']", "x"),
    ("metadata.annotations['note']", 'say "hi"'), ("spec.nodeName", "n1"), ("spec.serviceAccountName", "sa"),
    ("status.podIP", "10.0.0.1"), ("status.podIPs", "10.0.0.1,fd00::1"), ("status.hostIP", "192.0.2.1"),
    ("metadata.labels", 'app="x"\ntier="web"'), ("metadata.annotations", 'note="say \\"hi\\""'),
], ids=lambda v: v if isinstance(v, str) and "." in v and "\n" not in v else None)
def test_field_ref_value(path, want):
    assert field_ref_value(POD, path) == want


@pytest.mark.parametrize("ref,want", [
    ({"resource": "limits.cpu"}, "1"), ({"resource": "limits.cpu", "divisor": "1m"}, "500"),
    ({"resource": "requests.cpu", "divisor": "1m"}, "250"), ({"resource": "limits.memory", "divisor": "1Mi"}, "128"),
    ({"resource": "requests.memory"}, "134217728"), ({"resource": "limits.ephemeral-storage"}, "1000"),
], ids=["cpu-rounds-up", "cpu-milli", "request-cpu", "memory-mi", "request-defaults-to-limit", "limit-from-node"])
def test_resource_field_value(ref, want):
    assert resource_field_value(POD, ref, "c", {"ephemeral-storage": "1000"}) == want


def getter(objects):
    async def get(kind, ns, name):
        return objects.get((kind, name))
    return get


OBJECTS = {("configmaps", "cm"): {"data": {"k": "v", "bad key": "x"}},
           ("secrets", "s"): {"data": {"pw": base64.b64encode(b"pass").decode()}}}


async def test_make_environment_order_and_expansion():
    container = {"name": "c", "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
                 "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
                         {"name": "X", "value": "$(CM_k)-$(PW)-$(SVC_SERVICE_HOST)"}]}
    svc = {"metadata": {"name": "svc", "namespace": "ns"}, "spec": {"clusterIP": "198.19.0.5", "ports": [{"port": 80}]}}
    env, invalid = await make_environment(POD, container, get=getter(OBJECTS), services=[svc])
    assert env["CM_k"] == "v" and env["PW"] == "pass" and env["X"] == "v-pass-198.19.0.5"
    assert invalid == ["CM_bad key"]
    assert env["SVC_PORT"] == "tcp://198.19.0.5:80" and env["SVC_PORT_80_TCP_ADDR"] == "198.19.0.5"


@pytest.mark.parametrize("ref,message", [
    ({"configMapKeyRef": {"name": "nope", "key": "k"}}, 'configmap "nope" not found'),
    ({"configMapKeyRef": {"name": "cm", "key": "zz"}}, "couldn't find key zz in ConfigMap ns/cm"),
    ({"secretKeyRef": {"name": "nope", "key": "k"}}, 'secret "nope" not found'),
    ({"secretKeyRef": {"name": "s", "key": "zz"}}, "couldn't find key zz in Secret ns/s"),
], ids=["configmap-missing", "configmap-key-missing", "secret-missing", "secret-key-missing"])
async def test_missing_references(ref, message):
    container = {"name": "c", "env": [{"name": "V", "valueFrom": ref}]}
    with pytest.raises(EnvConfigError) as err:
        await make_environment(POD, container, get=getter(OBJECTS), services=[])
    assert str(err.value) == message
    optional = {k: {**v, "optional": True} for k, v in ref.items()}
    env, _ = await make_environment(POD, {"name": "c", "env": [{"name": "V", "valueFrom": optional}]},
                                    get=getter(OBJECTS), services=[])
    assert "V" not in env

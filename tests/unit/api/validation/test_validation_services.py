"""Service, ConfigMap, Secret, Namespace, Node, Endpoints and PVC validation."""

from __future__ import annotations

import base64
import copy

import pytest

from .helpers import DUP, FORB, INV, LONG, NS, REQ, check, errors, set_path

SVC = ("", "services")


def svc(**spec) -> dict:
    body = {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"}, "spec": body}


CASES = [
    ("named-targetPort", svc(), []),
    ("nodeport", svc(type="NodePort"), []),
    ("loadbalancer", svc(type="LoadBalancer"), []),
    ("headless-no-ports", svc(clusterIP="None", ports=[]), []),
    ("externalname", {"metadata": {"name": "ext", "namespace": "default"},
                      "spec": {"type": "ExternalName", "externalName": "example.com."}}, []),
    ("name-1035", set_path(svc(), "metadata.name", "1web"), [(INV, "metadata.name")]),
    ("no-ports", svc(ports=[]), [(REQ, "spec.ports")]),
    ("port-range", svc(ports=[{"port": 0}]), [(INV, "spec.ports[0].port"), (INV, "spec.ports[0].targetPort")]),
    ("names-required", svc(ports=[{"port": 80}, {"port": 81}]), [(REQ, "spec.ports[0].name"), (REQ, "spec.ports[1].name")]),
    ("dup-names", svc(ports=[{"name": "a", "port": 80}, {"name": "a", "port": 81}]), [(DUP, "spec.ports[1].name")]),
    ("dup-ports", svc(ports=[{"name": "a", "port": 80}, {"name": "b", "port": 80}]), [(DUP, "spec.ports[1]")]),
    ("protocol", svc(ports=[{"port": 80, "protocol": "ICMP"}]), [(NS, "spec.ports[0].protocol")]),
    ("bad-targetPort", svc(ports=[{"port": 80, "targetPort": "Bad_Name"}]), [(INV, "spec.ports[0].targetPort")]),
    ("type", svc(type="Magic"), [(NS, "spec.type")]),
    ("nodePort-on-clusterip", svc(ports=[{"port": 80, "nodePort": 30001}]), [(FORB, "spec.ports[0].nodePort")]),
    ("etp-on-clusterip", svc(externalTrafficPolicy="Local"), [(INV, "spec.externalTrafficPolicy")]),
    ("headless-nodeport", svc(type="NodePort", clusterIP="None", clusterIPs=["None"]), [(INV, "spec.clusterIPs[0]")]),
    ("externalname-missing", {"metadata": {"name": "ext", "namespace": "default"}, "spec": {"type": "ExternalName"}},
     [(REQ, "spec.externalName")]),
    ("bad-clusterIP", svc(clusterIP="300.1.1.1", clusterIPs=["300.1.1.1"]), [(INV, "spec.clusterIPs[0]")]),
    ("selector-labels", svc(selector={"a": "b c"}), [(INV, "spec.selector")]),
]


@pytest.mark.parametrize("obj,want", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_service_create(obj: dict, want: list) -> None:
    assert check(SVC, obj) == want


def stored_svc(**spec) -> dict:
    obj = svc(**spec)
    obj["metadata"].update(uid="u", resourceVersion="1")
    obj["spec"].update(clusterIP="198.19.0.20", clusterIPs=["198.19.0.20"])
    return obj


@pytest.mark.parametrize("change,want", [
    ({"clusterIP": "198.19.0.21", "clusterIPs": ["198.19.0.21"]}, [(INV, "spec.clusterIPs[0]")]),
    ({"ports": [{"name": "http", "port": 8080}]}, []),
    ({"type": "ExternalName", "externalName": "a.example", "clusterIP": "", "clusterIPs": DELETE_KEY,
      "ipFamilies": DELETE_KEY, "ipFamilyPolicy": DELETE_KEY, "internalTrafficPolicy": DELETE_KEY}, []),
] if (DELETE_KEY := object()) else [], ids=["clusterIP-changed", "ports", "to-externalname"])
def test_service_update(change: dict, want: list) -> None:
    from kybernetes.api.defaults import apply_defaults
    from .helpers import info
    old = stored_svc()
    apply_defaults(info(*SVC), old)
    new = copy.deepcopy(old)
    for k, v in change.items():
        if v is DELETE_KEY:
            new["spec"].pop(k, None)
        else:
            new["spec"][k] = v
    if not new["spec"].get("clusterIP"):
        new["spec"].pop("clusterIP", None)
    assert check(SVC, new, old) == want


CM = ("", "configmaps")


def cm(**body) -> dict:
    return {"metadata": {"name": "c", "namespace": "default", "uid": "u", "resourceVersion": "1"}, **body}


@pytest.mark.parametrize("obj,want", [
    (cm(data={"app.properties": "x", "KEY_1": "y"}), []),
    (cm(data={"bad/key": "x"}), [(INV, "data[bad/key]")]),
    (cm(data={"..": "x"}), [(INV, "data[..]")]),
    (cm(data={"k": "x"}, binaryData={"k": "eA=="}), [(INV, "data[k]")]),
    (cm(data={"k": "x" * (1024 * 1024 + 1)}), [(LONG, "")]),
], ids=["ok", "key", "dotdot", "dup-binary", "too-big"])
def test_config_map(obj: dict, want: list) -> None:
    assert check(CM, obj) == want


def test_immutable_config_map() -> None:
    old = cm(data={"a": "1"}, immutable=True)
    assert check(CM, cm(data={"a": "2"}, immutable=True), old) == [(FORB, "data")]
    assert check(CM, cm(data={"a": "1"}, immutable=False), old) == [(FORB, "immutable")]
    assert check(CM, cm(data={"a": "2"}), cm(data={"a": "1"})) == []
    err = errors(CM, cm(data={"a": "2"}, immutable=True), old)[0]
    assert str(err) == "data: Forbidden: field is immutable when `immutable` is set"


SECRET = ("", "secrets")


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@pytest.mark.parametrize("obj,want", [
    (cm(data={"password": b64("s3cret")}), []),
    (cm(stringData={"password": "s3cret"}), []),
    (cm(type="kubernetes.io/tls", data={"tls.crt": b64("c")}), [(REQ, "data[tls.key]")]),
    (cm(type="kubernetes.io/dockerconfigjson", data={".dockerconfigjson": b64("{}")}), []),
    (cm(type="kubernetes.io/dockerconfigjson", data={".dockerconfigjson": b64("nope")}), [(INV, "data[.dockerconfigjson]")]),
    (cm(type="kubernetes.io/service-account-token"),
     [(REQ, "metadata.annotations[kubernetes.io/service-account.name]")]),
    (cm(data={"k": b64("x" * (1024 * 1024 + 1))}), [(LONG, "data")]),
], ids=["ok", "stringData", "tls", "dockerconfig", "dockerconfig-bad", "sa-token", "too-big"])
def test_secret(obj: dict, want: list) -> None:
    assert check(SECRET, obj) == want


def test_secret_type_immutable() -> None:
    assert check(SECRET, cm(type="kubernetes.io/basic-auth", data={"username": b64("u")}), cm()) == [(INV, "type")]


@pytest.mark.parametrize("obj,want", [
    ({"metadata": {"name": "team-a"}}, []),
    ({"metadata": {"name": "Team"}}, [(INV, "metadata.name")]),
    ({"metadata": {"name": "a", "namespace": "b"}}, [(FORB, "metadata.namespace")]),
    ({"metadata": {"name": "a"}, "spec": {"finalizers": ["bogus"]}}, [(INV, "spec.finalizers")]),
], ids=["ok", "upper", "namespaced", "finalizer"])
def test_namespace(obj: dict, want: list) -> None:
    assert check(("", "namespaces"), obj) == want


@pytest.mark.parametrize("spec,want", [
    ({"podCIDR": "198.18.1.0/24", "podCIDRs": ["198.18.1.0/24"], "taints": [{"key": "k", "effect": "NoSchedule"}]}, []),
    ({"taints": [{"key": "k", "effect": "Sometimes"}]}, [(NS, "metadata.taints[0].effect")]),
    ({"taints": [{"key": "k", "effect": "NoSchedule"}, {"key": "k", "effect": "NoSchedule"}]}, [(DUP, "metadata.taints[1]")]),
    ({"podCIDRs": ["nope"]}, [(INV, "spec.podCIDRs[0]")]),
], ids=["ok", "effect", "dup-taint", "cidr"])
def test_node(spec: dict, want: list) -> None:
    assert check(("", "nodes"), {"metadata": {"name": "node-1"}, "spec": spec}) == want


def test_node_pod_cidr_set_once() -> None:
    old = {"metadata": {"name": "n", "resourceVersion": "1"}, "spec": {"podCIDRs": ["198.18.1.0/24"]}}
    new = {"metadata": {"name": "n", "resourceVersion": "1"}, "spec": {"podCIDRs": ["198.18.2.0/24"]}}
    assert check(("", "nodes"), new, old) == [(FORB, "spec.podCIDRs")]


@pytest.mark.parametrize("subsets,want", [
    ([{"addresses": [{"ip": "198.18.0.5"}], "ports": [{"port": 80}]}], []),
    ([{"addresses": [{"ip": "nope"}], "ports": [{"port": 80}]}], [(INV, "subsets[0].addresses[0].ip")]),
    ([{"ports": [{"port": 80}, {"port": 81}]}], [(REQ, "subsets[0].ports[0].name"), (REQ, "subsets[0].ports[1].name")]),
], ids=["ok", "ip", "names"])
def test_endpoints(subsets: list, want: list) -> None:
    assert check(("", "endpoints"), {"metadata": {"name": "e", "namespace": "d"}, "subsets": subsets}) == want


PVC = ("", "persistentvolumeclaims")


def pvc(**spec) -> dict:
    body = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    body.update(spec)
    return {"metadata": {"name": "data", "namespace": "d", "resourceVersion": "1"}, "spec": body}


@pytest.mark.parametrize("obj,want", [
    (pvc(), []),
    (pvc(accessModes=[]), [(REQ, "spec.accessModes")]),
    (pvc(accessModes=["ReadSometimes"]), [(NS, "spec.accessModes")]),
    (pvc(resources={}), [(REQ, "spec.resources[storage]")]),
], ids=["ok", "no-modes", "bad-mode", "no-storage"])
def test_pvc(obj: dict, want: list) -> None:
    assert check(PVC, obj) == want


def test_pvc_spec_immutable() -> None:
    assert check(PVC, pvc(storageClassName="fast"), pvc()) == [(FORB, "spec")]
    bound = {**pvc(), "status": {"phase": "Bound"}}
    grown = {**pvc(resources={"requests": {"storage": "2Gi"}}), "status": {"phase": "Bound"}}
    assert check(PVC, grown, bound) == []

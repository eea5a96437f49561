"""Pod and PodSpec validation: containers, ports, env, volumes, probes, resources and update immutability."""

from __future__ import annotations

import copy

import pytest

from kybernetes.api.validation import validate
from kybernetes.api.validation.core import POD_UPDATE_FORBIDDEN

from .helpers import DELETE, DUP, FORB, INV, NF, NS, REQ, check, errors, info, set_path

PODS = ("", "pods")


def pod(**spec) -> dict:
    body = {"containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80, "name": "http"}]}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"}, "spec": body}


UPSTREAM_POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": "default", "labels": {"app": "x"}},
    "spec": {
        "serviceAccountName": "default",
        "containers": [{
            "name": "app", "image": "registry.k8s.io/busybox:1.36", "command": ["sh", "-c", "sleep 3600"],
            "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                    {"name": "PLAIN", "value": "x"}],
            "envFrom": [{"configMapRef": {"name": "cfg"}}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
            "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "token", "mountPath": "/var/run/t"}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "initialDelaySeconds": 3},
            "readinessProbe": {"tcpSocket": {"port": "http"}},
            "ports": [{"containerPort": 8080, "name": "http"}],
            "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
        }],
        "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
        "volumes": [{"name": "data", "emptyDir": {}},
                    {"name": "token", "projected": {"sources": [
                        {"serviceAccountToken": {"path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        {"downwardAPI": {"items": [{"path": "namespace",
                                                     "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}}],
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 300}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
    },
}


def test_upstream_shaped_pod_is_valid() -> None:
    assert check(PODS, UPSTREAM_POD) == []


CASES = [
    ("no-containers", pod(containers=[]), [(REQ, "spec.containers")]),
    ("no-image", set_path(pod(), "spec.containers.0.image", ""), [(REQ, "spec.containers[0].image")]),
    ("image-space", set_path(pod(), "spec.containers.0.image", " nginx"), [(INV, "spec.containers[0].image")]),
    ("bad-container-name", set_path(pod(), "spec.containers.0.name", "Web"), [(INV, "spec.containers[0].name")]),
    ("no-container-name", set_path(pod(), "spec.containers.0.name", ""), [(REQ, "spec.containers[0].name")]),
    ("dup-container", pod(containers=[{"name": "a", "image": "i"}, {"name": "a", "image": "i"}]),
     [(DUP, "spec.containers[1].name")]),
    ("dup-with-init", pod(initContainers=[{"name": "web", "image": "i"}]), [(DUP, "spec.initContainers[0].name")]),
    ("port-range", set_path(pod(), "spec.containers.0.ports.0.containerPort", 70000),
     [(INV, "spec.containers[0].ports[0].containerPort")]),
    ("port-zero", set_path(pod(), "spec.containers.0.ports.0.containerPort", 0),
     [(REQ, "spec.containers[0].ports[0].containerPort")]),
    ("port-name", set_path(pod(), "spec.containers.0.ports.0.name", "toolongportname1"),
     [(INV, "spec.containers[0].ports[0].name")]),
    ("port-dup-name", set_path(pod(), "spec.containers.0.ports", [{"containerPort": 1, "name": "a"},
                                                                   {"containerPort": 2, "name": "a"}]),
     [(DUP, "spec.containers[0].ports[1].name")]),
    ("port-protocol", set_path(pod(), "spec.containers.0.ports.0.protocol", "HTTP"),
     [(NS, "spec.containers[0].ports[0].protocol")]),
    ("restartPolicy", pod(restartPolicy="Sometimes"), [(NS, "spec.restartPolicy")]),
    ("dnsPolicy", pod(dnsPolicy="Magic"), [(NS, "spec.dnsPolicy")]),
    ("env-name", set_path(pod(), "spec.containers.0.env", [{"name": "1A", "value": "x"}]),
     [(INV, "spec.containers[0].env[0].name")]),
    ("env-valueFrom-empty", set_path(pod(), "spec.containers.0.env", [{"name": "A", "valueFrom": {}}]),
     [(INV, "spec.containers[0].env[0].valueFrom")]),
    ("env-fieldPath", set_path(pod(), "spec.containers.0.env", [
        {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]),
     [(NS, "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath")]),
    ("requests-over-limits", set_path(pod(), "spec.containers.0.resources",
                                      {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}),
     [(INV, "spec.containers[0].resources.requests")]),
    ("bad-quantity", set_path(pod(), "spec.containers.0.resources", {"limits": {"memory": "lots"}}),
     [(INV, "spec.containers[0].resources.limits[memory]"), (INV, "spec.containers[0].resources.requests[memory]")]),
    ("negative-quantity", set_path(pod(), "spec.containers.0.resources", {"requests": {"cpu": "-1"}}),
     [(INV, "spec.containers[0].resources.requests[cpu]")]),
    ("resource-name", set_path(pod(), "spec.containers.0.resources", {"requests": {"gpu": "1"}}),
     [(INV, "spec.containers[0].resources.requests[gpu]")]),
    ("dup-volume", pod(volumes=[{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]),
     [(DUP, "spec.volumes[1].name")]),
    ("two-sources", pod(volumes=[{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]),
     [(FORB, "spec.volumes[0].hostPath")]),
    ("secret-name", pod(volumes=[{"name": "v", "secret": {}}]), [(REQ, "spec.volumes[0].secret.secretName")]),
    ("defaultMode", pod(volumes=[{"name": "v", "configMap": {"name": "c", "defaultMode": 1000}}]),
     [(INV, "spec.volumes[0].configMap.defaultMode")]),
    ("item-path", pod(volumes=[{"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "../x"}]}}]),
     [(INV, "spec.volumes[0].configMap.items[0].path"), (INV, "spec.volumes[0].configMap.items[0].path")]),
    ("mount-unknown", set_path(pod(), "spec.containers.0.volumeMounts", [{"name": "nope", "mountPath": "/x"}]),
     [(NF, "spec.containers[0].volumeMounts[0].name")]),
    ("mount-dup-path", set_path(pod(volumes=[{"name": "v", "emptyDir": {}}]), "spec.containers.0.volumeMounts",
                                [{"name": "v", "mountPath": "/x"}, {"name": "v", "mountPath": "/x"}]),
     [(INV, "spec.containers[0].volumeMounts[1].mountPath")]),
    ("probe-no-handler", set_path(pod(), "spec.containers.0.livenessProbe", {"periodSeconds": 5}),
     [(REQ, "spec.containers[0].livenessProbe")]),
    ("probe-two-handlers", set_path(pod(), "spec.containers.0.readinessProbe",
                                    {"exec": {"command": ["x"]}, "tcpSocket": {"port": 80}}),
     [(FORB, "spec.containers[0].readinessProbe.tcpSocket")]),
    ("liveness-success", set_path(pod(), "spec.containers.0.livenessProbe",
                                  {"tcpSocket": {"port": 80}, "successThreshold": 2}),
     [(INV, "spec.containers[0].livenessProbe.successThreshold")]),
    ("init-probe", pod(initContainers=[{"name": "i", "image": "i", "livenessProbe": {"exec": {"command": ["x"]}}}]),
     [(FORB, "spec.initContainers[0].livenessProbe")]),
    ("toleration-op", pod(tolerations=[{"key": "k", "operator": "Maybe"}]), [(NS, "spec.tolerations[0].operator")]),
    ("toleration-seconds", pod(tolerations=[{"key": "k", "operator": "Exists", "effect": "NoSchedule",
                                             "tolerationSeconds": 5}]), [(INV, "spec.tolerations[0].effect")]),
    ("activeDeadline", pod(activeDeadlineSeconds=0), [(INV, "spec.activeDeadlineSeconds")]),
    ("nodeSelector", pod(nodeSelector={"a": "b c"}), [(INV, "spec.nodeSelector")]),
    ("sa-token-without-sa", pod(volumes=[{"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}]),
     [(FORB, "spec.volumes[0].projected.sources[0].serviceAccountToken")]),
    ("ephemeral-on-create", pod(ephemeralContainers=[{"name": "dbg", "image": "busybox"}]),
     [(FORB, "spec.ephemeralContainers")]),
]


@pytest.mark.parametrize("obj,want", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_pod_create(obj: dict, want: list) -> None:
    assert check(PODS, obj) == want


def test_pod_messages() -> None:
    errs = errors(PODS, pod(restartPolicy="Sometimes"))
    assert str(errs[0]) == ('spec.restartPolicy: Unsupported value: "Sometimes": supported values: '
                            '"Always", "OnFailure", "Never"')
    errs = errors(PODS, set_path(pod(), "spec.containers.0.resources", {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}))
    assert str(errs[0]) == ('spec.containers[0].resources.requests: Invalid value: "2": '
                            'must be less than or equal to cpu limit of 1')
    errs = errors(PODS, set_path(pod(), "spec.containers.0.ports.0.containerPort", 70000))
    assert errs[0].detail == "must be between 1 and 65535, inclusive"


def test_undefaulted_pod_reports_required_defaults() -> None:
    errs = validate(info(*PODS), pod())
    assert {e.field for e in errs} >= {"spec.terminationGracePeriodSeconds", "spec.dnsPolicy", "spec.restartPolicy",
                                       "spec.containers[0].imagePullPolicy"}


def stored(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    obj["metadata"].update(uid="u1", resourceVersion="1", creationTimestamp="2024-01-01T00:00:00Z")
    return obj


UPDATE_CASES = [
    ("image", lambda o: set_path(o, "spec.containers.0.image", "nginx:1.26"), []),
    ("labels", lambda o: set_path(o, "metadata.labels", {"x": "y"}), []),
    ("activeDeadline-set", lambda o: set_path(o, "spec.activeDeadlineSeconds", 30), []),
    ("toleration-added", lambda o: set_path(o, "spec.tolerations", [{"key": "k", "operator": "Exists"}]), []),
    ("port-change", lambda o: set_path(o, "spec.containers.0.ports.0.containerPort", 81), [(FORB, "spec")]),
    ("restartPolicy", lambda o: set_path(o, "spec.restartPolicy", "Never"), [(FORB, "spec")]),
    ("add-container", lambda o: set_path(o, "spec.containers", o["spec"]["containers"] + [{"name": "b", "image": "i"}]),
     [(FORB, "spec.containers")]),
    ("image-cleared", lambda o: set_path(o, "spec.containers.0.image", ""), [(REQ, "spec.containers[0].image")] * 2),
]


@pytest.mark.parametrize("mutate,want", [c[1:] for c in UPDATE_CASES], ids=[c[0] for c in UPDATE_CASES])
def test_pod_update(mutate, want: list) -> None:
    old = _defaulted(stored(pod()))
    assert check(PODS, mutate(old), old) == want


def test_pod_update_message() -> None:
    old = stored(pod())
    errs = errors(PODS, set_path(old, "spec.restartPolicy", "Never"), _defaulted(old))
    assert errs[0].field == "spec" and errs[0].detail == POD_UPDATE_FORBIDDEN
    assert errs[0].detail.startswith("pod updates may not change fields other than `spec.containers[*].image`,")


def _defaulted(obj: dict) -> dict:
    from kybernetes.api.defaults import apply_defaults
    obj = copy.deepcopy(obj)
    apply_defaults(info(*PODS), obj)
    return obj


def test_pod_activeDeadline_may_only_shrink() -> None:
    old = stored(pod(activeDeadlineSeconds=10))
    assert check(PODS, set_path(old, "spec.activeDeadlineSeconds", 20), old) == [(INV, "spec.activeDeadlineSeconds")]
    assert check(PODS, set_path(old, "spec.activeDeadlineSeconds", DELETE), old) == [(INV, "spec.activeDeadlineSeconds")]


def test_pod_status_update_checks_only_status_and_meta() -> None:
    old = _defaulted(stored(pod()))
    new = set_path(old, "status", {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})
    assert validate(info(*PODS), new, old, subresource="status") == []
    moved = set_path(new, "spec.nodeName", "n2")
    assert [e.field for e in validate(info(*PODS), moved, old, subresource="status")] == ["status.nodeName"]

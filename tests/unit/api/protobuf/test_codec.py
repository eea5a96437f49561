"""JSON -> protobuf -> JSON round trips for realistic objects, and decoding of hand-built wire bytes."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kybernetes.api.errors import StatusError
from kybernetes.api.protobuf import codec, decode_object, encode_object, is_protobuf, schema_data, table
from kybernetes.api.protobuf.codec import go_duration, parse_go_duration
from kybernetes.api.protobuf.envelope import decode_watch_event, encode_watch_event, unwrap, wrap
from kybernetes.api.protobuf.wire import Writer

META = {"name": "x", "namespace": "default", "uid": "7d1c4c2e-5b3e-4f57-9a4e-0c2b1a1d0e01",
        "resourceVersion": "42", "generation": 3, "creationTimestamp": "2024-01-01T00:00:00Z",
        "labels": {"app": "x", "tier": "web"}, "annotations": {"note": "hello"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x-1", "uid": "u1",
                             "controller": True, "blockOwnerDeletion": False}],
        "finalizers": ["example.com/f"],
        "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                           "time": "2024-01-01T00:00:01Z", "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}}]}

POD_SPEC: dict[str, Any] = {
    "containers": [{
        "name": "web", "image": "nginx:1.27", "command": ["nginx"], "args": ["-g", "daemon off;"],
        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
        "env": [{"name": "A", "value": "1"},
                {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                          "initialDelaySeconds": 3, "periodSeconds": 10},
        "readinessProbe": {"tcpSocket": {"port": 80}, "terminationGracePeriodSeconds": 0},
        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
        "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
        "securityContext": {"runAsNonRoot": False, "runAsUser": 0, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
        "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
    }],
    "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420, "optional": False}},
                {"name": "proj", "projected": {"sources": [{"serviceAccountToken": {"path": "token",
                                                                                   "expirationSeconds": 3600}}]}}],
    "restartPolicy": "Always", "terminationGracePeriodSeconds": 0, "dnsPolicy": "ClusterFirst",
    "nodeSelector": {"kubernetes.io/os": "linux"}, "serviceAccountName": "default",
    "automountServiceAccountToken": False, "enableServiceLinks": False, "priority": 0,
    "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                     "tolerationSeconds": 300}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}},
    "securityContext": {"fsGroup": 2000, "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]},
    "hostNetwork": True, "overhead": {"cpu": "10m"},
}

CASES = [
    pytest.param({"apiVersion": "v1", "kind": "Pod", "metadata": META, "spec": POD_SPEC,
                  "status": {"phase": "Running", "podIP": "198.18.0.5", "podIPs": [{"ip": "198.18.0.5"}],
                             "startTime": "2024-01-01T00:00:02Z", "qosClass": "Burstable",
                             "conditions": [{"type": "Ready", "status": "True",
                                             "lastTransitionTime": "2024-01-01T00:00:03Z"}],
                             "containerStatuses": [{"name": "web", "ready": True, "restartCount": 0,
                                                    "image": "nginx:1.27", "imageID": "", "started": True,
                                                    "state": {"running": {"startedAt": "2024-01-01T00:00:02Z"}},
                                                    "lastState": {}}]}}, id="pod"),
    pytest.param({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "ns"},
                  "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "d"}},
                           "template": {"metadata": {"labels": {"app": "d"}},
                                        "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {}}]}},
                           "strategy": {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
                           "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
                  "status": {"observedGeneration": 1, "replicas": 1,
                             "conditions": [{"type": "Available", "status": "True",
                                             "lastUpdateTime": "2024-01-01T00:00:00Z",
                                             "lastTransitionTime": "2024-01-01T00:00:00Z",
                                             "reason": "MinimumReplicasAvailable", "message": "ok"}]}},
                 id="deployment"),
    pytest.param({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                  "spec": {"type": "NodePort", "selector": {"app": "s"}, "clusterIP": "198.19.0.10",
                           "clusterIPs": ["198.19.0.10"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                           "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http",
                                      "nodePort": 30080},
                                     {"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 5353}],
                           "sessionAffinity": "ClientIP",
                           "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
                           "internalTrafficPolicy": "Cluster"},
                  "status": {"loadBalancer": {}}}, id="service"),
    pytest.param({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "immutable": False,
                  "data": {"a": "b", "empty": ""},
                  "binaryData": {"bin": base64.b64encode(b"\x00\x01\xff").decode()}}, id="configmap"),
    pytest.param({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque",
                  "data": {"k": base64.b64encode(b"v").decode(), "e": ""}, "stringData": {"x": "y"}}, id="secret"),
    pytest.param({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"},
                  "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}, id="namespace"),
    pytest.param({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
                  "spec": {"backoffLimit": 0, "suspend": False, "completions": 1, "parallelism": 1,
                           "ttlSecondsAfterFinished": 0, "completionMode": "NonIndexed",
                           "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {
                               "operator": "In", "values": [1, 2]}}]},
                           "template": {"metadata": {}, "spec": {"restartPolicy": "Never", "containers": [
                               {"name": "j", "image": "busybox", "resources": {}}]}}},
                  "status": {"active": 1, "startTime": "2024-01-01T00:00:00Z"}}, id="job"),
    pytest.param({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj"},
                  "spec": {"schedule": "*/1 * * * *", "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid",
                           "startingDeadlineSeconds": 0, "successfulJobsHistoryLimit": 3,
                           "jobTemplate": {"metadata": {"name": "cj"}, "spec": {"template": {
                               "metadata": {}, "spec": {"restartPolicy": "OnFailure", "containers": [
                                   {"name": "cj", "image": "busybox", "resources": {}}]}}}}},
                  "status": {"lastScheduleTime": "2024-01-01T00:01:00Z"}}, id="cronjob"),
    pytest.param({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
                  "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40,
                           "acquireTime": "2024-01-01T00:00:00.000000Z", "renewTime": "2024-01-01T00:00:10.123456Z",
                           "leaseTransitions": 0}}, id="lease-microtime"),
    pytest.param({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e.1"},
                  "involvedObject": {"kind": "Pod", "namespace": "default", "name": "p", "uid": "u"},
                  "reason": "Scheduled", "message": "assigned", "source": {"component": "scheduler"},
                  "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:00:00Z", "count": 1,
                  "type": "Normal", "eventTime": "2024-01-01T00:00:00.500000Z", "reportingComponent": "s",
                  "reportingInstance": "i"}, id="core-event"),
    pytest.param({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e.2"},
                  "eventTime": "2024-01-01T00:00:00.000001Z", "series": {"count": 2,
                                                                         "lastObservedTime": "2024-01-01T00:00:05.000000Z"},
                  "reportingController": "c", "reportingInstance": "i", "action": "Bind", "reason": "R",
                  "regarding": {"kind": "Pod", "name": "p"}, "type": "Normal"}, id="events-event"),
    pytest.param({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                  "metadata": {"name": "widgets.example.com"},
                  "spec": {"group": "example.com", "scope": "Namespaced",
                           "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                                     "listKind": "WidgetList", "shortNames": ["wd"]},
                           "versions": [{"name": "v1", "served": True, "storage": True,
                                         "subresources": {"status": {}, "scale": {
                                             "specReplicasPath": ".spec.replicas",
                                             "statusReplicasPath": ".status.replicas"}},
                                         "additionalPrinterColumns": [{"name": "Size", "type": "integer",
                                                                       "jsonPath": ".spec.size"}],
                                         "selectableFields": [{"jsonPath": ".spec.color"}],
                                         "schema": {"openAPIV3Schema": {
                                             "type": "object",
                                             "x-kubernetes-validations": [{
                                                 "rule": "self.spec.size >= 0", "messageExpression": "'bad'",
                                                 "reason": "FieldValueInvalid", "fieldPath": ".spec.size",
                                                 "optionalOldSelf": False}],
                                             "properties": {
                                                 "spec": {"type": "object", "required": ["size"], "properties": {
                                                     "size": {"type": "integer", "minimum": 0, "maximum": 10.5,
                                                              "default": 1},
                                                     "color": {"type": "string", "enum": ["red", "blue"]},
                                                     "tags": {"type": "array", "items": {"type": "string"},
                                                              "x-kubernetes-list-type": "set"},
                                                     "labels": {"type": "object",
                                                                "additionalProperties": {"type": "string"}},
                                                     "free": {"type": "object", "additionalProperties": False,
                                                              "x-kubernetes-preserve-unknown-fields": True},
                                                     "port": {"x-kubernetes-int-or-string": True,
                                                              "anyOf": [{"type": "integer"}, {"type": "string"}]},
                                                 }},
                                                 "status": {"type": "object",
                                                            "x-kubernetes-preserve-unknown-fields": False}}}}}],
                           "conversion": {"strategy": "None"}},
                  "status": {"storedVersions": ["v1"], "acceptedNames": {"plural": "widgets", "kind": "Widget"},
                             "conditions": [{"type": "Established", "status": "True",
                                             "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}, id="crd"),
    pytest.param({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "r"},
                  "revision": 2, "data": {"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}},
                 id="controllerrevision-rawextension"),
    pytest.param({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                  "metadata": {"name": "csr"},
                  "spec": {"request": base64.b64encode(b"-----BEGIN CERTIFICATE REQUEST-----").decode(),
                           "signerName": "kubernetes.io/kube-apiserver-client", "expirationSeconds": 86400,
                           "usages": ["client auth"], "username": "alice", "groups": ["devs"],
                           "extra": {"scopes": ["a", "b"]}},
                  "status": {"conditions": [{"type": "Approved", "status": "True", "reason": "KubectlApprove",
                                             "message": "ok", "lastUpdateTime": "2024-01-01T00:00:00Z"}],
                             "certificate": base64.b64encode(b"cert").decode()}}, id="csr"),
    pytest.param({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {"name": "sa"},
                  "spec": {"audiences": ["api"], "expirationSeconds": 3600,
                           "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "u"}},
                  "status": {"token": "t", "expirationTimestamp": "2024-01-01T01:00:00Z"}}, id="tokenrequest"),
    pytest.param({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "metadata": {},
                  "spec": {"user": "alice", "groups": ["g"], "extra": {"k": ["v"]},
                           "resourceAttributes": {"namespace": "ns", "verb": "get", "resource": "pods",
                                                  "fieldSelector": {"rawSelector": "spec.nodeName=n"}}},
                  "status": {"allowed": False, "reason": "no"}}, id="subjectaccessreview"),
    pytest.param({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "metadata": {},
                  "status": {"userInfo": {"username": "u", "uid": "1", "groups": ["g"],
                                          "extra": {"a": ["b"]}}}}, id="selfsubjectreview"),
    pytest.param({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p", "namespace": "ns"},
                  "deleteOptions": {"gracePeriodSeconds": 0, "propagationPolicy": "Background",
                                    "preconditions": {"uid": "u"}, "dryRun": ["All"]}}, id="eviction"),
    pytest.param({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                  "orphanDependents": False}, id="deleteoptions"),
    pytest.param({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                  "message": "pods \"p\" not found", "reason": "NotFound",
                  "details": {"name": "p", "kind": "pods", "causes": [{"reason": "FieldValueInvalid",
                                                                       "field": "spec"}]}, "code": 404},
                 id="status"),
    pytest.param({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "d"},
                  "spec": {"replicas": 2}, "status": {"replicas": 3, "selector": "app=d"}}, id="scale"),
    pytest.param({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "pdb"},
                  "spec": {"minAvailable": "50%", "selector": {"matchExpressions": [
                      {"key": "app", "operator": "Exists"}]}, "unhealthyPodEvictionPolicy": "AlwaysAllow"},
                  "status": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0,
                             "disruptedPods": {"p": "2024-01-01T00:00:00Z"}}}, id="pdb"),
    pytest.param({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cr"},
                  "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
                            {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
                  "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}}, id="clusterrole"),
    pytest.param({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "pc"},
                  "value": -5, "globalDefault": True, "preemptionPolicy": "Never"}, id="priorityclass-negative"),
    pytest.param({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "sc"},
                  "provisioner": "example.com/p", "parameters": {"type": "ssd"}, "reclaimPolicy": "Delete",
                  "allowVolumeExpansion": False, "volumeBindingMode": "WaitForFirstConsumer"}, id="storageclass"),
    pytest.param({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "es"},
                  "addressType": "IPv4",
                  "endpoints": [{"addresses": ["198.18.0.5"], "conditions": {"ready": False, "serving": True},
                                 "targetRef": {"kind": "Pod", "name": "p"}, "nodeName": "n"}],
                  "ports": [{"name": "", "port": 80, "protocol": "TCP"}]}, id="endpointslice"),
    pytest.param({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
                  "spec": {"podCIDR": "198.18.1.0/24", "podCIDRs": ["198.18.1.0/24"], "unschedulable": True,
                           "taints": [{"key": "k", "effect": "NoSchedule"}]},
                  "status": {"capacity": {"cpu": "2", "memory": "24Gi", "pods": "110"},
                             "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                             "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                             "nodeInfo": {"machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "k",
                                          "osImage": "o", "containerRuntimeVersion": "c", "kubeletVersion": "v",
                                          "kubeProxyVersion": "", "operatingSystem": "linux",
                                          "architecture": "amd64"}}}, id="node"),
    pytest.param({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "7", "continue": "c"},
                  "items": [{"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i",
                                                                                  "resources": {}}]},
                             "status": {}}]}, id="podlist"),
]


@pytest.mark.parametrize("obj", CASES)
def test_round_trip(obj: dict[str, Any]) -> None:
    body = encode_object(obj)
    assert body.startswith(b"k8s\x00")
    assert decode_object(body) == obj


def test_decoded_object_names_kind_and_version_first() -> None:
    obj = decode_object(encode_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}))
    assert list(obj)[:2] == ["kind", "apiVersion"]


# --------------------------------------------------------------------------- wire bytes as Go's encoder writes


def message(*fields: tuple[int, Any]) -> bytes:
    """A message from (number, value): int -> varint, bytes -> length-delimited."""
    w = Writer()
    for number, value in fields:
        if isinstance(value, int):
            w.field_varint(number, value)
        else:
            w.field_bytes(number, value)
    return w.getvalue()


def test_go_written_zero_values_follow_omitempty_and_pointers() -> None:
    # gogo writes every non-pointer scalar, zero or not, and every non-pointer struct
    spec = message((1, 0), (2, b""), (3, message((1, b""), (2, b""))), (5, 0), (7, 0))
    meta = message((1, b"d"), (2, b""), (3, b""), (7, 0), (8, b""))
    body = wrap("apps/v1", "Deployment", message((1, meta), (2, spec), (3, message())))
    assert decode_object(body) == {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "d"},
                                   "spec": {"replicas": 0, "selector": {},
                                            "template": {"metadata": {}, "spec": {}}},
                                   "status": {}}


def test_scale_replicas_zero_is_left_out_as_go_json_does() -> None:
    # autoscaling/v1 ScaleSpec.replicas is a plain int32 with omitempty: a reader must take absent as 0
    body = wrap("autoscaling/v1", "Scale", message((1, message((1, b"d"))), (2, message((1, 0)))))
    assert decode_object(body)["spec"] == {}


def test_non_omitempty_zero_values_stay() -> None:
    port = message((1, b""), (2, 0), (3, 0), (4, b"TCP"))
    pod_spec = message((2, message((1, b"c"), (6, port))))
    body = wrap("v1", "Pod", message((1, message((1, b"p"))), (2, pod_spec)))
    assert decode_object(body)["spec"] == {"containers": [{"name": "c", "ports": [{"containerPort": 0,
                                                                                   "protocol": "TCP"}]}]}


@pytest.mark.parametrize(("int_or_string", "expected"), [
    pytest.param(message((1, 0), (2, 0), (3, b"")), None, id="zero-int-is-unset"),
    pytest.param(message((1, 0), (2, 8080), (3, b"")), 8080, id="int"),
    pytest.param(message((1, 1), (2, 0), (3, b"http")), "http", id="string"),
])
def test_service_target_port(int_or_string: bytes, expected: Any) -> None:
    port = message((3, 80), (4, int_or_string))
    body = wrap("v1", "Service", message((1, message((1, b"s"))), (2, message((1, port)))))
    assert decode_object(body)["spec"]["ports"][0].get("targetPort") == expected


def test_pointer_int_or_string_zero_stays() -> None:
    spec = message((3, message((1, 0), (2, 0))))  # PDB maxUnavailable: *IntOrString
    body = wrap("policy/v1", "PodDisruptionBudget", message((1, message((1, b"p"))), (2, spec)))
    assert decode_object(body)["spec"] == {"maxUnavailable": 0}


def test_negative_int32_and_packed_repeated_and_unknown_fields() -> None:
    exit_codes = Writer()
    for code in (1, 2, 300):
        exit_codes.varint(code)
    requirement = message((2, b"In"), (3, exit_codes.getvalue()))
    rule = message((1, b"FailJob"), (2, requirement))
    job_spec = message((11, message((1, rule))), (99, b"from the future"))
    pc = wrap("scheduling.k8s.io/v1", "PriorityClass", message((1, message((1, b"pc"))), (2, -5)))
    assert decode_object(pc)["value"] == -5
    job = decode_object(wrap("batch/v1", "Job", message((1, message((1, b"j"))), (2, job_spec))))
    assert job["spec"] == {"podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {
        "operator": "In", "values": [1, 2, 300]}}]}}


def test_time_seconds_zero_is_the_epoch_not_unset() -> None:
    meta = message((1, b"c"), (8, message((1, 0))))
    assert decode_object(wrap("v1", "ConfigMap", message((1, meta))))["metadata"] == {
        "name": "c", "creationTimestamp": "1970-01-01T00:00:00Z"}


@pytest.mark.parametrize(("body", "code"), [
    pytest.param(b'{"kind": "Pod"}', 400, id="json-not-protobuf"),
    pytest.param(b"k8s\x00\x0a\xff", 400, id="truncated-envelope"),
    pytest.param(wrap("v1", "ConfigMap", b"\x0a\x05ab"), 400, id="truncated-message"),
    pytest.param(wrap("v1", "ConfigMap", message((1, 5))), 400, id="wrong-wire-type"),
    pytest.param(wrap("v1", "", b""), 400, id="no-kind"),
    pytest.param(wrap("example.com/v1", "Widget", b""), 415, id="unknown-kind"),
    pytest.param(wrap("apps/v1", "ControllerRevision", message((3, message((1, b"{nope"))))), 400,
                 id="bad-embedded-json"),
])
def test_malformed_bodies_are_status_errors(body: bytes, code: int) -> None:
    with pytest.raises(StatusError) as err:
        decode_object(body)
    assert err.value.code == code


def test_envelope_layout_matches_upstream() -> None:
    body = encode_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})
    assert body == b"k8s\x00" + message((1, message((1, b"v1"), (2, b"Namespace"))),
                                        (2, message((1, message((1, b"n"))))), (3, b""), (4, b""))
    assert unwrap(body) == ("v1", "Namespace", message((1, message((1, b"n")))), "")


@pytest.mark.parametrize(("obj", "error"), [
    pytest.param({"apiVersion": "example.com/v1", "kind": "Widget"}, KeyError, id="unknown-kind"),
    pytest.param({"kind": "Pod"}, KeyError, id="no-api-version"),
    pytest.param({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": "nope"}}, ValueError, id="bad-array"),
    pytest.param({"apiVersion": "v1", "kind": "Secret", "data": {"k": "not base64!"}}, ValueError,
                 id="bad-base64"),
    pytest.param({"apiVersion": "v1", "kind": "Pod", "metadata": {"creationTimestamp": "yesterday"}}, ValueError,
                 id="bad-time"),
])
def test_encode_errors(obj: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        encode_object(obj)


@pytest.mark.parametrize(("ns", "text"), [
    (0, "0s"), (1, "1ns"), (1500, "1.5µs"), (2_000_000, "2ms"), (1_500_000_000, "1.5s"), (90 * 10**9, "1m30s"),
    (3600 * 10**9, "1h0m0s"), (-(5 * 10**9), "-5s"), ((26 * 3600 + 3) * 10**9 + 10**8, "26h0m3.1s"),
])
def test_go_duration(ns: int, text: str) -> None:
    assert go_duration(ns) == text
    assert parse_go_duration(text) == ns


@pytest.mark.parametrize(("content_type", "expected"), [
    ("application/vnd.kubernetes.protobuf", True),
    ("application/vnd.kubernetes.protobuf; charset=utf-8", True),
    ("Application/VND.Kubernetes.Protobuf", True),
    ("application/vnd.kubernetes.protobuf;stream=watch", True),
    ("application/json", False),
    ("", False),
    (None, False),
])
def test_is_protobuf(content_type: str | None, expected: bool) -> None:
    assert is_protobuf(content_type) is expected


@pytest.mark.parametrize(("event_type", "obj"), [
    pytest.param("ADDED", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c",
                                                                               "resourceVersion": "5"}}, id="added"),
    pytest.param("ERROR", {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                           "reason": "Expired", "code": 410}, id="error"),
])
def test_watch_event_frames(event_type: str, obj: dict[str, Any]) -> None:
    frame = encode_watch_event(event_type, obj)
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert decode_watch_event(frame) == (event_type, obj)


# ------------------------------------------------------------------- every kind, every field, synthetic values

SPECIAL_SAMPLES = {
    codec.TIME: "2024-01-02T03:04:05Z", codec.MICRO_TIME: "2024-01-02T03:04:05.000006Z",
    codec.DURATION: "1m30s", codec.QUANTITY: "1Gi", codec.INT_OR_STRING: "50%",
    codec.RAW_EXTENSION: {"a": [1, "b"]}, codec.FIELDS_V1: {"f:a": {}}, codec.JSON: {"x": None},
    codec.PROPS_OR_ARRAY: {"type": "string"}, codec.PROPS_OR_BOOL: True, codec.PROPS_OR_STRINGS: ["a", "b"],
}
SCALAR_SAMPLES = {"string": "s", "bytes": base64.b64encode(b"\x00\xff").decode(), "bool": True, "int32": -7,
                  "int64": 1 << 40, "double": 1.5, "float": 0.5, "uint32": 7, "uint64": 7}


def sample(name: str, depth: int = 0) -> Any:
    """An object of that message with every field set, down to a depth."""
    if name in SPECIAL_SAMPLES:
        return SPECIAL_SAMPLES[name]
    if name.endswith(".Verbs") or name.endswith(".ExtraValue"):
        return ["a"]
    out: dict[str, Any] = {}
    if depth > 5:
        return out
    for f in table.message(name).fields:
        if f.inline:
            out.update(sample(f.ref, depth + 1))
            continue
        if f.type == "map":
            value = sample(f.ref, depth + 1) if f.value_type == "message" else SCALAR_SAMPLES[f.value_type]
            out[f.name] = {"k": value}
            continue
        value = sample(f.ref, depth + 1) if f.type == "message" else SCALAR_SAMPLES[f.type]
        out[f.name] = [value] if f.repeated else value
    return out


@pytest.mark.parametrize("kind", sorted(schema_data.KINDS), ids=str)
def test_every_kind_round_trips_with_every_field_set(kind: str) -> None:
    api_version, _, kind_name = kind.rpartition("/")
    obj = {"kind": kind_name, "apiVersion": api_version, **sample(schema_data.KINDS[kind])}
    assert decode_object(encode_object(obj)) == obj

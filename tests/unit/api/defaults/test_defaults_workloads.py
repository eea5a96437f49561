"""apply_defaults for pods, pod templates inside workloads, services and the other built-in kinds."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kybernetes.api.defaults import apply_defaults, generate_job_selector, job_selector_labels, set_pod_priority
from kybernetes.api.registry import Registry

REG = Registry()


def info(group: str, plural: str):
    return REG.get(group, "v1", plural)


def at(obj: Any, path: str) -> Any:
    """obj at a dotted path with [i] indexes, e.g. 'spec.containers[0].image'."""
    for part in path.replace("[", ".[").split("."):
        if part.startswith("["):
            obj = obj[int(part[1:-1])]
        else:
            obj = obj[part]
    return obj


def pod(**spec: Any) -> dict:
    body = {"containers": [{"name": "c", "image": "nginx"}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": body}


def template(**spec: Any) -> dict:
    body = {"containers": [{"name": "c", "image": "nginx:1.25"}]}
    body.update(spec)
    return {"metadata": {"labels": {"app": "a"}}, "spec": body}


POD_CASES = [
    ("restartPolicy", pod(), "spec.restartPolicy", "Always"),
    ("dnsPolicy", pod(), "spec.dnsPolicy", "ClusterFirst"),
    ("grace", pod(), "spec.terminationGracePeriodSeconds", 30),
    ("scheduler", pod(), "spec.schedulerName", "default-scheduler"),
    ("securityContext", pod(), "spec.securityContext", {}),
    ("serviceLinks", pod(), "spec.enableServiceLinks", True),
    ("pull-no-tag", pod(), "spec.containers[0].imagePullPolicy", "Always"),
    ("pull-latest", pod(containers=[{"name": "c", "image": "nginx:latest"}]), "spec.containers[0].imagePullPolicy", "Always"),
    ("pull-tag", pod(containers=[{"name": "c", "image": "nginx:1.25"}]), "spec.containers[0].imagePullPolicy", "IfNotPresent"),
    ("pull-registry-port", pod(containers=[{"name": "c", "image": "localhost:5000/app"}]),
     "spec.containers[0].imagePullPolicy", "Always"),
    ("pull-digest", pod(containers=[{"name": "c", "image": "nginx@sha256:" + "a" * 64}]),
     "spec.containers[0].imagePullPolicy", "IfNotPresent"),
    ("pull-kept", pod(containers=[{"name": "c", "image": "nginx", "imagePullPolicy": "Never"}]),
     "spec.containers[0].imagePullPolicy", "Never"),
    ("termPath", pod(), "spec.containers[0].terminationMessagePath", "/dev/termination-log"),
    ("termPolicy", pod(), "spec.containers[0].terminationMessagePolicy", "File"),
    ("resources", pod(), "spec.containers[0].resources", {}),
    ("port-protocol", pod(containers=[{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]),
     "spec.containers[0].ports[0].protocol", "TCP"),
    ("requests-from-limits", pod(containers=[{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1"}}}]),
     "spec.containers[0].resources.requests", {"cpu": "1"}),
    ("probe", pod(containers=[{"name": "c", "image": "i", "livenessProbe": {"httpGet": {"port": 80}}}]),
     "spec.containers[0].livenessProbe",
     {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10,
      "successThreshold": 1, "failureThreshold": 3}),
    ("grpc-service", pod(containers=[{"name": "c", "image": "i", "readinessProbe": {"grpc": {"port": 9}}}]),
     "spec.containers[0].readinessProbe.grpc", {"port": 9, "service": ""}),
    ("env-fieldRef", pod(containers=[{"name": "c", "image": "i", "env": [
        {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}]),
     "spec.containers[0].env[0].valueFrom.fieldRef.apiVersion", "v1"),
    ("secret-mode", pod(volumes=[{"name": "s", "secret": {"secretName": "x"}}]), "spec.volumes[0].secret.defaultMode", 420),
    ("configMap-mode", pod(volumes=[{"name": "s", "configMap": {"name": "x"}}]), "spec.volumes[0].configMap.defaultMode", 420),
    ("emptyDir", pod(volumes=[{"name": "e"}]), "spec.volumes[0].emptyDir", {}),
    ("hostPath-type", pod(volumes=[{"name": "h", "hostPath": {"path": "/x"}}]), "spec.volumes[0].hostPath.type", ""),
    ("token-expiry", pod(volumes=[{"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}]),
     "spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds", 3600),
    ("projected-mode", pod(volumes=[{"name": "t", "projected": {"sources": []}}]), "spec.volumes[0].projected.defaultMode", 420),
    ("hostNetwork-hostPort", pod(hostNetwork=True, containers=[{"name": "c", "image": "i", "ports": [{"containerPort": 8080}]}]),
     "spec.containers[0].ports[0].hostPort", 8080),
]


@pytest.mark.parametrize("obj,path,want", [c[1:] for c in POD_CASES], ids=[c[0] for c in POD_CASES])
def test_pod_defaults(obj: dict, path: str, want: Any) -> None:
    apply_defaults(info("", "pods"), obj)
    assert at(obj, path) == want


def test_pod_defaults_keep_given_values() -> None:
    obj = pod(restartPolicy="Never", terminationGracePeriodSeconds=0, dnsPolicy="Default")
    apply_defaults(info("", "pods"), obj)
    assert (obj["spec"]["restartPolicy"], obj["spec"]["terminationGracePeriodSeconds"], obj["spec"]["dnsPolicy"]) == \
        ("Never", 0, "Default")


def test_pod_defaults_are_idempotent() -> None:
    obj = pod(volumes=[{"name": "e"}])
    apply_defaults(info("", "pods"), obj)
    again = copy.deepcopy(obj)
    apply_defaults(info("", "pods"), again)
    assert again == obj


def test_template_gets_spec_defaults_but_not_pod_only_ones() -> None:
    obj = {"metadata": {"name": "d", "namespace": "n"},
           "spec": {"selector": {"matchLabels": {"app": "a"}},
                    "template": template(containers=[{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1"}}}])}}
    apply_defaults(info("apps", "deployments"), obj)
    spec = obj["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Always" and spec["schedulerName"] == "default-scheduler"
    assert "enableServiceLinks" not in spec
    assert "requests" not in spec["containers"][0]["resources"]


WORKLOAD_CASES = [
    ("deploy-replicas", ("apps", "deployments"), {}, "spec.replicas", 1),
    ("deploy-strategy", ("apps", "deployments"), {}, "spec.strategy",
     {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
    ("deploy-recreate", ("apps", "deployments"), {"strategy": {"type": "Recreate"}}, "spec.strategy", {"type": "Recreate"}),
    ("deploy-history", ("apps", "deployments"), {}, "spec.revisionHistoryLimit", 10),
    ("deploy-deadline", ("apps", "deployments"), {}, "spec.progressDeadlineSeconds", 600),
    ("rs-replicas", ("apps", "replicasets"), {}, "spec.replicas", 1),
    ("ds-strategy", ("apps", "daemonsets"), {}, "spec.updateStrategy",
     {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
    ("ds-history", ("apps", "daemonsets"), {}, "spec.revisionHistoryLimit", 10),
    ("sts-policy", ("apps", "statefulsets"), {}, "spec.podManagementPolicy", "OrderedReady"),
    ("sts-strategy", ("apps", "statefulsets"), {}, "spec.updateStrategy",
     {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
    ("sts-retention", ("apps", "statefulsets"), {}, "spec.persistentVolumeClaimRetentionPolicy",
     {"whenDeleted": "Retain", "whenScaled": "Retain"}),
    ("sts-vct", ("apps", "statefulsets"), {"volumeClaimTemplates": [{"metadata": {"name": "d"}, "spec": {}}]},
     "spec.volumeClaimTemplates[0]", {"metadata": {"name": "d"}, "spec": {"volumeMode": "Filesystem"},
                                      "status": {"phase": "Pending"}}),
    ("job-both-unset", ("batch", "jobs"), {}, "spec.completions", 1),
    ("job-parallelism", ("batch", "jobs"), {"completions": 5}, "spec.parallelism", 1),
    ("job-completions-stay-unset", ("batch", "jobs"), {"parallelism": 2}, "spec", "no-completions"),
    ("job-backoff", ("batch", "jobs"), {}, "spec.backoffLimit", 6),
    ("job-backoff-per-index", ("batch", "jobs"), {"backoffLimitPerIndex": 1}, "spec.backoffLimit", 2**31 - 1),
    ("job-mode", ("batch", "jobs"), {}, "spec.completionMode", "NonIndexed"),
    ("job-suspend", ("batch", "jobs"), {}, "spec.suspend", False),
    ("job-replacement", ("batch", "jobs"), {}, "spec.podReplacementPolicy", "TerminatingOrFailed"),
    ("job-replacement-pfp", ("batch", "jobs"), {"podFailurePolicy": {"rules": []}}, "spec.podReplacementPolicy", "Failed"),
    ("job-labels", ("batch", "jobs"), {}, "metadata.labels", {"app": "a"}),
    ("job-template", ("batch", "jobs"), {}, "spec.template.spec.dnsPolicy", "ClusterFirst"),
]


@pytest.mark.parametrize("gp,spec,path,want", [c[1:] for c in WORKLOAD_CASES], ids=[c[0] for c in WORKLOAD_CASES])
def test_workload_defaults(gp: tuple[str, str], spec: dict, path: str, want: Any) -> None:
    obj = {"metadata": {"name": "w", "namespace": "n"}, "spec": {"template": template(), **spec}}
    apply_defaults(info(*gp), obj)
    if want == "no-completions":
        assert "completions" not in obj["spec"]
    else:
        assert at(obj, path) == want


def test_cronjob_defaults() -> None:
    obj = {"metadata": {"name": "c", "namespace": "n"},
           "spec": {"schedule": "@hourly", "jobTemplate": {"spec": {"template": template()}}}}
    apply_defaults(info("batch", "cronjobs"), obj)
    spec = obj["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    assert spec["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert "backoffLimit" not in spec["jobTemplate"]["spec"]


def test_rc_selector_and_labels_from_template() -> None:
    obj = {"metadata": {"name": "r", "namespace": "n"}, "spec": {"template": template()}}
    apply_defaults(info("", "replicationcontrollers"), obj)
    assert obj["spec"]["selector"] == {"app": "a"} and obj["metadata"]["labels"] == {"app": "a"}
    assert obj["spec"]["replicas"] == 1


def test_job_selector_generation() -> None:
    obj = {"metadata": {"name": "pi", "namespace": "n", "uid": "u-1"}, "spec": {"template": template()}}
    apply_defaults(info("batch", "jobs"), obj)
    generate_job_selector(obj)
    assert obj["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    labels = obj["spec"]["template"]["metadata"]["labels"]
    assert labels == {"app": "a", **job_selector_labels("u-1", "pi")}
    assert obj["metadata"]["labels"] == labels  # shared, as upstream's defaulting aliases the map


def test_job_selector_labels() -> None:
    assert job_selector_labels("u", "n") == {"batch.kubernetes.io/controller-uid": "u", "controller-uid": "u",
                                             "batch.kubernetes.io/job-name": "n", "job-name": "n"}


SERVICE_CASES = [
    ("type", {}, "spec.type", "ClusterIP"),
    ("affinity", {}, "spec.sessionAffinity", "None"),
    ("protocol", {}, "spec.ports[0].protocol", "TCP"),
    ("targetPort", {}, "spec.ports[0].targetPort", 80),
    ("named-targetPort", {"ports": [{"port": 80, "targetPort": "http"}]}, "spec.ports[0].targetPort", "http"),
    ("itp", {}, "spec.internalTrafficPolicy", "Cluster"),
    ("families", {}, "spec.ipFamilies", ["IPv4"]),
    ("family-policy", {}, "spec.ipFamilyPolicy", "SingleStack"),
    ("etp-nodeport", {"type": "NodePort"}, "spec.externalTrafficPolicy", "Cluster"),
    ("lb-nodeports", {"type": "LoadBalancer"}, "spec.allocateLoadBalancerNodePorts", True),
    ("clientip-timeout", {"sessionAffinity": "ClientIP"}, "spec.sessionAffinityConfig",
     {"clientIP": {"timeoutSeconds": 10800}}),
    ("status", {}, "status", {"loadBalancer": {}}),
]


@pytest.mark.parametrize("spec,path,want", [c[1:] for c in SERVICE_CASES], ids=[c[0] for c in SERVICE_CASES])
def test_service_defaults(spec: dict, path: str, want: Any) -> None:
    obj = {"metadata": {"name": "s", "namespace": "n"}, "spec": {"ports": [{"port": 80}], **spec}}
    apply_defaults(info("", "services"), obj)
    assert at(obj, path) == want


def test_service_defaults_leave_allocation_alone() -> None:
    obj = {"metadata": {"name": "s", "namespace": "n"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
    apply_defaults(info("", "services"), obj)
    assert "clusterIP" not in obj["spec"] and "nodePort" not in obj["spec"]["ports"][0]


def test_external_name_service_has_no_families_or_itp() -> None:
    obj = {"metadata": {"name": "s", "namespace": "n"}, "spec": {"type": "ExternalName", "externalName": "a.b"}}
    apply_defaults(info("", "services"), obj)
    assert not {"ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy", "externalTrafficPolicy"} & set(obj["spec"])


OTHER_CASES = [
    ("ns-finalizers", ("", "v1", "namespaces"), {"metadata": {"name": "x"}}, "spec.finalizers", ["kubernetes"]),
    ("ns-phase", ("", "v1", "namespaces"), {"metadata": {"name": "x"}}, "status.phase", "Active"),
    ("ns-label", ("", "v1", "namespaces"), {"metadata": {"name": "x"}}, "metadata.labels",
     {"kubernetes.io/metadata.name": "x"}),
    ("secret-type", ("", "v1", "secrets"), {}, "type", "Opaque"),
    ("secret-stringData", ("", "v1", "secrets"), {"stringData": {"a": "hi"}}, "data", {"a": "aGk="}),
    ("pvc-mode", ("", "v1", "persistentvolumeclaims"), {"spec": {}}, "spec.volumeMode", "Filesystem"),
    ("pv-policy", ("", "v1", "persistentvolumes"), {"spec": {}}, "spec.persistentVolumeReclaimPolicy", "Retain"),
    ("pv-mode", ("", "v1", "persistentvolumes"), {"spec": {}}, "spec.volumeMode", "Filesystem"),
    ("endpoints", ("", "v1", "endpoints"), {"subsets": [{"ports": [{"port": 1}]}]}, "subsets[0].ports[0].protocol", "TCP"),
    ("node-allocatable", ("", "v1", "nodes"), {"status": {"capacity": {"cpu": "2"}}}, "status.allocatable", {"cpu": "2"}),
    ("slice-port", ("discovery.k8s.io", "v1", "endpointslices"), {"ports": [{"port": 80}]}, "ports[0]",
     {"port": 80, "name": "", "protocol": "TCP"}),
    ("pc", ("scheduling.k8s.io", "v1", "priorityclasses"), {"value": 5}, "preemptionPolicy", "PreemptLowerPriority"),
    ("sc-reclaim", ("storage.k8s.io", "v1", "storageclasses"), {}, "reclaimPolicy", "Delete"),
    ("sc-binding", ("storage.k8s.io", "v1", "storageclasses"), {}, "volumeBindingMode", "Immediate"),
    ("rb-user", ("rbac.authorization.k8s.io", "v1", "rolebindings"),
     {"roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "User", "name": "u"}]},
     "subjects[0].apiGroup", "rbac.authorization.k8s.io"),
    ("rb-sa", ("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
     {"roleRef": {"kind": "ClusterRole", "name": "r"}, "subjects": [{"kind": "ServiceAccount", "name": "s"}]},
     "subjects[0].apiGroup", ""),
    ("rb-roleRef", ("rbac.authorization.k8s.io", "v1", "rolebindings"), {"roleRef": {"kind": "Role", "name": "r"}},
     "roleRef.apiGroup", "rbac.authorization.k8s.io"),
    ("crd-conversion", ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
     {"spec": {"names": {"kind": "Foo"}, "versions": [{"name": "v1", "storage": True}]}}, "spec.conversion",
     {"strategy": "None"}),
    ("crd-names", ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
     {"spec": {"names": {"kind": "Foo"}, "versions": []}}, "spec.names",
     {"kind": "Foo", "singular": "foo", "listKind": "FooList"}),
    ("crd-stored", ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
     {"spec": {"names": {"kind": "Foo"}, "versions": [{"name": "v1", "storage": True}]}}, "status.storedVersions", ["v1"]),
]


@pytest.mark.parametrize("gvr,obj,path,want", [c[1:] for c in OTHER_CASES], ids=[c[0] for c in OTHER_CASES])
def test_other_defaults(gvr: tuple[str, str, str], obj: dict, path: str, want: Any) -> None:
    obj = {"metadata": {"name": "x"}, **copy.deepcopy(obj)}
    apply_defaults(REG.get(*gvr), obj)
    assert at(obj, path) == want


def test_secret_stringData_is_dropped() -> None:
    obj = {"metadata": {"name": "s"}, "stringData": {"a": "b"}}
    apply_defaults(info("", "secrets"), obj)
    assert "stringData" not in obj


@pytest.mark.parametrize("pc,want", [(None, (0, "PreemptLowerPriority")),
                                     ({"value": 1000, "preemptionPolicy": "Never"}, (1000, "Never"))],
                         ids=["no-class", "class"])
def test_set_pod_priority(pc: dict | None, want: tuple) -> None:
    obj = pod()
    set_pod_priority(obj, pc)
    assert (obj["spec"]["priority"], obj["spec"]["preemptionPolicy"]) == want

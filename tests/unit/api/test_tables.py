"""Tests for server-side printing: upstream's columns and cells for each resource."""

from datetime import datetime, timedelta, timezone

import pytest

from kybernetes.api.errors import StatusError
from kybernetes.api.printers import human_duration
from kybernetes.api.registry import BUILTIN_RESOURCES, Registry, ResourceInfo
from kybernetes.api.tables import build_table, column_definitions

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
REG = Registry()


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def info(group: str, plural: str) -> ResourceInfo:
    version = "v1"
    found = REG.get(group, version, plural)
    assert found is not None
    return found


def cells(group: str, plural: str, obj: dict) -> list:
    table = build_table(info(group, plural), [obj], now=NOW)
    assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"])
    return table["rows"][0]["cells"]


def meta(name: str = "x", age: float = 300, **extra) -> dict:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(age), **extra}


# -------------------------------------------------------------------------------------------- durations

@pytest.mark.parametrize("seconds,want", [
    (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"), (200, "3m20s"),
    (600, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"), (3 * 3600 + 60 * 5, "3h5m"), (8 * 3600, "8h"),
    (47 * 3600, "47h"), (51 * 3600, "2d3h"), (48 * 3600, "2d"), (8 * 86400, "8d"), (729 * 86400, "729d"),
    (730 * 86400, "2y"), (735 * 86400, "2y5d"), (5 * 365 * 86400, "5y"), (9 * 365 * 86400 + 86400 * 3, "9y"),
], ids=lambda v: str(v))
def test_human_duration(seconds, want):
    assert human_duration(timedelta(seconds=seconds)) == want


# ------------------------------------------------------------------------------------------------- pods

def pod(*, phase="Running", containers=("app",), statuses=(), init=(), init_statuses=(), conditions=(),
        deletion=False, reason=None, **status_extra) -> dict:
    m = meta("p")
    if deletion:
        m["deletionTimestamp"] = ago(1)
    st = {"phase": phase, "containerStatuses": list(statuses), "initContainerStatuses": list(init_statuses),
          "conditions": list(conditions), **status_extra}
    if reason:
        st["reason"] = reason
    return {"metadata": m, "spec": {"containers": [{"name": c, "image": "img"} for c in containers],
                                    "initContainers": list(init)},
            "status": st}


def running(name="app", ready=True, restarts=0, **extra):
    return {"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": ago(60)}},
            **extra}


def waiting(name="app", reason="ContainerCreating", restarts=0, **extra):
    return {"name": name, "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason}}, **extra}


def terminated(name="app", reason="Completed", code=0, **extra):
    return {"name": name, "ready": False, "restartCount": 0,
            "state": {"terminated": {"exitCode": code, **({"reason": reason} if reason else {})}}, **extra}


LAST_90S = {"lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(90)}}}
READY_TRUE = {"type": "Ready", "status": "True"}
INITIALIZED = {"type": "Initialized", "status": "True"}


@pytest.mark.parametrize("obj,ready,status,restarts", [
    (pod(phase="Pending"), "0/1", "Pending", "0"),
    (pod(phase="Pending", statuses=[waiting()]), "0/1", "ContainerCreating", "0"),
    (pod(statuses=[running()], conditions=[READY_TRUE]), "1/1", "Running", "0"),
    (pod(containers=("a", "b"), statuses=[running("a"), running("b", ready=False)]), "1/2", "Running", "0"),
    (pod(statuses=[waiting(reason="CrashLoopBackOff", restarts=5, **LAST_90S)]), "0/1", "CrashLoopBackOff",
     "5 (90s ago)"),
    (pod(statuses=[waiting(reason="ImagePullBackOff")]), "0/1", "ImagePullBackOff", "0"),
    (pod(statuses=[running()], deletion=True), "1/1", "Terminating", "0"),
    (pod(phase="Succeeded", statuses=[terminated()], deletion=True), "0/1", "Completed", "0"),
    (pod(statuses=[running()], deletion=True, reason="NodeLost"), "1/1", "Unknown", "0"),
    (pod(phase="Succeeded", statuses=[terminated()]), "0/1", "Completed", "0"),
    (pod(phase="Failed", statuses=[terminated(reason="Error", code=1)]), "0/1", "Error", "0"),
    (pod(phase="Failed", statuses=[terminated(reason=None, code=137)]), "0/1", "ExitCode:137", "0"),
    (pod(phase="Failed", statuses=[{"name": "app", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]),
     "0/1", "Signal:9", "0"),
    (pod(containers=("a", "b"), statuses=[terminated("a"), running("b")]), "1/2", "NotReady", "0"),
    (pod(containers=("a", "b"), statuses=[terminated("a"), running("b")], conditions=[READY_TRUE]), "1/2",
     "Running", "0"),
    (pod(phase="Pending", reason=None, conditions=[{"type": "PodScheduled", "status": "False",
                                                     "reason": "SchedulingGated"}]), "0/1", "SchedulingGated", "0"),
    (pod(phase="Failed", reason="Evicted"), "0/1", "Evicted", "0"),
], ids=["pending", "creating", "running", "one-not-ready", "crashloop", "imagepull", "terminating",
        "terminating-but-succeeded", "nodelost", "completed", "error", "exitcode", "signal", "completed-not-ready",
        "completed-running", "scheduling-gated", "evicted"])
def test_pod_status(obj, ready, status, restarts):
    row = cells("", "pods", obj)
    assert row[:5] == ["p", ready, status, restarts, "5m"]


INIT2 = [{"name": "i1", "image": "x"}, {"name": "i2", "image": "x"}]


@pytest.mark.parametrize("init_statuses,status,restarts", [
    ([waiting("i1", reason="PodInitializing"), waiting("i2", reason="PodInitializing")], "Init:0/2", "0"),
    ([terminated("i1"), running("i2", ready=False)], "Init:1/2", "0"),
    ([terminated("i1"), waiting("i2", reason="CrashLoopBackOff", restarts=3, **LAST_90S)],
     "Init:CrashLoopBackOff", "3 (90s ago)"),
    ([terminated("i1", reason=None, code=2)], "Init:ExitCode:2", "0"),
    ([terminated("i1", reason="Error", code=1)], "Init:Error", "0"),
    ([terminated("i1"), terminated("i2")], "PodInitializing", "0"),
], ids=["waiting", "second-running", "crashloop", "exitcode", "error", "done"])
def test_pod_init_containers(init_statuses, status, restarts):
    obj = pod(phase="Pending", init=INIT2, init_statuses=init_statuses,
              statuses=[waiting(reason="PodInitializing")])
    assert cells("", "pods", obj)[2:4] == [status, restarts]


def test_pod_sidecar_counts_toward_ready():
    obj = pod(init=[{"name": "side", "image": "x", "restartPolicy": "Always"}],
              init_statuses=[running("side", started=True, restarts=2, **LAST_90S)],
              statuses=[running()], conditions=[INITIALIZED, READY_TRUE])
    assert cells("", "pods", obj)[1:4] == ["2/2", "Running", "2 (90s ago)"]


def test_pod_wide_columns():
    obj = pod(statuses=[running()], conditions=[READY_TRUE, {"type": "example.com/gate", "status": "True"}],
              podIPs=[{"ip": "198.18.0.7"}], nominatedNodeName="n2")
    obj["spec"]["nodeName"] = "n1"
    obj["spec"]["readinessGates"] = [{"conditionType": "example.com/gate"}, {"conditionType": "example.com/other"}]
    assert cells("", "pods", obj)[5:] == ["198.18.0.7", "n1", "n2", "1/2"]
    bare = cells("", "pods", pod(phase="Pending"))
    assert bare[5:] == ["<none>", "<none>", "<none>", "<none>"]


def test_pod_columns_and_conditions():
    cols = column_definitions(info("", "pods"))
    assert [(c["name"], c["type"], c["priority"]) for c in cols] == [
        ("Name", "string", 0), ("Ready", "string", 0), ("Status", "string", 0), ("Restarts", "string", 0),
        ("Age", "string", 0), ("IP", "string", 1), ("Node", "string", 1), ("Nominated Node", "string", 1),
        ("Readiness Gates", "string", 1)]
    assert cols[0]["format"] == "name" and cols[0]["description"].startswith("Name must be unique")
    table = build_table(info("", "pods"), [pod(phase="Succeeded", statuses=[terminated()])], now=NOW)
    assert table["rows"][0]["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                               "message": "The pod has completed successfully."}]


# --------------------------------------------------------------------------------------------- services

def svc(stype, **spec):
    return {"metadata": meta("s"), "spec": {"type": stype, **spec}}


TCP80 = [{"port": 80, "protocol": "TCP"}]


@pytest.mark.parametrize("obj,want", [
    (svc("ClusterIP", clusterIP="198.19.0.10", clusterIPs=["198.19.0.10"], ports=TCP80, selector={"app": "a"}),
     ["s", "ClusterIP", "198.19.0.10", "<none>", "80/TCP", "5m", "app=a"]),
    (svc("ClusterIP", clusterIP="None", ports=[{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]),
     ["s", "ClusterIP", "None", "<none>", "53/UDP,53/TCP", "5m", "<none>"]),
    (svc("ClusterIP", clusterIPs=["198.19.0.3"], externalIPs=["198.18.5.5"]),
     ["s", "ClusterIP", "198.19.0.3", "198.18.5.5", "<none>", "5m", "<none>"]),
    (svc("NodePort", clusterIPs=["198.19.0.4"], ports=[{"port": 80, "nodePort": 30080, "protocol": "TCP"}]),
     ["s", "NodePort", "198.19.0.4", "<none>", "80:30080/TCP", "5m", "<none>"]),
    (svc("LoadBalancer", clusterIPs=["198.19.0.5"], ports=[{"port": 443, "nodePort": 31443, "protocol": "TCP"}]),
     ["s", "LoadBalancer", "198.19.0.5", "<pending>", "443:31443/TCP", "5m", "<none>"]),
    ({**svc("LoadBalancer", clusterIPs=["198.19.0.6"], externalIPs=["198.18.9.9"]),
      "status": {"loadBalancer": {"ingress": [{"ip": "198.18.1.2"}, {"hostname": "lb.example"}]}}},
     ["s", "LoadBalancer", "198.19.0.6", "198.18.1.2,lb.example,198.18.9.9", "<none>", "5m", "<none>"]),
    (svc("ExternalName", externalName="db.example.com"),
     ["s", "ExternalName", "<none>", "db.example.com", "<none>", "5m", "<none>"]),
], ids=["clusterip", "headless", "external-ips", "nodeport", "lb-pending", "lb-ingress", "externalname"])
def test_services(obj, want):
    assert cells("", "services", obj) == want


# ------------------------------------------------------------------------------------------------ nodes

def node(labels=None, conditions=None, unschedulable=False):
    return {"metadata": {"name": "n1", "creationTimestamp": ago(2 * 86400 + 3 * 3600), "labels": labels or {}},
            "spec": {"unschedulable": unschedulable} if unschedulable else {},
            "status": {"conditions": conditions if conditions is not None else [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "198.18.0.1"},
                                     {"type": "Hostname", "address": "n1"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12",
                                    "kernelVersion": "6.1.0", "containerRuntimeVersion": "kybernetes://0.1.0"}}}


@pytest.mark.parametrize("obj,status,roles", [
    (node(labels={"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": ""}),
     "Ready", "control-plane,master"),
    (node(labels={"kubernetes.io/role": "worker"}), "Ready", "worker"),
    (node(conditions=[{"type": "Ready", "status": "False"}], unschedulable=True), "NotReady,SchedulingDisabled",
     "<none>"),
    (node(conditions=[{"type": "Ready", "status": "Unknown"}]), "NotReady", "<none>"),
    (node(conditions=[], unschedulable=True), "Unknown,SchedulingDisabled", "<none>"),
], ids=["control-plane", "role-label", "notready-cordoned", "unknown-status", "no-conditions"])
def test_nodes(obj, status, roles):
    assert cells("", "nodes", obj) == ["n1", status, roles, "2d3h", "v1.32.0", "198.18.0.1", "<none>",
                                       "Debian GNU/Linux 12", "6.1.0", "kybernetes://0.1.0"]


# ------------------------------------------------------------------------------------------- workloads

TEMPLATE = {"spec": {"containers": [{"name": "web", "image": "nginx:1"}, {"name": "log", "image": "busybox"}]}}


@pytest.mark.parametrize("obj,want", [
    ({"metadata": meta("d"), "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                                      "template": TEMPLATE},
      "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}},
     ["d", "2/3", 3, 2, "5m", "web,log", "nginx:1,busybox", "app=web"]),
    ({"metadata": meta("d"), "spec": {"selector": {"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [
        {"key": "env", "operator": "In", "values": ["prod", "dev"]}, {"key": "x", "operator": "DoesNotExist"}]},
        "template": {"spec": {"containers": []}}}},
     ["d", "0/1", 0, 0, "5m", "", "", "a=1,b=2,env in (dev,prod),!x"]),
], ids=["basic", "selector-expressions"])
def test_deployments(obj, want):
    assert cells("apps", "deployments", obj) == want


@pytest.mark.parametrize("plural,obj,want", [
    ("replicasets", {"metadata": meta("rs"), "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}},
                                                      "template": TEMPLATE}, "status": {"replicas": 2}},
     ["rs", 2, 2, 0, "5m", "web,log", "nginx:1,busybox", "a=b"]),
    ("statefulsets", {"metadata": meta("db"), "spec": {"replicas": 3, "template": TEMPLATE},
                      "status": {"readyReplicas": 1}},
     ["db", "1/3", "5m", "web,log", "nginx:1,busybox"]),
    ("daemonsets", {"metadata": meta("ds"), "spec": {"selector": {"matchLabels": {"k": "v"}}, "template": {
        "spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "c", "image": "i"}]}}},
                    "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1,
                               "updatedNumberScheduled": 2, "numberAvailable": 1}},
     ["ds", 2, 2, 1, 2, 1, "kubernetes.io/os=linux", "5m", "c", "i", "k=v"]),
    ("controllerrevisions", {"metadata": meta("ds-1", ownerReferences=[
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "controller": True}]), "revision": 4},
     ["ds-1", "daemonset.apps/ds", 4, "5m"]),
], ids=["replicaset", "statefulset", "daemonset", "controllerrevision"])
def test_apps(plural, obj, want):
    assert cells("apps", plural, obj) == want


@pytest.mark.parametrize("obj,want", [
    ({"metadata": meta("j"), "spec": {"completions": 3, "parallelism": 1, "template": TEMPLATE,
                                      "selector": {"matchLabels": {"job": "j"}}},
      "status": {"succeeded": 1, "startTime": ago(200)}},
     ["j", "Running", "1/3", "3m20s", "5m", "web,log", "nginx:1,busybox", "job=j"]),
    ({"metadata": meta("j"), "spec": {"parallelism": 2, "template": TEMPLATE},
      "status": {"succeeded": 2, "startTime": ago(300), "completionTime": ago(290),
                 "conditions": [{"type": "Complete", "status": "True"}]}},
     ["j", "Complete", "2/1 of 2", "10s", "5m", "web,log", "nginx:1,busybox", "<none>"]),
    ({"metadata": meta("j"), "spec": {"completions": 1, "template": TEMPLATE},
      "status": {"conditions": [{"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]}},
     ["j", "Failed", "0/1", "", "5m", "web,log", "nginx:1,busybox", "<none>"]),
], ids=["running", "complete", "failed"])
def test_jobs(obj, want):
    assert cells("batch", "jobs", obj) == want


def test_cronjob():
    obj = {"metadata": meta("cj"), "spec": {"schedule": "*/5 * * * *", "suspend": False, "jobTemplate": {
        "spec": {"template": TEMPLATE}}}, "status": {"active": [{"name": "cj-1"}], "lastScheduleTime": ago(65)}}
    assert cells("batch", "cronjobs", obj) == ["cj", "*/5 * * * *", "<none>", "False", 1, "65s", "5m", "web,log",
                                               "nginx:1,busybox", "<none>"]


# ---------------------------------------------------------------------------------------- other kinds

@pytest.mark.parametrize("group,plural,obj,want", [
    ("", "namespaces", {"metadata": meta("ns"), "status": {"phase": "Active"}}, ["ns", "Active", "5m"]),
    ("", "configmaps", {"metadata": meta("cm"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}},
     ["cm", 3, "5m"]),
    ("", "secrets", {"metadata": meta("s"), "type": "Opaque", "data": {"k": "dg=="}}, ["s", "Opaque", 1, "5m"]),
    ("", "serviceaccounts", {"metadata": meta("default")}, ["default", 0, "5m"]),
    ("", "endpoints", {"metadata": meta("e"), "subsets": [{"addresses": [{"ip": "198.18.0.1"}, {"ip": "198.18.0.2"}],
                                                          "ports": [{"port": 80}, {"port": 443}]}]},
     ["e", "198.18.0.1:80,198.18.0.2:80,198.18.0.1:443 + 1 more...", "5m"]),
    ("", "endpoints", {"metadata": meta("e")}, ["e", "<none>", "5m"]),
    ("", "persistentvolumeclaims", {"metadata": meta("c"), "spec": {"volumeName": "pv1", "storageClassName": "std",
                                                                     "volumeMode": "Filesystem"},
                                    "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                                               "capacity": {"storage": "1Gi"}}},
     ["c", "Bound", "pv1", "1Gi", "RWO", "std", "<unset>", "5m", "Filesystem"]),
    ("", "persistentvolumes", {"metadata": meta("pv1"), "spec": {
        "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": "default", "name": "c"}},
        "status": {"phase": "Bound"}},
     ["pv1", "5Gi", "RWO,RWX", "Retain", "Bound", "default/c", "", "<unset>", "", "5m", "<unset>"]),
    ("", "resourcequotas", {"metadata": meta("q"), "status": {
        "hard": {"pods": "10", "limits.cpu": "2", "requests.memory": "1Gi"}, "used": {"pods": "3"}}},
     ["q", "pods: 3/10, requests.memory: 0/1Gi", "limits.cpu: 0/2", "5m"]),
    ("", "limitranges", {"metadata": meta("lr", age=0)}, ["lr", "2024-06-01T12:00:00Z"]),
    ("", "podtemplates", {"metadata": meta("pt"), "template": {"metadata": {"labels": {"a": "b"}}, **TEMPLATE}},
     ["pt", "web,log", "nginx:1,busybox", "a=b"]),
    ("", "replicationcontrollers", {"metadata": meta("rc"), "spec": {"replicas": 2, "selector": {"app": "x"},
                                                                     "template": TEMPLATE},
                                    "status": {"replicas": 2, "readyReplicas": 2}},
     ["rc", 2, 2, 2, "5m", "web,log", "nginx:1,busybox", "app=x"]),
    ("rbac.authorization.k8s.io", "rolebindings", {"metadata": meta("rb"), "roleRef": {
        "kind": "ClusterRole", "name": "view"}, "subjects": [
        {"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
        {"kind": "ServiceAccount", "namespace": "ns", "name": "sa"}, {"kind": "User", "name": "bob"}]},
     ["rb", "ClusterRole/view", "5m", "alice, bob", "devs", "ns/sa"]),
    ("rbac.authorization.k8s.io", "roles", {"metadata": meta("r", age=3600)}, ["r", "2024-06-01T11:00:00Z"]),
    ("storage.k8s.io", "storageclasses", {"metadata": meta("local", annotations={
        "storageclass.kubernetes.io/is-default-class": "true"}), "provisioner": "kybernetes.io/local"},
     ["local (default)", "kybernetes.io/local", "Delete", "Immediate", False, "5m"]),
    ("scheduling.k8s.io", "priorityclasses", {"metadata": meta("high"), "value": 1000},
     ["high", 1000, False, "5m", ""]),
    ("certificates.k8s.io", "certificatesigningrequests", {"metadata": meta("csr"), "spec": {
        "signerName": "kubernetes.io/kube-apiserver-client", "username": "alice", "expirationSeconds": 86400},
        "status": {"conditions": [{"type": "Approved"}], "certificate": "Y2VydA=="}},
     ["csr", "5m", "kubernetes.io/kube-apiserver-client", "alice", "24h", "Approved,Issued"]),
    ("coordination.k8s.io", "leases", {"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "h1"}},
     ["kube-scheduler", "h1", "5m"]),
    ("discovery.k8s.io", "endpointslices", {"metadata": meta("es"), "addressType": "IPv4",
                                            "ports": [{"port": 80}, {"name": "x"}],
                                            "endpoints": [{"addresses": ["198.18.0.1"]}]},
     ["es", "IPv4", "80,x", "198.18.0.1", "5m"]),
    ("discovery.k8s.io", "endpointslices", {"metadata": meta("es"), "addressType": "IPv4"},
     ["es", "IPv4", "<unset>", "<unset>", "5m"]),
    ("policy", "poddisruptionbudgets", {"metadata": meta("pdb"), "spec": {"minAvailable": "50%"},
                                        "status": {"disruptionsAllowed": 1}},
     ["pdb", "50%", "N/A", 1, "5m"]),
    ("apiextensions.k8s.io", "customresourcedefinitions", {"metadata": meta("widgets.example.com", age=60)},
     ["widgets.example.com", "2024-06-01T11:59:00Z"]),
], ids=lambda v: v if isinstance(v, str) and v and "/" not in v else None)
def test_other_kinds(group, plural, obj, want):
    assert cells(group, plural, obj) == want


def test_core_event():
    ev = {"metadata": meta("p.17a"), "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{a}"},
          "reason": "BackOff", "message": " Back-off restarting \n", "type": "Warning", "count": 7,
          "firstTimestamp": ago(3600), "lastTimestamp": ago(30), "source": {"component": "kubelet", "host": "n1"}}
    assert cells("", "events", ev) == ["30s", "Warning", "BackOff", "pod/p", "spec.containers{a}", "kubelet, n1",
                                       "Back-off restarting", "60m", 7, "p.17a"]


def test_events_v1_event_uses_the_same_printer():
    ev = {"metadata": meta("e1"), "regarding": {"kind": "Node", "name": "n1"}, "note": "Starting",
          "reason": "Starting", "type": "Normal", "eventTime": ago(10), "reportingController": "kubelet",
          "reportingInstance": "n1"}
    assert cells("events.k8s.io", "events", ev) == ["10s", "Normal", "Starting", "node/n1", "", "kubelet, n1",
                                                    "Starting", "10s", 1, "e1"]


# --------------------------------------------------------------------------------------- custom resources

PRINTER_COLUMNS = [
    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
    {"name": "Ratio", "type": "number", "jsonPath": ".status.ratio"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused", "priority": 1},
    {"name": "Labels", "type": "string", "jsonPath": ".metadata.labels", "priority": 1, "description": "labels"},
    {"name": "Missing", "type": "string", "jsonPath": ".status.nothing"},
    {"name": "Started", "type": "date", "jsonPath": ".status.startedAt"},
]


def crd_info(columns):
    return ResourceInfo("example.com", "v1", "Widget", "widgets", "widget", True, crd=True,
                        extra={"printer_columns": columns})


WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget",
          "metadata": {"name": "w", "namespace": "default", "creationTimestamp": ago(61), "labels": {"a": "b"}},
          "spec": {"replicas": 3, "paused": True},
          "status": {"ratio": 2, "startedAt": ago(7200), "conditions": [{"type": "Ready", "status": "True"}]}}


def test_crd_printer_columns():
    table = build_table(crd_info(PRINTER_COLUMNS), [WIDGET], now=NOW)
    assert [(c["name"], c["type"], c["priority"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", 0), ("Replicas", "integer", 0), ("Ratio", "number", 0), ("Ready", "string", 0),
        ("Paused", "boolean", 1), ("Labels", "string", 1), ("Missing", "string", 0), ("Started", "date", 0)]
    assert table["columnDefinitions"][1]["description"] == \
        "Custom resource definition column (in JSONPath format): .spec.replicas"
    assert table["columnDefinitions"][5]["description"] == "labels"
    assert table["rows"][0]["cells"] == ["w", 3, 2.0, "True", True, '{"a":"b"}', None, "120m"]


def test_crd_without_printer_columns_has_name_and_age():
    for columns in (None, []):
        table = build_table(crd_info(columns), [WIDGET], now=NOW)
        assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [("Name", "string"), ("Age", "date")]
        assert table["rows"][0]["cells"] == ["w", "61s"]


@pytest.mark.parametrize("ctype,value,want", [
    ("integer", 2.9, 2), ("integer", "3", None), ("integer", True, None), ("number", 1, 1.0),
    ("boolean", "true", None), ("date", "not-a-date", "<invalid>"), ("string", 1.5, "1.5"),
    ("string", [1, 2], "[1,2]"), ("string", None, "<no value>"), ("integer", None, None),
], ids=lambda v: repr(v))
def test_crd_cell_types(ctype, value, want):
    obj = {"metadata": {"name": "w"}, "spec": {"v": value}}
    cols = [{"name": "V", "type": ctype, "jsonPath": ".spec.v"}]
    assert build_table(crd_info(cols), [obj], now=NOW)["rows"][0]["cells"] == ["w", want]


# ------------------------------------------------------------------------------------------ table shape

@pytest.mark.parametrize("include,want", [
    ("Metadata", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": WIDGET["metadata"]}),
    ("", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": WIDGET["metadata"]}),
    ("Object", WIDGET),
    ("None", None),
], ids=["metadata", "default", "object", "none"])
def test_include_object(include, want):
    table = build_table(crd_info(None), [WIDGET], include_object=include, now=NOW)
    assert table["rows"][0]["object"] == want


def test_table_envelope():
    table = build_table(info("", "configmaps"), [], resource_version="42", continue_="tok",
                        remaining_item_count=5, now=NOW)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "continue": "tok", "remainingItemCount": 5}
    assert table["rows"] == []
    assert build_table(info("", "configmaps"), [], now=NOW)["metadata"] == {}


def test_unknown_include_object_is_bad_request():
    with pytest.raises(StatusError) as e:
        build_table(info("", "pods"), [], include_object="Everything")
    assert (e.value.code, e.value.reason) == (400, "BadRequest")
    assert e.value.message == 'unrecognized includeObject value: "Everything"'


@pytest.mark.parametrize("resource", BUILTIN_RESOURCES, ids=lambda i: f"{i.group or 'core'}/{i.plural}")
def test_every_builtin_prints_an_empty_object(resource):
    cols = column_definitions(resource)
    assert cols and all(c["description"] for c in cols)
    assert all(set(c) == {"name", "type", "format", "description", "priority"} for c in cols)
    table = build_table(resource, [{"metadata": {"name": "o"}}], now=NOW)
    assert len(table["rows"][0]["cells"]) == len(cols)

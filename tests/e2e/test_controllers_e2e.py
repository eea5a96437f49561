"""End to end: the controller-manager's loops seen through real kubectl, with two real kubelets running pods
as host processes (the server's own node-a and a second `kybernetes kubelet` process, node-b)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from kybernetes.cli.killall import stop_all_containers

from tests.conftest import ISOLATED, Cluster, free_port, start_server_process, stop_process, wait_ready

pytestmark = pytest.mark.e2e

NODE_MONITOR_GRACE_PERIOD = 10.0
NODE_MONITOR_PERIOD = 5.0  # the controller-manager's default node-monitor-period
TOLERATION_SECONDS = 5


@dataclass
class TwoNodeCluster(Cluster):
    """A `kybernetes server` (node-a) plus a second kubelet process (node-b)."""

    kubelet_b: subprocess.Popen | None = None
    kubelet_b_root: str = ""
    namespaces: list[str] = field(default_factory=list)

    def namespace(self, name: str) -> str:
        self.kubectl("create", "namespace", name)
        self.namespaces.append(name)
        return name


def _start_kubelet(cluster: Cluster, node: str, root_dir: str, log_path: str) -> subprocess.Popen:
    from kybernetes.pki.kubelet import ensure_kubelet_pki

    crt, key = ensure_kubelet_pki(cluster.data_dir, node, ["127.0.0.1"], [node])
    log = open(log_path, "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "kybernetes", "kubelet", "--kubeconfig", cluster.kubeconfig, "--hostname-override",
         node, "--root-dir", root_dir, "--node-ip", "127.0.0.1", "--address", "127.0.0.1", "--port",
         str(free_port()), "--tls-cert-file", crt, "--tls-private-key-file", key, "--client-ca-file",
         os.path.join(cluster.data_dir, "pki", "ca.crt")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory) -> Iterator[TwoNodeCluster]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on the PATH")
    base = tmp_path_factory.mktemp("controllers")
    data_dir = str(base / "data")
    port = free_port()
    log_path = str(base / "server.log")
    proc = start_server_process(data_dir, port, log_path, "--node-name", "node-a", "--node-ip", "127.0.0.1",
                                "--node-monitor-grace-period", str(NODE_MONITOR_GRACE_PERIOD), *ISOLATED)
    cluster = TwoNodeCluster(proc, data_dir, port, os.path.join(data_dir, "admin.kubeconfig"), log_path)
    try:
        wait_ready(port, proc)
        cluster.kubelet_b_root = str(base / "kubelet-b")
        cluster.kubelet_b = _start_kubelet(cluster, "node-b", cluster.kubelet_b_root, str(base / "kubelet-b.log"))
        wait_for(lambda: _ready_nodes(cluster) >= {"node-a", "node-b"}, 60, "both nodes Ready")
        yield cluster
    finally:
        _teardown(cluster, os.path.join(data_dir, "kubelet", "runtime"))


def _teardown(cluster: TwoNodeCluster, runtime_a: str) -> None:
    """Delete the test namespaces while kubelets still run (pods stop), then stop every process by PID and
    whatever containers the kubelets left behind."""
    try:
        if cluster.proc.poll() is None:
            for ns in cluster.namespaces:  # pods stuck on a dead node would block their namespace forever
                cluster.kubectl("-n", ns, "delete", "pods", "--field-selector", "spec.nodeName=node-b",
                                "--force", "--grace-period=0", "--wait=false", check=False)
            if cluster.namespaces:
                cluster.kubectl("delete", "namespace", *cluster.namespaces, "--timeout=60s", check=False,
                                timeout=90)
    finally:
        if cluster.kubelet_b is not None:
            stop_process(cluster.kubelet_b)
        stop_process(cluster.proc)
        for rd in (runtime_a, os.path.join(cluster.kubelet_b_root, "runtime")):
            asyncio.run(stop_all_containers(rd))


def _ready_nodes(cluster: Cluster) -> set[str]:
    out = set()
    for n in cluster.kubectl_json("get", "nodes")["items"]:
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions") or []):
            out.add(n["metadata"]["name"])
    return out


def _pods(cluster: Cluster, ns: str, selector: str) -> list[dict[str, Any]]:
    return cluster.kubectl_json("-n", ns, "get", "pods", "-l", selector)["items"]


def _is_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def _live(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def _ready_pods(cluster: Cluster, ns: str, selector: str) -> list[dict[str, Any]]:
    return [p for p in _live(_pods(cluster, ns, selector)) if _is_ready(p)]


def _settled(cluster: Cluster, ns: str, selector: str, n: int) -> list[dict[str, Any]] | None:
    """Exactly n pods, all live and Ready, or None."""
    pods = _pods(cluster, ns, selector)
    if len(pods) == n and all(_is_ready(p) and not p["metadata"].get("deletionTimestamp") for p in pods):
        return pods
    return None


def _names(pods: list[dict[str, Any]]) -> set[str]:
    return {p["metadata"]["name"] for p in pods}


def deployment(name: str, *, replicas: int = 3, env: str = "1", spec: dict[str, Any] | None = None,
               pod_spec: dict[str, Any] | None = None) -> str:
    """A Deployment (as JSON, which kubectl reads as YAML) whose container prints its V env var and sleeps."""
    container = {"name": "c", "image": "busybox:1", "command": ["sh", "-c", "echo V=$V; exec sleep 3600"],
                 "env": [{"name": "V", "value": env}]}
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                 **(spec or {}),
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"terminationGracePeriodSeconds": 2, "containers": [container],
                                       **(pod_spec or {})}}}})


def _apply_and_roll_out(cluster: Cluster, ns: str, manifest: str, name: str) -> None:
    cluster.kubectl("-n", ns, "apply", "-f", "-", input=manifest)
    cluster.kubectl("-n", ns, "rollout", "status", f"deployment/{name}", "--timeout=90s", timeout=120)


def test_deleted_pod_is_replaced(two_nodes: TwoNodeCluster) -> None:
    ns = two_nodes.namespace("replace")
    _apply_and_roll_out(two_nodes, ns, deployment("web"), "web")
    before = wait_for(lambda: _settled(two_nodes, ns, "app=web", 3), 60, "3 ready pods")
    victim = sorted(_names(before))[0]
    two_nodes.kubectl("-n", ns, "delete", "pod", victim, "--wait=false")
    after = wait_for(lambda: _settled(two_nodes, ns, "app=web", 3), 60, "a replacement pod")
    assert victim not in _names(after)
    assert len(_names(after) - _names(before)) == 1
    events = two_nodes.kubectl_json("-n", ns, "get", "events", "--field-selector", "reason=SuccessfulCreate")
    assert len(events["items"]) >= 1 and sum(e.get("count", 1) for e in events["items"]) >= 4


@pytest.mark.parametrize("steps", [[5, 1], [1, 4, 2]], ids=["up-5-down-1", "down-1-up-4-down-2"])
def test_kubectl_scale(two_nodes: TwoNodeCluster, steps: list[int]) -> None:
    ns = two_nodes.namespace(f"scale-{len(steps)}")
    _apply_and_roll_out(two_nodes, ns, deployment("web", replicas=2), "web")
    for n in steps:
        two_nodes.kubectl("-n", ns, "scale", "deployment/web", f"--replicas={n}")
        two_nodes.kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=90s", timeout=120)
        wait_for(lambda: _settled(two_nodes, ns, "app=web", n), 60, f"{n} ready pods and no others")
        d = two_nodes.kubectl_json("-n", ns, "get", "deployment", "web")
        assert (d["status"]["replicas"], d["status"]["readyReplicas"], d["status"]["availableReplicas"]) == (n, n, n)
        rs = two_nodes.kubectl_json("-n", ns, "get", "rs", "-l", "app=web")["items"]
        assert [r["spec"]["replicas"] for r in rs] == [n]


def _env_logged(cluster: Cluster, ns: str, pod: str) -> str:
    return cluster.kubectl("-n", ns, "logs", pod).stdout.strip()


def _revisions(cluster: Cluster, ns: str) -> list[int]:
    out = cluster.kubectl("-n", ns, "rollout", "history", "deployment/web").stdout
    return [int(line.split()[0]) for line in out.splitlines() if line[:1].isdigit()]


def _template(cluster: Cluster, ns: str) -> tuple[str, str]:
    c = cluster.kubectl_json("-n", ns, "get", "deployment", "web")["spec"]["template"]["spec"]["containers"][0]
    return c["image"], c["env"][0]["value"]


def _rolled_out_to(cluster: Cluster, ns: str, image: str, env: str) -> None:
    """rollout status succeeds; every pod runs the template (image and the env its process printed)."""
    cluster.kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=120s", timeout=150)
    pods = wait_for(lambda: _settled(cluster, ns, "app=web", 3), 60, "old pods gone")
    for p in pods:
        assert p["spec"]["containers"][0]["image"] == image
        assert wait_for(lambda: _env_logged(cluster, ns, p["metadata"]["name"]), 30, "log line") == f"V={env}"


def test_rolling_update_history_and_undo(two_nodes: TwoNodeCluster) -> None:
    ns = two_nodes.namespace("rollout")
    _apply_and_roll_out(two_nodes, ns, deployment("web"), "web")
    first = _names(_pods(two_nodes, ns, "app=web"))
    # one revision out of two edits: pause, set image and env, resume
    two_nodes.kubectl("-n", ns, "rollout", "pause", "deployment/web")
    two_nodes.kubectl("-n", ns, "set", "image", "deployment/web", "c=busybox:2")
    two_nodes.kubectl("-n", ns, "set", "env", "deployment/web", "V=2")
    time.sleep(1)
    assert _names(_pods(two_nodes, ns, "app=web")) == first, "a paused Deployment must not roll out"
    two_nodes.kubectl("-n", ns, "rollout", "resume", "deployment/web")
    _rolled_out_to(two_nodes, ns, "busybox:2", "2")
    assert not first & _names(_pods(two_nodes, ns, "app=web"))
    assert _revisions(two_nodes, ns) == [1, 2]
    shown = two_nodes.kubectl("-n", ns, "rollout", "history", "deployment/web", "--revision=1").stdout
    assert "busybox:1" in shown

    two_nodes.kubectl("-n", ns, "rollout", "undo", "deployment/web")
    _rolled_out_to(two_nodes, ns, "busybox:1", "1")
    assert _template(two_nodes, ns) == ("busybox:1", "1")
    assert _revisions(two_nodes, ns) == [2, 3]

    two_nodes.kubectl("-n", ns, "rollout", "undo", "deployment/web", "--to-revision=2")
    _rolled_out_to(two_nodes, ns, "busybox:2", "2")
    assert _revisions(two_nodes, ns) == [3, 4]
    d = two_nodes.kubectl_json("-n", ns, "get", "deployment", "web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
    rs = two_nodes.kubectl_json("-n", ns, "get", "rs", "-l", "app=web")["items"]
    assert sorted(r["spec"]["replicas"] for r in rs) == [0, 3]
    reasons = {e["reason"] for e in two_nodes.kubectl_json("-n", ns, "get", "events")["items"]}
    assert {"ScalingReplicaSet", "SuccessfulCreate", "SuccessfulDelete"} <= reasons


BAD_COMMAND = '{"op": "replace", "path": "/spec/template/spec/containers/0/command", "value": ["/no/such/binary"]}'
NEVER_READY = ('{"op": "add", "path": "/spec/template/spec/containers/0/readinessProbe", "value": '
               '{"exec": {"command": ["false"]}, "periodSeconds": 1}}')


@pytest.mark.parametrize("patch", [BAD_COMMAND, NEVER_READY], ids=["command-not-found", "never-ready"])
def test_stuck_rollout_exceeds_progress_deadline(two_nodes: TwoNodeCluster, patch: str) -> None:
    ns = two_nodes.namespace("stuck-" + ("cmd" if patch is BAD_COMMAND else "probe"))
    _apply_and_roll_out(two_nodes, ns, deployment("web", replicas=2, spec={"progressDeadlineSeconds": 6}), "web")
    old = _names(_pods(two_nodes, ns, "app=web"))
    two_nodes.kubectl("-n", ns, "patch", "deployment/web", "--type=json", "-p",
                      f'[{patch}, {{"op": "replace", "path": "/spec/template/spec/containers/0/image", '
                      f'"value": "busybox:broken"}}]')
    res = two_nodes.kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=90s", check=False,
                            timeout=120)
    assert res.returncode != 0
    assert 'deployment "web" exceeded its progress deadline' in res.stderr
    conds = {c["type"]: c for c in two_nodes.kubectl_json("-n", ns, "get", "deployment", "web")["status"]["conditions"]}
    assert (conds["Progressing"]["status"], conds["Progressing"]["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert conds["Available"]["status"] == "True"  # maxUnavailable 0: the old pods keep serving
    assert old <= _names(_ready_pods(two_nodes, ns, "app=web"))


def _owners(obj: dict[str, Any]) -> list[str]:
    return [o["kind"] for o in obj["metadata"].get("ownerReferences") or []]


@pytest.mark.parametrize("cascade,rs_left,pods_left", [
    ("background", 0, 0),
    ("foreground", 0, 0),
    ("orphan", 1, 2),
], ids=["background", "foreground", "orphan"])
def test_delete_deployment_propagation(two_nodes: TwoNodeCluster, cascade: str, rs_left: int,
                                       pods_left: int) -> None:
    ns = two_nodes.namespace(f"cascade-{cascade}")
    _apply_and_roll_out(two_nodes, ns, deployment("web", replicas=2), "web")
    pods = _pods(two_nodes, ns, "app=web")
    held = pods[0]["metadata"]["name"]
    if cascade == "foreground":  # a finalizer holds one pod, so the owners visibly wait for it
        two_nodes.kubectl("-n", ns, "patch", "pod", held, "--type=merge", "-p",
                          '{"metadata": {"finalizers": ["example.com/hold"]}}')
    two_nodes.kubectl("-n", ns, "delete", "deployment", "web", f"--cascade={cascade}", "--wait=false")
    if cascade == "foreground":
        d = wait_for(lambda: (two_nodes.kubectl_json("-n", ns, "get", "rs", "-l", "app=web")["items"] or [None])[0],
                     30, "the ReplicaSet")
        wait_for(lambda: _pods(two_nodes, ns, "app=web") and all(
            p["metadata"].get("deletionTimestamp") for p in _pods(two_nodes, ns, "app=web")), 30, "pods deleting")
        time.sleep(2)
        d = two_nodes.kubectl_json("-n", ns, "get", "deployment", "web")
        assert d["metadata"]["deletionTimestamp"] and d["metadata"]["finalizers"] == ["foregroundDeletion"]
        rs = two_nodes.kubectl_json("-n", ns, "get", "rs", "-l", "app=web")["items"]
        assert [r["metadata"].get("finalizers") for r in rs] == [["foregroundDeletion"]]
        two_nodes.kubectl("-n", ns, "patch", "pod", held, "--type=json", "-p",
                          '[{"op": "remove", "path": "/metadata/finalizers"}]')
    wait_for(lambda: two_nodes.kubectl("-n", ns, "get", "deployment", "web", check=False).returncode != 0, 60,
             "the Deployment gone")

    def left() -> tuple[int, int] | None:
        rs = two_nodes.kubectl_json("-n", ns, "get", "rs", "-l", "app=web")["items"]
        live = [p for p in _pods(two_nodes, ns, "app=web")]
        return (len(rs), len(live)) if (len(rs), len(live)) == (rs_left, pods_left) else None

    wait_for(left, 60, f"{rs_left} ReplicaSets and {pods_left} pods")
    time.sleep(3)  # and it stays so: nothing recreates or deletes what the policy leaves
    assert left() is not None
    if cascade == "orphan":
        rs = two_nodes.kubectl_json("-n", ns, "get", "rs", "-l", "app=web")["items"]
        assert _owners(rs[0]) == []
        assert {tuple(_owners(p)) for p in _pods(two_nodes, ns, "app=web")} == {("ReplicaSet",)}
        assert len(_ready_pods(two_nodes, ns, "app=web")) == 2


WIDGET_CRD = textwrap.dedent("""\
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata: {name: widgets.e2e.example.com}
    spec:
      group: e2e.example.com
      scope: Namespaced
      names: {plural: widgets, singular: widget, kind: Widget}
      versions:
      - name: v1
        served: true
        storage: true
        schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    """)


def test_namespace_deletion_empties_and_removes_it(two_nodes: TwoNodeCluster) -> None:
    ns = two_nodes.namespace("doomed")
    two_nodes.kubectl("apply", "-f", "-", input=WIDGET_CRD)
    wait_for(lambda: two_nodes.kubectl("get", "widgets.e2e.example.com", "-A", check=False).returncode == 0, 30,
             "the Widget CRD served")
    _apply_and_roll_out(two_nodes, ns, deployment("web", replicas=2), "web")
    two_nodes.kubectl("-n", ns, "create", "service", "clusterip", "web", "--tcp=80:8080")
    for i in range(3):
        two_nodes.kubectl("-n", ns, "create", "configmap", f"cm-{i}", f"--from-literal=k={i}")
    two_nodes.kubectl("-n", ns, "apply", "-f", "-",
                      input="apiVersion: e2e.example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n")
    wait_for(lambda: two_nodes.kubectl_json("-n", ns, "get", "endpointslices")["items"], 30, "EndpointSlices")
    assert two_nodes.kubectl_json("-n", ns, "get", "serviceaccount", "default")["metadata"]["name"] == "default"
    assert two_nodes.kubectl_json("-n", ns, "get", "configmap", "kube-root-ca.crt")["data"]["ca.crt"]
    two_nodes.kubectl("delete", "namespace", ns, "--timeout=90s", timeout=120)
    assert two_nodes.kubectl("get", "namespace", ns, check=False).returncode != 0
    two_nodes.namespaces.remove(ns)
    for kind in ("pods", "deployments", "replicasets", "services", "configmaps", "widgets.e2e.example.com",
                 "endpoints", "endpointslices", "serviceaccounts"):
        assert two_nodes.kubectl_json("get", kind, "-A", "--field-selector", f"metadata.namespace={ns}")["items"] == []


TOLERATIONS = {
    "tolerations": [{"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": TOLERATION_SECONDS}
                    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")],
    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                   "whenUnsatisfiable": "ScheduleAnyway",
                                   "labelSelector": {"matchLabels": {"app": "web"}}}],
}


def test_pods_of_a_dead_node_are_replaced_elsewhere(two_nodes: TwoNodeCluster) -> None:
    """Runs last: it kills node-b's kubelet."""
    ns = two_nodes.namespace("nodedeath")
    _apply_and_roll_out(two_nodes, ns, deployment("web", replicas=4, pod_spec=TOLERATIONS), "web")
    pods = wait_for(lambda: _settled(two_nodes, ns, "app=web", 4), 60, "4 ready pods")
    on_b = {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == "node-b"}
    assert on_b, "the scheduler spreads the pods over both nodes"
    assert two_nodes.kubelet_b is not None
    two_nodes.kubelet_b.kill()  # SIGKILL, by PID
    two_nodes.kubelet_b.wait(10)
    killed = time.monotonic()

    def replaced() -> list[dict[str, Any]] | None:
        ready = _ready_pods(two_nodes, ns, "app=web")
        return ready if len(ready) == 4 and all(p["spec"]["nodeName"] == "node-a" for p in ready) else None

    budget = NODE_MONITOR_GRACE_PERIOD + NODE_MONITOR_PERIOD + TOLERATION_SECONDS + 20
    ready = wait_for(replaced, budget, "4 ready pods on node-a")
    took = time.monotonic() - killed
    assert not on_b & _names(ready)
    node = two_nodes.kubectl_json("get", "node", "node-b")
    ready_cond = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready_cond["status"] == "Unknown"
    taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
    assert ("node.kubernetes.io/unreachable", "NoExecute") in taints
    # no kubelet confirms their end, so the evicted pods stay Terminating (as upstream, until the node goes)
    left_on_b = [p for p in _pods(two_nodes, ns, "app=web") if p["spec"]["nodeName"] == "node-b"]
    assert {p["metadata"]["name"] for p in left_on_b} == on_b
    assert all(p["metadata"].get("deletionTimestamp") for p in left_on_b)
    evicted = two_nodes.kubectl_json("-n", ns, "get", "events", "--field-selector", "reason=TaintManagerEviction")
    assert {e["involvedObject"]["name"] for e in evicted["items"]} == on_b
    print(f"pods of the dead node replaced {took:.1f}s after kill -9 (budget {budget:.0f}s)")

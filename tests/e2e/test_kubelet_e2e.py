"""Issue 3's "Show" list end to end: real kubectl against `kybernetes server`, whose kubelet runs real processes.

Pods share the node's network here, so every pod that listens gets its own free port. Slow behaviours
(CrashLoopBackOff's growing delays, liveness restarts) start in a module fixture and are checked last.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from typing import Any, Callable

import pytest

from tests.conftest import Cluster, free_port

NS = "kubelet-e2e"


# ------------------------------------------------------------------------------------------------ helpers
def k(cluster: Cluster, *args: str, **kw: Any) -> subprocess.CompletedProcess:
    return cluster.kubectl("-n", NS, *args, **kw)


def kj(cluster: Cluster, *args: str) -> dict:
    return json.loads(k(cluster, *args, "-o", "json").stdout)


def apply(cluster: Cluster, *objs: dict) -> None:
    k(cluster, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)}))


def pod(name: str, *containers: dict, **spec: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"e2e": name}},
            "spec": {"terminationGracePeriodSeconds": 1, **spec, "containers": list(containers)}}


def ctr(name: str, script: str, **extra: Any) -> dict:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script], **extra}


def wait_for(what: str, fn: Callable[[], Any], timeout: float = 30, interval: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def status_of(cluster: Cluster, name: str, container: int = 0) -> dict:
    statuses = (kj(cluster, "get", "pod", name).get("status") or {}).get("containerStatuses") or []
    return statuses[container] if len(statuses) > container else {}


def ts(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").timestamp()


def stop(proc: subprocess.Popen) -> None:
    """Stop a process we started, by its PID."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


def read_until(fd: int, pattern: bytes, timeout: float) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while pattern not in buf and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def env(cluster: Cluster, tmp_path_factory) -> Any:
    """The namespace, a shared host directory (mounted at the same path, so rootless works too), and the slow
    pods started at once: a crash loop and a failing liveness probe."""
    host = str(tmp_path_factory.mktemp("kubelet-e2e"))
    os.chmod(host, 0o777)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}))
    wait_for("the default service account", lambda: k(cluster, "get", "serviceaccount", "default",
                                                       check=False).returncode == 0)
    vol = {"volumes": [{"name": "host", "hostPath": {"path": host}}]}
    mount = {"volumeMounts": [{"name": "host", "mountPath": host}]}
    apply(cluster,
          pod("crash", ctr("c", f"date +%s.%N >> {host}/crash-runs; echo crashing-$(date +%s%N); exit 1", **mount),
              **vol),
          pod("liveness", ctr("c", f"date +%s >> {host}/liveness-runs; exec sleep 3600", **mount,
                              livenessProbe={"exec": {"command": ["test", "-f", f"{host}/alive"]},
                                             "initialDelaySeconds": 1, "periodSeconds": 1, "failureThreshold": 2}),
              **vol))
    yield {"host": host, "vol": vol, "mount": mount}
    # the kubelet stops the pods' processes; a stopped server would leave them running
    cluster.kubectl("delete", "namespace", NS, "--wait=true", "--timeout=60s", check=False, timeout=70)
    for pid in _runtime_processes(cluster, NS).values():  # whatever it could not stop in time
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def web(cluster: Cluster, env: Any) -> dict:
    """A Deployment of `python3 -m http.server` with a readiness probe, rolled out."""
    port = free_port()
    k(cluster, "create", "-f", "-", input=json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "web", "image": "python:3.11",
                                     "command": ["python3", "-m", "http.server", str(port), "--bind", "0.0.0.0"],
                                     "readinessProbe": {"httpGet": {"path": "/", "port": port},
                                                        "periodSeconds": 1}}]}}}}))
    k(cluster, "rollout", "status", "deployment/web", "--timeout=60s", timeout=70)
    k(cluster, "wait", "--for=condition=Ready", "pod", "-l", "app=web", "--timeout=30s", timeout=40)
    name = kj(cluster, "get", "pods", "-l", "app=web")["items"][0]["metadata"]["name"]
    return {"port": port, "pod": name}


@pytest.fixture(scope="module")
def two(cluster: Cluster, env: Any) -> str:
    """A two-container pod: `a` counts lines, `b` says one line and sleeps (with a file to copy to and from)."""
    apply(cluster, pod("two", ctr("a", "i=0; while true; do echo a-$i; i=$((i+1)); sleep 0.3; done"),
                       ctr("b", "echo b-start; exec sleep 3600")))
    k(cluster, "wait", "--for=condition=Ready", "pod/two", "--timeout=30s", timeout=40)
    return "two"


# ------------------------------------------------------------------------------------------------ tests
def test_deployment_runs_and_is_ready(cluster: Cluster, web: dict) -> None:
    p = kj(cluster, "get", "pod", web["pod"])
    assert p["status"]["phase"] == "Running"
    assert {c["type"]: c["status"] for c in p["status"]["conditions"]}["Ready"] == "True"
    assert p["status"]["podIP"] and p["status"]["containerStatuses"][0]["started"] is True
    # the pod's own IP: its network namespace under the bridge network (as root), the node's otherwise
    with urllib.request.urlopen(f"http://{p['status']['podIP']}:{web['port']}/", timeout=5) as r:
        assert r.status == 200 and b"Directory listing" in r.read()


def test_logs_container_tail_and_follow(cluster: Cluster, two: str) -> None:
    assert k(cluster, "logs", two, "-c", "b").stdout == "b-start\n"
    wait_for("three lines of a", lambda: len(k(cluster, "logs", two, "-c", "a").stdout.splitlines()) >= 3)
    tail = k(cluster, "logs", two, "-c", "a", "--tail=2").stdout.splitlines()
    assert len(tail) == 2 and all(re.fullmatch(r"a-\d+", line) for line in tail)
    assert int(tail[1][2:]) == int(tail[0][2:]) + 1
    proc = subprocess.Popen(["kubectl", "--kubeconfig", cluster.kubeconfig, "-n", NS, "logs", "-f", two, "-c", "a",
                             "--tail=1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode().strip()
        second = proc.stdout.readline().decode().strip()  # only arrives by following
        assert int(second[2:]) == int(first[2:]) + 1
        assert proc.poll() is None  # still following
    finally:
        stop(proc)


def test_exec_plain(cluster: Cluster, two: str) -> None:
    res = k(cluster, "exec", two, "-c", "b", "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (res.returncode, res.stdout) == (3, "out\n") and "err" in res.stderr
    assert k(cluster, "exec", "-i", two, "-c", "b", "--", "cat", input="piped\n").stdout == "piped\n"


def test_exec_interactive_tty(cluster: Cluster, two: str) -> None:
    master, slave = os.openpty()
    import fcntl
    import struct
    import termios
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 121, 0, 0))

    def controlling_tty() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        ["kubectl", "--kubeconfig", cluster.kubeconfig, "-n", NS, "exec", "-it", two, "-c", "b", "--",
         "sh", "-c", "stty size; tty; read x; echo got:$x; exit 4"],
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True, preexec_fn=controlling_tty)
    os.close(slave)
    try:
        out = read_until(master, b"/dev/", 20)
        assert b"33 121" in out, out  # the size was set before the process started
        os.write(master, b"hello\r")
        out += read_until(master, b"got:hello", 10)
        assert b"got:hello" in out, out
        assert proc.wait(10) == 4
    finally:
        stop(proc)
        os.close(master)


def test_port_forward_fetches_a_page(cluster: Cluster, web: dict) -> None:
    local = free_port()
    proc = subprocess.Popen(["kubectl", "--kubeconfig", cluster.kubeconfig, "-n", NS, "port-forward",
                             f"pod/{web['pod']}", f"{local}:{web['port']}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert b"Forwarding from 127.0.0.1" in proc.stdout.readline()
        for _ in range(2):  # two connections over one forward
            with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=10) as r:
                assert r.status == 200 and b"Directory listing" in r.read()
    finally:
        stop(proc)


def test_attach(cluster: Cluster, env: Any) -> None:
    apply(cluster, pod("attach", ctr("c", "echo ready; while read l; do echo echo:$l; done; echo bye",
                                     stdin=True, stdinOnce=True), restartPolicy="Never"))
    k(cluster, "wait", "--for=condition=Ready", "pod/attach", "--timeout=30s", timeout=40)
    wait_for("ready in the log", lambda: "ready" in k(cluster, "logs", "attach").stdout)
    res = k(cluster, "attach", "-i", "attach", "-c", "c", input="one\ntwo\n", timeout=30)
    assert "echo:one\necho:two\nbye" in res.stdout, res.stdout
    # stdinOnce: closing our stdin closed the container's, so it ended
    wait_for("the attached container to exit", lambda: kj(cluster, "get", "pod", "attach")["status"]["phase"]
             == "Succeeded")


def test_cp_both_ways(cluster: Cluster, two: str, tmp_path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("copied in\n")
    remote = f"/tmp/kyb-e2e-cp-{os.getpid()}"
    k(cluster, "exec", two, "-c", "b", "--", "mkdir", "-p", remote)
    try:
        k(cluster, "cp", str(src), f"{two}:{remote}/in.txt", "-c", "b")
        assert k(cluster, "exec", two, "-c", "b", "--", "cat", f"{remote}/in.txt").stdout == "copied in\n"
        k(cluster, "exec", two, "-c", "b", "--", "sh", "-c", f"echo made inside > {remote}/out.txt")
        k(cluster, "cp", f"{two}:{remote}/out.txt", str(tmp_path / "out.txt"), "-c", "b")
        assert (tmp_path / "out.txt").read_text() == "made inside\n"
    finally:
        k(cluster, "exec", two, "-c", "b", "--", "rm", "-rf", remote, check=False)


def test_configmap_secret_downward_api_in_env_and_files(cluster: Cluster, env: Any) -> None:
    apply(cluster,
          {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"color": "blue"}},
          {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"}, "stringData": {"token": "s3cret"}})
    root = "${KYBERNETES_ROOT:-}"  # the rootless fallback exposes mounts under $KYBERNETES_ROOT
    script = (f"echo env=$COLOR,$TOKEN,$MY_NAME,$MY_NS,$CPU_LIMIT; "
              f"echo files=$(cat {root}/etc/cfg/color),$(cat {root}/etc/sec/token),$(cat {root}/etc/info/name),"
              f"$(cat {root}/etc/info/labels); exec sleep 3600")
    spec = pod("values", ctr("c", script, resources={"limits": {"cpu": "2", "memory": "64Mi"}}, env=[
        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "color"}}},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "token"}}},
        {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}],
        volumeMounts=[{"name": "cfg", "mountPath": "/etc/cfg"}, {"name": "sec", "mountPath": "/etc/sec"},
                      {"name": "info", "mountPath": "/etc/info"}]),
        volumes=[{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "sec", "secret": {"secretName": "sec"}},
                 {"name": "info", "downwardAPI": {"items": [
                     {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                     {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}])
    apply(cluster, spec)
    k(cluster, "wait", "--for=condition=Ready", "pod/values", "--timeout=30s", timeout=40)
    out = wait_for("both lines", lambda: (lambda s: s if "files=" in s else "")(k(cluster, "logs", "values").stdout))
    assert "env=blue,s3cret,values,kubelet-e2e,2\n" in out
    assert 'files=blue,s3cret,values,e2e="values"\n' in out
    # a configMap update reaches the file (not the env)
    k(cluster, "patch", "configmap", "cfg", "--type=merge", "-p", '{"data":{"color":"green"}}')
    wait_for("the updated configMap file", lambda: k(cluster, "exec", "values", "--", "sh", "-c",
                                                      f"cat {root}/etc/cfg/color").stdout == "green", timeout=40)
    assert k(cluster, "exec", "values", "--", "sh", "-c", "echo $COLOR").stdout == "blue\n"
    k(cluster, "delete", "pod", "values", "--wait=false")


def test_readiness_probe_gates_ready_and_endpoints(cluster: Cluster, env: Any) -> None:
    flag = f"{env['host']}/ready-flag"
    apply(cluster,
          pod("gated", ctr("c", "exec sleep 3600", readinessProbe={
              "exec": {"command": ["test", "-f", flag]}, "periodSeconds": 1, "failureThreshold": 1})),
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "gated"},
           "spec": {"selector": {"e2e": "gated"}, "ports": [{"port": 80, "targetPort": free_port()}]}})
    wait_for("the container to run", lambda: status_of(cluster, "gated").get("state", {}).get("running"))

    def endpoint_names(kind: str) -> set[str]:
        res = k(cluster, "get", "endpoints", "gated", "-o", "json", check=False)
        subsets = json.loads(res.stdout).get("subsets") or [] if res.returncode == 0 else []
        return {a.get("targetRef", {}).get("name") for s in subsets for a in s.get(kind) or []}

    wait_for("the pod listed as not ready", lambda: "gated" in endpoint_names("notReadyAddresses"))
    time.sleep(2)  # several failed probes later it is still not ready
    assert status_of(cluster, "gated")["ready"] is False
    assert "0/1" in k(cluster, "get", "pod", "gated").stdout
    assert "gated" not in endpoint_names("addresses")
    open(flag, "w").close()
    k(cluster, "wait", "--for=condition=Ready", "pod/gated", "--timeout=20s", timeout=30)
    wait_for("the pod in the endpoints", lambda: "gated" in endpoint_names("addresses"))
    k(cluster, "delete", "pod", "gated", "--wait=false")


@pytest.mark.parametrize(("code", "phase", "reason"), [(0, "Succeeded", "Completed"), (7, "Failed", "Error")],
                         ids=["succeeded", "failed"])
def test_restart_never_pod_ends_with_its_exit_code(cluster: Cluster, env: Any, code: int, phase: str,
                                                    reason: str) -> None:
    name = f"job-{phase.lower()}"
    apply(cluster, pod(name, ctr("c", f"echo working; exit {code}"), restartPolicy="Never"))
    p = wait_for(f"phase {phase}", lambda: (lambda p: p if p["status"].get("phase") in ("Succeeded", "Failed") else None)(
        kj(cluster, "get", "pod", name)))
    term = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (p["status"]["phase"], term["exitCode"], term["reason"]) == (phase, code, reason)
    assert p["status"]["containerStatuses"][0]["restartCount"] == 0
    assert k(cluster, "logs", name).stdout == "working\n"


def test_job_runs_to_completion(cluster: Cluster, env: Any) -> None:
    k(cluster, "create", "job", "pi", "--image=busybox", "--", "sh", "-c", "echo done")
    k(cluster, "wait", "--for=condition=Complete", "job/pi", "--timeout=60s", timeout=70)
    assert k(cluster, "logs", "job/pi").stdout == "done\n"


def test_pre_stop_runs_and_grace_period_is_honoured(cluster: Cluster, env: Any) -> None:
    host = env["host"]
    grace = 3
    apply(cluster, pod("prestop", ctr(
        "c", f"trap 'echo TERM >> {host}/prestop-log' TERM; while true; do sleep 0.1; done", **env["mount"],
        lifecycle={"preStop": {"exec": {"command": ["sh", "-c", f"echo preStop >> {host}/prestop-log"]}}}),
        terminationGracePeriodSeconds=grace, **env["vol"]))
    k(cluster, "wait", "--for=condition=Ready", "pod/prestop", "--timeout=30s", timeout=40)
    start = time.monotonic()
    k(cluster, "delete", "pod", "prestop", "--wait=true", timeout=60)
    took = time.monotonic() - start
    # the process ignores SIGTERM: it is only gone by SIGKILL at the end of the grace period
    assert grace - 0.5 <= took <= grace + 6, took
    lines = open(f"{host}/prestop-log").read().split()
    assert lines[0] == "preStop" and "TERM" in lines[1:], lines  # the hook ran first, then SIGTERM


def test_failing_liveness_probe_restarts_the_container(cluster: Cluster, env: Any) -> None:
    s = wait_for("a liveness restart", lambda: (lambda s: s if s.get("restartCount", 0) >= 1 else None)(
        status_of(cluster, "liveness")), timeout=40)
    assert s["lastState"]["terminated"]["exitCode"] in (137, 143)  # killed by SIGTERM (or SIGKILL after grace)
    runs = open(f"{env['host']}/liveness-runs").read().split()
    assert len(runs) >= 2
    events = k(cluster, "get", "events", "--field-selector", "involvedObject.name=liveness").stdout
    assert "Unhealthy" in events and "failed liveness probe" in events
    k(cluster, "delete", "pod", "liveness", "--wait=false")


def test_crash_loop_backoff_with_growing_delays(cluster: Cluster, env: Any) -> None:
    runs_path = f"{env['host']}/crash-runs"
    wait_for("four runs of the crashing container", lambda: os.path.exists(runs_path)
             and len(open(runs_path).read().split()) >= 4, timeout=60, interval=1)
    runs = [float(x) for x in open(runs_path).read().split()]
    gaps = [b - a for a, b in zip(runs, runs[1:])]
    # upstream: restart at once, then 10 s, 20 s, 40 s ... (measured from the previous exit)
    assert gaps[1] >= 9.5 and gaps[2] >= 19.5 and gaps[2] > gaps[1] * 1.5 > gaps[0], gaps
    s = wait_for("waiting in CrashLoopBackOff", lambda: (lambda s: s if s.get("state", {}).get("waiting", {}).get(
        "reason") == "CrashLoopBackOff" and s["restartCount"] >= 3 else None)(status_of(cluster, "crash")))
    assert "back-off 40s" in s["state"]["waiting"]["message"]
    last = s["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (1, "Error")
    assert abs(ts(last["startedAt"]) - runs[3]) <= 1.5 and ts(last["finishedAt"]) - ts(last["startedAt"]) <= 1.5
    assert "CrashLoopBackOff" in k(cluster, "get", "pod", "crash").stdout
    previous = k(cluster, "logs", "crash", "--previous").stdout
    assert re.fullmatch(r"crashing-\d+\n", previous), previous
    k(cluster, "delete", "pod", "crash", "--wait=false")


def _runtime_processes(cluster: Cluster, namespace: str = "") -> dict[str, int]:
    """Running containers of this cluster's runtime (of one namespace): container id -> main PID."""
    root = os.path.join(cluster.data_dir, "kubelet", "runtime", "containers")
    out = {}
    for cid in os.listdir(root):
        try:
            with open(os.path.join(root, cid, "started.json")) as f:
                started = json.load(f)
            with open(os.path.join(root, cid, "container.json")) as f:
                labels = json.load(f)["config"]["labels"]
        except (OSError, ValueError, KeyError):
            continue
        if namespace and labels.get("io.kubernetes.pod.namespace") != namespace:
            continue
        if not os.path.exists(os.path.join(root, cid, "exited.json")) and os.path.exists(f"/proc/{started['pid']}"):
            out[cid] = started["pid"]
    return out


def _shim_pids(cluster: Cluster) -> set[int]:
    out = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if b"kybernetes.kubelet.runtime.process.shim" in cmd and cluster.data_dir.encode() in cmd:
                out.add(int(name))
    return out


def _kubelet_pids(cluster: Cluster) -> list[int]:
    return [int(x) for x in re.findall(r"started kubelet \(pid (\d+)\)", open(cluster.log_path).read())]


def test_kubelet_kill9_is_restarted_and_adopts_its_pods(cluster: Cluster, web: dict, two: str) -> None:
    for name in ("crash", "liveness"):  # nothing that restarts by itself while we count
        k(cluster, "delete", "pod", name, "--ignore-not-found", "--wait=true", timeout=60)
    wait_for("no terminating pods", lambda: "Terminating" not in k(cluster, "get", "pods").stdout)
    before, shims = _runtime_processes(cluster), _shim_pids(cluster)
    restarts = {p["metadata"]["name"]: [c["restartCount"] for c in p["status"]["containerStatuses"]]
                for p in kj(cluster, "get", "pods")["items"] if p["status"].get("phase") == "Running"}
    assert len(before) >= 3 and len(shims) == len(before)
    old = _kubelet_pids(cluster)[-1]
    os.kill(old, signal.SIGKILL)
    new = wait_for("the supervisor to restart the kubelet", lambda: (lambda p: p[-1] if p[-1] != old else None)(
        _kubelet_pids(cluster)), timeout=30)
    assert os.path.exists(f"/proc/{new}")
    # the new kubelet serves exec and logs, and has synced every pod without touching its containers
    wait_for("exec through the new kubelet", lambda: k(cluster, "exec", two, "-c", "b", "--", "echo", "hi",
                                                       check=False).stdout == "hi\n")
    time.sleep(3)  # a few PLEG relists and resyncs
    assert _runtime_processes(cluster) == before
    assert _shim_pids(cluster) == shims
    after = {p["metadata"]["name"]: [c["restartCount"] for c in p["status"]["containerStatuses"]]
             for p in kj(cluster, "get", "pods")["items"] if p["status"].get("phase") == "Running"}
    assert after == restarts
    assert status_of(cluster, web["pod"])["ready"] is True
    # and it still starts new pods
    apply(cluster, pod("after-restart", ctr("c", "exec sleep 3600")))
    k(cluster, "wait", "--for=condition=Ready", "pod/after-restart", "--timeout=30s", timeout=40)
    assert len(_runtime_processes(cluster)) == len(before) + 1

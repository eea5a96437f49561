"""The kubelet against a real apiserver: node registration, pod lifecycle, probes, volumes, adoption."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from kybernetes.client.config import load_kubeconfig
from kybernetes.client.rest import ApiError, RESTClient, resource_path
from kybernetes.kubelet.kubelet import run_kubelet
from kybernetes.kubelet.options import KubeletOptions
from kybernetes.kubelet.runtime.interface import LABEL_POD_UID, ContainerFilter, ContainerState
from kybernetes.kubelet.runtime.process import ProcessRuntime
from tests.conftest import free_port

NODE = "node-a"
PY = sys.executable
PODS = resource_path("", "v1", "pods", "default")


def fast_options(**kw: Any) -> KubeletOptions:
    base = dict(sync_frequency=1.0, pleg_relist_period=0.3, node_status_update_frequency=1.0,
                node_lease_renew_interval=1.0, crash_loop_backoff_base=1.0, crash_loop_backoff_max=8.0,
                minimum_grace_period=0.5, eviction_monitoring_period=30.0, eviction_hard={})
    base.update(kw)
    return KubeletOptions(**base)


@dataclass
class Env:
    client: RESTClient
    kubeconfig: str
    root_dir: str
    task: asyncio.Task[None]
    stop: asyncio.Event
    options: KubeletOptions

    def runtime(self) -> ProcessRuntime:
        return ProcessRuntime(os.path.join(self.root_dir, "runtime"))

    async def restart(self) -> None:
        """Cancel the kubelet task as a crash would, and start a new kubelet on the same root_dir."""
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        self.stop = asyncio.Event()
        self.task = start_kubelet(self.kubeconfig, self.root_dir, self.stop, self.options)


def start_kubelet(kubeconfig: str, root_dir: str, stop: asyncio.Event, options: KubeletOptions,
                  manifests: str = "") -> asyncio.Task[None]:
    return asyncio.create_task(run_kubelet(kubeconfig=kubeconfig, node_name=NODE, root_dir=root_dir,
                                           node_ip="127.0.0.1", server_port=free_port(), stop=stop, options=options,
                                           pod_manifest_path=manifests))


async def eventually(fn: Callable[[], Awaitable[Any]], timeout: float = 20.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await fn()
            if last:
                return last
        except (ApiError, KeyError, IndexError, TypeError):
            pass
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s; last: {last!r}")


async def make_env(apiserver: Any, tmp_path: Any, manifests: str = "", **opts: Any) -> AsyncIterator[Env]:
    client = RESTClient(load_kubeconfig(apiserver.kubeconfig_path))
    root = str(tmp_path / "kubelet")
    stop = asyncio.Event()
    options = fast_options(**opts)
    env = Env(client, apiserver.kubeconfig_path, root,
              start_kubelet(apiserver.kubeconfig_path, root, stop, options, manifests), stop, options)
    try:
        yield env
    finally:
        await cleanup(env)


async def cleanup(env: Env) -> None:
    """Delete every pod and wait for the kubelet to remove them, then stop whatever still runs, by id."""
    try:
        pods = (await env.client.list(PODS))["items"]
        for p in pods:
            try:
                await env.client.delete(f"{PODS}/{p['metadata']['name']}", body={"gracePeriodSeconds": 1})
            except ApiError:
                pass
        if not env.task.done():
            await eventually(lambda: _no_pods(env), timeout=15)
    except AssertionError:
        pass
    finally:
        env.stop.set()
        env.task.cancel()
        await asyncio.gather(env.task, return_exceptions=True)
        rt = env.runtime()
        for c in await rt.list_containers():
            await rt.remove_container(c.id)
        for s in await rt.list_pod_sandbox():
            await rt.remove_pod_sandbox(s.id)
        await env.client.close()


async def _no_pods(env: Env) -> bool:
    return not (await env.client.list(PODS))["items"]


@pytest_asyncio.fixture
async def env(apiserver, tmp_path) -> AsyncIterator[Env]:
    async for e in make_env(apiserver, tmp_path):
        yield e


def pod(name: str, containers: list[dict], **spec: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 5, "containers": containers, **spec}}


def container(name: str, script: str, **kw: Any) -> dict:
    return {"name": name, "image": "python:3", "command": [PY, "-c", script], **kw}


async def get_pod(env: Env, name: str) -> dict:
    return await env.client.get(f"{PODS}/{name}")


async def status_of(env: Env, name: str, cname: str) -> dict:
    p = await get_pod(env, name)
    for s in (p.get("status") or {}).get("containerStatuses") or []:
        if s["name"] == cname:
            return s
    return {}


def cond(p: dict, ctype: str) -> str:
    return next((c["status"] for c in (p.get("status") or {}).get("conditions") or [] if c["type"] == ctype), "")


async def running_containers(env: Env, uid: str) -> list:
    rt = env.runtime()
    return [c for c in await rt.list_containers(ContainerFilter(label_selector={LABEL_POD_UID: uid}))
            if c.state == ContainerState.CONTAINER_RUNNING]


# ---------------------------------------------------------------------------------------------- tests


async def test_node_registers_ready_and_renews_lease(env: Env) -> None:
    node = await eventually(lambda: _ready_node(env))
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == NODE and labels["kubernetes.io/os"] == "linux"
    status = node["status"]
    assert status["capacity"]["pods"] == "110"
    assert status["nodeInfo"]["containerRuntimeVersion"] == "process://0.1.0"
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["reason"], ready["message"]) == ("KubeletReady", "kubelet is posting ready status")
    lease_path = resource_path("coordination.k8s.io", "v1", "leases", "kube-node-lease", NODE)
    first = await eventually(lambda: env.client.get(lease_path))
    assert first["spec"]["leaseDurationSeconds"] == 40
    assert first["metadata"]["ownerReferences"][0]["kind"] == "Node"

    async def renewed() -> bool:
        return (await env.client.get(lease_path))["spec"]["renewTime"] != first["spec"]["renewTime"]
    await eventually(renewed, timeout=5)


async def _ready_node(env: Env) -> dict | None:
    node = await env.client.get(resource_path("", "v1", "nodes", None, NODE))
    return node if cond(node, "Ready") == "True" else None


async def test_http_server_pod_becomes_running_and_ready(env: Env) -> None:
    port = free_port()
    c = {"name": "web", "image": "python:3", "command": [PY, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
         "ports": [{"name": "http", "containerPort": port}],
         "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1}}
    created = await env.client.create(PODS, pod("web", [c]))

    async def ready() -> dict | None:
        p = await get_pod(env, "web")
        return p if p["status"].get("phase") == "Running" and cond(p, "Ready") == "True" else None
    p = await eventually(ready)
    st = p["status"]
    assert st["podIP"] == "127.0.0.1" and st["hostIP"] == "127.0.0.1" and st["startTime"]
    cs = st["containerStatuses"][0]
    assert cs["ready"] and cs["started"] and cs["containerID"].startswith("process://") and cs["restartCount"] == 0
    assert {c["type"] for c in st["conditions"]} >= {"PodReadyToStartContainers", "Initialized", "ContainersReady",
                                                     "Ready", "PodScheduled"}
    assert len(await running_containers(env, created["metadata"]["uid"])) == 1


async def test_crashing_container_backs_off_with_growing_delays(env: Env) -> None:
    await env.client.create(PODS, pod("crash", [container("c", "import sys; sys.exit(1)")]))
    starts: dict[int, float] = {}

    async def observe() -> bool:
        s = await status_of(env, "crash", "c")
        starts.setdefault(s.get("restartCount", -1), time.monotonic())
        return s.get("restartCount", 0) >= 3
    await eventually(observe, timeout=25, interval=0.1)
    gap1, gap2 = starts[2] - starts[1], starts[3] - starts[2]
    assert gap2 > gap1 * 1.4, (gap1, gap2)

    async def backoff() -> dict | None:
        s = await status_of(env, "crash", "c")
        return s if (s["state"].get("waiting") or {}).get("reason") == "CrashLoopBackOff" else None
    s = await eventually(backoff, timeout=10, interval=0.1)
    assert s["lastState"]["terminated"]["exitCode"] == 1
    assert s["lastState"]["terminated"]["reason"] == "Error"
    assert "back-off" in s["state"]["waiting"]["message"]


async def test_failing_liveness_probe_restarts_container(env: Env) -> None:
    c = container("c", "import time; time.sleep(600)",
                  livenessProbe={"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1})
    await env.client.create(PODS, pod("live", [c]))

    async def restarted() -> dict | None:
        s = await status_of(env, "live", "c")
        return s if s.get("restartCount", 0) >= 1 else None
    s = await eventually(restarted, timeout=20)
    assert s["lastState"]["terminated"]["exitCode"] in (137, 143)
    events = (await env.client.list(resource_path("", "v1", "events", "default")))["items"]
    reasons = {e["reason"] for e in events}
    assert {"Unhealthy", "Killing"} <= reasons


@pytest.mark.parametrize("code,phase,reason", [(0, "Succeeded", "Completed"), (3, "Failed", "Error")],
                         ids=["succeeds", "fails"])
async def test_restart_never_pod_ends_with_exit_code(env: Env, code: int, phase: str, reason: str) -> None:
    await env.client.create(PODS, pod("job", [container("c", f"import sys; sys.exit({code})")], restartPolicy="Never"))

    async def done() -> dict | None:
        p = await get_pod(env, "job")
        return p if p["status"].get("phase") == phase else None
    p = await eventually(done)
    term = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (code, reason)
    assert p["status"]["containerStatuses"][0]["restartCount"] == 0


async def test_prestop_runs_and_grace_period_is_honoured(env: Env, tmp_path) -> None:
    marker = tmp_path / "prestop"
    script = ("import signal, time, sys\n"
              "signal.signal(signal.SIGTERM, lambda *a: (time.sleep(1), sys.exit(0)))\n"
              "while True: time.sleep(0.1)\n")
    c = container("c", script, lifecycle={"preStop": {"exec": {"command": ["sh", "-c", f"echo ran > {marker}"]}}})
    created = await env.client.create(PODS, pod("stop", [c], terminationGracePeriodSeconds=10))
    uid = created["metadata"]["uid"]
    await eventually(lambda: _phase_is(env, "stop", "Running"))
    started = time.monotonic()
    await env.client.delete(f"{PODS}/stop")
    await eventually(lambda: _gone(env, "stop"), timeout=15)
    took = time.monotonic() - started
    assert marker.read_text().strip() == "ran"
    assert 1.0 <= took < 10, took  # waited for the SIGTERM handler, not the whole grace period
    assert not await running_containers(env, uid)


async def _phase_is(env: Env, name: str, phase: str) -> bool:
    return (await get_pod(env, name))["status"].get("phase") == phase


async def _gone(env: Env, name: str) -> bool:
    try:
        await get_pod(env, name)
    except ApiError as e:
        return e.not_found
    return False


async def test_configmap_secret_and_downward_api_in_env_and_files(env: Env, tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    await env.client.create(resource_path("", "v1", "configmaps", "default"),
                            {"metadata": {"name": "cfg"}, "data": {"greeting": "hello", "file.txt": "v1"}})
    await env.client.create(resource_path("", "v1", "secrets", "default"),
                            {"metadata": {"name": "sec"}, "data": {"pw": base64.b64encode(b"s3cret").decode()}})
    script = (f"import os, time\n"
              f"open('{out}/env', 'w').write('|'.join(os.environ.get(k, '-') for k in "
              f"['GREETING', 'PW', 'POD_NAME', 'MSG', 'KUBERNETES_SERVICE_HOST']))\n"
              "time.sleep(600)\n")
    c = container("c", script, env=[
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "MSG", "value": "$(GREETING) from $(POD_NAME) $$(GREETING)"}],
        volumeMounts=[{"name": "cfg", "mountPath": "/etc/cfg"}, {"name": "sec", "mountPath": "/etc/sec"},
                      {"name": "info", "mountPath": "/etc/info"}])
    vols = [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "sec", "secret": {"secretName": "sec"}},
            {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}]
    p = pod("vols", [c], volumes=vols)
    p["metadata"]["labels"] = {"app": "demo"}
    created = await env.client.create(PODS, p)
    uid = created["metadata"]["uid"]
    env_file = out / "env"
    await eventually(lambda: _exists(env_file))
    greeting, pw, name, msg, _host = env_file.read_text().split("|")
    assert (greeting, pw, name) == ("hello", "s3cret", "vols")
    assert msg == "hello from vols $(GREETING)"
    vol_root = os.path.join(env.root_dir, "pods", uid, "volumes")
    cfg_file = os.path.join(vol_root, "kubernetes.io~configmap", "cfg", "file.txt")
    assert open(cfg_file).read() == "v1"
    assert open(os.path.join(vol_root, "kubernetes.io~secret", "sec", "pw")).read() == "s3cret"
    assert open(os.path.join(vol_root, "kubernetes.io~downward-api", "info", "labels")).read() == 'app="demo"'
    rt = env.runtime()
    running = await running_containers(env, uid)
    status = await rt.container_status(running[0].id)
    assert {m.container_path for m in status.mounts} >= {"/etc/cfg", "/etc/sec", "/etc/info"}
    await env.client.patch(resource_path("", "v1", "configmaps", "default", "cfg"), {"data": {"file.txt": "v2"}})

    async def updated() -> bool:
        return open(cfg_file).read() == "v2"
    await eventually(updated, timeout=10)


async def _exists(path: Any) -> bool:
    return path.exists() and path.stat().st_size > 0


async def test_missing_configmap_is_a_config_error(env: Env) -> None:
    c = container("c", "pass", env=[{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}])
    await env.client.create(PODS, pod("cfgerr", [c]))

    async def waiting() -> dict | None:
        s = await status_of(env, "cfgerr", "c")
        w = s.get("state", {}).get("waiting") or {}
        return w if w.get("reason") == "CreateContainerConfigError" else None
    w = await eventually(waiting)
    assert w["message"] == 'configmap "nope" not found'


async def test_init_containers_run_in_order(env: Env, tmp_path) -> None:
    log = tmp_path / "order"
    inits = [container(f"init{i}", f"open('{log}', 'a').write('init{i} ')") for i in (1, 2)]
    app = container("app", f"import time; open('{log}', 'a').write('app'); time.sleep(600)")
    await env.client.create(PODS, pod("inits", [app], initContainers=inits))
    p = await eventually(lambda: _running_pod(env, "inits"))

    async def app_ran() -> bool:
        return log.read_text().endswith("app")
    await eventually(app_ran, timeout=5)
    assert log.read_text() == "init1 init2 app"
    assert cond(p, "Initialized") == "True"
    assert [s["state"]["terminated"]["reason"] for s in p["status"]["initContainerStatuses"]] == ["Completed"] * 2


async def _running_pod(env: Env, name: str) -> dict | None:
    p = await get_pod(env, name)
    cs = p["status"].get("containerStatuses") or []
    return p if p["status"].get("phase") == "Running" and cs and "running" in cs[0]["state"] else None


async def test_restarted_kubelet_adopts_running_containers(env: Env) -> None:
    created = await env.client.create(PODS, pod("adopt", [container("c", "import time; time.sleep(600)")]))
    uid = created["metadata"]["uid"]
    await eventually(lambda: _running_pod(env, "adopt"))
    before = [c.id for c in await running_containers(env, uid)]
    assert len(before) == 1
    await env.restart()
    await asyncio.sleep(3)  # several syncs and relists of the new kubelet
    after = await env.runtime().list_containers(ContainerFilter(label_selector={LABEL_POD_UID: uid}))
    assert [c.id for c in after] == before
    assert after[0].state == ContainerState.CONTAINER_RUNNING
    s = await status_of(env, "adopt", "c")
    assert s["restartCount"] == 0 and s["containerID"] == "process://" + before[0]


async def test_static_pod_runs_with_a_mirror_pod(apiserver, tmp_path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "static.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static\nspec:\n  containers:\n  - name: c\n"
        f"    image: python:3\n    command: [{PY!r}, '-c', 'import time; time.sleep(600)']\n")
    async for env in make_env(apiserver, tmp_path, manifests=str(manifests)):
        name = f"static-{NODE}"
        p = await eventually(lambda: _running_pod(env, name))
        annotations = p["metadata"]["annotations"]
        assert annotations["kubernetes.io/config.source"] == "file"
        assert annotations["kubernetes.io/config.mirror"] == annotations["kubernetes.io/config.hash"]
        assert p["metadata"]["ownerReferences"][0]["kind"] == "Node"
        (manifests / "static.yaml").unlink()
        await eventually(lambda: _gone(env, name), timeout=15)
        uid = annotations["kubernetes.io/config.hash"]
        await eventually(lambda: _none_running(env, uid), timeout=10)


async def _none_running(env: Env, uid: str) -> bool:
    return not await running_containers(env, uid)

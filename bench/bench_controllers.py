"""Controller benchmark: a Deployment scaled from 0 to N replicas (time until all pods exist), then a rolling
update of them with maxSurge 25% while this script plays the kubelet (marks new pods Running and Ready).

Run: python bench/bench_controllers.py [--replicas 1000] [--json FILE]

Processes: a real `python -m kybernetes apiserver` subprocess, a controller-manager subprocess (this script's
`cm` mode: run_controller_manager with the replicaset and deployment controllers), and this driver, which
watches pods through an informer and patches pod status with a pool of writers. No scheduler runs: "exists"
means the pod object was created. Processes are stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from kybernetes.api.meta import now_rfc3339  # noqa: E402
from kybernetes.client import ApiError, RESTClient, SharedInformer, load_kubeconfig, resource_path  # noqa: E402

NS = "default"
DEPLOYS = resource_path("apps", "v1", "deployments", NS)
PODS = resource_path("", "v1", "pods", NS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"apiserver exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=ctx, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("apiserver did not become ready")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


class FakeKubelet:
    """Marks every pod it sees Running and Ready (a pool of status writers)."""

    def __init__(self, client: RESTClient, pods: SharedInformer, writers: int = 16) -> None:
        self.client = client
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.seen: set[str] = set()
        self.enabled = False
        self.writers = [asyncio.create_task(self._write()) for _ in range(writers)]
        pods.add_event_handler(on_add=self._see, on_update=lambda old, new: self._see(new))

    def _see(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        if not self.enabled or name in self.seen or pod["metadata"].get("deletionTimestamp"):
            return
        if any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or []):
            return
        self.seen.add(name)
        self.queue.put_nowait(name)

    def enable(self, pods: list[dict[str, Any]]) -> None:
        self.enabled = True
        for p in pods:
            self._see(p)

    async def _write(self) -> None:
        while True:
            name = await self.queue.get()
            now = now_rfc3339()
            status = {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": now}]}
            try:
                await self.client.patch(f"{PODS}/{name}/status", {"status": status}, "merge")
            except ApiError:
                pass

    async def close(self) -> None:
        for t in self.writers:
            t.cancel()
        await asyncio.gather(*self.writers, return_exceptions=True)


async def wait_until(pred, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not pred():
        if time.monotonic() - start > timeout:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def rollout_complete(d: dict[str, Any] | None, replicas: int) -> bool:
    if d is None:
        return False
    st = d.get("status") or {}
    prog = next((c for c in st.get("conditions") or [] if c["type"] == "Progressing"), {})
    return (st.get("observedGeneration", 0) >= d["metadata"]["generation"] and st.get("updatedReplicas") == replicas
            and st.get("replicas") == replicas and st.get("availableReplicas") == replicas
            and prog.get("reason") == "NewReplicaSetAvailable")


async def drive(kubeconfig: str, replicas: int, cm_pid: int, api_pid: int) -> dict[str, Any]:
    client = RESTClient(load_kubeconfig(kubeconfig))
    pods = SharedInformer(client, PODS)
    deploys = SharedInformer(client, DEPLOYS)
    kubelet = FakeKubelet(client, pods)
    pods.start()
    deploys.start()
    await pods.wait_for_sync()
    await deploys.wait_for_sync()
    labels = {"app": "bench"}
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench"},
            "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "img:A"}]}}}}
    await client.create(DEPLOYS, body)
    live = lambda: sum(1 for p in pods.store.list() if not p["metadata"].get("deletionTimestamp"))  # noqa: E731
    cpu0 = (cpu_seconds(cm_pid), cpu_seconds(api_pid))
    await client.patch(f"{DEPLOYS}/bench", {"spec": {"replicas": replicas}}, "merge")
    scale_s = await wait_until(lambda: live() >= replicas, 600, "all pods exist")
    cpu1 = (cpu_seconds(cm_pid), cpu_seconds(api_pid))
    print(f"scale 0 -> {replicas}: all pods exist after {scale_s:.2f}s", flush=True)

    kubelet.enable(pods.store.list())
    ready_s = await wait_until(lambda: rollout_complete(deploys.store.get("bench", NS), replicas), 600,
                               "all pods ready")
    print(f"marked ready, deployment available after {ready_s:.2f}s more", flush=True)

    cpu2 = (cpu_seconds(cm_pid), cpu_seconds(api_pid))
    patched = await client.patch(f"{DEPLOYS}/bench", {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "img:B"}]}}}}, "strategic")
    generation = patched["metadata"]["generation"]
    await wait_until(lambda: (deploys.store.get("bench", NS) or {}).get("metadata", {}).get("generation", 0)
                     >= generation, 30, "generation bump")
    roll_s = await wait_until(lambda: rollout_complete(deploys.store.get("bench", NS), replicas)
                              and live() == replicas, 900, "rolling update")
    cpu3 = (cpu_seconds(cm_pid), cpu_seconds(api_pid))
    print(f"rolling update of {replicas} (maxSurge 25%): complete after {roll_s:.2f}s", flush=True)
    await kubelet.close()
    await pods.stop()
    await deploys.stop()
    await client.close()
    return {"replicas": replicas, "scale_up_all_pods_exist_s": round(scale_s, 2),
            "mark_ready_until_available_s": round(ready_s, 2), "rolling_update_s": round(roll_s, 2),
            "cpu_scale_cm_s": round(cpu1[0] - cpu0[0], 1), "cpu_scale_apiserver_s": round(cpu1[1] - cpu0[1], 1),
            "cpu_roll_cm_s": round(cpu3[0] - cpu2[0], 1), "cpu_roll_apiserver_s": round(cpu3[1] - cpu2[1], 1)}


def run_cm(kubeconfig: str) -> None:
    from kybernetes.controllers.manager import run_controller_manager
    asyncio.run(run_controller_manager(kubeconfig=kubeconfig, controllers=["replicaset", "deployment"]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", nargs="?", default="bench", choices=["bench", "cm"])
    ap.add_argument("--kubeconfig", default="")
    ap.add_argument("--replicas", type=int, default=1000)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    if args.mode == "cm":
        run_cm(args.kubeconfig)
        return
    tmp = tempfile.mkdtemp(prefix="bench-controllers-")
    port = free_port()
    log = open(os.path.join(tmp, "apiserver.log"), "ab")
    api = subprocess.Popen([sys.executable, "-m", "kybernetes", "apiserver", "--data-dir", tmp, "--bind-address",
                            "127.0.0.1", "--secure-port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                           cwd=ROOT, start_new_session=True)
    cm = None
    try:
        wait_ready(port, api)
        kubeconfig = os.path.join(tmp, "admin.kubeconfig")
        cm_log = open(os.path.join(tmp, "cm.log"), "ab")
        cm = subprocess.Popen([sys.executable, os.path.abspath(__file__), "cm", "--kubeconfig", kubeconfig],
                              stdout=cm_log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        result = asyncio.run(drive(kubeconfig, args.replicas, cm.pid, api.pid))
        result.update(python=platform.python_version(), cpus=os.cpu_count(),
                      driver_max_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
        print(json.dumps(result, indent=1))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
    finally:
        if cm is not None:
            stop(cm)
        stop(api)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

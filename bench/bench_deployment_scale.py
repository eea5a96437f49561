"""Deployment scale benchmark (issue 6's shape): 100 registered nodes and the real scheduler; a Deployment scaled
from 0 to 1,000 replicas (time until all pods exist, and until all are bound), then a rolling update of the
1,000 replicas with maxSurge 25% (time until it is complete).

Run: python bench/bench_deployment_scale.py [--nodes 100] [--replicas 1000] [--runs 3] [--json FILE]

Processes per run (a fresh cluster each run, every one stopped by PID): `kybernetes apiserver` (SQLite),
`kybernetes scheduler`, `kybernetes controller-manager` (every controller, default flags), and this driver.
No kubelets: the driver registers the Node objects (capacity, allocatable, Ready condition), keeps them Ready
by renewing their Leases in kube-node-lease, and plays every node's kubelet: it marks bound pods Running and
Ready through pods/status, and finishes graceful deletions (grace 0) as a kubelet does once a pod has stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from bench.bench_controllers import cpu_seconds, free_port, stop, wait_ready, wait_until  # noqa: E402
from kybernetes.api.meta import now_rfc3339  # noqa: E402
from kybernetes.client import ApiError, RESTClient, SharedInformer, load_kubeconfig, resource_path  # noqa: E402

NS = "default"
DEPLOYS = resource_path("apps", "v1", "deployments", NS)
PODS = resource_path("", "v1", "pods", NS)
NODES = resource_path("", "v1", "nodes")
LEASES = resource_path("coordination.k8s.io", "v1", "leases", "kube-node-lease")
NODE_CAPACITY = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "100Gi"}
LEASE_RENEW_PERIOD = 5.0


def now_micro() -> str:
    """MicroTime, as kubelets write Lease renewTime."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def node_body(name: str) -> dict[str, Any]:
    now = now_rfc3339()
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                                  "kubernetes.io/arch": "amd64"}},
            "status": {"capacity": NODE_CAPACITY, "allocatable": NODE_CAPACITY,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "bench node", "lastHeartbeatTime": now,
                                       "lastTransitionTime": now}],
                       "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}}


class FakeNodes:
    """The Node objects and their Leases, renewed every LEASE_RENEW_PERIOD seconds."""

    def __init__(self, client: RESTClient, count: int) -> None:
        self.client = client
        self.names = [f"bench-node-{i:03d}" for i in range(count)]
        self.task: asyncio.Task[None] | None = None

    async def register(self) -> None:
        sem = asyncio.Semaphore(16)

        async def one(name: str) -> None:
            async with sem:
                body = node_body(name)
                await self.client.create(NODES, body)
                await self.client.patch(f"{NODES}/{name}/status", {"status": body["status"]}, "merge")
                await self.client.create(LEASES, {
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
                    "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now_micro()}})

        await asyncio.gather(*(one(n) for n in self.names))
        self.task = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(LEASE_RENEW_PERIOD)
            for name in self.names:
                try:
                    await self.client.patch(f"{LEASES}/{name}", {"spec": {"renewTime": now_micro()}}, "merge")
                except ApiError:
                    pass

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


class FakeKubelets:
    """Every node's kubelet at once: bound pods become Running and Ready; deleted pods are finalized."""

    def __init__(self, client: RESTClient, pods: SharedInformer, writers: int = 16) -> None:
        self.client = client
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.started: set[str] = set()
        self.finalized: set[str] = set()
        self.writers = [asyncio.create_task(self._write()) for _ in range(writers)]
        pods.add_event_handler(on_add=self._see, on_update=lambda old, new: self._see(new))

    def _see(self, pod: dict[str, Any]) -> None:
        md = pod["metadata"]
        uid = md["uid"]
        if md.get("deletionTimestamp"):
            if uid not in self.finalized:
                self.finalized.add(uid)
                self.queue.put_nowait(("delete", pod))
        elif (pod.get("spec") or {}).get("nodeName") and uid not in self.started:
            self.started.add(uid)
            self.queue.put_nowait(("start", pod))

    async def _write(self) -> None:
        while True:
            action, pod = await self.queue.get()
            name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
            try:
                if action == "delete":
                    await self.client.delete(f"{PODS}/{name}", body={
                        "kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                        "preconditions": {"uid": uid}})
                    continue
                now = now_rfc3339()
                status = {"phase": "Running", "hostIP": "127.0.0.1", "podIP": "127.0.0.1", "startTime": now,
                          "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                                         for t in ("Initialized", "ContainersReady", "Ready")],
                          "containerStatuses": [{"name": c["name"], "image": c["image"], "imageID": "",
                                                 "ready": True, "started": True, "restartCount": 0,
                                                 "state": {"running": {"startedAt": now}}}
                                                for c in pod["spec"]["containers"]]}
                await self.client.patch(f"{PODS}/{name}/status", {"status": status}, "merge")
            except ApiError:
                pass

    async def close(self) -> None:
        for t in self.writers:
            t.cancel()
        await asyncio.gather(*self.writers, return_exceptions=True)


def rollout_complete(d: dict[str, Any] | None, replicas: int) -> bool:
    """What `kubectl rollout status` waits for, plus Progressing=NewReplicaSetAvailable."""
    if d is None:
        return False
    st = d.get("status") or {}
    prog = next((c for c in st.get("conditions") or [] if c["type"] == "Progressing"), {})
    return (st.get("observedGeneration", 0) >= d["metadata"]["generation"] and st.get("updatedReplicas") == replicas
            and st.get("replicas") == replicas and st.get("availableReplicas") == replicas
            and prog.get("reason") == "NewReplicaSetAvailable")


async def drive(kubeconfig: str, nodes: int, replicas: int, pids: dict[str, int]) -> dict[str, Any]:
    client = RESTClient(load_kubeconfig(kubeconfig))
    fake_nodes = FakeNodes(client, nodes)
    t0 = time.monotonic()
    await fake_nodes.register()
    register_s = time.monotonic() - t0
    pods = SharedInformer(client, PODS)
    deploys = SharedInformer(client, DEPLOYS)
    kubelets = FakeKubelets(client, pods)
    pods.start()
    deploys.start()
    await pods.wait_for_sync()
    await deploys.wait_for_sync()
    labels = {"app": "bench"}
    template = {"metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "img:A", "env": [{"name": "V", "value": "A"}],
                                         "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}
    await client.create(DEPLOYS, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench"},
        "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "template": template}})

    def live() -> list[dict[str, Any]]:
        return [p for p in pods.store.list() if not p["metadata"].get("deletionTimestamp")]

    cpu0 = {k: cpu_seconds(v) for k, v in pids.items()}
    start = time.monotonic()
    await client.patch(f"{DEPLOYS}/bench", {"spec": {"replicas": replicas}}, "merge")
    await wait_until(lambda: len(live()) >= replicas, 600, "all pods exist")
    exist_s = time.monotonic() - start
    await wait_until(lambda: sum(1 for p in live() if p["spec"].get("nodeName")) >= replicas, 600, "all bound")
    bound_s = time.monotonic() - start
    await wait_until(lambda: rollout_complete(deploys.store.get("bench", NS), replicas), 600, "available")
    available_s = time.monotonic() - start
    cpu1 = {k: cpu_seconds(v) for k, v in pids.items()}
    print(f"  scale 0 -> {replicas}: exist {exist_s:.1f}s, bound {bound_s:.1f}s, available {available_s:.1f}s",
          flush=True)

    patched = await client.patch(f"{DEPLOYS}/bench", {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "img:B", "env": [{"name": "V", "value": "B"}]}]}}}}, "strategic")
    generation = patched["metadata"]["generation"]
    start = time.monotonic()
    await wait_until(lambda: (deploys.store.get("bench", NS) or {}).get("metadata", {}).get("generation", 0)
                     >= generation, 30, "generation seen")
    await wait_until(lambda: rollout_complete(deploys.store.get("bench", NS), replicas)
                     and len(pods.store.list()) == replicas, 900, "rolling update")
    roll_s = time.monotonic() - start
    cpu2 = {k: cpu_seconds(v) for k, v in pids.items()}
    images = {p["spec"]["containers"][0]["image"] for p in pods.store.list()}
    assert images == {"img:B"}, images
    print(f"  rolling update of {replicas} (maxSurge 25%): complete after {roll_s:.1f}s", flush=True)
    await kubelets.close()
    await fake_nodes.close()
    await pods.stop()
    await deploys.stop()
    await client.close()
    out: dict[str, Any] = {"register_nodes_s": round(register_s, 1), "all_pods_exist_s": round(exist_s, 2),
                           "all_pods_bound_s": round(bound_s, 2), "deployment_available_s": round(available_s, 2),
                           "rolling_update_s": round(roll_s, 2)}
    for k in pids:
        out[f"cpu_scale_{k}_s"] = round(cpu1[k] - cpu0[k], 1)
        out[f"cpu_roll_{k}_s"] = round(cpu2[k] - cpu1[k], 1)
    return out


def start(args: list[str], log_path: str) -> subprocess.Popen:
    log = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "kybernetes", *args], stdout=log, stderr=subprocess.STDOUT,
                            cwd=ROOT, start_new_session=True)


def one_run(nodes: int, replicas: int, keep: bool) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="bench-deploy-scale-")
    port = free_port()
    procs: list[subprocess.Popen] = []
    try:
        api = start(["apiserver", "--data-dir", tmp, "--bind-address", "127.0.0.1", "--secure-port", str(port)],
                    os.path.join(tmp, "apiserver.log"))
        procs.append(api)
        wait_ready(port, api)
        kubeconfig = os.path.join(tmp, "admin.kubeconfig")
        sched = start(["scheduler", "--kubeconfig", kubeconfig], os.path.join(tmp, "scheduler.log"))
        cm = start(["controller-manager", "--kubeconfig", kubeconfig], os.path.join(tmp, "cm.log"))
        procs += [sched, cm]
        pids = {"apiserver": api.pid, "scheduler": sched.pid, "cm": cm.pid, "driver": os.getpid()}
        return asyncio.run(drive(kubeconfig, nodes, replicas, pids))
    finally:
        for p in reversed(procs):
            stop(p)
        if keep:
            print(f"  logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--replicas", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep each run's data dir and logs")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    runs = []
    for i in range(args.runs):
        print(f"run {i + 1}/{args.runs}", flush=True)
        runs.append(one_run(args.nodes, args.replicas, args.keep))
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    result = {"nodes": args.nodes, "replicas": args.replicas, "runs": runs, "median": median,
              "python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
              "loadavg_at_end": os.getloadavg()}
    print(json.dumps({"median": median}, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()

"""Scheduler benchmark in the shapes of upstream's scheduler_perf, through a real apiserver.

Run: python bench/bench_scheduler.py [--workload SchedulingBasic|TopologySpreading|NodeAffinity|PreemptionBasic|all]
                                     [--nodes N] [--init-pods I] [--pods P] [--runs R] [--timeout 300]

Workloads (defaults are upstream's performance-config.yaml sizes):
- SchedulingBasic: 5,000 nodes (node-default.yaml: 4 CPU, 32Gi, 110 pods), 1,000 init pods, 10,000 measured pods
  (pod-default.yaml: pause, 100m CPU, 500Mi).
- TopologySpreading: nodes in 3 zones (topology.kubernetes.io/zone moon-1..3), 5,000 init pods, 2,000 measured
  pods labelled color=blue with a topologySpreadConstraint maxSkew 1 on the zone, DoNotSchedule.
- NodeAffinity: nodes in zones zone1..zone4, 5,000 init pods, 1,000 measured pods whose required node affinity
  admits zone1 and zone2 only (half the nodes).
- PreemptionBasic: 500 nodes filled by 2,000 low-priority pods (900m CPU each), then 500 high-priority pods
  (priority 10, 3 CPU) that must preempt 3 victims each. This script acts as the kubelet: a pod that gets a
  deletionTimestamp is deleted with grace 0, so the victims go away and the preemptors fit.

An apiserver subprocess (`python -m kybernetes apiserver`) and a scheduler subprocess (this script's
`run-scheduler` mode calling kybernetes.scheduler.app.run_scheduler) are started; the driver (this process)
creates objects with 32 concurrent requests and watches pods. The result is upstream's SchedulingThroughput
average: measured pods from the first to the last one seen with spec.nodeName, per second; with the CPU seconds
and CPU share (of one core) of the scheduler, the apiserver and the driver during the measured phase.
Processes are stopped by PID; every phase is bounded by --timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from kybernetes.client import ApiError, RESTClient, load_kubeconfig, resource_path  # noqa: E402

NODE_ALLOCATABLE = {"cpu": "4", "memory": "32Gi", "pods": "110"}
NAMESPACE = "default"
ZONE = "topology.kubernetes.io/zone"
PODS_PATH = resource_path("", "v1", "pods", NAMESPACE)


@dataclass(frozen=True)
class Workload:
    nodes: int
    init_pods: int
    pods: int
    threshold: float | None  # upstream's CI threshold (pods/s), None when it has none


WORKLOADS = {
    "SchedulingBasic": Workload(5000, 1000, 10000, 270),
    "TopologySpreading": Workload(5000, 5000, 2000, 85),
    "NodeAffinity": Workload(5000, 5000, 1000, None),
    "PreemptionBasic": Workload(500, 2000, 500, 18),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def proc_stats(pid: int) -> dict[str, float]:
    """RSS now and peak (MiB) and CPU seconds of a process."""
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1]) / 1024
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out["cpu_s"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        pass
    return out


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def node_body(workload: str, i: int) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": f"node-{i}"}
    if workload == "TopologySpreading":
        labels[ZONE] = f"moon-{i % 3 + 1}"
    elif workload == "NodeAffinity":
        labels[ZONE] = f"zone{i % 4 + 1}"
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{i}", "labels": labels},
            "status": {"capacity": NODE_ALLOCATABLE, "allocatable": NODE_ALLOCATABLE,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                       "phase": "Running"}}


def _container(cpu: str) -> dict[str, Any]:
    res = {"cpu": cpu, "memory": "500Mi"}
    return {"name": "pause", "image": "registry.k8s.io/pause:3.10", "ports": [{"containerPort": 80}],
            "resources": {"requests": res, "limits": res}}


def pod_body(workload: str, name: str, measured: bool) -> dict[str, Any]:
    """The init pod (pod-default, or pod-low-priority for preemption) or the workload's measured pod."""
    md: dict[str, Any] = {"name": name, "namespace": NAMESPACE}
    spec: dict[str, Any] = {"containers": [_container("100m")]}
    if workload == "PreemptionBasic":
        if measured:
            spec = {"priority": 10, "containers": [_container("3000m")]}
        else:
            spec = {"terminationGracePeriodSeconds": 0, "containers": [_container("900m")]}
    elif measured and workload == "TopologySpreading":
        md["labels"] = {"color": "blue"}
        spec["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
                                              "labelSelector": {"matchLabels": {"color": "blue"}}}]
    elif measured and workload == "NodeAffinity":
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["zone1", "zone2"]}]}]}}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec}


async def create_all(client: RESTClient, bodies: list[tuple[str, dict[str, Any]]], concurrency: int) -> None:
    it = iter(bodies)

    async def worker() -> None:
        for path, body in it:
            for attempt in range(5):
                try:
                    await client.create(path, body)
                    break
                except ApiError as e:
                    if e.code == 409:
                        break
                    await asyncio.sleep(0.2 * (attempt + 1))
    await asyncio.gather(*(worker() for _ in range(concurrency)))


class PodWatcher:
    """One pod watch for the whole run: when pods of each name prefix are first seen bound, and (as the kubelet
    would) the final delete, with grace 0, of every pod that gets a deletionTimestamp."""

    def __init__(self, client: RESTClient, rv: str) -> None:
        self.client, self.rv = client, rv
        self.times: dict[str, list[float]] = {"init-": [], "pod-": []}
        self.seen: set[str] = set()
        self.deleting: set[str] = set()
        self.deleted = 0
        self.changed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(self) -> None:
        while True:
            try:
                async for ev in self.client.watch(PODS_PATH, {"resourceVersion": self.rv,
                                                              "allowWatchBookmarks": True}):
                    self._handle(ev)
            except (ApiError, OSError, asyncio.TimeoutError):
                await asyncio.sleep(0.2)

    def _handle(self, ev: dict[str, Any]) -> None:
        obj = ev.get("object") or {}
        md = obj.get("metadata") or {}
        self.rv = md.get("resourceVersion", self.rv)
        if ev.get("type") not in ("ADDED", "MODIFIED"):
            return
        name = md.get("name", "")
        if name not in self.seen and (obj.get("spec") or {}).get("nodeName"):
            for prefix, times in self.times.items():
                if name.startswith(prefix):
                    self.seen.add(name)
                    times.append(time.monotonic())
                    self.changed.set()
        if md.get("deletionTimestamp") and name not in self.deleting:
            self.deleting.add(name)
            task = asyncio.create_task(self._finish_delete(name, md.get("uid", "")))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _finish_delete(self, name: str, uid: str) -> None:
        try:
            await self.client.delete(resource_path("", "v1", "pods", NAMESPACE, name), params={"gracePeriodSeconds": 0},
                                     body={"preconditions": {"uid": uid}})
            self.deleted += 1
        except ApiError:
            pass

    async def wait_for(self, prefix: str, want: int, timeout: float, alive: Any) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.times[prefix]) < want:
            if time.monotonic() > deadline or not alive():
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
        return True


async def start_apiserver(data_dir: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = open(os.path.join(data_dir, "apiserver.log"), "wb")
    proc = subprocess.Popen([sys.executable, "-m", "kybernetes", "apiserver", "--data-dir", data_dir,
                             "--bind-address", "127.0.0.1", "--secure-port", str(port)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, preexec_fn=raise_nofile)
    kubeconfig = os.path.join(data_dir, "admin.kubeconfig")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("apiserver exited")
        if os.path.exists(kubeconfig):
            try:
                async with RESTClient(load_kubeconfig(kubeconfig)) as c:
                    await c.get("/readyz")
                    return proc, kubeconfig
            except Exception:
                pass
        await asyncio.sleep(0.2)
    raise RuntimeError("apiserver not ready in 60 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_py_spy(pid: int, out: str) -> subprocess.Popen[bytes] | None:
    """py-spy recording a process (raw collapsed stacks) until stopped with SIGINT; None without py-spy."""
    exe = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(exe):
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "raw", "--rate", "50",
                             "--nonblocking", "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_py_spy(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def bench(workload: str, w: Workload, args: argparse.Namespace) -> dict[str, Any]:
    data_dir = tempfile.mkdtemp(prefix="kyb-bench-sched-")
    api, kubeconfig = await start_apiserver(data_dir)
    sched: subprocess.Popen[bytes] | None = None
    spies: list[subprocess.Popen[bytes] | None] = []
    client = RESTClient(load_kubeconfig(kubeconfig))
    watcher: asyncio.Task[None] | None = None
    result: dict[str, Any] = {"workload": workload, "nodes": w.nodes, "init_pods": w.init_pods, "pods": w.pods}
    try:
        t0 = time.monotonic()
        nodes = resource_path("", "v1", "nodes")
        await create_all(client, [(nodes, node_body(workload, i)) for i in range(w.nodes)], args.concurrency)
        result["create_nodes_s"] = round(time.monotonic() - t0, 1)
        cmd = [sys.executable, os.path.abspath(__file__), "run-scheduler", "--kubeconfig", kubeconfig]
        if args.cprofile:
            cmd += ["--cprofile", args.cprofile]
        sched = subprocess.Popen(cmd, cwd=ROOT, stdout=open(os.path.join(data_dir, "scheduler.log"), "wb"),
                                 stderr=subprocess.STDOUT)
        rv = (await client.list(PODS_PATH, {"limit": 1}))["metadata"]["resourceVersion"]
        pods = PodWatcher(client, rv)
        watcher = asyncio.create_task(pods.run())
        alive = lambda: sched is not None and sched.poll() is None  # noqa: E731
        if w.init_pods:
            await create_all(client, [(PODS_PATH, pod_body(workload, f"init-{i}", False))
                                      for i in range(w.init_pods)], args.concurrency)
            if not await pods.wait_for("init-", w.init_pods, args.timeout, alive):
                raise RuntimeError(f"init pods not scheduled in time ({len(pods.times['init-'])}/{w.init_pods})")
        if args.py_spy:
            spies = [start_py_spy(sched.pid, f"{args.py_spy}.{workload}.scheduler.txt"),
                     start_py_spy(api.pid, f"{args.py_spy}.{workload}.apiserver.txt")]
        cpu0 = proc_stats(sched.pid).get("cpu_s", 0.0)
        api_cpu0 = proc_stats(api.pid).get("cpu_s", 0.0)
        self0 = self_cpu()
        t_create = time.monotonic()
        creator = asyncio.create_task(create_all(
            client, [(PODS_PATH, pod_body(workload, f"pod-{i}", True)) for i in range(w.pods)], args.concurrency))
        if not await pods.wait_for("pod-", w.pods, args.timeout, alive):
            result["timed_out"] = True
        t_end = time.monotonic()
        await creator
        for spy in spies:
            stop_py_spy(spy)
        stats = proc_stats(sched.pid)
        times = pods.times["pod-"]
        n = len(times)
        result["scheduled"] = n
        if n >= 2:
            result["avg_pods_per_s"] = round((n - 1) / (times[-1] - times[0]), 1)
            result["from_first_create_pods_per_s"] = round(n / (times[-1] - t_create), 1)
        if workload == "PreemptionBasic":
            result["victims_deleted"] = pods.deleted
        wall = max(t_end - t_create, 1e-9)
        result["measured_s"] = round(wall, 1)
        result["scheduler_cpu_s"] = round(stats.get("cpu_s", 0) - cpu0, 1)
        result["apiserver_cpu_s"] = round(proc_stats(api.pid).get("cpu_s", 0) - api_cpu0, 1)
        result["driver_cpu_s"] = round(self_cpu() - self0, 1)
        for who in ("scheduler", "apiserver", "driver"):
            result[f"{who}_core_share"] = round(result[f"{who}_cpu_s"] / wall, 2)
        result["scheduler_rss_mib"] = round(stats.get("VmRSS", 0), 1)
        result["scheduler_peak_rss_mib"] = round(stats.get("VmHWM", 0), 1)
        result["apiserver_peak_rss_mib"] = round(proc_stats(api.pid).get("VmHWM", 0), 1)
        result["loadavg_1m"] = round(os.getloadavg()[0], 2)
    finally:
        for spy in spies:
            stop_py_spy(spy)
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        await client.close()
        if sched is not None:
            stop(sched)
        stop(api)
        if args.keep:
            print(f"kept {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return result


def run_scheduler_mode(args: argparse.Namespace) -> None:
    import logging

    from kybernetes.scheduler.app import run_scheduler
    logging.basicConfig(level=os.environ.get("KYB_BENCH_LOG_LEVEL", "WARNING"),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def main() -> None:
        stop_ev = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop_ev.set)
        await run_scheduler(kubeconfig=args.kubeconfig, stop=stop_ev)

    if args.cprofile:
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
        try:
            asyncio.run(main())
        finally:
            prof.disable()
            prof.dump_stats(args.cprofile)
    else:
        asyncio.run(main())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="mode")
    r = sub.add_parser("run-scheduler")
    r.add_argument("--kubeconfig", required=True)
    r.add_argument("--cprofile", default="")
    p.add_argument("--workload", default="SchedulingBasic", choices=[*WORKLOADS, "all"])
    p.add_argument("--nodes", type=int, default=None, help="default: the workload's (upstream's 5000Nodes/500Nodes)")
    p.add_argument("--init-pods", type=int, default=None)
    p.add_argument("--pods", type=int, default=None)
    p.add_argument("--runs", type=int, default=1, help="repeat each workload and report the median")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--timeout", type=float, default=300, help="bound of each phase (seconds)")
    p.add_argument("--cprofile", default="", help="write a cProfile of the scheduler process here")
    p.add_argument("--py-spy", default="", help="record py-spy raw stacks of scheduler and apiserver to PREFIX.*")
    p.add_argument("--keep", action="store_true", help="keep the data dir (logs)")
    p.add_argument("--json", default="", help="append each result as one JSON line to this file")
    args = p.parse_args()
    if args.mode == "run-scheduler":
        run_scheduler_mode(args)
        return
    names = list(WORKLOADS) if args.workload == "all" else [args.workload]
    for name in names:
        d = WORKLOADS[name]
        w = Workload(args.nodes if args.nodes is not None else d.nodes,
                     args.init_pods if args.init_pods is not None else d.init_pods,
                     args.pods if args.pods is not None else d.pods, d.threshold)
        rates = []
        for _ in range(args.runs):
            result = asyncio.run(bench(name, w, args))
            print(json.dumps(result), flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(result) + "\n")
            rates.append(result.get("avg_pods_per_s", 0.0))
        print(json.dumps({"workload": name, "runs": args.runs, "median_pods_per_s": statistics.median(rates),
                          "threshold": w.threshold}), flush=True)


if __name__ == "__main__":
    main()

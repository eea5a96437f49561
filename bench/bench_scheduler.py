"""Scheduler benchmark in the shape of upstream's scheduler_perf SchedulingBasic, through a real apiserver.

Run: python bench/bench_scheduler.py [--nodes 5000] [--init-pods 1000] [--pods 10000] [--timeout 600]

An apiserver subprocess (`python -m kybernetes apiserver`) and a scheduler subprocess (this script's
`run-scheduler` mode calling kybernetes.scheduler.app.run_scheduler) are started; nodes shaped like
scheduler_perf's node-default.yaml (4 CPU, 32Gi, 110 pods) are created through the API, then the init pods are
created and awaited, then the measured pods (pod-default.yaml: pause, 100m CPU, 500Mi). A pod watch records when
each measured pod gets spec.nodeName; the result is the average pods/s from the first to the last one seen
scheduled, as scheduler_perf's SchedulingThroughput average, plus the scheduler's RSS and CPU seconds.
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
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from kybernetes.client import ApiError, RESTClient, load_kubeconfig, resource_path  # noqa: E402

NODE_ALLOCATABLE = {"cpu": "4", "memory": "32Gi", "pods": "110"}
POD_RESOURCES = {"requests": {"cpu": "100m", "memory": "500Mi"}, "limits": {"cpu": "100m", "memory": "500Mi"}}
NAMESPACE = "default"


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


def node_body(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": f"node-{i}", "labels": {"kubernetes.io/hostname": f"node-{i}"}},
            "status": {"capacity": NODE_ALLOCATABLE, "allocatable": NODE_ALLOCATABLE,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                       "phase": "Running"}}


def pod_body(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                                     "resources": POD_RESOURCES}]}}


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


async def watch_scheduled(client: RESTClient, rv: str, prefix: str, want: int, times: list[float],
                          done: asyncio.Event) -> None:
    """Record the time each pod named prefix* is first seen with a nodeName."""
    seen: set[str] = set()
    path = resource_path("", "v1", "pods", NAMESPACE)
    while len(seen) < want:
        async for ev in client.watch(path, {"resourceVersion": rv, "allowWatchBookmarks": True}):
            obj = ev.get("object") or {}
            rv = (obj.get("metadata") or {}).get("resourceVersion", rv)
            if ev.get("type") not in ("ADDED", "MODIFIED"):
                continue
            name = obj["metadata"]["name"]
            if name.startswith(prefix) and name not in seen and (obj.get("spec") or {}).get("nodeName"):
                seen.add(name)
                times.append(time.monotonic())
                if len(seen) >= want:
                    break
    done.set()


async def count_scheduled(client: RESTClient, prefix: str) -> int:
    items = (await client.list(resource_path("", "v1", "pods", NAMESPACE)))["items"]
    return sum(1 for p in items if p["metadata"]["name"].startswith(prefix) and p["spec"].get("nodeName"))


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


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = tempfile.mkdtemp(prefix="kyb-bench-sched-")
    api, kubeconfig = await start_apiserver(data_dir)
    sched: subprocess.Popen[bytes] | None = None
    client = RESTClient(load_kubeconfig(kubeconfig))
    result: dict[str, Any] = {"nodes": args.nodes, "init_pods": args.init_pods, "pods": args.pods}
    try:
        t0 = time.monotonic()
        nodes = resource_path("", "v1", "nodes")
        await create_all(client, [(nodes, node_body(i)) for i in range(args.nodes)], args.concurrency)
        result["create_nodes_s"] = round(time.monotonic() - t0, 1)
        cmd = [sys.executable, os.path.abspath(__file__), "run-scheduler", "--kubeconfig", kubeconfig]
        if args.cprofile:
            cmd += ["--cprofile", args.cprofile]
        sched = subprocess.Popen(cmd, cwd=ROOT, stdout=open(os.path.join(data_dir, "scheduler.log"), "wb"),
                                 stderr=subprocess.STDOUT)
        pods = resource_path("", "v1", "pods", NAMESPACE)
        if args.init_pods:
            await create_all(client, [(pods, pod_body(f"init-{i}")) for i in range(args.init_pods)],
                             args.concurrency)
            deadline = time.monotonic() + args.timeout
            while await count_scheduled(client, "init-") < args.init_pods:
                if time.monotonic() > deadline or sched.poll() is not None:
                    raise RuntimeError("init pods not scheduled in time")
                await asyncio.sleep(1)
        rv = (await client.list(pods, {"limit": 1}))["metadata"]["resourceVersion"]
        times: list[float] = []
        done = asyncio.Event()
        watcher = asyncio.create_task(watch_scheduled(client, rv, "pod-", args.pods, times, done))
        cpu0 = proc_stats(sched.pid).get("cpu_s", 0.0)
        api_cpu0 = proc_stats(api.pid).get("cpu_s", 0.0)
        t_create = time.monotonic()
        creator = asyncio.create_task(
            create_all(client, [(pods, pod_body(f"pod-{i}")) for i in range(args.pods)], args.concurrency))
        try:
            await asyncio.wait_for(done.wait(), args.timeout)
        except asyncio.TimeoutError:
            result["timed_out"] = True
        await creator
        watcher.cancel()
        stats = proc_stats(sched.pid)
        n = len(times)
        result["scheduled"] = n
        if n >= 2:
            result["avg_pods_per_s"] = round((n - 1) / (times[-1] - times[0]), 1)
            result["from_first_create_pods_per_s"] = round(n / (times[-1] - t_create), 1)
        result["scheduler_rss_mib"] = round(stats.get("VmRSS", 0), 1)
        result["scheduler_peak_rss_mib"] = round(stats.get("VmHWM", 0), 1)
        result["scheduler_cpu_s"] = round(stats.get("cpu_s", 0) - cpu0, 1)
        result["apiserver_cpu_s"] = round(proc_stats(api.pid).get("cpu_s", 0) - api_cpu0, 1)
        result["apiserver_peak_rss_mib"] = round(proc_stats(api.pid).get("VmHWM", 0), 1)
    finally:
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
    from kybernetes.scheduler.app import run_scheduler

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
    p.add_argument("--nodes", type=int, default=5000)
    p.add_argument("--init-pods", type=int, default=None, help="default: pods / 10 (scheduler_perf: 1000)")
    p.add_argument("--pods", type=int, default=10000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--cprofile", default="", help="write a cProfile of the scheduler process here")
    p.add_argument("--keep", action="store_true", help="keep the data dir (logs)")
    p.add_argument("--json", default="", help="append the result as one JSON line to this file")
    args = p.parse_args()
    if args.mode == "run-scheduler":
        run_scheduler_mode(args)
        return
    if args.init_pods is None:
        args.init_pods = args.pods // 10
    result = asyncio.run(bench(args))
    print(json.dumps(result))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

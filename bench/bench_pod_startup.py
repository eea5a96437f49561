"""Pod startup benchmark: N pods created at once on the one node of a real `kybernetes server`, timed from the
create request to phase Running as seen through a watch (p50, p99); then the kubelet's idle CPU and RSS with the
pods running, and the time until they are all deleted.

Run: python bench/bench_pod_startup.py [--pods 100] [--runs 3] [--idle 30] [--json FILE] [--pod-network host,bridge]

--pod-network takes one network or a comma-separated list; each gets its own server, one after the other in
the same invocation, and the medians are printed side by side (bridge needs root; the bench removes the
bridge and its nft table afterwards).

Processes: one `python -m kybernetes server` (apiserver + scheduler + controller-manager + kubelet as child
processes, loopback, free ports, a temporary data dir) and this driver. Each run creates the pods (`sleep 3600`,
no resources, bound by the scheduler), watches them Running, samples the kubelet child's /proc for `--idle`
seconds, then deletes them. The server is stopped by PID at the end, after every pod is gone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from kybernetes.client import ApiError, RESTClient, load_kubeconfig, resource_path  # noqa: E402

NS = "default"
PODS = resource_path("", "v1", "pods", NS)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: str, log_path: str, pod_network: str = "host") -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = open(log_path, "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kybernetes", "server", "--data-dir", data_dir, "--bind-address", "127.0.0.1",
         "--secure-port", str(port), "--kubelet-port", str(free_port()), "--pod-network", pod_network],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=ctx, timeout=2) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("server did not become ready")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


def kubelet_pid(log_path: str) -> int:
    found = re.findall(r"started kubelet \(pid (\d+)\)", open(log_path, errors="replace").read())
    if not found:
        raise RuntimeError("no kubelet in the server log")
    return int(found[-1])


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def kill_leftovers(data_dir: str) -> int:
    """SIGKILL, by PID, the shims of this cluster still running (and their containers); returns how many."""
    shims = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
            if b"runtime.process.shim" in cmd and data_dir.encode() in cmd:
                shims.append(int(name))
        except (OSError, ValueError):
            continue
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            if ppid in shims:
                os.kill(int(name), signal.SIGKILL)
        except (OSError, ValueError):
            continue
    for pid in shims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(shims)


def shim_rss(data_dir: str) -> tuple[int, int]:
    """Count and total RSS of this cluster's container shims."""
    count = total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
            if b"runtime.process.shim" in cmd and data_dir.encode() in cmd:
                count += 1
                total += rss_bytes(int(name))
        except OSError:
            continue
    return count, total


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


async def wait_node_ready(client: RESTClient) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        nodes = (await client.list(resource_path("", "v1", "nodes")))["items"]
        if any(c["type"] == "Ready" and c["status"] == "True" for n in nodes
               for c in (n.get("status") or {}).get("conditions") or []):
            try:
                await client.get(resource_path("", "v1", "serviceaccounts", NS, "default"))
                return
            except ApiError:
                pass
        await asyncio.sleep(0.2)
    raise TimeoutError("node not Ready")


async def one_run(client: RESTClient, run: int, n: int, kpid: int, idle: float, data_dir: str) -> dict[str, Any]:
    prefix = f"bench-{run}-"
    rv = (await client.list(PODS, {"limit": 1}))["metadata"]["resourceVersion"]
    created: dict[str, float] = {}
    running: dict[str, float] = {}
    bound: dict[str, float] = {}
    gone: dict[str, float] = {}
    all_running, all_gone = asyncio.Event(), asyncio.Event()

    async def watch() -> None:
        async for ev in client.watch(PODS, {"resourceVersion": rv, "allowWatchBookmarks": "true"}):
            obj = ev["object"]
            name = obj.get("metadata", {}).get("name", "")
            if not name.startswith(prefix):
                continue
            now = time.monotonic()
            if ev["type"] == "DELETED":
                gone.setdefault(name, now)
                if len(gone) == n:
                    all_gone.set()
                    return
            if (obj.get("spec") or {}).get("nodeName"):
                bound.setdefault(name, now)
            if ev["type"] != "DELETED" and (obj.get("status") or {}).get("phase") == "Running":
                running.setdefault(name, now)
                if len(running) == n:
                    all_running.set()

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.2)  # the watch is established

    async def create(i: int) -> None:
        name = f"{prefix}{i:03d}"
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"terminationGracePeriodSeconds": 5,
                         "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                                         "command": ["sleep", "3600"]}]}}
        created[name] = time.monotonic()
        await client.create(PODS, body)

    t0 = time.monotonic()
    await asyncio.gather(*(create(i) for i in range(n)))
    await asyncio.wait_for(all_running.wait(), 120)
    latencies = [running[p] - created[p] for p in created]
    binding = [bound[p] - created[p] for p in created]
    all_running_s = max(running.values()) - t0

    await asyncio.sleep(2)  # let the status writes and the first probes settle
    cpu0, w0 = cpu_seconds(kpid), time.monotonic()
    await asyncio.sleep(idle)
    cpu_pct = (cpu_seconds(kpid) - cpu0) / (time.monotonic() - w0) * 100
    rss = rss_bytes(kpid)
    shims, shims_rss = shim_rss(data_dir)

    t1 = time.monotonic()
    await asyncio.gather(*(client.delete(resource_path("", "v1", "pods", NS, p)) for p in created))
    await asyncio.wait_for(all_gone.wait(), 120)
    delete_s = time.monotonic() - t1
    watcher.cancel()
    deadline = time.monotonic() + 60
    while shim_rss(data_dir)[0] and time.monotonic() < deadline:  # the kubelet stops and removes the containers
        await asyncio.sleep(0.1)
    processes_gone_s = time.monotonic() - t1
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "max": max(latencies),
            "bound_p50": percentile(binding, 50), "bound_p99": percentile(binding, 99),
            "all_running": all_running_s, "kubelet_cpu_pct": cpu_pct, "kubelet_rss_mib": rss / 2**20,
            "shims": shims, "shims_rss_mib": shims_rss / 2**20, "delete_all": delete_s,
            "processes_gone": processes_gone_s}


async def bench(port: int, data_dir: str, log_path: str, n: int, runs: int, idle: float) -> list[dict[str, Any]]:
    client = RESTClient(load_kubeconfig(os.path.join(data_dir, "admin.kubeconfig")))
    try:
        await wait_node_ready(client)
        results = []
        for run in range(runs):
            r = await one_run(client, run, n, kubelet_pid(log_path), idle, data_dir)
            print(f"run {run}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                             for k, v in r.items()), flush=True)
            results.append(r)
        return results
    finally:
        await client.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--idle", type=float, default=30.0, help="seconds over which the kubelet's idle CPU is measured")
    ap.add_argument("--json", default="")
    ap.add_argument("--keep", action="store_true", help="keep the data dir (server.log) for inspection")
    ap.add_argument("--pod-network", default="host", help="host, bridge, or both in one run: host,bridge")
    args = ap.parse_args()
    medians: dict[str, dict[str, float]] = {}
    out: dict[str, Any] = {"pods": args.pods}
    for network in [n.strip() for n in args.pod_network.split(",") if n.strip()]:
        results = run_one_network(args, network)
        medians[network] = {k: statistics.median(r[k] for r in results) for k in results[0]}
        out[network] = {"runs": results, "median": medians[network]}
    print(f"median of {args.runs} runs, {args.pods} pods, {platform.python_version()} on {os.cpu_count()} cpus:")
    print(f"  {'':16} " + " ".join(f"{n:>10}" for n in medians))
    for k in next(iter(medians.values())):
        print(f"  {k:16} " + " ".join(f"{m[k]:10.3f}" for m in medians.values()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


def run_one_network(args: argparse.Namespace, network: str) -> list[dict[str, Any]]:
    data_dir = tempfile.mkdtemp(prefix="kyb-bench-pods-")
    log_path = os.path.join(data_dir, "server.log")
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        forward = f.read().strip()
    proc, port = start_server(os.path.join(data_dir, "data"), log_path, network)
    try:
        print(f"pod network {network}:", flush=True)
        return asyncio.run(bench(port, os.path.join(data_dir, "data"), log_path, args.pods, args.runs, args.idle))
    finally:
        stop_server(proc)
        if (left := kill_leftovers(os.path.join(data_dir, "data"))):
            print(f"killed {left} container shims left running", file=sys.stderr)
        if network == "bridge":
            from kybernetes.kubelet.network.bridge import remove_node_network  # noqa: PLC0415

            asyncio.run(remove_node_network())
            with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
                f.write(forward)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

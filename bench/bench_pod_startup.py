"""Pod startup benchmark: N pods created at once on the one node of a real `kybernetes server`, timed from the
create request to phase Running as seen through a watch (p50, p99); the CPU every component spent meanwhile and
the memory of the container shims (per container); then the kubelet's idle CPU and RSS with the pods running,
and the time until they are all deleted.

Run: python bench/bench_pod_startup.py [--pods 100] [--runs 3] [--idle 30] [--json FILE] [--pod-network host,bridge]
                                       [--compare LABEL=SOURCE_DIR ...] [--data-base [LABEL=]DIR ...] [--profile DIR]
                                       [--settle SECONDS]

--data-base puts a variant's data dir (the kubelet's pod and runtime files) under DIR instead of the temp dir:
`--compare shm=. --data-base shm=/dev/shm` runs this tree twice, on the disk and on tmpfs, to separate the file
system's cost from the software's.

--settle S syncs the file systems and waits S seconds before each run. Without it, a run on a file system like
this machine's (ext4 without a journal) pays for the ~2,500 files the run before deleted: until their inode
table blocks are written back (up to 30 s) ext4 skips every recently deleted inode when it allocates one, and
the kubelet's and the shims' file creations cost several times more (kernel CPU in `recently_deleted`).
`--settle 65` makes each run start as the first one on a quiet node does (ext4 skips inodes deleted in the last 60 s even once written back).

--pod-network takes one network or a comma-separated list; each gets its own server, one after the other in
the same invocation, and the medians are printed side by side (bridge needs root; the bench removes the
bridge and its nft table afterwards).

--compare runs, beside this tree's server ("now"), a server from another source tree (e.g. the last commit:
`git archive HEAD kybernetes | tar -x -C /tmp/before`), both started at once and their runs alternated
(now, LABEL, now, LABEL, ...), so that both see the same machine load; the medians are printed side by side.

Processes: one `python -m kybernetes server` per variant (apiserver + scheduler + controller-manager + kubelet as
child processes, loopback, free ports, a temporary data dir) and this driver. Each run creates the pods
(`sleep 3600`, no resources, bound by the scheduler), watches them Running, samples the kubelet child's /proc for
`--idle` seconds, then deletes them. The servers are stopped by PID at the end, after every pod is gone.

CPU per container, from /proc while the pods start: the kubelet's own; "supervision" = the container shims
(their own CPU since they forked, from /proc/PID/schedstat: utime+stime count whole 10 ms ticks, which a shim's
few milliseconds mostly round down to 0) + the shim spawner's + what the kubelet's reaped children used (a shim
started by exec spends its interpreter start-up there); the apiserver's (the server process); the total of all
of them.
Memory per container: the shims' RSS, PSS (shared pages divided among their sharers) and USS (private pages).
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


def start_server(data_dir: str, log_path: str, pod_network: str = "host",
                 source: str = ROOT) -> tuple[subprocess.Popen, int]:
    """A `kybernetes server` from `source` (a tree with kybernetes/ in it; this one by default)."""
    port = free_port()
    log = open(log_path, "ab")
    env = dict(os.environ)
    if os.path.abspath(source) != os.path.abspath(ROOT):
        env["PYTHONPATH"] = os.path.abspath(source)  # inherited by every component, shims included
    proc = subprocess.Popen(
        [sys.executable, "-m", "kybernetes", "server", "--data-dir", data_dir, "--bind-address", "127.0.0.1",
         "--secure-port", str(port), "--kubelet-port", str(free_port()), "--pod-network", pod_network],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=source, env=env)
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


def component_pids(log_path: str, server_pid: int) -> dict[str, int]:
    """PID of each component: the children from the supervisor's log, and the server process (the apiserver)."""
    pids = {name: int(pid) for name, pid in re.findall(r"started (\S+) \(pid (\d+)\)",
                                                      open(log_path, errors="replace").read())}
    pids["apiserver"] = server_pid
    return pids


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime+stime of `pid` (with `children`: of its reaped children instead); 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    i = 13 if children else 11
    return (int(fields[i]) + int(fields[i + 1])) / CLK_TCK


def smaps_kib(pid: int) -> dict[str, int]:
    """Rss, Pss and USS (Private_Clean + Private_Dirty) of `pid`, in KiB, from /proc/PID/smaps_rollup."""
    out = {"Rss": 0, "Pss": 0, "USS": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("Rss", "Pss"):
                    out[key] = int(value.split()[0])
                elif key in ("Private_Clean", "Private_Dirty"):
                    out["USS"] += int(value.split()[0])
    except OSError:
        pass
    return out


def runtime_processes(data_dir: str) -> dict[str, list[int]]:
    """This cluster's container shims and shim spawner(s), by their command lines."""
    out: dict[str, list[int]] = {"shim": [], "spawner": []}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if data_dir.encode() not in cmd:
            continue
        if b"runtime.process.shim" in cmd:
            out["shim"].append(int(name))
        elif b"runtime.process.spawner" in cmd:
            out["spawner"].append(int(name))
    return out


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
    remove_cgroups(data_dir)
    return len(shims)


def remove_cgroups(data_dir: str) -> None:
    """rmdir the cgroups of this cluster's containers that are still there (empty once their processes died)."""
    from kybernetes.kubelet.runtime.process.cgroups import CgroupSet  # noqa: PLC0415

    root = os.path.join(data_dir, "kubelet", "runtime", "containers")
    for cid in os.listdir(root) if os.path.isdir(root) else []:
        try:
            with open(os.path.join(root, cid, "container.json"), "rb") as f:
                cgroup = CgroupSet.from_json(json.load(f).get("cgroup"))
        except (OSError, ValueError):
            continue
        if cgroup:
            cgroup.kill_all(timeout=1.0)
            cgroup.remove()


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


def run_seconds(pid: int) -> float:
    """The time `pid` has run on a CPU, from /proc/PID/schedstat (nanoseconds): a shim uses a few ms, which
    utime+stime (whole clock ticks of 10 ms) mostly round to 0."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def sys_seconds(pid: int) -> float:
    """stime of `pid` (the kernel's share: file-system and process work)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[12]) / CLK_TCK
    except OSError:
        return 0.0


def cpu_snapshot(pids: dict[str, int], data_dir: str) -> dict[str, float]:
    snap = {name: cpu_seconds(pid) for name, pid in pids.items()}
    snap["kubelet_sys"] = sys_seconds(pids["kubelet"])
    snap["apiserver_sys"] = sys_seconds(pids["apiserver"])
    snap["kubelet_children"] = cpu_seconds(pids["kubelet"], children=True)
    snap["spawner"] = sum(run_seconds(p) for p in runtime_processes(data_dir)["spawner"])
    return snap


def start_profilers(pids: dict[str, int], profile: str, run: int) -> list[subprocess.Popen]:
    """With --profile DIR: a `py-spy record` (raw collapsed stacks) on each component for the start of the pods."""
    if not profile:
        return []
    os.makedirs(profile, exist_ok=True)
    py_spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    procs = [subprocess.Popen([py_spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw", "--gil", "--nonblocking",
                               "-o", os.path.join(profile, f"run{run}-{name}.txt")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for name, pid in pids.items()]
    time.sleep(0.5)  # attached
    return procs


def stop_profilers(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.send_signal(signal.SIGINT)
    for p in procs:
        p.wait(30)


async def one_run(client: RESTClient, run: int, n: int, pids: dict[str, int], idle: float,
                  data_dir: str, profile: str = "") -> dict[str, Any]:
    kpid = pids["kubelet"]
    prefix = f"bench-{run}-"
    shims_before = set(runtime_processes(data_dir)["shim"])
    load0 = os.getloadavg()[0]
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

    profilers = start_profilers(pids, profile, run)
    cpu0 = cpu_snapshot(pids, data_dir)
    cpu0["bench"] = time.process_time()
    t0 = time.monotonic()
    await asyncio.gather(*(create(i) for i in range(n)))
    await asyncio.wait_for(all_running.wait(), 120)
    cpu1 = cpu_snapshot(pids, data_dir)
    cpu1["bench"] = time.process_time()
    stop_profilers(profilers)
    procs = runtime_processes(data_dir)
    new_shims = [p for p in procs["shim"] if p not in shims_before]
    shims_cpu = sum(run_seconds(p) for p in new_shims)  # all of it since they forked: they are new
    latencies = [running[p] - created[p] for p in created]
    binding = [bound[p] - created[p] for p in created]
    all_running_s = max(running.values()) - t0
    used = {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1}
    supervision = used["kubelet_children"] + used["spawner"] + shims_cpu
    total = sum(v for k, v in used.items()
                if k not in ("kubelet_children", "spawner", "kubelet_sys", "apiserver_sys", "bench")) + supervision
    mem = [smaps_kib(p) for p in new_shims]
    spawner_pss = sum(smaps_kib(p)["Pss"] for p in procs["spawner"])

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
            "all_running": all_running_s, "load_avg_1m": load0,
            "cpu_ms_per_pod_kubelet": used["kubelet"] * 1000 / n,
            "cpu_ms_per_pod_kubelet_sys": used["kubelet_sys"] * 1000 / n,
            "cpu_ms_per_pod_supervision": supervision * 1000 / n,
            "cpu_ms_per_pod_apiserver": used["apiserver"] * 1000 / n,
            "cpu_ms_per_pod_apiserver_sys": used["apiserver_sys"] * 1000 / n,
            "cpu_ms_per_pod_scheduler": used.get("scheduler", 0.0) * 1000 / n,
            "cpu_ms_per_pod_total": total * 1000 / n,
            "cpu_ms_per_pod_bench_client": used["bench"] * 1000 / n,
            "shim_rss_mib": sum(m["Rss"] for m in mem) / 1024 / max(1, len(mem)),
            "shim_pss_mib": (sum(m["Pss"] for m in mem) + spawner_pss) / 1024 / max(1, len(mem)),
            "shim_uss_mib": sum(m["USS"] for m in mem) / 1024 / max(1, len(mem)),
            "kubelet_cpu_pct": cpu_pct, "kubelet_rss_mib": rss / 2**20,
            "shims": shims, "shims_rss_mib": shims_rss / 2**20, "delete_all": delete_s,
            "processes_gone": processes_gone_s}


class Variant:
    """One server under test: a label, a source tree and a pod network, with its data dir and client."""

    def __init__(self, label: str, source: str, network: str, base: str | None = None) -> None:
        self.label, self.source, self.network = label, source, network
        self.tmp = tempfile.mkdtemp(prefix="kyb-bench-pods-", dir=base)
        self.data_dir = os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "server.log")
        self.proc: subprocess.Popen | None = None
        self.client: RESTClient | None = None
        self.results: list[dict[str, Any]] = []

    @property
    def name(self) -> str:
        return f"{self.label}/{self.network}"

    def start(self) -> None:
        self.proc, _ = start_server(self.data_dir, self.log_path, self.network, self.source)

    async def connect(self) -> None:
        self.client = RESTClient(load_kubeconfig(os.path.join(self.data_dir, "admin.kubeconfig")))
        await wait_node_ready(self.client)

    def stop(self, keep: bool) -> None:
        if self.proc is not None:
            stop_server(self.proc)
        if (left := kill_leftovers(self.data_dir)):
            print(f"{self.name}: killed {left} container shims left running", file=sys.stderr)
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


async def bench(variants: list[Variant], n: int, runs: int, idle: float, profile: str = "",
                settle: float = 0.0) -> None:
    """Alternate the variants' runs: run 0 of each, then run 1 of each, ...; with `settle`, sync the file
    systems and wait that long before each run."""
    try:
        for v in variants:
            await v.connect()
        for run in range(runs):
            for v in variants:
                assert v.client is not None and v.proc is not None
                pids = component_pids(v.log_path, v.proc.pid)
                if settle:
                    os.sync()  # the deletions of the run before are written out (see --settle)
                    await asyncio.sleep(settle)
                r = await one_run(v.client, run, n, pids, idle, v.data_dir,
                                  os.path.join(profile, v.label) if profile else "")
                print(f"{v.name} run {run}: " + ", ".join(
                    f"{k}={x:.3f}" if isinstance(x, float) else f"{k}={x}" for k, x in r.items()), flush=True)
                v.results.append(r)
    finally:
        for v in variants:
            if v.client is not None:
                await v.client.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--idle", type=float, default=30.0, help="seconds over which the kubelet's idle CPU is measured")
    ap.add_argument("--json", default="")
    ap.add_argument("--keep", action="store_true", help="keep the data dir (server.log) for inspection")
    ap.add_argument("--data-base", action="append", default=[], metavar="[LABEL=]DIR",
                    help="where a variant's data dir is made (default: the temp dir), e.g. now=/dev/shm")
    ap.add_argument("--settle", type=float, default=0.0, metavar="SECONDS",
                    help="sync and wait this long before each run (see the module docstring)")
    ap.add_argument("--profile", default="", metavar="DIR",
                    help="py-spy each component while the pods start (DIR/LABEL/runN-COMPONENT.txt, collapsed stacks)")
    ap.add_argument("--pod-network", default="host", help="host, bridge, or both in one run: host,bridge")
    ap.add_argument("--compare", action="append", default=[], metavar="LABEL=SOURCE_DIR",
                    help="also run a server from another source tree, alternating runs with this tree's")
    args = ap.parse_args()
    sources = [("now", ROOT)] + [tuple(c.split("=", 1)) for c in args.compare]  # type: ignore[misc]
    bases = {label: None for label, _ in sources}
    for spec in args.data_base:
        label, _, base = spec.rpartition("=")
        bases[label or "now"] = base
    if args.compare and "bridge" in args.pod_network:
        ap.error("--compare runs servers side by side: host network only (two node bridges would collide)")
    medians: dict[str, dict[str, float]] = {}
    out: dict[str, Any] = {"pods": args.pods, "load_avg_start": os.getloadavg()}
    for network in [n.strip() for n in args.pod_network.split(",") if n.strip()]:
        variants = [Variant(label, source, network, bases.get(label)) for label, source in sources]
        run_variants(args, variants)
        for v in variants:
            medians[v.name] = {k: statistics.median(r[k] for r in v.results) for k in v.results[0]}
            out[v.name] = {"source": os.path.abspath(v.source), "runs": v.results, "median": medians[v.name]}
    out["load_avg_end"] = os.getloadavg()
    print(f"median of {args.runs} runs, {args.pods} pods, {platform.python_version()} on {os.cpu_count()} cpus, "
          f"load average {out['load_avg_start'][0]:.2f} at start, {out['load_avg_end'][0]:.2f} at end:")
    print(f"  {'':28} " + " ".join(f"{n:>14}" for n in medians))
    for k in next(iter(medians.values())):
        print(f"  {k:28} " + " ".join(f"{m[k]:14.3f}" for m in medians.values()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


def run_one_network(args: argparse.Namespace, network: str) -> list[dict[str, Any]]:
    """This tree's server alone on one pod network (args: pods, runs, idle, keep); the results of its runs."""
    variant = Variant("now", ROOT, network)
    run_variants(args, [variant])
    return variant.results


def run_variants(args: argparse.Namespace, variants: list[Variant]) -> None:
    network = variants[0].network
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        forward = f.read().strip()
    try:
        for v in variants:
            v.start()
        print(f"pod network {network}: " + ", ".join(f"{v.label} from {v.source}" for v in variants), flush=True)
        asyncio.run(bench(variants, args.pods, args.runs, args.idle, getattr(args, "profile", ""),
                          getattr(args, "settle", 0.0)))
    finally:
        for v in variants:
            v.stop(keep=True)
        if network == "bridge":
            from kybernetes.kubelet.network.bridge import remove_node_network  # noqa: PLC0415

            for v in variants:
                asyncio.run(remove_node_network(os.path.join(v.data_dir, "kubelet")))
            with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
                f.write(forward)
        if not args.keep:
            for v in variants:
                shutil.rmtree(v.tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

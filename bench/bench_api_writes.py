"""API write-path benchmark: pod creates, bindings, kubelet status PATCHes and event creates over HTTPS.

Run: python bench/bench_api_writes.py [--pods 2000] [--rounds 3] [--concurrency 16]
         [--compare before=SOURCE_DIR] [--py-spy DIR] [--gc-stats PREFIX] [--json FILE]

Each round, against one real `python -m kybernetes apiserver` subprocess (SQLite, loopback, a temporary data dir,
stopped by PID), runs four phases on N pods, each with `concurrency` requests in flight from 2 client processes:
  create   POST pods (pod-default of scheduler_perf: pause, 100m CPU / 500Mi requests and limits)
  bind     POST pods/NAME/binding (what the scheduler's DefaultBinder sends)
  status   PATCH pods/NAME/status, merge patch of a Running status (what the kubelet's status manager sends)
  event    POST events (the scheduler's "Scheduled" core/v1 Event)
and reports per phase: ops/s, p50/p99 latency, and the server's CPU per operation (all its threads, from
/proc/PID/stat), which is the figure least disturbed by other load on the machine. With `--compare
before=DIR` a second server is started from another source tree (e.g. `git archive HEAD kybernetes | tar -x -C
DIR`) and the rounds alternate between the trees (now, before, now, before, ...) so both see the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from bench_api import client_session, free_port, pct, raise_nofile  # noqa: E402

NAMESPACE = "bench"
NODE = "node-0"
PHASES = ("create", "bind", "status", "event")
T0 = "2026-01-01T00:00:00Z"


def pod_body(name: str) -> bytes:
    res = {"cpu": "100m", "memory": "500Mi"}
    return orjson.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
                         "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                                                  "ports": [{"containerPort": 80}],
                                                  "resources": {"requests": res, "limits": res}}]}})


def binding_body(name: str) -> bytes:
    return orjson.dumps({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": NAMESPACE},
                         "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}})


def status_body(i: int) -> bytes:
    """The kubelet's merge patch once the pod's container runs."""
    cond = [{"type": t, "status": "True", "lastTransitionTime": T0}
            for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    ip = f"198.18.{i // 250 % 250}.{i % 250 + 2}"
    return orjson.dumps({"status": {
        "phase": "Running", "conditions": cond, "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": ip, "podIPs": [{"ip": ip}], "startTime": T0,
        "containerStatuses": [{"name": "pause", "state": {"running": {"startedAt": T0}}, "lastState": {},
                               "ready": True, "restartCount": 0, "image": "registry.k8s.io/pause:3.10",
                               "imageID": "registry.k8s.io/pause@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a",
                               "containerID": f"process://{i:064x}", "started": True}]}})


def event_body(name: str, i: int) -> bytes:
    ref = {"kind": "Pod", "apiVersion": "v1", "name": name, "namespace": NAMESPACE,
           "uid": f"00000000-0000-4000-8000-{i:012x}", "resourceVersion": str(1000 + i)}
    return orjson.dumps({"apiVersion": "v1", "kind": "Event",
                         "metadata": {"name": f"{name}.{0x180000000000000 + i:x}", "namespace": NAMESPACE},
                         "involvedObject": ref, "reason": "Scheduled",
                         "message": f"Successfully assigned {NAMESPACE}/{name} to {NODE}",
                         "source": {"component": "default-scheduler"}, "firstTimestamp": T0, "lastTimestamp": T0,
                         "count": 1, "type": "Normal", "reportingComponent": "default-scheduler",
                         "reportingInstance": "bench"})


# ---------------------------------------------------------------- client side (worker processes)

def _emit(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    sys.stdout.flush()


async def worker(job: dict[str, Any]) -> None:
    """One phase over this worker's slice of pod indexes, `concurrency` requests in flight."""
    c = job["concurrency"]
    session, base = client_session(job["kubeconfig"], c)
    kind = job["kind"]
    pods = f"{base}/api/v1/namespaces/{NAMESPACE}/pods"
    json_h = {"Content-Type": "application/json", "Accept": "application/json",
              "User-Agent": "bench-api-writes/v0.0.0"}
    merge_h = dict(json_h, **{"Content-Type": "application/merge-patch+json"})
    async with session:
        warm = [session.get(f"{base}/readyz") for _ in range(c)]
        for r in await asyncio.gather(*warm):
            await r.read()
        _emit({"ready": True})
        if (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).strip() != "GO":
            return
        todo = iter(job["indexes"])
        lat: list[float] = []
        errors: collections.Counter[str] = collections.Counter()

        async def one(i: int) -> tuple[int, bytes]:
            name = f"pod-{i}"
            if kind == "create":
                req = session.post(pods, data=pod_body(name), headers=json_h)
            elif kind == "bind":
                req = session.post(f"{pods}/{name}/binding", data=binding_body(name), headers=json_h)
            elif kind == "status":
                req = session.patch(f"{pods}/{name}/status", data=status_body(i), headers=merge_h)
            else:
                req = session.post(f"{base}/api/v1/namespaces/{NAMESPACE}/events", data=event_body(name, i),
                                   headers=json_h)
            async with req as r:
                return r.status, await r.read()

        async def task() -> None:
            for i in todo:
                t = time.monotonic()
                status, body = await one(i)
                if status in (200, 201):
                    lat.append(time.monotonic() - t)
                else:
                    errors[f"{status} {body[:120]!r}"] += 1

        cpu0, t_start = time.process_time(), time.monotonic()
        await asyncio.gather(*(task() for _ in range(c)))
        t_end = time.monotonic()
        _emit({"lat": lat, "errors": dict(errors), "t_start": t_start, "t_end": t_end,
               "cpu": time.process_time() - cpu0})


# ---------------------------------------------------------------- server side

@dataclass
class Server:
    label: str
    data_dir: str
    proc: subprocess.Popen[bytes]

    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.data_dir, "admin.kubeconfig")

    def cpu(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def main_thread_cpu(self) -> float:
        """CPU of the event loop's thread alone (the rest: the SQLite writer and reader threads)."""
        with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


# `python -c GC_SERVE FILE ARGS...` runs `kybernetes ARGS...` (from the working directory's tree) timing its garbage
# collections, and appends the totals so far to FILE on SIGUSR1
GC_SERVE = """
import gc, json, runpy, signal, sys, time
out, totals, started = sys.argv[1], {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}, [0.0]
def timed(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        totals[info["generation"]][0] += 1
        totals[info["generation"]][1] += time.perf_counter() - started[0]
def dump(*_):
    with open(out, "a") as f:
        f.write(json.dumps({"gc": {g: {"collections": n, "seconds": round(s, 4)} for g, (n, s) in totals.items()},
                            "tracked_objects": len(gc.get_objects())}) + "\\n")
gc.callbacks.append(timed)
signal.signal(signal.SIGUSR1, dump)
sys.argv = ["kybernetes"] + sys.argv[2:]
runpy.run_module("kybernetes", run_name="__main__", alter_sys=True)
"""


async def start_server(label: str, source: str, gc_stats: str = "") -> Server:
    data_dir = tempfile.mkdtemp(prefix=f"kyb-bench-writes-{label}-")
    port = free_port()
    args = ["apiserver", "--data-dir", data_dir, "--bind-address", "127.0.0.1", "--secure-port", str(port)]
    cmd = [sys.executable, "-m", "kybernetes", *args]
    if gc_stats:
        cmd = [sys.executable, "-c", GC_SERVE, os.path.abspath(f"{gc_stats}.{label}.jsonl"), *args]
    env = dict(os.environ, PYTHONPATH=source)
    log = open(os.path.join(data_dir, "server.log"), "wb")
    proc = subprocess.Popen(cmd, cwd=source, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=raise_nofile)
    srv = Server(label, data_dir, proc)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"apiserver {label} exited: {open(log.name).read()[-2000:]}")
        if os.path.exists(srv.kubeconfig):
            try:
                session, base = client_session(srv.kubeconfig, 1)
                async with session, session.get(f"{base}/readyz") as r:
                    if r.status == 200:
                        await setup(srv)
                        return srv
            except (aiohttp.ClientError, OSError):
                pass
        await asyncio.sleep(0.3)
    srv.stop()
    raise RuntimeError(f"apiserver {label} did not become ready in 90 s")


async def setup(srv: Server) -> None:
    session, base = client_session(srv.kubeconfig, 1)
    async with session:
        async with session.post(f"{base}/api/v1/namespaces", data=orjson.dumps({"metadata": {"name": NAMESPACE}}),
                                headers={"Content-Type": "application/json"}) as r:
            assert r.status in (201, 409), await r.text()
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}}
        async with session.post(f"{base}/api/v1/nodes", data=orjson.dumps(node),
                                headers={"Content-Type": "application/json"}) as r:
            assert r.status in (201, 409), await r.text()
        sa = {"metadata": {"name": "default"}}  # what the controller-manager makes: ServiceAccount admission needs it
        async with session.post(f"{base}/api/v1/namespaces/{NAMESPACE}/serviceaccounts", data=orjson.dumps(sa),
                                headers={"Content-Type": "application/json"}) as r:
            assert r.status in (201, 409), await r.text()


async def run_phase(srv: Server, kind: str, indexes: list[int], concurrency: int, procs: int,
                    spy_out: str = "") -> dict[str, Any]:
    jobs = [{"kind": kind, "kubeconfig": srv.kubeconfig, "indexes": indexes[p::procs],
             "concurrency": concurrency // procs} for p in range(procs)]
    workers = [await asyncio.create_subprocess_exec(
        sys.executable, os.path.abspath(__file__), "worker", orjson.dumps(j).decode(),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 26) for j in jobs]
    for w in workers:
        assert orjson.loads(await asyncio.wait_for(w.stdout.readline(), 60)).get("ready")  # type: ignore[union-attr]
    spy = start_py_spy(srv.proc.pid, spy_out) if spy_out else None
    cpu0, main0, t0 = srv.cpu(), srv.main_thread_cpu(), time.monotonic()
    for w in workers:
        w.stdin.write(b"GO\n")  # type: ignore[union-attr]
    results = [orjson.loads(await asyncio.wait_for(w.stdout.readline(), 600)) for w in workers]  # type: ignore[union-attr]
    wall = time.monotonic() - t0
    scpu = srv.cpu() - cpu0
    main_cpu = srv.main_thread_cpu() - main0
    stop_py_spy(spy)
    for w in workers:
        w.stdin.close()  # type: ignore[union-attr]
        await w.wait()
    lat = [x for r in results for x in r["lat"]]
    span = max(r["t_end"] for r in results) - min(r["t_start"] for r in results)
    errs: collections.Counter[str] = collections.Counter()
    for r in results:
        errs.update(r["errors"])
    return {"ops": len(lat), "ops_s": len(lat) / span if span else 0.0, "p50_ms": pct(lat, 0.5) * 1e3,
            "p99_ms": pct(lat, 0.99) * 1e3, "errors": dict(errs), "server_cpu_share": scpu / wall,
            "server_cpu_ms_per_op": 1e3 * scpu / len(lat) if lat else 0.0,
            "loop_thread_cpu_ms_per_op": 1e3 * main_cpu / len(lat) if lat else 0.0,
            "client_cpu_share": sum(r["cpu"] for r in results) / span if span else 0.0}


def start_py_spy(pid: int, out: str) -> subprocess.Popen[bytes] | None:
    """py-spy of every active thread (BENCH_PY_SPY_GIL=1: of the GIL holder only, i.e. Python CPU)."""
    exe = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(exe):
        print("py-spy not installed: no profile", file=sys.stderr)
        return None
    mode = ["--gil"] if os.environ.get("BENCH_PY_SPY_GIL") else ["--threads"]
    proc = subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "raw", "--rate", os.environ.get("BENCH_PY_SPY_RATE", "250"), *mode,
                             "--output", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc


def stop_py_spy(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def cleanup(srv: Server, n: int) -> None:
    """Delete the round's pods and events (grace 0) so the next round starts from the same state."""
    session, base = client_session(srv.kubeconfig, 16)
    async with session:
        for res in ("pods", "events"):
            async with session.delete(f"{base}/api/v1/namespaces/{NAMESPACE}/{res}?gracePeriodSeconds=0") as r:
                await r.read()


def loadavg() -> float:
    return os.getloadavg()[0]


async def main(a: argparse.Namespace) -> None:
    sources = [("now", ROOT)] + [tuple(x.split("=", 1)) for x in a.compare if x]  # type: ignore[misc]
    servers: dict[str, Server] = {}
    results: dict[str, dict[str, list[dict[str, Any]]]] = {label: {p: [] for p in PHASES} for label, _ in sources}
    meta = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "load_start": loadavg(),
            "pods": a.pods, "rounds": a.rounds, "concurrency": a.concurrency}
    try:
        for label, src in sources:
            servers[label] = await start_server(label, src, a.gc_stats)
        base = 0
        for rnd in range(a.rounds):
            for label, _ in sources:
                srv = servers[label]
                indexes = list(range(base, base + a.pods))
                for phase in PHASES:
                    spy = os.path.join(a.py_spy, f"{label}-{phase}-{rnd}.txt") if a.py_spy and rnd == 0 else ""
                    r = await run_phase(srv, phase, indexes, a.concurrency, 2, spy)
                    r["load"] = loadavg()
                    if a.gc_stats:  # the server appends its GC totals so far to PREFIX.LABEL.jsonl
                        srv.proc.send_signal(signal.SIGUSR1)
                    results[label][phase].append(r)
                    print(f"round {rnd} {label:>7} {phase:>6}: {r['ops']:5d} ops {r['ops_s']:7.0f}/s "
                          f"p50 {r['p50_ms']:6.1f} p99 {r['p99_ms']:6.1f} ms  server {r['server_cpu_ms_per_op']:.3f} "
                          f"ms/op (loop thread {r['loop_thread_cpu_ms_per_op']:.3f}; {r['server_cpu_share']:.0%} of a core)  "
                          f"load {r['load']:.1f}"
                          + (f"  errors {r['errors']}" if r["errors"] else ""), flush=True)
                await cleanup(srv, a.pods)
            base += a.pods
    finally:
        for srv in servers.values():
            srv.stop()
    meta["load_end"] = loadavg()
    print(f"\nmedians of {a.rounds} rounds, {a.pods} pods, c={a.concurrency}; load {meta['load_start']:.1f} -> "
          f"{meta['load_end']:.1f}")
    print(f"{'phase':>7} " + " ".join(f"{label + ' ops/s':>12} {label + ' p99':>10} {label + ' ms/op':>12}"
                                       for label, _ in sources))
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for phase in PHASES:
        cols = []
        for label, _ in sources:
            runs = results[label][phase]
            med = {k: statistics.median(r[k] for r in runs) for k in ("ops_s", "p50_ms", "p99_ms",
                                                                       "server_cpu_ms_per_op",
                                                                       "loop_thread_cpu_ms_per_op")}
            summary.setdefault(label, {})[phase] = med
            cols.append(f"{med['ops_s']:12.0f} {med['p99_ms']:10.1f} {med['server_cpu_ms_per_op']:12.3f}")
        print(f"{phase:>7} " + " ".join(cols))
    if a.json:
        with open(a.json, "a") as f:
            f.write(orjson.dumps({"meta": meta, "summary": summary, "runs": results}).decode() + "\n")


def cli() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "worker":
        asyncio.run(worker(orjson.loads(sys.argv[2])))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pods", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--compare", action="append", default=[], help="LABEL=SOURCE_DIR of another tree")
    p.add_argument("--py-spy", default="", help="directory for py-spy raw profiles of round 0")
    p.add_argument("--json", default="")
    p.add_argument("--gc-stats", default="", metavar="PREFIX",
                   help="run each server with GC timing; after every phase it appends its totals to PREFIX.LABEL.jsonl")
    a = p.parse_args()
    if a.py_spy:
        os.makedirs(a.py_spy, exist_ok=True)
    asyncio.run(main(a))


if __name__ == "__main__":
    cli()

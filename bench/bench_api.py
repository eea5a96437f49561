"""API benchmark: creates, gets, lists and watch fan-out against a real apiserver over HTTPS, with CPU and profiles.

Run: python bench/bench_api.py [--quick] [--runs 3] [--variants subprocess,uvloop,plain] [--profile] [--json FILE]

The server is a real `python -m kybernetes apiserver` subprocess (variant "subprocess"), or, to test tuning
that needs no change to kybernetes/, this script's own `serve` mode running the same APIServer with the uvloop
event loop policy ("uvloop") or with an extra plain-HTTP site on the same app ("plain": TLS cost). Load comes
from separate client processes (this script's `worker` mode) using aiohttp with a keep-alive pool and the CA and
client certificate of the admin.kubeconfig the server writes. Workers warm their pools, print READY, wait for GO
on stdin, run, and print one JSON line. Every run is bounded by count and time; servers are stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import os
import platform
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from kybernetes.client.config import load_kubeconfig  # noqa: E402

CM_DATA = {"key": "v" * 64}  # a small ConfigMap: ~250 bytes on the wire
CONCURRENCY = (1, 16, 64)
DEFAULT_COMPARE = ("subprocess,serve+uvloop,serve+plain,serve+fastuid+nometrics,serve+fastwatch,"
                   "serve+uvloop+fastuid+nometrics+fastwatch")
NO_WATCH_COMPARE = {"serve+fastuid+nometrics"}  # changes nothing on the watch path: skip its watch runs


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def raise_nofile() -> None:
    """Lift the soft RLIMIT_NOFILE to the hard limit: 1,000 watches need 1,000+ descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cm_body(name: str) -> bytes:
    return orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": CM_DATA})


# ---------------------------------------------------------------- client side (worker processes)

def client_session(kubeconfig: str, limit: int, plain_url: str = "") -> tuple[aiohttp.ClientSession, str]:
    cfg = load_kubeconfig(kubeconfig)
    if plain_url:
        conn = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, keepalive_timeout=60)
        return aiohttp.ClientSession(connector=conn), plain_url
    conn = aiohttp.TCPConnector(ssl=cfg.ssl_context(), limit=limit, limit_per_host=limit, keepalive_timeout=60)
    return aiohttp.ClientSession(connector=conn), cfg.server


async def _stdin_line() -> str:
    return (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).strip()


def _emit(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    sys.stdout.flush()


async def worker_requests(job: dict[str, Any]) -> None:
    """create / get / list: `concurrency` tasks over one keep-alive pool, until max_ops or duration."""
    c = job["concurrency"]
    session, base = client_session(job["kubeconfig"], c, job.get("plain_url", ""))
    ns, kind = job["ns"], job["kind"]
    async with session:
        warm = [session.get(f"{base}/readyz") for _ in range(c)]  # open c TLS connections before timing
        for r in await asyncio.gather(*warm):
            await r.read()
        _emit({"ready": True})
        if await _stdin_line() != "GO":
            return
        counter = itertools.count()
        lat: list[float] = []
        errors: collections.Counter[int] = collections.Counter()
        items_seen: list[int] = []
        deadline = time.monotonic() + job["duration"]
        names = job.get("names", [])
        path = f"{base}/api/v1/namespaces/{ns}/configmaps"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}

        async def one_list() -> bool:
            url, n, cont = path + (f"?limit={job['limit']}" if job.get("limit") else ""), 0, ""
            while True:
                async with session.get(url + (f"&continue={cont}" if cont else "")) as r:
                    body = orjson.loads(await r.read())
                    if r.status != 200:
                        errors[r.status] += 1
                        return False
                n += len(body["items"])
                cont = body["metadata"].get("continue", "")
                if not cont:
                    items_seen.append(n)
                    return True

        async def run_task(tid: int) -> None:
            rnd = random.Random(tid * 7919 + os.getpid())
            while True:
                i = next(counter)
                if i >= job["max_ops"] or time.monotonic() >= deadline:
                    return
                t0 = time.monotonic()
                if kind == "create":
                    async with session.post(path, data=cm_body(f"{job['prefix']}-{i}"), headers=headers) as r:
                        await r.read()
                        ok = r.status == 201
                elif kind == "get":
                    async with session.get(f"{path}/{rnd.choice(names)}", headers=headers) as r:
                        await r.read()
                        ok = r.status == 200
                else:
                    ok = await one_list()
                    r = None
                if ok:
                    lat.append(time.monotonic() - t0)
                elif r is not None:
                    errors[r.status] += 1

        cpu0, t_start = time.process_time(), time.monotonic()
        await asyncio.gather(*(run_task(t) for t in range(c)))
        t_end = time.monotonic()
        _emit({"lat": lat, "errors": dict(errors), "t_start": t_start, "t_end": t_end,
               "cpu": time.process_time() - cpu0, "items": items_seen[:1]})


async def worker_watch(job: dict[str, Any]) -> None:
    """Open `watchers` watches of one namespace; per GO (a round), record when each sees each of `writes` writes."""
    raise_nofile()
    n = job["watchers"]
    session, base = client_session(job["kubeconfig"], n, job.get("plain_url", ""))
    session._timeout = aiohttp.ClientTimeout(total=None, sock_connect=60)  # noqa: SLF001 - watches outlive 300 s
    url = f"{base}/api/v1/namespaces/{job['ns']}/configmaps?watch=1&timeoutSeconds=3600"
    got: list[list[tuple[str, float]]] = [[] for _ in range(n)]
    opened = received = 0
    all_open, round_done = asyncio.Event(), asyncio.Event()
    target = 0

    async def watch(i: int) -> None:
        nonlocal opened, received
        async with session.get(url) as r:
            assert r.status == 200, r.status
            opened += 1
            if opened == n:
                all_open.set()
            while True:
                line = await r.content.readline()
                if not line:
                    return
                t = time.monotonic()
                ev = orjson.loads(line)
                got[i].append((ev["object"]["metadata"]["name"], t))
                received += 1
                if received >= target:
                    round_done.set()

    async with session:
        t0 = time.monotonic()
        tasks = []
        for i in range(n):  # ramp the handshakes a little so the server's accept backlog is not the test
            tasks.append(asyncio.create_task(watch(i)))
            if i % 50 == 49:
                await asyncio.sleep(0.01)
        await asyncio.wait_for(all_open.wait(), job["timeout"])
        _emit({"ready": True, "connect_s": time.monotonic() - t0})
        while True:
            cmd = (await _stdin_line()).split()
            if not cmd or cmd[0] != "GO":
                break
            cpu0, start = time.process_time(), [len(g) for g in got]
            target += n * int(cmd[1])
            round_done.clear()
            if received < target:
                try:
                    await asyncio.wait_for(round_done.wait(), job["timeout"])
                except asyncio.TimeoutError:
                    pass
            _emit({"recv": [g[s:] for g, s in zip(got, start)], "cpu": time.process_time() - cpu0,
                   "errors": sum(1 for t in tasks if t.done() and t.exception() is not None)})
        for t in tasks:
            t.cancel()


# ---------------------------------------------------------------- server side

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pooled_uid() -> Any:
    """new_uid drawing random bytes 4 KiB at a time: one getrandom() syscall (GIL release) per 256 uids."""
    import uuid

    pool = bytearray()

    def new_uid() -> str:
        nonlocal pool
        if not pool:
            pool = bytearray(os.urandom(4096))
        raw = bytes(pool[:16])
        del pool[:16]
        return str(uuid.UUID(bytes=raw, version=4))

    return new_uid


def _patch_watch_wakeup() -> None:
    """CacheWatcher.next_batch waiting under asyncio.timeout instead of wait_for (which makes a Task per wait)."""
    from kybernetes.apiserver import watchcache

    async def next_batch(self: Any, timeout: float | None = None) -> list[Any]:
        if not self.queue and not self.closed:
            self._wakeup.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()
            except TimeoutError:
                return []
        if self.queue:
            batch = list(self.queue)
            self.queue.clear()
            return batch
        raise watchcache.WatcherClosed("watcher closed" if not self.overflowed else "watcher fell behind")

    watchcache.CacheWatcher.next_batch = next_batch  # type: ignore[method-assign]


async def serve_inprocess(args: argparse.Namespace) -> None:
    """`serve` mode: the real APIServer in this process, with a chosen loop, plain site or patched hot spot."""
    from aiohttp import web

    from kybernetes.api import meta
    from kybernetes.apiserver.server import APIServer, APIServerConfig

    patches = set(args.patch.split(",")) - {""}
    if "swi" in patches:  # hand the GIL over every 0.5 ms instead of 5 ms (event loop vs sqlite writer thread)
        sys.setswitchinterval(0.0005)
    if "fastuid" in patches:
        meta.new_uid = _pooled_uid()
    if "fastwatch" in patches:
        _patch_watch_wakeup()
    cfg = APIServerConfig(data_dir=args.data_dir, bind_address="127.0.0.1", secure_port=args.port)
    server = APIServer(cfg)
    if "nometrics" in patches:  # the per-request Prometheus counter + histogram (labels() lookups)
        server.metrics.observe_request = lambda **_kw: None  # type: ignore[method-assign]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    if args.plain_port:
        site = web.TCPSite(server.runner, "127.0.0.1", args.plain_port, backlog=1024)  # type: ignore[arg-type]
        await site.start()
    print(f"serving loop={type(loop).__module__}", file=sys.stderr, flush=True)
    await stop.wait()
    await server.stop()


@dataclass
class Server:
    variant: str
    data_dir: str
    proc: subprocess.Popen[bytes]
    port: int
    plain_url: str = ""

    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.data_dir, "admin.kubeconfig")

    def cpu(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


async def start_server(variant: str) -> Server:
    data_dir = tempfile.mkdtemp(prefix="kyb-bench-api-")
    port = free_port()
    features = set(variant.split("+"))
    plain_port = free_port() if "plain" in features else 0
    if variant == "subprocess":
        cmd = [sys.executable, "-m", "kybernetes", "apiserver", "--data-dir", data_dir,
               "--bind-address", "127.0.0.1", "--secure-port", str(port)]
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "serve", "--data-dir", data_dir, "--port", str(port),
               "--plain-port", str(plain_port), "--loop", "uvloop" if "uvloop" in features else "asyncio",
               "--patch", ",".join(sorted(features & {"swi", "fastuid", "nometrics", "fastwatch"}))]
    log = open(os.path.join(data_dir, "server.log"), "wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, preexec_fn=raise_nofile)
    srv = Server(variant, data_dir, proc, port, f"http://127.0.0.1:{plain_port}" if plain_port else "")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"apiserver exited: {open(log.name).read()[-2000:]}")
        if os.path.exists(srv.kubeconfig):
            try:
                session, base = client_session(srv.kubeconfig, 1)
                async with session, session.get(f"{base}/readyz") as r:
                    if r.status == 200:
                        return srv
            except (aiohttp.ClientError, OSError):
                pass
        await asyncio.sleep(0.2)
    srv.stop()
    raise RuntimeError("apiserver did not become ready in 60 s")


# ---------------------------------------------------------------- orchestration

@dataclass
class Worker:
    proc: asyncio.subprocess.Process
    ready: dict[str, Any] = field(default_factory=dict)

    async def line(self, timeout: float) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)  # type: ignore[union-attr]
        if not raw:
            await self.proc.wait()
            raise RuntimeError(f"worker exited with {self.proc.returncode}")
        return orjson.loads(raw)


async def spawn(jobs: list[dict[str, Any]], timeout: float) -> list[Worker]:
    workers = [Worker(await asyncio.create_subprocess_exec(
        sys.executable, os.path.abspath(__file__), "worker", orjson.dumps(j).decode(),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 26)) for j in jobs]
    for w in workers:
        w.ready = await w.line(timeout)
    return workers


def go(workers: list[Worker]) -> None:
    for w in workers:
        w.proc.stdin.write(b"GO\n")  # type: ignore[union-attr]


async def finish(workers: list[Worker], timeout: float) -> list[dict[str, Any]]:
    out = [await w.line(timeout) for w in workers]
    for w in workers:
        w.proc.stdin.close()  # type: ignore[union-attr]
        await w.proc.wait()
    return out


async def run_requests(srv: Server, kind: str, *, c: int, procs: int, duration: float, max_ops: int, ns: str,
                       prefix: str = "", names: list[str] | None = None, limit: int = 0) -> dict[str, Any]:
    """One run of create/get/list with c concurrent requests split over procs client processes."""
    procs = max(1, min(procs, c))
    jobs = [{"kind": kind, "kubeconfig": srv.kubeconfig, "plain_url": srv.plain_url, "ns": ns,
             "concurrency": c // procs + (1 if p < c % procs else 0), "duration": duration,
             "max_ops": max_ops // procs, "prefix": f"{prefix}-p{p}", "names": names or [], "limit": limit}
            for p in range(procs)]
    workers = await spawn(jobs, 60)
    scpu0, t0 = srv.cpu(), time.monotonic()
    go(workers)
    results = await finish(workers, duration + 120)
    wall = time.monotonic() - t0
    scpu = srv.cpu() - scpu0
    lat = [x for r in results for x in r["lat"]]
    span = max(r["t_end"] for r in results) - min(r["t_start"] for r in results)
    errs: collections.Counter[str] = collections.Counter()
    for r in results:
        errs.update(r["errors"])
    return {"ops": len(lat), "ops_s": len(lat) / span if span else 0.0, "p50_ms": pct(lat, 0.5) * 1e3,
            "p99_ms": pct(lat, 0.99) * 1e3, "errors": dict(errs), "server_cpu": scpu / wall,
            "server_cpu_ms_per_op": 1e3 * scpu / len(lat) if lat else 0.0,
            "client_cpu": sum(r["cpu"] for r in results) / span if span else 0.0,
            "items": next((r["items"][0] for r in results if r["items"]), None)}


async def create_namespace(session: aiohttp.ClientSession, base: str, name: str) -> None:
    async with session.post(f"{base}/api/v1/namespaces", data=orjson.dumps({"metadata": {"name": name}}),
                            headers={"Content-Type": "application/json"}) as r:
        assert r.status in (201, 409), (r.status, await r.text())


class WatchFleet:
    """`watchers` open watches of one namespace, spread over client processes; rounds of spaced writes."""

    def __init__(self, srv: Server, ns: str, watchers: int, workers: list[Worker], connect_s: float) -> None:
        self.srv, self.ns, self.watchers, self.workers, self.connect_s = srv, ns, watchers, workers, connect_s
        self.rounds = 0

    @classmethod
    async def open(cls, srv: Server, *, ns: str, watchers: int, procs: int) -> "WatchFleet":
        session, base = client_session(srv.kubeconfig, 2)
        async with session:
            await create_namespace(session, base, ns)
        per = [watchers // procs + (1 if p < watchers % procs else 0) for p in range(procs)]
        t = time.monotonic()
        workers = await spawn([{"kind": "watch", "kubeconfig": srv.kubeconfig, "plain_url": srv.plain_url,
                                "ns": ns, "watchers": n, "timeout": 60}
                               for n in per], 180)
        return cls(srv, ns, watchers, workers, time.monotonic() - t)

    async def round(self, *, writes: int, spacing: float, on_go: Any = None) -> dict[str, Any]:
        """One run: `writes` creates `spacing` s apart; delay from each write's response to each receipt."""
        srv, rnd = self.srv, self.rounds
        self.rounds += 1
        session, base = client_session(srv.kubeconfig, 2)
        async with session:
            for w in self.workers:
                w.proc.stdin.write(f"GO {writes}\n".encode())  # type: ignore[union-attr]
            if on_go is not None:
                on_go()
            await asyncio.sleep(0.2)
            scpu0, t0 = srv.cpu(), time.monotonic()
            sent: dict[str, tuple[float, float]] = {}
            for i in range(writes):
                name = f"r{rnd}-w{i}"
                ts = time.monotonic()
                async with session.post(f"{base}/api/v1/namespaces/{self.ns}/configmaps", data=cm_body(name),
                                        headers={"Content-Type": "application/json"}) as r:
                    await r.read()
                    assert r.status == 201, r.status
                sent[name] = (ts, time.monotonic())
                await asyncio.sleep(spacing)
            results = [await w.line(120) for w in self.workers]
            wall = time.monotonic() - t0
            scpu = srv.cpu() - scpu0
        from_resp, from_send, last_per_write = [], [], collections.defaultdict(float)
        for r in results:
            for events in r["recv"]:
                for name, t in events:
                    ts, tr = sent[name]
                    from_resp.append(t - tr)
                    from_send.append(t - ts)
                    last_per_write[name] = max(last_per_write[name], t - tr)
        return {"pairs": len(from_resp), "expected": self.watchers * writes, "p50_ms": pct(from_resp, 0.5) * 1e3,
                "p99_ms": pct(from_resp, 0.99) * 1e3, "p99_from_send_ms": pct(from_send, 0.99) * 1e3,
                "last_watcher_p50_ms": pct(list(last_per_write.values()), 0.5) * 1e3,
                "connect_s": self.connect_s, "server_cpu": scpu / wall, "server_cpu_ms_per_op": 1e3 * scpu / writes,
                "client_cpu": sum(r["cpu"] for r in results) / wall, "errors": sum(r["errors"] for r in results)}

    async def close(self) -> None:
        for w in self.workers:
            w.proc.stdin.close()  # type: ignore[union-attr]
        for w in self.workers:
            try:
                await asyncio.wait_for(w.proc.wait(), 30)
            except asyncio.TimeoutError:
                w.proc.kill()
                await w.proc.wait()


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(runs[0])
    for k, v in runs[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = statistics.median(r[k] for r in runs)
    out["runs"] = len(runs)
    return out


async def seed(srv: Server, ns: str, count: int, procs: int) -> dict[str, Any]:
    return await run_requests(srv, "create", c=64, procs=procs, duration=300, max_ops=count, ns=ns, prefix="obj")


def seeded_names(procs: int) -> list[str]:
    """The names seed(count=1000) made: prefix obj-p<process>-<index>."""
    return [f"obj-p{p}-{i}" for p in range(procs) for i in range(1000 // procs)]


class Recorder:
    """Collects runs per (variant, workload, c) and prints each figure's median of runs as it completes."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def record(self, variant: str, workload: str, c: int, runs: list[dict[str, Any]]) -> None:
        row = {"variant": variant, "workload": workload, "c": c, **median_run(runs)}
        self.rows.append(row)
        print(f"  {variant:<10.40} {workload:<18} c={c!s:<4} " + " ".join(
            f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
            if k not in ("variant", "workload", "c", "runs")), flush=True)


async def prepare(srv: Server, big: int, procs: int) -> None:
    session, base = client_session(srv.kubeconfig, 2)
    async with session:
        for ns in ("bench-create", "list-1k", "list-10k"):
            await create_namespace(session, base, ns)
    t = time.monotonic()
    s1 = await seed(srv, "list-1k", 1000, procs)
    s2 = await seed(srv, "list-10k", big, procs) if big else None
    rates = " / ".join(f"{s['ops_s']:.0f}" for s in (s1, s2) if s)
    print(f"  seeded 1,000{f' + {big:,}' if big else ''} ConfigMaps in {time.monotonic() - t:.1f} s ({rates} creates/s)",
          flush=True)


async def full_suite(a: argparse.Namespace, rec: Recorder) -> None:
    """Every workload against the real `python -m kybernetes apiserver`, runs of a figure back to back."""
    only = set(a.only.split(","))
    srv = await start_server("subprocess")
    print(f"[subprocess] apiserver pid {srv.proc.pid} on :{srv.port}", flush=True)
    try:
        await prepare(srv, a.big if "list" in only else 0, a.procs)
        for kind in ("create", "get"):
            for c in CONCURRENCY if kind in only else ():
                procs = 1 if c == 1 else a.procs
                rec.record("subprocess", kind, c, [
                    await run_requests(srv, kind, c=c, procs=procs, duration=a.duration, max_ops=a.max_ops,
                                       ns="bench-create" if kind == "create" else "list-1k", prefix=f"c{c}r{r}",
                                       names=seeded_names(a.procs)) for r in range(a.runs)])
        for ns, n_req in (("list-1k", 40), ("list-10k", 8)) if "list" in only else ():
            for limit in (0, 500):
                wl = f"list {ns[5:]}" + (" limit=500" if limit else "")
                rec.record("subprocess", wl, 1, [await run_requests(srv, "list", c=1, procs=1, duration=20,
                                                                    max_ops=n_req, ns=ns, limit=limit)
                                                 for _ in range(a.runs)])
        if a.watchers and "watch" in only:
            fleet = await WatchFleet.open(srv, ns="watch", watchers=a.watchers, procs=a.watch_procs)
            try:
                rec.record("subprocess", f"watch x{a.watchers}", a.watch_procs,
                           [await fleet.round(writes=a.writes, spacing=0.1) for _ in range(a.runs)])
                if a.profile:
                    await profile_watch(srv, fleet, a)
            finally:
                await fleet.close()
        if a.profile:
            await profile(srv, a)
    finally:
        srv.stop()


async def compare(a: argparse.Namespace, rec: Recorder) -> None:
    """create and get at c=64 and watch fan-out on every variant, runs interleaved (ABCABC) against drift."""
    variants = [v for v in a.compare.split(",") if v]
    if not variants:
        return
    servers: list[Server] = []
    fleets: dict[str, WatchFleet] = {}
    try:
        for v in variants:
            servers.append(await start_server(v))
            await prepare(servers[-1], 0, a.procs)
            if a.compare_watchers and v not in NO_WATCH_COMPARE:
                fleets[v] = await WatchFleet.open(servers[-1], ns="watch", watchers=a.compare_watchers,
                                                  procs=a.watch_procs)
            print(f"[{v}] pid {servers[-1].proc.pid}" + (f"; {a.compare_watchers} watches open in "
                                                          f"{fleets[v].connect_s:.1f} s" if v in fleets else ""),
                  flush=True)
        runs: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
        for r in range(a.runs):
            for v, srv in zip(variants, servers):
                for kind in ("create", "get"):
                    runs[v, kind].append(await run_requests(
                        srv, kind, c=64, procs=a.procs, duration=a.compare_duration, max_ops=a.max_ops,
                        ns="bench-create" if kind == "create" else "list-1k", prefix=f"cmp{r}",
                        names=seeded_names(a.procs)))
                if v in fleets:
                    runs[v, "watch"].append(await fleets[v].round(writes=a.compare_writes, spacing=0.1))
        for v in variants:
            for kind in ("create", "get", "watch"):
                if runs[v, kind]:
                    rec.record(v, kind if kind != "watch" else f"watch x{a.compare_watchers}",
                               64 if kind != "watch" else a.watch_procs, runs[v, kind])
    finally:
        for fleet in fleets.values():
            await fleet.close()
        for srv in servers:
            srv.stop()


def pyspy_record(srv: Server, a: argparse.Namespace, name: str, mode: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start `py-spy record` (raw collapsed stacks) on the server for 2 x --duration seconds."""
    pyspy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    os.makedirs(a.profile_dir, exist_ok=True)
    out = os.path.join(a.profile_dir, f"profile-{name}-{mode}.txt")
    return subprocess.Popen([pyspy, "record", "--pid", str(srv.proc.pid), "--duration", str(int(a.duration * 2)),
                             "--rate", "250", "--format", "raw", "--nonblocking", "-o", out]
                            + (["--gil"] if mode == "gil" else []),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out


async def profile(srv: Server, a: argparse.Namespace) -> None:
    """py-spy the server under create and get load at c=64 (and a paged 10k list); print the top frames.

    --gil samples only the thread holding the GIL (where CPU goes); "active" samples every thread not idle in a
    syscall, so a thread waiting to re-take the GIL shows up at the call that released it.
    """
    seconds = int(a.duration * 2)

    profiles = [("create", "gil"), ("create", "active"), ("get", "gil")]
    if "list" in a.only:
        profiles.append(("list", "gil"))
    for kind, mode in profiles:
        proc, out = pyspy_record(srv, a, kind, mode)
        await asyncio.sleep(0.5)
        ns = {"create": "bench-create", "get": "list-1k", "list": "list-10k"}[kind]
        res = await run_requests(srv, kind, c=64 if kind != "list" else 1, procs=a.procs if kind != "list" else 1,
                                 duration=seconds, max_ops=10 ** 6, ns=ns, prefix=f"prof{mode}",
                                 names=seeded_names(a.procs), limit=500 if kind == "list" else 0)
        proc.wait(60)
        what = f"{kind} c=64" if kind != "list" else "list 10k limit=500 c=1"
        print(f"\n## profile {what} --{mode} ({res['ops_s']:.1f} ops/s while sampled) -> {out}")
        print_profile(out)


async def profile_watch(srv: Server, fleet: WatchFleet, a: argparse.Namespace) -> None:
    """py-spy --gil the server during one more round of writes to the open watches."""
    holder: list[tuple[subprocess.Popen[bytes], str]] = []
    seconds = int(a.duration * 2)
    res = await fleet.round(writes=max(10, int(seconds / 0.1) - 5), spacing=0.1,
                            on_go=lambda: holder.append(pyspy_record(srv, a, "watch", "gil")))
    holder[0][0].wait(60)
    print(f"\n## profile watch x{a.watchers} --gil (p99 {res['p99_ms']:.0f} ms while sampled) -> {holder[0][1]}")
    print_profile(holder[0][1])


def print_profile(path: str, top: int = 25) -> None:
    """Top frames of a py-spy raw (collapsed) profile: self time and inclusive time, as share of samples."""
    self_t: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            if not n.isdigit():
                continue
            count = int(n)
            frames = [_short(fr) for fr in stack.split(";") if fr and not fr.startswith("process ")
                      and not fr.startswith("thread ")]
            if not frames:
                continue
            total += count
            self_t[frames[-1]] += count
            for fr in set(frames):
                incl[fr] += count
    print(f"samples: {total}")
    print("self%  incl%  frame")
    for fr, n in self_t.most_common(top):
        print(f"{100 * n / total:5.1f}  {100 * incl[fr] / total:5.1f}  {fr}")
    print("-- inclusive, kybernetes frames only")
    for fr, n in [(fr, n) for fr, n in incl.most_common(200) if "kybernetes/" in fr][:top]:
        print(f"{100 * self_t[fr] / total:5.1f}  {100 * n / total:5.1f}  {fr}")


def _short(frame: str) -> str:
    """'fn (/path/to/site-packages/pkg/mod.py:12)' -> 'pkg/mod.py:fn'."""
    fn, _, loc = frame.partition(" (")
    path = loc.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{fn}"


def machine() -> str:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "kybernetes"], capture_output=True,
                           text=True).stdout
    return (f"nproc {os.cpu_count()}, {model}, Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
            f"commit {rev.strip() or '?'}{' + uncommitted kybernetes/ changes' if dirty.strip() else ''}, "
            f"load avg {os.getloadavg()[0]:.2f} at start")


def print_table(rows: list[dict[str, Any]]) -> None:
    print("\n| variant | workload | c | ops/s | p50 ms | p99 ms | server CPU | server CPU ms/op | client CPU | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['workload']} | {r['c']} | {r.get('ops_s', 0):.0f} | {r['p50_ms']:.2f} | "
              f"{r['p99_ms']:.2f} | {100 * r['server_cpu']:.0f}% | {r.get('server_cpu_ms_per_op', 0):.3f} | "
              f"{100 * r['client_cpu']:.0f}% | "
              f"{r.get('errors') or '-'} |")
    for r in rows:
        if r["workload"].startswith("watch"):
            print(f"\n{r['variant']} watch: {r['pairs']}/{r['expected']} (write, watcher) pairs received; "
                  f"delay after write response p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms; from request "
                  f"start p99 {r['p99_from_send_ms']:.1f} ms; slowest watcher per write p50 "
                  f"{r['last_watcher_p50_ms']:.1f} ms; {r['connect_s']:.1f} s to open all watches")


async def main(a: argparse.Namespace) -> None:
    raise_nofile()
    t0 = time.monotonic()
    print(machine(), flush=True)
    rec = Recorder()
    if a.suite:
        await full_suite(a, rec)
    await compare(a, rec)
    print_table(rec.rows)
    print(f"\ntotal wall time {time.monotonic() - t0:.0f} s; load avg {os.getloadavg()[0]:.2f} at end")
    if a.json:
        with open(a.json, "wb") as f:
            f.write(orjson.dumps(rec.rows, option=orjson.OPT_INDENT_2))


def cli() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "worker":
        job = orjson.loads(sys.argv[2])
        asyncio.run(worker_watch(job) if job["kind"] == "watch" else worker_requests(job))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        p = argparse.ArgumentParser()
        p.add_argument("serve")
        p.add_argument("--data-dir", required=True)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--plain-port", type=int, default=0)
        p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
        p.add_argument("--patch", default="")
        a = p.parse_args()
        if a.loop == "uvloop":
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        asyncio.run(serve_inprocess(a))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 run, 1 s per run, 200 watchers, 1,000-object big list")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=float, default=3.0, help="seconds per create/get run")
    p.add_argument("--max-ops", type=int, default=30_000, help="operations per create/get run at most")
    p.add_argument("--procs", type=int, default=2, help="client processes for c > 1")
    p.add_argument("--watchers", type=int, default=1000)
    p.add_argument("--watch-procs", type=int, default=2)
    p.add_argument("--writes", type=int, default=20, help="writes per watch run")
    p.add_argument("--big", type=int, default=10_000, help="objects in the big list namespace")
    p.add_argument("--no-suite", dest="suite", action="store_false", help="skip the full suite")
    p.add_argument("--compare", default=DEFAULT_COMPARE,
                   help="server variants for the interleaved create/get/watch comparison, comma-separated: "
                        "subprocess (the CLI) or serve[+uvloop][+plain][+swi][+fastuid][+nometrics][+fastwatch]; '' to skip")
    p.add_argument("--compare-watchers", type=int, default=1000)
    p.add_argument("--compare-duration", type=float, default=2.0, help="seconds per create/get comparison run")
    p.add_argument("--compare-writes", type=int, default=10, help="writes per watch comparison run")
    p.add_argument("--only", default="create,get,list,watch", help="workloads to run")
    p.add_argument("--profile", action="store_true", help="py-spy the subprocess server under create/get load")
    p.add_argument("--profile-dir", default=tempfile.gettempdir())
    p.add_argument("--json", default="")
    a = p.parse_args()
    if a.quick:
        a.runs, a.duration, a.compare_duration, a.big, a.writes, a.compare_writes = 1, 1.0, 1.0, 1000, 5, 5
        a.watchers = a.compare_watchers = 200
    asyncio.run(main(a))


if __name__ == "__main__":
    cli()

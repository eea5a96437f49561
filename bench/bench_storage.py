"""Storage benchmark: SQLiteStore (FULL and NORMAL sync) against a real etcd on loopback, same run, same load.

Run: python bench/bench_storage.py [--quick] [--no-etcd] [--json FILE]
Workloads: create, get, range of 1,000 and 10,000 keys; concurrency 1, 16 and 64; p50/p99 latency, ops/s.
etcd is started by this script (the `etcd` binary of Debian's etcd-server) with a temp data dir on
127.0.0.1 and stopped by its PID at the end; the client is aetcd (asyncio gRPC etcd v3 client).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kybernetes.storage.sqlite import SQLiteStore  # noqa: E402

VALUE = (b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"default"},'
         b'"data":{"k":"' + b"v" * 400 + b'"}}')
CONCURRENCY = (1, 16, 64)


class Backend(Protocol):
    name: str

    async def create(self, key: str, value: bytes) -> None: ...
    async def get(self, key: str) -> None: ...
    async def range(self, prefix: str) -> int: ...
    async def close(self) -> None: ...


class SQLiteBackend:
    def __init__(self, store: SQLiteStore, name: str) -> None:
        self.store, self.name = store, name

    @classmethod
    async def open(cls, path: str, synchronous: str) -> "SQLiteBackend":
        store = SQLiteStore(path, compaction_interval=0, synchronous=synchronous)
        await store.start()
        return cls(store, f"sqlite-{synchronous.lower()}")

    async def create(self, key: str, value: bytes) -> None:
        await self.store.create(key, value)

    async def get(self, key: str) -> None:
        _, kv = await self.store.get(key)
        assert kv is not None

    async def range(self, prefix: str) -> int:
        return len((await self.store.range(prefix)).kvs)

    async def close(self) -> None:
        await self.store.close()


class EtcdBackend:
    """etcd through aetcd; create is the apiserver's txn (create_revision == 0 -> put)."""

    name = "etcd"

    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self.client = client

    async def create(self, key: str, value: bytes) -> None:
        k = key.encode()
        t = self.client.transactions
        ok, _ = await self.client.transaction(compare=[t.create(k) == 0], success=[t.put(k, value)], failure=[])
        assert ok

    async def get(self, key: str) -> None:
        assert await self.client.get(key.encode()) is not None

    async def range(self, prefix: str) -> int:
        return len(await self.client.get_prefix(prefix.encode()))

    async def close(self) -> None:
        await self.client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EtcdServer:
    """A single-member etcd on loopback with a temp data dir, owned (and stopped) by this process."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self.client_port, self.peer_port = _free_port(), _free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.proc = subprocess.Popen(
            ["etcd", "--name", "bench", "--data-dir", self.data_dir,
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"bench={peer}", "--log-level", "error", "--logger", "zap"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.data_dir, "..", "etcd.log"), "wb"))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def version(self) -> str:
        out = subprocess.run(["etcd", "--version"], capture_output=True, text=True).stdout
        return out.splitlines()[0] if out else "etcd ?"


async def _connect_etcd(port: int) -> EtcdBackend:
    import aetcd

    deadline = time.monotonic() + 20
    while True:
        client = aetcd.Client(host="127.0.0.1", port=port, timeout=30,
                               options={"grpc.max_receive_message_length": 256 << 20})
        try:
            await client.connect()
            await client.status()
            return EtcdBackend(client)
        except Exception:
            await client.close()
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


@dataclass
class Result:
    backend: str
    workload: str
    concurrency: int
    ops: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds


async def _drive(op: Callable[[int], Awaitable[object]], ops: int, concurrency: int) -> tuple[float, list[float]]:
    """Run op(0..ops-1) with concurrency workers; (wall seconds, per-op latencies in seconds)."""
    latencies: list[float] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < ops:
            i = next_index
            next_index += 1
            t0 = time.perf_counter()
            await op(i)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _run_backend(backend: Backend, sizes: dict[str, int]) -> list[Result]:
    results: list[Result] = []

    def record(workload: str, c: int, ops: int, wall: float, lat: list[float]) -> None:
        results.append(Result(backend.name, workload, c, ops, wall, _quantile(lat, 0.5), _quantile(lat, 0.99)))
        r = results[-1]
        print(f"  {backend.name:12} {workload:10} c={c:<3} {r.ops_per_s:9.0f} ops/s  p50 {r.p50_ms:7.2f} ms"
              f"  p99 {r.p99_ms:7.2f} ms", flush=True)

    for n in (1_000, 10_000):  # the range fixtures, created with concurrency 64
        await _drive(lambda i, n=n: backend.create(f"/bench/range{n}/{i:06d}", VALUE), n, 64)
    for c in CONCURRENCY:
        ops = sizes["create"] if c > 1 else sizes["create1"]
        wall, lat = await _drive(lambda i, c=c: backend.create(f"/bench/create{c}/{i:06d}", VALUE), ops, c)
        record("create", c, ops, wall, lat)
    created = sizes["create"]
    for c in CONCURRENCY:
        ops = sizes["get"]
        wall, lat = await _drive(lambda i: backend.get(f"/bench/create64/{(i * 7919) % created:06d}"), ops, c)
        record("get", c, ops, wall, lat)
    for n in (1_000, 10_000):
        for c in CONCURRENCY:
            ops = sizes[f"range{n}"]

            async def one(_: int, n: int = n) -> None:
                assert await backend.range(f"/bench/range{n}/") == n

            wall, lat = await _drive(one, ops, c)
            record(f"range{n // 1000}k", c, ops, wall, lat)
    return results


def _table(results: list[Result]) -> str:
    by = {(r.backend, r.workload, r.concurrency): r for r in results}
    backends = list(dict.fromkeys(r.backend for r in results))
    rows = ["| workload | c | " + " | ".join(f"{b} ops/s | {b} p50/p99 ms" for b in backends)
            + (" | sqlite-full/etcd ops/s |" if "etcd" in backends else " |")]
    rows.append("|" + "---|" * (2 + 2 * len(backends) + ("etcd" in backends)))
    for workload, c in dict.fromkeys((r.workload, r.concurrency) for r in results):
        cells = []
        for b in backends:
            r = by.get((b, workload, c))
            cells += [f"{r.ops_per_s:.0f}", f"{r.p50_ms:.2f} / {r.p99_ms:.2f}"] if r else ["-", "-"]
        ratio = ""
        if "etcd" in backends and (b1 := by.get(("sqlite-full", workload, c))) and (b2 := by.get(("etcd", workload, c))):
            ratio = f" {b1.ops_per_s / b2.ops_per_s:.2f} |"
        rows.append(f"| {workload} | {c} | " + " | ".join(cells) + " |" + ratio)
    return "\n".join(rows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations (a smoke run)")
    parser.add_argument("--no-etcd", action="store_true", help="skip etcd")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    sizes = {k: max(5, int(v * scale)) for k, v in
             {"create1": 1000, "create": 4000, "get": 4000, "range1000": 200, "range10000": 30}.items()}
    tmp = tempfile.mkdtemp(prefix="bench-storage-")
    print(f"# {platform.node()} {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"SQLite {__import__('sqlite3').sqlite_version}, tmp {tmp}", flush=True)
    results: list[Result] = []
    etcd: EtcdServer | None = None
    try:
        for sync in ("FULL", "NORMAL"):
            backend = await SQLiteBackend.open(os.path.join(tmp, f"sqlite-{sync}", "state.db"), sync)
            try:
                results += await _run_backend(backend, sizes)
            finally:
                await backend.close()
        if not args.no_etcd and shutil.which("etcd"):
            etcd = EtcdServer(os.path.join(tmp, "etcd", "data"))
            os.makedirs(etcd.data_dir)
            etcd.start()
            print(f"# {etcd.version()} on 127.0.0.1:{etcd.client_port} (pid {etcd.proc.pid}); client aetcd "
                  f"{__import__('importlib.metadata').metadata.version('aetcd')}", flush=True)
            backend = await _connect_etcd(etcd.client_port)
            try:
                results += await _run_backend(backend, sizes)
            finally:
                await backend.close()
    finally:
        if etcd is not None:
            etcd.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(_table(results))


if __name__ == "__main__":
    asyncio.run(main())

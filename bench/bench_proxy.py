"""Proxy benchmark: requests/s, p50/p99 latency and bulk throughput through a ClusterIP vs direct, same run.

Run: python bench/bench_proxy.py [--seconds 5] [--rounds 7] [--only userspace|nftables] [--json FILE]

userspace: a backend process on 127.0.0.2, userspace proxier processes (one per engine: splice, copy) listening
on ClusterIPs in 127.43.0.0/16, and the load generator in a third process; bulk downloads alternate between
direct and the proxies so load changes hit every path alike. nftables (root with nft only): namespaces made by
this script (node, client, backend; 198.18.0.0/15 addresses), rules programmed by the nftables proxier into the node
namespace, load generated from the client namespace; plus sync time for 1,000 / 10,000 Services and for one
change among 10,000. Every process started here is stopped by PID; every namespace is deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from kybernetes.proxy.proxier import SyncState  # noqa: E402
from kybernetes.proxy.types import EndpointInfo, ServicePortInfo, ServicePortName, UpdateResult  # noqa: E402

BULK = 200 * 1024 * 1024


# -- the three roles ----------------------------------------------------------------------------------------

async def backend(host: str, port: int) -> None:
    chunk = b"x" * 65536

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while line := await r.readline():
                if line.startswith(b"BULK"):
                    left = int(line.split()[1])
                    while left > 0:
                        w.write(chunk[:left])
                        left -= len(chunk)
                        await w.drain()
                    break
                w.write(b"ok\n")
                await w.drain()
        except ConnectionError:
            pass
        w.close()

    server = await asyncio.start_server(handle, host, port, backlog=1024)
    print("ready", flush=True)
    await server.serve_forever()


async def userspace_proxy(cluster_ip: str, be_host: str, be_port: int, engine: str = "") -> None:
    """The userspace proxier serving one Service; `engine` "copy" forces the portable copy loop over splice."""
    from kybernetes.proxy.userspace.proxier import UserspaceProxier

    if engine == "copy":
        from kybernetes.proxy.userspace import pump

        pump.splice_supported.cache_clear()
        pump.sys.platform = "copy-only"  # this process only: splice_supported() now says no
    spn = ServicePortName("default", "bench", "", "TCP")
    proxier = UserspaceProxier()
    await proxier.sync(SyncState({spn: ServicePortInfo(spn, cluster_ip, 80, "TCP")},
                                 {spn: [EndpointInfo(be_host, be_port)]}, UpdateResult(), full=True))
    print("ready", flush=True)
    await asyncio.Event().wait()


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000 if xs else float("nan")


async def client(host: str, port: int, seconds: float, concurrency: int, with_bulk: bool = True) -> dict:
    """Three measurements: request/response on kept-open connections, a new connection per request, bulk."""
    out: dict = {}
    lat: list[float] = []
    stop = time.monotonic() + seconds

    async def rr_worker() -> int:
        r, w = await asyncio.open_connection(host, port)
        n = 0
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            w.write(b"req\n")
            await r.readline()
            lat.append(time.perf_counter() - t0)
            n += 1
        w.close()
        return n

    t0 = time.monotonic()
    total = sum(await asyncio.gather(*(rr_worker() for _ in range(concurrency))))
    out["rr"] = {"req_per_s": round(total / (time.monotonic() - t0)), "p50_ms": round(_pct(lat, 0.5), 3),
                 "p99_ms": round(_pct(lat, 0.99), 3)}
    lat = []
    stop = time.monotonic() + seconds

    async def conn_worker() -> int:
        n = 0
        while time.monotonic() < stop:
            t1 = time.perf_counter()
            r, w = await asyncio.open_connection(host, port)
            w.write(b"req\n")
            await r.readline()
            w.close()
            lat.append(time.perf_counter() - t1)
            n += 1
        return n

    t0 = time.monotonic()
    total = sum(await asyncio.gather(*(conn_worker() for _ in range(concurrency))))
    out["conn"] = {"conn_per_s": round(total / (time.monotonic() - t0)), "p50_ms": round(_pct(lat, 0.5), 3),
                   "p99_ms": round(_pct(lat, 0.99), 3)}
    if with_bulk:
        out["bulk_MB_per_s"] = await bulk(host, port)
    return out


async def bulk(host: str, port: int, size: int = BULK) -> int:
    """MB/s of one `size`-byte download."""
    r, w = await asyncio.open_connection(host, port, limit=1 << 20)
    t0 = time.perf_counter()
    w.write(b"BULK %d\n" % size)
    got = 0
    while chunk := await r.read(1 << 20):
        got += len(chunk)
    w.close()
    return round(got / (time.perf_counter() - t0) / 1e6)


async def bulk_rounds(targets: dict[str, tuple[str, int]], rounds: int) -> dict[str, list[int]]:
    """Bulk downloads over every path in turn, `rounds` times, the order rotated each round, so a change in
    the machine's load hits all paths alike."""
    names = list(targets)
    out: dict[str, list[int]] = {n: [] for n in names}
    for i in range(rounds):
        for n in names[i % len(names):] + names[:i % len(names)]:
            out[n].append(await bulk(*targets[n]))
    return out


# -- orchestration ------------------------------------------------------------------------------------------

def _start(*args: str, prefix: list[str] | None = None) -> subprocess.Popen:
    p = subprocess.Popen([*(prefix or []), sys.executable, os.path.abspath(__file__), *args], stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready", f"{args[0]} did not start"
    return p


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def _run_client(host: str, port: int, seconds: float, concurrency: int, prefix: list[str] | None = None,
                rr_conn_only: bool = False) -> dict:
    r = subprocess.run([*(prefix or []), sys.executable, os.path.abspath(__file__), "client", host, str(port),
                        str(seconds), str(concurrency), *(["nobulk"] if rr_conn_only else [])],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def bench_userspace(seconds: float, concurrency: int, rounds: int = 7,
                    engines: tuple[str, ...] = ("splice", "copy")) -> dict:
    """Direct and through a userspace proxier per engine (splice: the default on Linux; copy: the portable
    loop), all against one backend: rr and conn per path, then bulk downloads alternating between the paths.

    `bulk_vs_direct` is the median over rounds of a path's bulk MB/s over direct's in the same round."""
    import random
    import statistics

    procs = []
    port = _free_port("127.0.0.2")
    try:
        procs.append(_start("backend", "127.0.0.2", str(port)))
        targets = {"direct": ("127.0.0.2", port)}
        for engine in engines:
            cluster_ip = f"127.43.{random.randint(200, 254)}.{random.randint(1, 254)}"  # clear of a server's
            procs.append(_start("uproxy", cluster_ip, "127.0.0.2", str(port), engine))
            targets[f"clusterip_{engine}"] = (cluster_ip, 80)
        out = {name: _run_client(host, p, seconds, concurrency, rr_conn_only=True)
               for name, (host, p) in targets.items()}
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "bulkrounds", json.dumps(targets),
                            str(rounds)], capture_output=True, text=True, check=True)
        series = json.loads(r.stdout)
        for name, xs in series.items():
            out[name]["bulk_MB_per_s"] = statistics.median(xs)
            out[name]["bulk_rounds"] = xs
            if name != "direct":
                out[name]["bulk_vs_direct"] = round(statistics.median(
                    x / d for x, d in zip(xs, series["direct"])), 2)
        return out
    finally:
        _stop(procs)


def _synthetic(n: int, eps: int = 2) -> tuple[dict, dict]:
    smap, emap = {}, {}
    for i in range(n):
        spn = ServicePortName("bench", f"svc{i}", "http", "TCP")
        smap[spn] = ServicePortInfo(spn, f"198.19.{i // 250}.{i % 250 + 1}", 80, "TCP")
        emap[spn] = [EndpointInfo(f"198.18.{200 + j}.{i % 250 + 2}", 8080) for j in range(eps)]
    return smap, emap


async def _sync_times(node_ns: str) -> dict:
    from kybernetes.proxy.nftables.nft import Tools
    from kybernetes.proxy.nftables.proxier import NFTablesProxier
    from kybernetes.proxy.types import NamespacedName

    out = {}
    for n in (1000, 10000):
        p = NFTablesProxier(service_cidr="198.19.0.0/16", cluster_cidr="198.18.200.0/22", tools=Tools(netns=node_ns),
                            pin_route=False)
        smap, emap = _synthetic(n)
        t0 = time.perf_counter()
        await p.sync(SyncState(smap, emap, UpdateResult(), full=True))
        out[f"full_sync_{n}_s"] = round(time.perf_counter() - t0, 3)
        if n == 10000:
            spn = next(iter(smap))
            emap[spn] = emap[spn][:1]
            t0 = time.perf_counter()
            await p.sync(SyncState(smap, emap, UpdateResult(updated_services={NamespacedName("bench", "svc0")})))
            out["one_change_among_10000_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        await p.delete_all()
    return out


def bench_nftables(seconds: float, concurrency: int) -> dict | str:
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "proxy"))
    from netlab import NetLab, nftables_skip_reason  # type: ignore[import-not-found]

    reason = nftables_skip_reason()
    if reason:
        return f"skipped: {reason}"
    from kybernetes.proxy.nftables.nft import Tools
    from kybernetes.proxy.nftables.proxier import NFTablesProxier

    lab = NetLab()
    procs: list[subprocess.Popen] = []
    try:
        lab.create()
        procs.append(_start("backend", "0.0.0.0", "8080", prefix=["ip", "netns", "exec", lab.ns("be1")]))
        spn = ServicePortName("default", "bench", "", "TCP")
        proxier = NFTablesProxier(service_cidr="198.19.0.0/16", cluster_cidr="198.18.200.0/22",
                                  tools=Tools(netns=lab.node))
        asyncio.run(proxier.sync(SyncState({spn: ServicePortInfo(spn, "198.19.0.1", 80, "TCP")},
                                           {spn: [EndpointInfo("198.18.201.2", 8080)]}, UpdateResult(), full=True)))
        prefix = ["ip", "netns", "exec", lab.client]
        res: dict = {"direct": _run_client("198.18.201.2", 8080, seconds, concurrency, prefix),
                     "clusterip": _run_client("198.19.0.1", 80, seconds, concurrency, prefix)}
        asyncio.run(proxier.delete_all())
        res["sync"] = asyncio.run(_sync_times(lab.node))
        return res
    finally:
        _stop(procs)
        lab.destroy()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("backend", "uproxy", "client", "bulkrounds"):
        role, args = sys.argv[1], sys.argv[2:]
        if role == "backend":
            asyncio.run(backend(args[0], int(args[1])))
        elif role == "uproxy":
            asyncio.run(userspace_proxy(args[0], args[1], int(args[2]), *args[3:]))
        elif role == "bulkrounds":
            targets = {k: (h, p) for k, (h, p) in json.loads(args[0]).items()}
            print(json.dumps(asyncio.run(bulk_rounds(targets, int(args[1])))))
        else:
            print(json.dumps(asyncio.run(client(args[0], int(args[1]), float(args[2]), int(args[3]),
                                                with_bulk=args[4:] != ["nobulk"]))))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--json", default="")
    ap.add_argument("--only", choices=["userspace", "nftables"], default="",
                    help="run one mode's half only")
    ap.add_argument("--rounds", type=int, default=7, help="userspace: alternating bulk downloads per path")
    a = ap.parse_args()
    results: dict = {"loadavg_before": os.getloadavg()}
    if a.only != "nftables":
        results["userspace"] = bench_userspace(a.seconds, a.concurrency, a.rounds)
    if a.only != "userspace":
        results["nftables"] = bench_nftables(a.seconds, a.concurrency)
    results["loadavg_after"] = os.getloadavg()
    text = json.dumps(results, indent=2)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()

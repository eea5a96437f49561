"""Cluster DNS benchmark: queries per second and p50/p99 latency over UDP on loopback, at concurrency 1 and 64.

Run: python bench/bench_dns.py [--services 1000] [--headless-endpoints 10] [--duration 3] [--concurrency 1,64]

A server subprocess (this script's `serve` mode) runs kybernetes.dns.server.DNSServer over ClusterRecords whose
caches hold --services ClusterIP Services and as many headless ones with --headless-endpoints ready endpoints
each: the query path of `kybernetes dns` without its informers (they only fill the caches). The driver (this
process) keeps `concurrency` queries in flight, each worker on its own UDP socket, one query after another, for
--duration seconds per scenario:
- A: `svc-<i>.bench.svc.cluster.local` A of random ClusterIP Services (one answer record)
- headless: `hl-<i>.bench.svc.cluster.local` A of headless Services (--headless-endpoints records)
- SRV: `_http._tcp.svc-<i>.bench.svc.cluster.local` (an SRV plus an additional A)
- NXDOMAIN: `svc-<i>.bench.bench.svc.cluster.local`, the first search-path try of an ndots:5 client
Each table is run twice: with the server's reply cache (the steady state: every name asked before, no change
since) and without it (every query parsed, looked up and rendered by dnspython, as after each change).
Latency is measured by the driver from send to receive. The server subprocess is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402

NS = "bench"


def _caches(services: int, endpoints: int):  # noqa: ANN202
    from kybernetes.client.cache import Indexer
    from kybernetes.dns.records import INDEXERS

    svcs, slices = Indexer(INDEXERS["services"]), Indexer(INDEXERS["endpointslices"])
    for i in range(services):
        ip = f"198.19.{i // 250}.{i % 250 + 1}"
        svcs.upsert({"metadata": {"name": f"svc-{i}", "namespace": NS},
                     "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                              "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
        svcs.upsert({"metadata": {"name": f"hl-{i}", "namespace": NS},
                     "spec": {"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"],
                              "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
        slices.upsert({"metadata": {"name": f"hl-{i}-x", "namespace": NS,
                                    "labels": {"kubernetes.io/service-name": f"hl-{i}"}},
                       "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                       "endpoints": [{"addresses": [f"198.18.{i % 250}.{e + 1}"], "conditions": {"ready": True}}
                                     for e in range(endpoints)]})
    return svcs, slices


def serve(port: int, services: int, endpoints: int, cache_size: int) -> None:
    from kybernetes.dns.records import ClusterRecords
    from kybernetes.dns.server import DNSServer

    svcs, slices = _caches(services, endpoints)

    async def main() -> None:
        server = DNSServer(ClusterRecords(services=svcs, endpointslices=slices), cache_size=cache_size)
        await server.start([("127.0.0.1", port)])
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print("ready", flush=True)
        await stop.wait()
        await server.stop()

    asyncio.run(main())


class _Flow(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiter: asyncio.Future[bytes] | None = None

    def datagram_received(self, data: bytes, addr: object) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(data)


async def _worker(port: int, queries: list[bytes], deadline: float, latencies: list[float]) -> int:
    loop = asyncio.get_running_loop()
    transport, flow = await loop.create_datagram_endpoint(_Flow, remote_addr=("127.0.0.1", port))
    errors = 0
    try:
        while time.perf_counter() < deadline:
            wire = random.choice(queries)
            flow.waiter = loop.create_future()
            t0 = time.perf_counter()
            transport.sendto(wire)
            try:
                data = await asyncio.wait_for(flow.waiter, 2.0)
            except asyncio.TimeoutError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - t0)
            if data[:2] != wire[:2]:
                errors += 1
    finally:
        transport.close()
    return errors


def _queries(kind: str, services: int) -> list[bytes]:
    names = {"A": ("svc-{i}.bench.svc.cluster.local.", "A"), "headless": ("hl-{i}.bench.svc.cluster.local.", "A"),
             "SRV": ("_http._tcp.svc-{i}.bench.svc.cluster.local.", "SRV"),
             "NXDOMAIN": ("svc-{i}.bench.bench.svc.cluster.local.", "A")}[kind]
    return [dns.message.make_query(names[0].format(i=i), names[1]).to_wire() for i in range(min(services, 500))]


async def _run(port: int, kind: str, services: int, concurrency: int, duration: float) -> dict:
    queries = _queries(kind, services)
    check = dns.query.udp(dns.message.from_wire(queries[0]), "127.0.0.1", port=port, timeout=2)  # correctness
    want = dns.rcode.NXDOMAIN if kind == "NXDOMAIN" else dns.rcode.NOERROR
    assert check.rcode() == want and (kind == "NXDOMAIN" or check.answer), check
    latencies: list[float] = []
    t0 = time.perf_counter()
    errors = sum(await asyncio.gather(*(_worker(port, queries, t0 + duration, latencies)
                                        for _ in range(concurrency))))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [latencies[0]] * 99
    return {"kind": kind, "c": concurrency, "qps": len(latencies) / elapsed, "p50": q[49] * 1e3,
            "p99": q[98] * 1e3, "n": len(latencies), "errors": errors, "answer_bytes": len(check.to_wire())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", nargs="?", default="bench", choices=["bench", "serve"])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--headless-endpoints", type=int, default=10)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--concurrency", default="1,64")
    ap.add_argument("--kinds", default="A,headless,SRV,NXDOMAIN")
    ap.add_argument("--cache-size", type=int, default=10000, help="serve mode: reply cache entries (0: off)")
    args = ap.parse_args()
    if args.mode == "serve":
        serve(args.port, args.services, args.headless_endpoints, args.cache_size)
        return
    print(f"# {args.services} ClusterIP + {args.services} headless Services ({args.headless_endpoints} "
          f"endpoints each), {args.duration:.0f}s per row, UDP on loopback, python {sys.version.split()[0]}")
    print("| query | reply cache | concurrency | queries/s | p50 ms | p99 ms | answered | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for cache_size in (10000, 0):
        _bench_server(args, cache_size)


def _bench_server(args: argparse.Namespace, cache_size: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, __file__, "serve", "--port", str(port), "--services",
                             str(args.services), "--headless-endpoints", str(args.headless_endpoints),
                             "--cache-size", str(cache_size)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for kind in args.kinds.split(","):
            for c in (int(x) for x in args.concurrency.split(",")):
                r = asyncio.run(_run(port, kind, args.services, c, args.duration))
                cache = "on" if cache_size else "off"
                print(f"| {r['kind']} ({r['answer_bytes']} B) | {cache} | {r['c']} | {r['qps']:,.0f} | "
                      f"{r['p50']:.3f} | {r['p99']:.3f} | {r['n']:,} | {r['errors']} |", flush=True)
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()

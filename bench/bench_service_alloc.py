"""Service creation with ClusterIP and NodePort allocation: the shared RangeAllocation bitmaps in storage
(compare-and-swap, batched) against the old per-apiserver in-memory allocation, side by side.

Run: python bench/bench_service_alloc.py [--services 300] [--rounds 3] [--concurrency 1,16] [--type NodePort]
     [--datastore URL]

One apiserver (the real APIServer, in this process, on SQLite in a temp dir unless --datastore is given) and an
HTTPS RESTClient in the same process. Variant "local" skips attaching the stored ranges (allocation as before:
only this apiserver's memory); "shared" is the default behaviour. Each round creates --services NodePort
Services (a ClusterIP and a NodePort each; --type ClusterIP: only the address) at each concurrency, then deletes them; the variants alternate, and
the median creates/s of the rounds is reported with the ratio shared/local.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from kybernetes.apiserver import allocators  # noqa: E402
from kybernetes.apiserver.server import APIServer, APIServerConfig  # noqa: E402
from kybernetes.client import RESTClient, load_kubeconfig  # noqa: E402

PATH = "/api/v1/namespaces/default/services"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVICE_TYPE = ["NodePort"]


def service(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": SERVICE_TYPE[0], "selector": {"app": name}, "ports": [{"port": 80, "protocol": "TCP"}]}}


async def create_all(client: RESTClient, prefix: str, n: int, concurrency: int) -> float:
    names = iter(range(n))

    async def worker() -> None:
        for i in names:
            await client.create(PATH, service(f"{prefix}-{i}"))
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start)


async def delete_all(client: RESTClient, prefix: str, n: int) -> None:
    sem = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        async with sem:
            await client.delete(f"{PATH}/{prefix}-{i}")
    await asyncio.gather(*(one(i) for i in range(n)))


async def run_variant(variant: str, args: argparse.Namespace, rnd: int) -> dict[int, float]:
    data_dir = tempfile.mkdtemp(prefix="kyb-bench-svc-")
    original = allocators._RangeAllocator.attach  # noqa: SLF001
    if variant == "local":
        allocators._RangeAllocator.attach = lambda self, backing: None  # noqa: SLF001, E731
    server = APIServer(APIServerConfig(data_dir=data_dir, bind_address="127.0.0.1", secure_port=free_port(),
                                       datastore_endpoint=args.datastore or ""))
    out: dict[int, float] = {}
    try:
        await server.start()
        async with RESTClient(load_kubeconfig(server.kubeconfig_path), timeout=60) as client:
            await create_all(client, "warm", 20, 4)
            await delete_all(client, "warm", 20)
            for c in args.concurrency:
                prefix = f"{variant}-r{rnd}-c{c}"
                out[c] = await create_all(client, prefix, args.services, c)
                await delete_all(client, prefix, args.services)
    finally:
        await server.stop()
        allocators._RangeAllocator.attach = original  # noqa: SLF001
        shutil.rmtree(data_dir, ignore_errors=True)
    return out


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--services", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", default="1,16")
    p.add_argument("--type", default="NodePort", choices=["NodePort", "ClusterIP"],
                   help="NodePort: a ClusterIP and a NodePort per Service; ClusterIP: only the address")
    p.add_argument("--datastore", default="", help="e.g. etcd://127.0.0.1:2379 (default: SQLite in a temp dir)")
    args = p.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    SERVICE_TYPE[0] = args.type
    results: dict[str, dict[int, list[float]]] = {v: {c: [] for c in args.concurrency} for v in ("local", "shared")}
    for rnd in range(args.rounds):
        for variant in (("local", "shared") if rnd % 2 == 0 else ("shared", "local")):
            for c, rate in (await run_variant(variant, args, rnd)).items():
                results[variant][c].append(rate)
                print(f"round {rnd} {variant:6} c={c:<3} {rate:7.1f} creates/s", flush=True)
    print(f"\nload average at the end: {os.getloadavg()}")
    print(f"{'c':>4} {'local/s':>9} {'shared/s':>9} {'shared/local':>13}")
    for c in args.concurrency:
        local, shared = statistics.median(results["local"][c]), statistics.median(results["shared"][c])
        print(f"{c:>4} {local:9.1f} {shared:9.1f} {shared / local:13.2f}")


if __name__ == "__main__":
    asyncio.run(main())

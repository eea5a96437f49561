"""Pod network benchmark (root): pod startup with `--pod-network bridge` beside `host`, alternating in one run, and
the bridge network's own cost per pod (setup and teardown of N pod networks, no containers).

Run: python bench/bench_pod_network.py [--pods 100] [--rounds 3] [--idle 5] [--json FILE]

Part 1 reuses bench_pod_startup.py: each round starts one `kybernetes server` per network (host, then bridge,
then the next round), waits until its node is Ready and untainted (the bridge node is tainted network-unavailable
until its bridge is up), creates --pods pods at once, times create -> Running on a watch, and deletes them; so
both networks see the same machine load, round by round. Part 2 drives BridgeNetwork directly on a bridge of its
own (podCIDR 198.18.252.0/24, a temporary root dir): --pods setups at once, then --pods teardowns at once.
Everything made is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from typing import Any

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_pod_startup  # noqa: E402

from kybernetes.kubelet.network.bridge import BridgeNetwork, remove_node_network  # noqa: E402

MICRO_CIDR = "198.18.252.0/24"
_wait_node_ready = bench_pod_startup.wait_node_ready


async def wait_node_schedulable(client) -> None:  # noqa: ANN001
    """Node Ready and without NoSchedule taints: with the bridge network a new node is tainted network-unavailable
    until its bridge is up and the node lifecycle controller has seen it, which is node start-up, not pod start-up."""
    await _wait_node_ready(client)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        nodes = (await client.list(bench_pod_startup.resource_path("", "v1", "nodes")))["items"]
        if nodes and not any(t.get("effect") == "NoSchedule" for n in nodes for t in n["spec"].get("taints") or []):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("node still tainted NoSchedule")


bench_pod_startup.wait_node_ready = wait_node_schedulable  # bench() looks it up at call time


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def micro(n: int) -> dict[str, float]:
    """Set up n pod networks at once, then tear them all down at once; per-pod latencies and totals."""
    root = tempfile.mkdtemp(prefix="kyb-bench-net-")
    net = BridgeNetwork(root, cluster_cidr=MICRO_CIDR)
    uids = [str(uuid.uuid4()) for _ in range(n)]
    try:
        await net.set_pod_cidr(MICRO_CIDR)
        assert net.ready()[0], net.ready()[1]

        async def timed(coro) -> float:  # noqa: ANN001
            t = time.perf_counter()
            await coro
            return time.perf_counter() - t

        t0 = time.perf_counter()
        setups = await asyncio.gather(*(timed(net.setup(u)) for u in uids))
        setup_all = time.perf_counter() - t0
        t0 = time.perf_counter()
        teardowns = await asyncio.gather(*(timed(net.teardown(u)) for u in uids))
        teardown_all = time.perf_counter() - t0
    finally:
        await remove_node_network(root)
        shutil.rmtree(root, ignore_errors=True)
    return {"setup_p50": statistics.median(setups), "setup_p99": percentile(setups, 99), "setup_all": setup_all,
            "teardown_p50": statistics.median(teardowns), "teardown_p99": percentile(teardowns, 99),
            "teardown_all": teardown_all}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--idle", type=float, default=5.0, help="seconds of kubelet idle CPU sampling per run")
    ap.add_argument("--json", default="")
    ap.add_argument("--skip-startup", action="store_true", help="only the BridgeNetwork setup/teardown part")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("the bridge network needs root", file=sys.stderr)
        return 1
    with open("/proc/loadavg") as f:
        print(f"load average at start: {' '.join(f.read().split()[:3])}", flush=True)
    out: dict[str, Any] = {"pods": args.pods, "rounds": []}
    if not args.skip_startup:
        startup_args = argparse.Namespace(pods=args.pods, runs=1, idle=args.idle, keep=False)
        for r in range(args.rounds):
            row = {}
            for network in ("host", "bridge"):
                row[network] = bench_pod_startup.run_one_network(startup_args, network)[0]
            row["ratio_p99"] = row["bridge"]["p99"] / row["host"]["p99"]
            print(f"round {r}: p99 host {row['host']['p99']:.2f} s, bridge {row['bridge']['p99']:.2f} s "
                  f"(x{row['ratio_p99']:.2f})", flush=True)
            out["rounds"].append(row)
        for network in ("host", "bridge"):
            keys = out["rounds"][0][network].keys()
            out[f"median_{network}"] = {k: statistics.median(rd[network][k] for rd in out["rounds"]) for k in keys}
        out["median_ratio_p99"] = statistics.median(rd["ratio_p99"] for rd in out["rounds"])
        print(f"median of {args.rounds} rounds, {args.pods} pods:")
        for k in ("p50", "p99", "bound_p50", "delete_all", "kubelet_cpu_pct"):
            print(f"  {k:16} host {out['median_host'][k]:8.3f}  bridge {out['median_bridge'][k]:8.3f}")
        print(f"  p99 ratio bridge/host (median of per-round ratios): {out['median_ratio_p99']:.2f}")
    out["micro"] = asyncio.run(micro(args.pods))
    print(f"BridgeNetwork, {args.pods} pods at once: " + ", ".join(f"{k}={v:.3f}" for k, v in out["micro"].items()))
    with open("/proc/loadavg") as f:
        print(f"load average at end: {' '.join(f.read().split()[:3])}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Join time of a node: `kybernetes agent` start -> certificates issued -> Node Ready, against a real
`kybernetes server` on loopback (proxy and DNS disabled, agents with their own data dirs and ports).

    python bench/bench_join.py [--runs 5] [--json FILE]

Prints per-run figures and the medians; bench/JOIN.md records results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import shutil
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kybernetes.client import ApiError, RESTClient, load_kubeconfig, resource_path  # noqa: E402
from tests.conftest import free_port, start_server_process, stop_cluster, stop_process, wait_ready  # noqa: E402


async def _wait_ready(client: RESTClient, node: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            obj = await client.get(resource_path("", "v1", "nodes", name=node))
            if any(c["type"] == "Ready" and c["status"] == "True" for c in obj["status"].get("conditions") or []):
                return
        except ApiError:
            pass
        await asyncio.sleep(0.05)
    raise TimeoutError(f"node {node} not Ready")


def _wait_log(path: str, text: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, "rb") as f:
            if text.encode() in f.read():
                return
        if proc.poll() is not None:
            raise RuntimeError(f"agent exited with {proc.returncode}; see {path}")
        time.sleep(0.02)
    raise TimeoutError(text)


async def run(runs: int) -> dict:
    base = tempfile.mkdtemp(prefix="kyb-bench-join-")
    data_dir, port = os.path.join(base, "server"), free_port()
    server = start_server_process(data_dir, port, os.path.join(base, "server.log"), "--disable", "proxy",
                                  "--disable", "dns")
    results = []
    try:
        wait_ready(port, server, timeout=120)
        out = subprocess.run([sys.executable, "-m", "kybernetes", "token", "create", "--data-dir", data_dir],
                             capture_output=True, text=True, check=True)
        token, ca_hash = out.stdout.split()
        client = RESTClient(load_kubeconfig(os.path.join(data_dir, "admin.kubeconfig")))
        for i in range(runs):
            node, agent_dir = f"bench-join-{i}", os.path.join(base, f"agent-{i}")
            log_path = os.path.join(base, f"agent-{i}.log")
            start = time.monotonic()
            agent = subprocess.Popen(
                [sys.executable, "-m", "kybernetes", "agent", "--server", f"https://127.0.0.1:{port}", "--token",
                 token, "--ca-cert-hash", ca_hash, "--data-dir", agent_dir, "--node-name", node, "--node-ip",
                 "127.0.0.1", "--kubelet-port", str(free_port()), "--disable", "proxy"],
                stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
            try:
                _wait_log(log_path, "has its certificates", agent)
                certs = time.monotonic() - start
                await _wait_ready(client, node)
                ready = time.monotonic() - start
            finally:
                stop_process(agent)
            results.append({"node": node, "certificates_s": round(certs, 3), "ready_s": round(ready, 3)})
            print(f"run {i}: certificates after {certs:.2f}s, Node Ready after {ready:.2f}s", flush=True)
        await client.close()
    finally:
        stop_cluster(server, data_dir)
        shutil.rmtree(base, ignore_errors=True)
    return {"runs": results, "load_average": os.getloadavg(),
            "median_certificates_s": statistics.median(r["certificates_s"] for r in results),
            "median_ready_s": statistics.median(r["ready_s"] for r in results)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", default="")
    args = p.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    res = asyncio.run(run(args.runs))
    print(f"median: certificates {res['median_certificates_s']:.2f}s, Node Ready {res['median_ready_s']:.2f}s; "
          f"load average after: {res['load_average']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()

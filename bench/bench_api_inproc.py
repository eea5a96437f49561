"""In-process write-path benchmark: the apiserver's own CPU per pod create, binding, status PATCH and event create.

Run: python bench/bench_api_inproc.py [--pods 2000] [--rounds 3] [--concurrency 16] [--cprofile FILE]
     [--cprofile-phases status] [--phases create,bind,status,event]

A real APIServer (SQLite in a temporary data dir, its HTTPS site on a loopback port nobody uses) is started in
this process; the phases call the same code the HTTP handlers call (ResourceStore.create / .patch and the
binding subresource's guaranteed_update), `concurrency` at a time, without HTTP or TLS. The figure is process
CPU (all threads, including the SQLite writer) per operation: the write path's own cost, steadier than any
HTTP figure on a shared machine. `--cprofile FILE` writes a cProfile of round 0's `--cprofile-phases` (and prints it by cumulative time).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any, Awaitable, Callable

import orjson

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from bench_api_writes import NAMESPACE, NODE, binding_body, event_body, pod_body, status_body  # noqa: E402

PHASES = ("create", "bind", "status", "event")


async def run(a: argparse.Namespace) -> dict[str, list[float]]:
    from kybernetes.api import errors, meta
    from kybernetes.apiserver.rest import RequestContext, guaranteed_update
    from kybernetes.apiserver.server import APIServer, APIServerConfig

    data_dir = tempfile.mkdtemp(prefix="kyb-bench-inproc-")
    server = APIServer(APIServerConfig(data_dir=data_dir, bind_address="127.0.0.1", secure_port=0,
                                       endpoint_reconciler_type="none"))
    await server.start()
    if a.gc_freeze:
        import gc

        gc.freeze()  # what the apiserver could do once started: schemas, modules and bootstrap objects
    results: dict[str, list[float]] = {p: [] for p in a.phases}
    try:
        rest, reg = server.rest, server.registry
        pods, events = reg.get("", "v1", "pods"), reg.get("", "v1", "events")
        nss, nodes = reg.get("", "v1", "namespaces"), reg.get("", "v1", "nodes")

        def ctx() -> RequestContext:
            return RequestContext(field_validation="Strict", user_agent="bench-api-writes/v0.0.0",
                                  user="system:admin", groups=["system:masters", "system:authenticated"])

        await rest.create(nss, "", {"metadata": {"name": NAMESPACE}}, ctx())
        await rest.create(nodes, "", {"metadata": {"name": NODE}}, ctx())
        sas = reg.get("", "v1", "serviceaccounts")  # what the controller-manager would create: admission needs it
        await rest.create(sas, NAMESPACE, {"metadata": {"name": "default"}}, ctx())

        def bind(name: str) -> Callable[[], Awaitable[Any]]:
            body = orjson.loads(binding_body(name))

            def assign(pod: dict[str, Any]) -> dict[str, Any]:  # the binding subresource's mutation
                spec = pod.setdefault("spec", {})
                if spec.get("nodeName"):
                    raise errors.conflict("", "pods/binding", name, "already assigned")
                spec["nodeName"] = body["target"]["name"]
                status = pod.setdefault("status", {})
                conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
                conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                              "lastTransitionTime": meta.now_rfc3339()})
                status["conditions"] = conds
                return pod
            return lambda: guaranteed_update(rest, pods, NAMESPACE, name, assign, ctx())

        import inspect

        adopt = {"adopt": True} if "adopt" in inspect.signature(rest.create).parameters else {}  # as for JSON bodies

        def op(phase: str, i: int) -> Callable[[], Awaitable[Any]]:
            name = f"pod-{i}"
            if phase == "create":
                return lambda: rest.create(pods, NAMESPACE, orjson.loads(pod_body(name)), ctx(), **adopt)
            if phase == "bind":
                return bind(name)
            if phase == "status":
                return lambda: rest.patch(pods, NAMESPACE, name, "merge", status_body(i), ctx(), "status")
            return lambda: rest.create(events, NAMESPACE, orjson.loads(event_body(name, i)), ctx(), **adopt)

        base = 0
        for rnd in range(a.rounds):
            prof = cProfile.Profile() if a.cprofile and rnd == 0 else None
            for phase in a.phases:
                todo = iter(range(base, base + a.pods))

                async def worker() -> None:
                    for i in todo:
                        await op(phase, i)()

                cpu0, t0 = time.process_time(), time.perf_counter()
                profiled = prof is not None and phase in a.cprofile_phases
                if profiled:
                    prof.enable()
                await asyncio.gather(*(worker() for _ in range(a.concurrency)))
                if profiled:
                    prof.disable()
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
                results[phase].append(1e3 * cpu / a.pods)
                print(f"round {rnd} {phase:>6}: {1e3 * cpu / a.pods:.3f} ms CPU/op, {a.pods / wall:.0f} ops/s "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
            if prof:
                prof.dump_stats(a.cprofile)
                pstats.Stats(a.cprofile).sort_stats("cumulative").print_stats(60)
            base += a.pods
    finally:
        await server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return results


def cli() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pods", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--phases", default=",".join(PHASES))
    p.add_argument("--cprofile", default="")
    p.add_argument("--gc-freeze", action="store_true", help="gc.freeze() once the server has started")
    p.add_argument("--cprofile-phases", default=",".join(PHASES), help="the phases the profile covers")
    a = p.parse_args()
    a.phases = [x for x in a.phases.split(",") if x]
    a.cprofile_phases = [x for x in a.cprofile_phases.split(",") if x]
    results = asyncio.run(run(a))
    print("medians: " + ", ".join(f"{k} {statistics.median(v):.3f} ms" for k, v in results.items()))


if __name__ == "__main__":
    cli()

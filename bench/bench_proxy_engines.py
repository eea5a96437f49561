"""The userspace TCP forwarder alone: CPU seconds of the proxy process per GiB and MB/s, per engine.

Run: python bench/bench_proxy_engines.py [--gib 2] [--runs 3] [--engines splice,copy]

A sender (blocking `sendall` of 1 MiB buffers) and a sink (`recv_into`) run in their own processes at C speed,
so what differs between engines is only the forwarder process in the middle (a StreamForwarder on 127.0.0.3
in front of the sink on 127.0.0.2). The engines: `splice` (the default on Linux), `copy` (the portable loop),
and `spliceN` (splice with the pipe held at N KiB). The proxy's CPU time includes ~0.15 s of interpreter start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)


def sink(port: int) -> None:
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.2", port))
    ls.listen()
    print("ready", flush=True)
    buf = bytearray(1 << 20)
    while True:
        c, _ = ls.accept()
        while c.recv_into(buf):
            pass
        c.close()


def proxy(engine: str, port: int, backend_port: int) -> None:
    from kybernetes.proxy.types import EndpointInfo
    from kybernetes.proxy.userspace import pump
    from kybernetes.proxy.userspace.tcp import StreamForwarder

    if engine.startswith("splice") and engine != "splice":
        pump.Pump.max_capacity = int(engine[len("splice"):]) * 1024

    def report(*_: object) -> None:
        t = os.times()
        print(json.dumps({"cpu_s": round(t.user + t.system, 2), "sys_s": round(t.system, 2)}), flush=True)
        os._exit(0)

    async def main() -> None:
        fwd = StreamForwarder("bench", lambda _ip, _skip: EndpointInfo("127.0.0.2", backend_port),
                              zero_copy=engine != "copy")
        await fwd.start("127.0.0.3", port)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, report)
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def send(host: str, port: int, total: int) -> float:
    """MB/s of sending `total` bytes and seeing the far end close."""
    s = socket.create_connection((host, port))
    data = b"x" * (1 << 20)
    t0 = time.perf_counter()
    for _ in range(total // len(data)):
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
    return total / (time.perf_counter() - t0) / 1e6


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _start(*args: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), *args], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return p


def run(engines: list[str], total: int) -> dict:
    backend_port = _free_port("127.0.0.2")
    sink_proc = _start("sink", str(backend_port))
    try:
        out: dict = {"direct": {"MB_per_s": round(send("127.0.0.2", backend_port, total))}}
        for engine in engines:
            port = _free_port("127.0.0.3")
            p = _start("proxy", engine, str(port), str(backend_port))
            try:
                rate = send("127.0.0.3", port, total)
            finally:
                p.terminate()
                stdout, _ = p.communicate(timeout=10)
            out[engine] = {"MB_per_s": round(rate), **json.loads(stdout.strip().splitlines()[-1])}
        return out
    finally:
        sink_proc.terminate()
        sink_proc.wait(10)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("sink", "proxy"):
        if sys.argv[1] == "sink":
            sink(int(sys.argv[2]))
        else:
            proxy(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--engines", default="splice,copy")
    a = ap.parse_args()
    total = int(a.gib * (1 << 30)) // (1 << 20) * (1 << 20)
    results = {"loadavg_before": os.getloadavg(),
               "runs": [run(a.engines.split(","), total) for _ in range(a.runs)]}
    results["loadavg_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

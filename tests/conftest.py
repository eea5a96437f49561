"""Shared fixtures: an in-process apiserver for integration tests, a real `kybernetes server` process for e2e."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from kybernetes.apiserver.server import APIServer, APIServerConfig


# An apiserver without a controller-manager has no "default" service accounts to give pods: as upstream's
# integration tests, run it without the ServiceAccount admission plugin (tests of that plugin turn it on).
NO_CONTROLLERS_ADMISSION = ["ServiceAccount"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest_asyncio.fixture
async def apiserver(tmp_path) -> AsyncIterator[APIServer]:
    """A started apiserver on loopback with SQLite storage in a temporary data dir."""
    cfg = APIServerConfig(data_dir=str(tmp_path / "data"), bind_address="127.0.0.1", secure_port=free_port(),
                          disable_admission_plugins=NO_CONTROLLERS_ADMISSION)
    server = APIServer(cfg)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@dataclass
class Cluster:
    """A `kybernetes server` process and how to reach it."""

    proc: subprocess.Popen
    data_dir: str
    port: int
    kubeconfig: str
    log_path: str

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = ["kubectl", "--kubeconfig", self.kubeconfig, *args]
        res = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res

    def kubectl_json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)


# a second cluster on this machine must not touch the host-wide state the session cluster owns
# (the nftables table and routes of its proxy)
ISOLATED = ("--disable", "proxy")


_CLUSTER_CIDRS: dict[str, str] = {}  # data dir -> the cluster CIDR its server was first started with


def free_cluster_cidr() -> str:
    """A /22 of 198.18.4.0-198.18.127.255 that no route of this machine overlaps, so the pods of each test cluster
    (and of other test runs on the machine) get addresses of their own; tests that pick a fixed range take it
    from 198.18.128.0/17."""
    import ipaddress
    import random

    out = subprocess.run(["ip", "-o", "-4", "route", "show", "table", "all"], capture_output=True,
                         text=True).stdout if shutil.which("ip") else ""
    used = []
    for line in out.splitlines():
        words = line.split()
        dest = words[1] if words[0] in ("blackhole", "local", "broadcast", "unreachable", "prohibit") else words[0]
        try:
            net = ipaddress.ip_network(dest, strict=False)
        except ValueError:
            continue
        if net.prefixlen > 16:  # a pinned 198.18.0.0/16 (the default range) covers all and takes none
            used.append(net)
    pool = list(ipaddress.ip_network("198.18.0.0/17").subnets(new_prefix=22))[1:]
    return str(random.choice([c for c in pool if not any(c.overlaps(u) for u in used)] or pool))


def start_server_process(data_dir: str, port: int, log_path: str, *extra: str) -> subprocess.Popen:
    log = open(log_path, "ab")
    if "--cluster-cidr" not in extra:  # a restart on the same data dir keeps its range (nodes keep their podCIDRs)
        extra = ("--cluster-cidr", _CLUSTER_CIDRS.setdefault(os.path.abspath(data_dir), free_cluster_cidr()), *extra)
    return subprocess.Popen(
        [sys.executable, "-m", "kybernetes", "server", "--data-dir", data_dir, "--bind-address", "127.0.0.1",
         "--secure-port", str(port), "--kubelet-port", str(free_port()), *extra],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=ctx, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("server did not become ready")


def stop_runtime_containers(runtime_dir: str) -> None:
    """Stop every container a (dead or stopped) kubelet's process runtime left running: the kubelet keeps
    containers across its own restarts by design, so tests that end a cluster end its containers too."""
    import asyncio
    import threading

    from kybernetes.cli.killall import stop_all_containers

    # its own thread and loop: callers may be inside a running event loop
    t = threading.Thread(target=asyncio.run, args=(stop_all_containers(runtime_dir),))
    t.start()
    t.join(60)


def stop_cluster(proc: subprocess.Popen, data_dir: str) -> None:
    """Stop a `kybernetes server` process, then the containers its kubelet left running."""
    stop_process(proc)
    stop_runtime_containers(os.path.join(data_dir, "kubelet", "runtime"))


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    """One `kybernetes server` for the whole e2e session."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on the PATH")
    base = tmp_path_factory.mktemp("cluster")
    data_dir = str(base / "data")
    port = free_port()
    log_path = str(base / "server.log")
    proc = start_server_process(data_dir, port, log_path)
    try:
        wait_ready(port, proc)
        yield Cluster(proc, data_dir, port, os.path.join(data_dir, "admin.kubeconfig"), log_path)
    finally:
        stop_cluster(proc, data_dir)

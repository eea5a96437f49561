"""A second control-plane node joins with the first server's token (`kybernetes server --server URL --token T`)
over a shared etcd: both nodes are Ready through either apiserver, a Secret written through one reads back in
plaintext through the other (shared encryption keys) and a service-account token issued by one authenticates
at the other (shared signing key). A worker agent joined through the first server survives its `kill -9`: its
kubelet fails over to the second apiserver (client-side load balancing), so its node keeps renewing its Lease
and runs a new pod created through the second."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from tests.conftest import (ISOLATED, free_cluster_cidr, free_port, start_server_process, stop_cluster, stop_process,
                            stop_runtime_containers, wait_ready)
from tests.etcd_cluster import EtcdCluster

pytestmark = pytest.mark.e2e


@pytest.fixture
def etcd() -> Iterator[EtcdCluster]:
    binary = shutil.which("etcd")
    if binary is None:
        pytest.skip("etcd binary not found (apt-get install etcd-server)")
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on the PATH")
    cluster = EtcdCluster(binary, size=1)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def kubectl(kubeconfig: str, *args: str) -> str:
    res = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {res.stderr}")
    return res.stdout


def eventually(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except AssertionError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.3)


def ready_nodes(kubeconfig: str) -> set[str]:
    nodes = json.loads(kubectl(kubeconfig, "get", "nodes", "-o", "json"))["items"]
    return {n["metadata"]["name"] for n in nodes
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions") or [])}


AGENT_NODE = "agent-c"


def descendants(pid: int) -> list[int]:
    """Every process below pid (children first found first), from /proc's parent links."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def kill_hard(proc: subprocess.Popen) -> None:
    """kill -9 a server and every process it started: stopped first, so no child outlives it or hears of it."""
    os.kill(proc.pid, signal.SIGSTOP)
    for pid in [proc.pid, *descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(10)


def join_agent(server_dir: str, server_url: str, agent_dir: str, log_path: str) -> subprocess.Popen:
    """`kybernetes token create` on the server, then `kybernetes agent --server server_url` with that token."""
    created = subprocess.run([sys.executable, "-m", "kybernetes", "token", "create", "--data-dir", server_dir,
                              "--ttl", "1h", "--server", server_url], capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    token, ca_hash = created.stdout.split()
    return subprocess.Popen(
        [sys.executable, "-m", "kybernetes", "agent", "--server", server_url, "--token", token,
         "--ca-cert-hash", ca_hash, "--data-dir", agent_dir, "--node-name", AGENT_NODE, "--node-ip", "127.0.0.1",
         "--kubelet-port", str(free_port()), "--disable", "proxy"],
        stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def lease_renew_time(kubeconfig: str, node: str) -> str:
    return kubectl(kubeconfig, "-n", "kube-node-lease", "get", "lease", node, "-o", "jsonpath={.spec.renewTime}")


def test_second_server_joins_with_the_token(etcd: EtcdCluster, tmp_path) -> None:
    common = ("--datastore-endpoint", etcd.url(), "--cluster-cidr", free_cluster_cidr(), *ISOLATED,
              "--disable", "dns")
    dirs = {name: str(tmp_path / name) for name in ("a", "b")}
    ports = {name: free_port() for name in dirs}
    procs: dict[str, subprocess.Popen] = {}
    agent: subprocess.Popen | None = None
    agent_dir = str(tmp_path / "agent")
    try:
        procs["a"] = start_server_process(dirs["a"], ports["a"], str(tmp_path / "a.log"), *common,
                                          "--node-name", "server-a")
        wait_ready(ports["a"], procs["a"])
        with open(os.path.join(dirs["a"], "token")) as f:
            token = f.read().strip()
        assert token.startswith("K10") and "::server:" in token
        procs["b"] = start_server_process(dirs["b"], ports["b"], str(tmp_path / "b.log"), *common,
                                          "--node-name", "server-b", "--server", f"https://127.0.0.1:{ports['a']}",
                                          "--token", token)
        wait_ready(ports["b"], procs["b"])
        # a worker joins through A only (it learns B from the kubernetes endpoints) while the servers are checked
        agent = join_agent(dirs["a"], f"https://127.0.0.1:{ports['a']}", agent_dir, str(tmp_path / "agent.log"))
        kubeconfigs = {name: os.path.join(d, "admin.kubeconfig") for name, d in dirs.items()}
        for name in ("pki/ca.crt", "pki/ca.key", "pki/service-account.key", "encryption-config.yaml"):
            with open(os.path.join(dirs["a"], name), "rb") as fa, open(os.path.join(dirs["b"], name), "rb") as fb:
                assert fa.read() == fb.read(), f"{name} is not shared"

        for kubeconfig in kubeconfigs.values():
            eventually(lambda: {"server-a", "server-b"} <= ready_nodes(kubeconfig), "both nodes are Ready")

        kubectl(kubeconfigs["a"], "create", "secret", "generic", "shared", "--from-literal=word=plain")
        secret = json.loads(kubectl(kubeconfigs["b"], "get", "secret", "shared", "-o", "json"))
        assert secret["data"]["word"] == "cGxhaW4="  # base64 of "plain": B decrypted what A encrypted

        eventually(lambda: kubectl(kubeconfigs["a"], "get", "serviceaccount", "default"), "the default SA exists")
        sa_token = kubectl(kubeconfigs["a"], "create", "token", "default").strip()
        whoami = subprocess.run(
            ["kubectl", "--server", f"https://127.0.0.1:{ports['b']}", "--token", sa_token,
             "--certificate-authority", os.path.join(dirs["b"], "pki", "ca.crt"), "auth", "whoami", "-o", "json"],
            capture_output=True, text=True, timeout=30)
        assert whoami.returncode == 0, whoami.stderr
        assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == \
            "system:serviceaccount:default:default"

        # the agent joined through A; A dies (and its node's containers with it): the agent's node lives on via B
        eventually(lambda: AGENT_NODE in ready_nodes(kubeconfigs["b"]), "the agent's node is Ready", timeout=45)
        # its Lease is created by the kubelet's lease loop, which may trail the first Ready status
        renewed_before = eventually(lambda: lease_renew_time(kubeconfigs["b"], AGENT_NODE),
                                    "the agent's node has a Lease", timeout=30)
        kill_hard(procs["a"])
        stop_runtime_containers(os.path.join(dirs["a"], "kubelet", "runtime"))
        kubectl(kubeconfigs["b"], "run", "after-a", "--image", "busybox", "--restart", "Never",
                f"--overrides={json.dumps({'spec': {'nodeName': AGENT_NODE}})}", "--", "sleep", "3600")
        eventually(lambda: lease_renew_time(kubeconfigs["b"], AGENT_NODE) != renewed_before,
                   "the agent's node renews its Lease through B")
        eventually(lambda: json.loads(kubectl(kubeconfigs["b"], "get", "pod", "after-a", "-o", "json"))
                   ["status"].get("phase") == "Running", "a pod created through B runs on the agent's node")
        assert AGENT_NODE in ready_nodes(kubeconfigs["b"])
    finally:
        if agent is not None:
            stop_process(agent)
            stop_runtime_containers(os.path.join(agent_dir, "kubelet", "runtime"))
        for name in ("b", "a"):
            if name in procs:
                stop_cluster(procs[name], dirs[name])

"""A worker joins with a bootstrap token: `kybernetes server`, `kybernetes token create`, `kybernetes agent` on the
same machine (loopback, its own data dir, node name and kubelet port); kubectl sees two Ready nodes, the
approved and issued CSRs, and runs a pod on the agent's node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import (ISOLATED, free_port, start_server_process, stop_cluster, stop_process,
                            stop_runtime_containers, wait_ready)

pytestmark = pytest.mark.e2e

AGENT_NODE = "joined-agent"


def _kubectl(kubeconfig: str, *args: str, input: str | None = None) -> str:
    res = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=input, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout:.0f}s")


def _ready_nodes(kubeconfig: str) -> set[str]:
    nodes = json.loads(_kubectl(kubeconfig, "get", "nodes", "-o", "json"))["items"]
    return {n["metadata"]["name"] for n in nodes
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions") or [])}


def test_agent_joins_with_a_bootstrap_token(tmp_path) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on the PATH")
    data_dir, agent_dir = str(tmp_path / "server"), str(tmp_path / "agent")
    kc = os.path.join(data_dir, "admin.kubeconfig")
    port = free_port()
    server = start_server_process(data_dir, port, str(tmp_path / "server.log"), *ISOLATED, "--disable", "dns",
                                  "--node-name", "joined-server")
    agent = None
    try:
        wait_ready(port, server)
        created = subprocess.run([sys.executable, "-m", "kybernetes", "token", "create", "--data-dir", data_dir,
                                  "--ttl", "1h"], capture_output=True, text=True, timeout=60)
        assert created.returncode == 0, created.stderr
        token, ca_hash = created.stdout.split()
        assert ca_hash.startswith("sha256:") and f"--ca-cert-hash {ca_hash}" in created.stderr

        log = open(tmp_path / "agent.log", "ab")
        agent = subprocess.Popen(
            [sys.executable, "-m", "kybernetes", "agent", "--server", f"https://127.0.0.1:{port}", "--token", token,
             "--ca-cert-hash", ca_hash, "--data-dir", agent_dir, "--node-name", AGENT_NODE, "--node-ip", "127.0.0.1",
             "--kubelet-port", str(free_port()), "--disable", "proxy"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _until(lambda: _ready_nodes(kc) == {"joined-server", AGENT_NODE}, 45, "two Ready nodes")

        csrs = json.loads(_kubectl(kc, "get", "csr", "-o", "json"))["items"]
        assert {c["spec"]["signerName"] for c in csrs} == {"kubernetes.io/kube-apiserver-client-kubelet",
                                                          "kubernetes.io/kubelet-serving"}
        assert {c["spec"]["username"] for c in csrs} == {f"system:bootstrap:{token.split('.')[0]}",
                                                        f"system:node:{AGENT_NODE}"}
        assert all(c["status"].get("certificate") for c in csrs)
        table = _kubectl(kc, "get", "csr")
        assert table.count("Approved,Issued") == 2, table

        _kubectl(kc, "apply", "-f", "-", input=(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: on-agent}\n"
            f"spec:\n  nodeName: {AGENT_NODE}\n  containers:\n  - name: c\n    image: busybox\n"
            "    command: [sh, -c, 'echo hello from the agent; sleep 3600']\n"))
        _until(lambda: "hello from the agent" in _kubectl(kc, "logs", "on-agent"), 30,
               "the pod on the agent's node logs through the apiserver")
        pod = json.loads(_kubectl(kc, "get", "pod", "on-agent", "-o", "json"))
        assert pod["status"]["phase"] == "Running" and pod["spec"]["nodeName"] == AGENT_NODE
    finally:
        if agent is not None:
            stop_process(agent)
            stop_runtime_containers(os.path.join(agent_dir, "kubelet", "runtime"))
        stop_cluster(server, data_dir)

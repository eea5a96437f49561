"""Disaster recovery: `kybernetes snapshot save` on a running server, `restore`, and a server on the restored dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ISOLATED, free_port, start_server_process, stop_cluster, wait_ready

pytestmark = pytest.mark.e2e


def _kubectl(kubeconfig: str, *args: str, input: str | None = None) -> str:
    res = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=input, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kybernetes", *args], capture_output=True, text=True, timeout=60)


def test_save_while_running_then_restore_gives_back_exact_resource_versions(cluster, tmp_path):
    kc = cluster.kubeconfig
    _kubectl(kc, "apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata: {name: snap}\n")
    for i in range(20):
        _kubectl(kc, "-n", "snap", "apply", "-f", "-",
                 input=f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\ndata: {{i: '{i}'}}\n")
    before = json.loads(_kubectl(kc, "-n", "snap", "get", "cm", "-o", "json"))
    snap = str(tmp_path / "backup.snap")
    res = _cli("snapshot", "save", snap, "--data-dir", cluster.data_dir)
    assert res.returncode == 0, res.stderr
    assert "Snapshot saved" in res.stdout
    # writes after the snapshot are not in it
    _kubectl(kc, "-n", "snap", "apply", "-f", "-", input="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: later}\n")

    restored = str(tmp_path / "restored")
    res = _cli("snapshot", "restore", snap, "--data-dir", restored)
    assert res.returncode == 0, res.stderr
    res = _cli("snapshot", "restore", snap, "--data-dir", restored)
    assert res.returncode != 0 and "already exists" in res.stderr  # never overwrites silently

    port = free_port()
    proc = start_server_process(restored, port, str(tmp_path / "restored.log"), *ISOLATED)
    try:
        wait_ready(port, proc)
        after = json.loads(_kubectl(os.path.join(restored, "admin.kubeconfig"), "-n", "snap", "get", "cm", "-o", "json"))
    finally:
        stop_cluster(proc, restored)
    rv = {o["metadata"]["name"]: (o["metadata"]["resourceVersion"], o["metadata"]["uid"]) for o in before["items"]}
    rv_after = {o["metadata"]["name"]: (o["metadata"]["resourceVersion"], o["metadata"]["uid"]) for o in after["items"]}
    assert rv_after == rv

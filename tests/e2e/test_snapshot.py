"""Disaster recovery: `kybernetes snapshot save` on a running server, scheduled snapshots, `restore`, and a server
on the restored dir."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest

from kybernetes.version import GIT_VERSION
from tests.conftest import ISOLATED, free_port, start_server_process, stop_cluster, stop_process, wait_ready

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


def _scheduled(data_dir: str, node: str) -> list[dict]:
    res = _cli("snapshot", "ls", "--data-dir", data_dir, "-o", "json")
    assert res.returncode == 0, res.stderr
    return [s for s in json.loads(res.stdout) if s["name"].startswith(f"etcd-snapshot-{node}-")]


def _lease_renewed_after(kubeconfig: str, node: str, when: datetime) -> bool:
    res = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "-n", "kube-node-lease", "get", "lease", node,
                          "-o", "jsonpath={.spec.renewTime}"], capture_output=True, text=True, timeout=60)
    return res.returncode == 0 and bool(res.stdout) and \
        datetime.fromisoformat(res.stdout.replace("Z", "+00:00")) > when


def _wait_for(predicate, timeout: float = 60.0, interval: float = 0.2):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def test_scheduled_snapshot_then_datastore_loss_then_restore(tmp_path):
    """The runbook of docs/disaster-recovery.md: scheduled snapshots, the datastore lost, restore, start."""
    data, node = str(tmp_path / "data"), "dr-node"
    kc = os.path.join(data, "admin.kubeconfig")
    port = free_port()
    proc = start_server_process(data, port, str(tmp_path / "server.log"), *ISOLATED, "--disable", "dns",
                                "--node-name", node, "--snapshot-cron", "@every 2s", "--snapshot-retention", "2")
    offsite = tmp_path / "offsite"
    offsite.mkdir()
    try:
        wait_ready(port, proc)
        _kubectl(kc, "create", "namespace", "dr")
        for name in ("before", "doomed"):
            _kubectl(kc, "-n", "dr", "create", "configmap", name, "--from-literal=k=v")
        _kubectl(kc, "-n", "dr", "run", "keeper", "--image=python:3", "--restart=Never", "--command", "--",
                 sys.executable, "-u", "-c", "import time\nwhile True: print('alive'); time.sleep(0.5)")
        _kubectl(kc, "-n", "dr", "wait", "--for=condition=Ready", "pod/keeper", "--timeout=60s")
        before = json.loads(_kubectl(kc, "-n", "dr", "get", "cm", "before", "-o", "json"))
        t0 = time.time()
        # the first scheduled snapshot started after all of that: copy it off the machine (with its keys)
        snap = _wait_for(lambda: max((s for s in _scheduled(data, node) if s["created"] > t0),
                                     key=lambda s: s["created"], default=None))
        for path in (snap["location"].removeprefix("file://"),
                     snap["location"].removeprefix("file://") + ".encryption-config.yaml"):
            shutil.copy2(path, offsite)
        assert json.loads(_kubectl(kc, "version", "-o", "json"))["serverVersion"]["gitVersion"] == GIT_VERSION
        assert _kubectl(kc, "get", "node", node, "-o", "jsonpath={.status.nodeInfo.kubeletVersion}") == GIT_VERSION
        metrics = _kubectl(kc, "get", "--raw", "/metrics")
        assert 'kybernetes_snapshot_save_total{result="success"}' in metrics and "kubernetes_build_info{" in metrics
        _kubectl(kc, "-n", "dr", "create", "configmap", "after", "--from-literal=k=v")
        _kubectl(kc, "-n", "dr", "delete", "configmap", "doomed")
        # retention: only the newest two scheduled snapshots stay; an on-demand one is never pruned
        res = _cli("snapshot", "save", "--data-dir", data, "--node-name", node)
        assert res.returncode == 0 and "on-demand-dr-node-" in res.stdout, res.stderr
        _wait_for(lambda: all(s["created"] > snap["created"] for s in _scheduled(data, node)))
    finally:
        stop_process(proc)
    assert len(_scheduled(data, node)) == 2
    names = [s["name"] for s in json.loads(_cli("snapshot", "ls", "--data-dir", data, "-o", "json").stdout)]
    assert any(n.startswith("on-demand-dr-node-") for n in names)

    shutil.rmtree(os.path.join(data, "db"))  # the datastore is lost
    res = _cli("snapshot", "restore", str(offsite / snap["name"]), "--data-dir", data)
    assert res.returncode == 0, res.stderr

    restarted = datetime.now(timezone.utc)
    proc = start_server_process(data, port, str(tmp_path / "restored.log"), *ISOLATED, "--disable", "dns",
                                "--node-name", node)
    try:
        wait_ready(port, proc)
        # the restored Node says Ready already: wait for the kubelet itself to renew its Lease after the restore
        _wait_for(lambda: _lease_renewed_after(kc, node, restarted))
        _kubectl(kc, "wait", "--for=condition=Ready", f"node/{node}", "--timeout=60s")
        cms = json.loads(_kubectl(kc, "-n", "dr", "get", "cm", "-o", "json"))
        names = {o["metadata"]["name"] for o in cms["items"]}
        assert {"before", "doomed"} <= names and "after" not in names
        got = next(o for o in cms["items"] if o["metadata"]["name"] == "before")["metadata"]
        assert (got["uid"], got["resourceVersion"]) == (before["metadata"]["uid"],
                                                          before["metadata"]["resourceVersion"])
        listed = json.loads(_kubectl(kc, "get", "--raw", "/api/v1/namespaces/dr/configmaps"))
        assert int(listed["metadata"]["resourceVersion"]) > 1_000_000_000  # revisions moved past the old ones
        _kubectl(kc, "-n", "dr", "wait", "--for=condition=Ready", "pod/keeper", "--timeout=60s")
        assert "alive" in _kubectl(kc, "-n", "dr", "logs", "keeper", "--tail=1")  # served by the kubelet
        _kubectl(kc, "-n", "dr", "create", "configmap", "after-restore", "--from-literal=k=v")
    finally:
        stop_cluster(proc, data)

"""A highly available control plane: a 3-member etcd cluster, 2 apiservers, 2 schedulers and 2 controller-managers
(leader-elected, load-balancing over both apiservers). kill -9 of one etcd member (the raft leader, which the
apiservers are connected to), one apiserver, the leading scheduler and the leading controller-manager: writes
go on and none acknowledged is lost, a new Deployment still gets its pods created and bound, and the
`kubernetes` endpoints drop the dead apiserver."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from kybernetes.client import ApiError, ClientConfig, RESTClient, load_kubeconfig, resource_path
from kybernetes.pki import components
from kybernetes.pki.bootstrap import ensure_pki
from kybernetes.pki.components import ensure_component_kubeconfig
from tests.etcd_cluster import EtcdCluster
from tests.integration.apiserver.test_multiple_apiservers import IPS, port_free_on_both, share_pki

pytestmark = pytest.mark.e2e

NS = "ha"
CMS = resource_path("", "v1", "configmaps", NS)
PODS = resource_path("", "v1", "pods", NS)
DEPLOYMENTS = resource_path("apps", "v1", "deployments", NS)
NODES = resource_path("", "v1", "nodes")
ENDPOINTS = resource_path("", "v1", "endpoints", "default", "kubernetes")
LEASE_TTL = "3"  # the apiservers' endpoint leases, renewed every 2 s
SCHEDULER_CONFIG = {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
                    "leaderElection": {"leaderElect": True, "leaseDuration": "3s", "renewDeadline": "2s",
                                       "retryPeriod": "500ms"}}


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: str

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """kill -9, by PID."""
        if self.alive():
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self) -> None:
        if self.alive():
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def logged(self, text: str) -> bool:
        with open(self.log, errors="replace") as f:
            return text in f.read()


@dataclass
class ControlPlane:
    base: str
    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, *args: str) -> Proc:
        log = os.path.join(self.base, f"{name}.log")
        with open(log, "ab") as out:
            popen = subprocess.Popen([sys.executable, "-m", "kybernetes", *args], stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


def wait_ready(url: str, proc: Proc, timeout: float = 60.0) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited; log in {proc.log}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", context=ctx, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{proc.name} did not become ready")


async def eventually(check: Any, what: str, timeout: float = 60.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            result = await check()
        except (ApiError, OSError, asyncio.TimeoutError):
            result = None
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.2)


def node(name: str) -> dict[str, Any]:
    """A Node as a kubelet would register it, Ready (no kubelet runs: the test only schedules)."""
    resources = {"cpu": "4", "memory": "8Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"capacity": resources, "allocatable": resources,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                       "addresses": [{"type": "Hostname", "address": name}]}}


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}}}


async def create(client: RESTClient, path: str, obj: dict[str, Any]) -> bool:
    """Create, or find it created (a create cut off by a dying apiserver may have been applied)."""
    try:
        await client.create(path, obj)
    except ApiError as e:
        if e.code != 409:
            raise
    return True


async def bound_pods(client: RESTClient, app: str, replicas: int) -> bool:
    pods = (await client.list(PODS, {"labelSelector": f"app={app}"}))["items"]
    return len(pods) == replicas and all(p["spec"].get("nodeName") for p in pods)


async def writer(client: RESTClient, acked: dict[str, str], stop: asyncio.Event) -> None:
    """ConfigMaps written one after another; a write counts only once the apiserver answered 201."""
    i = 0
    while not stop.is_set():
        name = f"w-{i}"
        i += 1
        try:
            obj = await client.create(CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                                            "data": {"i": str(i)}})
        except Exception:  # noqa: BLE001 - not acknowledged (an apiserver or etcd member died under it)
            await asyncio.sleep(0.05)
            continue
        acked[name] = obj["metadata"]["resourceVersion"]
        await asyncio.sleep(0.02)


def leader(procs: list[Proc], lease: str) -> Proc:
    leaders = [p for p in procs if p.alive() and p.logged(f"became leader of kube-system/{lease}")]
    assert len(leaders) == 1, f"{lease}: {[p.name for p in leaders]} claim to lead"
    return leaders[0]


@pytest.fixture
def etcd_cluster():
    binary = shutil.which("etcd")
    if binary is None:
        pytest.skip("etcd binary not found (apt-get install etcd-server)")
    cluster = EtcdCluster(binary)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


async def test_control_plane_survives_losing_one_of_each(etcd_cluster: EtcdCluster, tmp_path) -> None:
    plane = ControlPlane(str(tmp_path))
    try:
        await _scenario(etcd_cluster, plane, str(tmp_path))
    finally:
        plane.stop()


async def _scenario(etcd: EtcdCluster, plane: ControlPlane, base: str) -> None:
    # two apiservers on one port of two loopback addresses, sharing the CA and service-account key
    etcd_leader = etcd.leader()
    port = port_free_on_both()
    urls = [f"https://{ip}:{port}" for ip in IPS]
    data_dirs = [os.path.join(base, f"apiserver-{i}") for i in range(2)]
    ensure_pki(data_dirs[0])
    share_pki(data_dirs[0], data_dirs[1])
    apiservers = [plane.start(f"apiserver-{i}", "apiserver", "--data-dir", data_dirs[i], "--bind-address", ip,
                              "--secure-port", str(port), "--datastore-endpoint", etcd.url(first=etcd_leader),
                              "--endpoint-lease-ttl", LEASE_TTL)
                  for i, ip in enumerate(IPS)]
    await asyncio.gather(*(asyncio.to_thread(wait_ready, url, p) for url, p in zip(urls, apiservers)))

    # schedulers and controller-managers, each balancing over both apiservers
    admin_kubeconfig = os.path.join(data_dirs[0], "admin.kubeconfig")
    scheduler_kubeconfig = ensure_component_kubeconfig(data_dirs[0], urls[0], *components.SCHEDULER)
    scheduler_config = os.path.join(base, "scheduler.yaml")
    with open(scheduler_config, "w") as f:
        yaml.safe_dump(SCHEDULER_CONFIG, f)
    servers = [arg for url in urls for arg in ("--server", url)]
    schedulers = [plane.start(f"scheduler-{i}", "scheduler", "--kubeconfig", scheduler_kubeconfig,
                              "--config", scheduler_config, "--leader-elect", *servers) for i in range(2)]
    managers = [plane.start(f"controller-manager-{i}", "controller-manager", "--kubeconfig", admin_kubeconfig,
                            "--leader-elect", "--controllers", "deployment,replicaset,serviceaccount",
                            "--node-monitor-grace-period", "3600", *servers) for i in range(2)]

    cfg: ClientConfig = load_kubeconfig(admin_kubeconfig)
    cfg.server, cfg.servers = urls[0], urls[1:]
    acked: dict[str, str] = {}
    stop = asyncio.Event()
    async with RESTClient(cfg, timeout=10) as client:
        await client.create(resource_path("", "v1", "namespaces"),
                            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        for i in range(3):
            await client.create(NODES, node(f"node-{i}"))

        async def both_listed() -> bool:
            eps = await client.get(ENDPOINTS)
            return [a["ip"] for s in eps.get("subsets") or [] for a in s["addresses"]] == list(IPS)
        await eventually(both_listed, "the kubernetes endpoints list both apiservers")

        writes = asyncio.create_task(writer(client, acked, stop))
        await eventually(lambda: create(client, DEPLOYMENTS, deployment("before", 3)), "the Deployment is created")
        await eventually(lambda: bound_pods(client, "before", 3), "the first Deployment's pods are bound", 90)
        scheduler, manager = leader(schedulers, "kube-scheduler"), leader(managers, "kube-controller-manager")

        # kill -9 one of each
        acked_before = len(acked)
        for victim in (scheduler, manager, apiservers[0]):
            victim.kill()
        etcd_leader.kill()

        await eventually(lambda: asyncio.sleep(0, len(acked) >= acked_before + 20), "writes go on")
        await eventually(lambda: create(client, DEPLOYMENTS, deployment("after", 2)), "a Deployment is created")
        await eventually(lambda: bound_pods(client, "after", 2), "the new Deployment's pods are created and bound", 90)

        async def only_live_one() -> bool:
            eps = await client.get(ENDPOINTS)
            return [(a["ip"], p["port"]) for s in eps.get("subsets") or [] for a in s["addresses"]
                    for p in s["ports"]] == [(IPS[1], port)]
        await eventually(only_live_one, "the kubernetes endpoints drop the dead apiserver")
        stop.set()
        await writes

        # every acknowledged write is there, at the revision it was acknowledged with
        stored = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in (await client.list(CMS))["items"]}
        lost = {n for n in acked if n not in stored}
        assert not lost, f"{len(lost)} of {len(acked)} acknowledged writes lost"
        assert all(stored[n] == rv for n, rv in acked.items())
        assert len(acked) > acked_before
        # the standbys took over
        assert leader([p for p in schedulers if p is not scheduler], "kube-scheduler")
        assert leader([p for p in managers if p is not manager], "kube-controller-manager")
        assert apiservers[1].alive()

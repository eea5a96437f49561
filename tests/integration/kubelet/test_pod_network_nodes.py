"""Pod to pod across nodes (root only): two kubelets, each in a network namespace this test makes (the "nodes",
on a test bridge in 198.18.254.0/24), against an apiserver listening on the host end of that bridge. Each node
routes the other's podCIDR via its InternalIP (host-gw, from a watch of all Nodes under the proxy identity), and a
pod on one node reaches a pod on the other by pod IP, seen with its own address (no masquerade inside the range).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from kybernetes.apiserver.server import APIServer, APIServerConfig
from kybernetes.client.config import load_kubeconfig
from kybernetes.client.rest import ApiError, RESTClient, resource_path
from kybernetes.kubelet.network.bridge import netns_name
from kybernetes.kubelet.network.routes import ROUTE_PROTO
from kybernetes.pki import components
from kybernetes.pki.components import ensure_component_kubeconfig, kubelet_identity
from tests.netns import NodeNetworks, sh
from tests.conftest import NO_CONTROLLERS_ADMISSION, free_port
from tests.integration.kubelet.test_kubelet import eventually

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("ip", "nft", "nsenter")),
    reason="nodes in network namespaces need root, iproute2, nft and nsenter")

PY = sys.executable
PODS = resource_path("", "v1", "pods", "default")
HOST_IP = "198.18.254.1"  # the test bridge's host end: the apiserver listens here
NODES = {"node-1": ("198.18.254.11", "198.18.248.0/24"), "node-2": ("198.18.254.12", "198.18.249.0/24")}
CLUSTER_CIDR = "198.18.248.0/22"  # apart from the default 198.18.0.0/16's first /24s other clusters use
PORT = 8080
SERVER = (
    "import http.server, os\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = (os.environ['POD_NAME'] + ' ' + self.client_address[0]).encode()\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def log_message(self, *a): pass\n"
    f"http.server.ThreadingHTTPServer(('0.0.0.0', {PORT}), H).serve_forever()\n"
)
FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"


@dataclass
class Cluster:
    client: RESTClient
    topo: NodeNetworks
    dirs: dict[str, str]
    procs: dict[str, subprocess.Popen]


def start_kubelet(topo: NodeNetworks, data_dir: str, node: str, url: str, node_dir: str) -> subprocess.Popen:
    """`kybernetes kubelet` with the node's identity, inside the node's network namespace (nsenter --net only:
    the mount namespace is the host's, so the pods' namespaces it makes are visible to `ip netns` here)."""
    ip, _ = NODES[node]
    kubeconfig = ensure_component_kubeconfig(data_dir, url, *kubelet_identity(node))
    network = ensure_component_kubeconfig(data_dir, url, *components.PROXY)
    log = open(os.path.join(node_dir, "kubelet.log"), "ab")
    return subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{topo.netns(node)}", PY, "-m", "kybernetes", "kubelet", "--kubeconfig",
         kubeconfig, "--hostname-override", node, "--root-dir", os.path.join(node_dir, "kubelet"), "--node-ip", ip,
         "--port", str(free_port()), "--pod-network", "bridge", "--cluster-cidr", CLUSTER_CIDR,
         "--network-kubeconfig", network],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@pytest_asyncio.fixture
async def cluster(tmp_path) -> AsyncIterator[Cluster]:
    topo = NodeNetworks("kybt", HOST_IP, {n: ip for n, (ip, _) in NODES.items()})
    topo.make()
    data_dir = str(tmp_path / "data")
    server = APIServer(APIServerConfig(data_dir=data_dir, bind_address=HOST_IP, advertise_address=HOST_IP,
                                       secure_port=free_port(),
                                       disable_admission_plugins=NO_CONTROLLERS_ADMISSION))
    procs: dict[str, subprocess.Popen] = {}
    dirs = {node: str(tmp_path / node) for node in NODES}
    client = None
    try:
        await server.start()
        url = f"https://{HOST_IP}:{server.port}"
        config = load_kubeconfig(server.kubeconfig_path)
        config.server = url  # the admin kubeconfig names 127.0.0.1; this apiserver listens on the bridge only
        client = RESTClient(config)
        for node, node_dir in dirs.items():
            os.makedirs(node_dir)
            procs[node] = start_kubelet(topo, data_dir, node, url, node_dir)
        yield Cluster(client, topo, dirs, procs)
    finally:
        if client is not None:
            await delete_all_pods(client)
        for node, proc in procs.items():
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            # containers the kubelet left and its pod network (pods' namespaces, bridge, table, routes)
            sh("nsenter", f"--net=/run/netns/{topo.netns(node)}", PY, "-m", "kybernetes", "killall",
               "--data-dir", dirs[node], check=False)
        if client is not None:
            await client.close()
        await server.stop()
        topo.remove()


async def delete_all_pods(client: RESTClient) -> None:
    try:
        for p in (await client.list(PODS))["items"]:
            await client.delete(f"{PODS}/{p['metadata']['name']}", body={"gracePeriodSeconds": 0})

        async def gone() -> bool:
            return not (await client.list(PODS))["items"]

        await eventually(gone, timeout=30)
    except (ApiError, AssertionError):
        pass


def web_pod(name: str, node: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1, "containers": [{
                "name": "web", "image": "python:3", "command": [PY, "-c", SERVER], "ports": [{"containerPort": PORT}],
                "env": [{"name": "POD_NAME", "value": name}],
                "readinessProbe": {"httpGet": {"port": PORT, "path": "/"}, "periodSeconds": 1}}]}}


def fetch_from_pod(uid: str, url: str) -> str:
    """GET `url` from inside the pod's network namespace (as a process of the pod would)."""
    return sh("nsenter", f"--net=/run/netns/{netns_name(uid)}", PY, "-c", FETCH, url).strip()


def kubelet_logs(c: Cluster) -> str:
    out = []
    for node, d in c.dirs.items():
        with open(os.path.join(d, "kubelet.log"), errors="replace") as f:
            out.append(f"--- {node}\n" + "".join(f.readlines()[-40:]))
    return "\n".join(out)


async def test_pods_on_two_nodes_reach_each_other_by_pod_ip(cluster: Cluster) -> None:
    client = cluster.client
    for node, (_, pod_cidr) in NODES.items():  # what the controller-manager's node IPAM would do
        path = resource_path("", "v1", "nodes", None, node)
        await eventually(lambda p=path: client.get(p), timeout=60)
        await client.patch(path, {"spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]}}, "merge")
    for i, node in enumerate(NODES):
        await client.create(PODS, web_pod(f"web-{i + 1}", node))

    async def ready() -> dict[str, dict] | None:
        pods = {p["metadata"]["name"]: p for p in (await client.list(PODS))["items"]}
        ok = len(pods) == 2 and all(any(c["type"] == "Ready" and c["status"] == "True"
                                        for c in p["status"].get("conditions") or []) for p in pods.values())
        return pods if ok else None

    try:
        pods = await eventually(ready, timeout=90)
    except AssertionError:
        raise AssertionError(kubelet_logs(cluster)) from None
    a, b = pods["web-1"], pods["web-2"]
    assert a["status"]["hostIP"] == NODES["node-1"][0] and b["status"]["hostIP"] == NODES["node-2"][0]
    ip_a, ip_b = a["status"]["podIP"], b["status"]["podIP"]
    assert ip_a.startswith("198.18.248.") and ip_b.startswith("198.18.249."), (ip_a, ip_b)

    # each node routes the other's podCIDR via the other's InternalIP
    def routes(node: str) -> str:
        return sh("ip", "-n", cluster.topo.netns(node), "route", "show", "proto", ROUTE_PROTO)

    async def routed() -> bool:
        return ("198.18.249.0/24 via 198.18.254.12" in routes("node-1")
                and "198.18.248.0/24 via 198.18.254.11" in routes("node-2"))

    await eventually(routed, timeout=30)

    # pod to pod by IP, both ways; the server sees the client pod's own address (no masquerade in the range)
    got = await asyncio.to_thread(fetch_from_pod, a["metadata"]["uid"], f"http://{ip_b}:{PORT}/")
    assert got == f"web-2 {ip_a}"
    got = await asyncio.to_thread(fetch_from_pod, b["metadata"]["uid"], f"http://{ip_a}:{PORT}/")
    assert got == f"web-1 {ip_b}"

    # a node gone: the other node's route to its pods goes too
    await client.delete(resource_path("", "v1", "nodes", None, "node-2"))
    await eventually(lambda: asyncio.sleep(0, result="198.18.249.0/24" not in routes("node-1")), timeout=30)

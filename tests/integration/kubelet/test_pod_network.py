"""The bridge pod network end to end (root only): a kubelet against a real apiserver gives each pod its own
namespace and address, pods answer from the node and from each other, hostPort maps, and deleting the pods
and restarting the kubelet leaves no namespace, link or address behind."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from kybernetes.client.rest import ApiError, resource_path
from kybernetes.kubelet.network.bridge import (bridge_name, netns_name, remove_node_network,
                                               table_name, veth_name)
from kybernetes.kubelet.runtime.interface import LABEL_POD_UID, ContainerFilter, PodSandboxFilter
from tests.integration.kubelet.test_kubelet import NODE, PODS, Env, eventually, make_env

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("ip", "nft", "nsenter")),
    reason="the bridge pod network needs root, iproute2, nft and nsenter")

POD_CIDR = "198.18.250.0/24"
GATEWAY = "198.18.250.1"
PORT = 8080
PY = sys.executable
SERVER = (
    "import http.server, os\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = os.environ['POD_NAME'].encode()\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def log_message(self, *a): pass\n"
    f"http.server.ThreadingHTTPServer(('0.0.0.0', {PORT}), H).serve_forever()\n"
)
FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"


def web_pod(name: str, host_port: int = 0) -> dict:
    port: dict[str, Any] = {"containerPort": PORT}
    if host_port:
        port["hostPort"] = host_port
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "containers": [{
                "name": "web", "image": "python:3", "command": [PY, "-c", SERVER], "ports": [port],
                "env": [{"name": "POD_NAME", "value": name}],
                "readinessProbe": {"httpGet": {"port": PORT, "path": "/"}, "periodSeconds": 1}}]}}


def kyb_netns(uids: set[str]) -> set[str]:
    """The namespaces of these pods that `ip netns` lists (other clusters on the machine have their own)."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines()} & {netns_name(u) for u in uids}


def kyb_veths(uids: set[str]) -> set[str]:
    """The host-side veths of these pods that `ip link` lists."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()} & {veth_name(u) for u in uids}


def uids(pods: dict[str, dict]) -> set[str]:
    return {p["metadata"]["uid"] for p in pods.values()}


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


async def start_pods(env: Env, names: list[str], host_port: int = 0) -> dict[str, dict]:
    for i, name in enumerate(names):
        await env.client.create(PODS, web_pod(name, host_port if i == 0 else 0))

    async def all_ready() -> dict[str, dict] | None:
        pods = {n: await env.client.get(f"{PODS}/{n}") for n in names}
        ok = all(any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])
                 for p in pods.values())
        return pods if ok else None

    return await eventually(all_ready, timeout=60)


async def delete_pods(env: Env, names: list[str]) -> None:
    for n in names:
        try:
            await env.client.delete(f"{PODS}/{n}", body={"gracePeriodSeconds": 0})
        except ApiError:
            pass

    async def gone() -> bool:
        return not (await env.client.list(PODS))["items"]

    await eventually(gone, timeout=30)


@pytest_asyncio.fixture
async def env(apiserver, tmp_path) -> AsyncIterator[Env]:
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        forward = f.read().strip()
    async for e in make_env(apiserver, tmp_path, pod_network="bridge"):
        node_path = resource_path("", "v1", "nodes", None, NODE)
        await eventually(lambda: e.client.get(node_path))
        # what the controller-manager's node IPAM would do
        await e.client.patch(node_path, {"spec": {"podCIDR": POD_CIDR, "podCIDRs": [POD_CIDR]}}, "merge")
        try:
            yield e
        finally:
            await remove_node_network(e.root_dir)  # every pod this kubelet set up, its bridge and table
            with open("/proc/sys/net/ipv4/ip_forward", "w") as f:  # the bridge turned forwarding on
                f.write(forward)
            assert not os.path.exists(f"/sys/class/net/{bridge_name(e.root_dir)}")
            table = table_name(e.root_dir)
            assert subprocess.run(["nft", "list", "table", "ip", table], capture_output=True).returncode != 0


async def test_pods_get_own_ips_reachable_from_node_and_each_other(env: Env) -> None:
    names = ["web-0", "web-1", "web-2"]
    pods = await start_pods(env, names, host_port=18080)
    ips = {n: p["status"]["podIP"] for n, p in pods.items()}
    assert len(set(ips.values())) == 3, ips
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network(POD_CIDR) and ip != GATEWAY for ip in ips.values())
    assert all(p["status"]["podIPs"] == [{"ip": ips[n]}] for n, p in pods.items())
    assert all(p["status"]["hostIP"] == "127.0.0.1" for p in pods.values())

    for name, ip in ips.items():  # from the node
        assert await asyncio.to_thread(fetch, f"http://{ip}:{PORT}/") == name

    rt = env.runtime()
    for src, p in pods.items():  # from each pod to the others, through exec (nsenter -n)
        (c,) = await rt.list_containers(ContainerFilter(label_selector={LABEL_POD_UID: p["metadata"]["uid"]}))
        for dst, ip in ips.items():
            res = await rt.exec_sync(c.id, [PY, "-c", FETCH, f"http://{ip}:{PORT}/"], timeout=20)
            assert (res.exit_code, res.stdout.decode().strip()) == (0, dst), res.stderr
        res = await rt.exec_sync(c.id, [PY, "-c", FETCH, f"http://127.0.0.1:{PORT}/"], timeout=20)
        assert res.stdout.decode().strip() == src  # its own loopback is its own

    uid0 = pods["web-0"]["metadata"]["uid"]  # port-forward connects inside the pod's namespace
    (sb,) = await rt.list_pod_sandbox(PodSandboxFilter(label_selector={LABEL_POD_UID: uid0}))
    reader, writer = await rt.port_forward(sb.id, PORT)
    writer.write(b"GET / HTTP/1.0\r\n\r\n")
    await writer.drain()
    assert (await reader.read()).endswith(b"web-0")
    writer.close()

    # hostPort: the node's address on the bridge, port 18080 -> web-0:8080
    assert await asyncio.to_thread(fetch, f"http://{GATEWAY}:18080/") == "web-0"

    node = await env.client.get(resource_path("", "v1", "nodes", None, NODE))

    async def network_condition() -> str | None:
        n = await env.client.get(resource_path("", "v1", "nodes", None, NODE))
        c = [c for c in n["status"]["conditions"] if c["type"] == "NetworkUnavailable"]
        return c[0]["status"] if c and c[0]["status"] == "False" else None

    assert node is not None and await eventually(network_condition) == "False"


async def test_teardown_and_restart_leave_nothing_and_reallocate(env: Env) -> None:
    names = ["web-0", "web-1", "web-2"]
    first = await start_pods(env, names)
    mine = uids(first)
    assert kyb_netns(mine) == {netns_name(u) for u in mine}

    await env.restart()  # a kubelet restart neither loses nor duplicates networking
    await asyncio.sleep(3)
    again = {n: await env.client.get(f"{PODS}/{n}") for n in names}
    assert {n: p["status"]["podIP"] for n, p in again.items()} == {n: p["status"]["podIP"] for n, p in first.items()}
    assert kyb_netns(mine) == {netns_name(u) for u in mine}
    assert kyb_veths(mine) == {veth_name(u) for u in mine}
    for name, p in again.items():
        assert await asyncio.to_thread(fetch, f"http://{p['status']['podIP']}:{PORT}/") == name

    await delete_pods(env, names)
    # leftovers of a crash: a namespace and a reservation of a pod that no longer exists
    crashed = "deadbeef-0000-0000-0000-000000000000"
    subprocess.run(["ip", "netns", "add", netns_name(crashed)], check=True)
    ipam_dir = os.path.join(env.root_dir, "network", "ipam")
    with open(os.path.join(ipam_dir, "198.18.250.200"), "w") as f:
        f.write(crashed)
    mine.add(crashed)
    await env.restart()

    async def clean() -> bool:
        left = [n for n in os.listdir(ipam_dir) if not n.startswith("last_reserved")]
        return not kyb_netns(mine) and not kyb_veths(mine) and not left

    await eventually(clean, timeout=20)
    addrs = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert [line for line in addrs.splitlines() if "198.18.250." in line and bridge_name(env.root_dir) not in line] == []

    second = await start_pods(env, ["web-3", "web-4", "web-5"])
    ips = [p["status"]["podIP"] for p in second.values()]
    assert len(set(ips)) == 3
    for name, p in second.items():
        assert await asyncio.to_thread(fetch, f"http://{p['status']['podIP']}:{PORT}/") == name
    await delete_pods(env, list(second))
    await eventually(lambda: asyncio.sleep(0, result=not kyb_netns(uids(second)) and not kyb_veths(uids(second))),
                     timeout=20)

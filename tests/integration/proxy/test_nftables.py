"""The nftables proxy as root: DNAT from ClusterIPs and NodePorts to backends in namespaces the test creates.

The proxier programs a namespace standing for the node (its table, route and conntrack are local to it);
a client namespace and two backend namespaces hang off it by veth pairs. Skipped unless root with nft.
"""

from __future__ import annotations

import asyncio
import collections
import os
import subprocess
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from kybernetes.client import RESTClient, load_kubeconfig, resource_path
from kybernetes.proxy.app import ProxyServer
from kybernetes.proxy.nftables.nft import Tools
from kybernetes.proxy.nftables.proxier import NFTablesProxier
from kybernetes.proxy.options import ProxyOptions

from .helpers import create_service, eventually, put_slice, service_body, slice_body
from .netlab import NetLab, nftables_skip_reason, sh

SKIP = nftables_skip_reason()
pytestmark = pytest.mark.skipif(bool(SKIP), reason=SKIP or "")

NS = "default"
BE1, BE2 = "198.18.201.2", "198.18.202.2"
PORT = 8080
GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "unit", "proxy", "testdata", "ruleset.nft")


@pytest.fixture(scope="module")
def lab() -> Iterator[NetLab]:
    lab = NetLab()
    try:
        lab.create()
        lab.start_backend("be1", "b1", PORT)
        lab.start_backend("be2", "b2", PORT)
        yield lab
    finally:
        lab.destroy()


@pytest_asyncio.fixture
async def proxy(apiserver, lab) -> AsyncIterator[tuple[RESTClient, ProxyServer, NetLab]]:
    client = RESTClient(load_kubeconfig(apiserver.kubeconfig_path))
    backend = NFTablesProxier(service_cidr="198.19.0.0/16", cluster_cidr="198.18.200.0/22",
                              tools=Tools(netns=lab.node), cleanup_on_exit=True)
    opts = ProxyOptions(mode="nftables", hostname_override="node-a", healthz_bind_address="",
                        metrics_bind_address="", min_sync_period=0.0)
    server = ProxyServer(client, opts, backend=backend)
    await server.start()
    try:
        yield client, server, lab
    finally:
        await server.stop()
        await client.close()
        assert sh("ip", "netns", "exec", lab.node, "nft", "list", "tables").stdout.strip() == ""


async def _service(client: RESTClient, name: str, ips: list[str], *, protocol: str = "TCP", **spec) -> dict:
    svc = await create_service(client, NS, service_body(name, [{"name": "p", "port": 80, "protocol": protocol,
                                                               "targetPort": PORT}], **spec))
    await put_slice(client, NS, slice_body(name, ips, PORT, port_name="p", protocol=protocol))
    return svc


async def _programmed(server: ProxyServer, needle: str, present: bool = True) -> None:
    tools = server.backend.tools  # type: ignore[attr-defined]

    async def check() -> bool:
        return (needle in await tools.nft_list("ip kybernetes")) == present

    await eventually(check)


async def _client(lab: NetLab, ns: str, *args: str) -> dict:
    return await asyncio.to_thread(lab.run_client, ns, *args)


async def test_clusterip_round_robin_from_a_namespace_and_from_the_node(proxy) -> None:
    client, server, lab = proxy
    svc = await _service(client, "web", [BE1, BE2])
    ip = svc["spec"]["clusterIP"]
    await _programmed(server, f"{ip} . tcp . 80")
    res = await _client(lab, lab.client, "tcp", ip, "80", "60")
    assert res["errors"] == [] and set(collections.Counter(res["names"])) == {"b1", "b2"}
    res = await _client(lab, lab.node, "tcp", ip, "80", "30")  # nat output hook
    assert res["errors"] == [] and set(res["names"]) == {"b1", "b2"}


async def test_session_affinity_and_nodeport(proxy) -> None:
    client, server, lab = proxy
    svc = await _service(client, "sticky", [BE1, BE2], type="NodePort", sessionAffinity="ClientIP")
    ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    await _programmed(server, f"tcp . {node_port}")
    res = await _client(lab, lab.client, "tcp", ip, "80", "20")
    assert res["errors"] == [] and len(set(res["names"])) == 1
    res = await _client(lab, lab.client, "tcp", "198.18.250.1", str(node_port), "10")
    assert res["errors"] == [] and res["names"] == res["names"][:1] * 10  # same client IP: same backend


async def test_udp_service(proxy) -> None:
    client, server, lab = proxy
    svc = await _service(client, "dns", [BE1, BE2], protocol="UDP")
    ip = svc["spec"]["clusterIP"]
    await _programmed(server, f"{ip} . udp . 80")
    res = await _client(lab, lab.client, "udp", ip, "80", "30")
    assert res["errors"] == [] and {n.split(":")[0] for n in res["names"]} == {"b1", "b2"}


async def test_no_endpoints_refused_at_once_and_ruleset_follows_changes(proxy) -> None:
    client, server, lab = proxy
    svc = await _service(client, "web", [BE1, BE2])
    ip = svc["spec"]["clusterIP"]
    # wait for both endpoints' rules, not just the first sync that shows any endpoint
    await _programmed(server, f"dnat to {BE1}:{PORT}")
    await _programmed(server, f"dnat to {BE2}:{PORT}")
    table = await server.backend.tools.nft_list("ip kybernetes")  # type: ignore[attr-defined]
    assert f"dnat to {BE1}:{PORT}" in table and f"dnat to {BE2}:{PORT}" in table
    # one endpoint goes: its chain goes, the other stays
    await put_slice(client, NS, slice_body("web", [BE2], PORT, port_name="p"))
    await _programmed(server, f"dnat to {BE1}:{PORT}", present=False)
    res = await _client(lab, lab.client, "tcp", ip, "80", "10")
    assert res["names"] == ["b2"] * 10
    # no endpoints: rejected with a reset, at once
    await put_slice(client, NS, slice_body("web", [], PORT, port_name="p"))
    await _programmed(server, f"{ip} . tcp . 80 : goto reject-chain")
    res = await _client(lab, lab.client, "tcp", ip, "80", "3")
    assert res["errors"] == ["ConnectionRefusedError"] * 3 and max(res["times"]) < 0.1
    # an address of the service range that is no Service is refused too, and never routed away
    res = await _client(lab, lab.client, "tcp", "198.19.255.254", "80", "1")
    assert res["errors"] and res["errors"][0] in ("ConnectionRefusedError", "TimeoutError")
    assert "local 198.19.0.0/16 dev lo" in sh("ip", "-n", lab.node, "route", "show", "table", "local").stdout
    # deleting the Service removes everything it owned
    await client.delete(resource_path("", "v1", "services", NS, "web"))
    await _programmed(server, ip, present=False)


def test_golden_ruleset_with_sctp_loads(lab) -> None:
    ns = f"kybgold-{lab.suffix}"
    sh("ip", "netns", "add", ns)
    try:
        with open(GOLDEN) as f:
            r = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=f.read(), text=True,
                               capture_output=True)
        assert r.returncode == 0, r.stderr
        listed = sh("ip", "netns", "exec", ns, "nft", "list", "table", "ip", "kybernetes").stdout
        assert "meta l4proto sctp dnat to 198.18.201.2:9999" in listed
    finally:
        sh("ip", "netns", "del", ns, check=False)

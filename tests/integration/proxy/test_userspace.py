"""The userspace proxy against a real apiserver: Services and EndpointSlices through the API, loopback backends."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from kybernetes.apiserver.server import APIServer, APIServerConfig
from kybernetes.client import RESTClient, load_kubeconfig, resource_path
from kybernetes.proxy.app import ProxyServer
from kybernetes.proxy.options import LOOPBACK_SERVICE_CIDR, ProxyOptions
from kybernetes.proxy.userspace.proxier import UserspaceProxier

from .helpers import (Backend, create_service, eventually, put_slice, service_body, slice_body, tcp_name,
                      udp_ask)
from tests.conftest import free_port

NS = "default"


@pytest_asyncio.fixture
async def loopback_apiserver(tmp_path) -> AsyncIterator[APIServer]:
    """The shared apiserver fixture's setup, with ClusterIPs from the loopback range as `server` picks them."""
    cfg = APIServerConfig(data_dir=str(tmp_path / "data"), bind_address="127.0.0.1", secure_port=free_port(),
                          service_cluster_ip_range=LOOPBACK_SERVICE_CIDR)
    server = APIServer(cfg)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def env(loopback_apiserver) -> AsyncIterator[tuple[RESTClient, ProxyServer, list[Backend]]]:
    client = RESTClient(load_kubeconfig(loopback_apiserver.kubeconfig_path))
    opts = ProxyOptions(mode="userspace", hostname_override="node-a", healthz_bind_address="127.0.0.1:0",
                        metrics_bind_address="127.0.0.1:0", nodeport_addresses=["127.0.0.1/32"],
                        min_sync_period=0.0, udp_idle_timeout=5.0)
    proxy = ProxyServer(client, opts, backend=UserspaceProxier(udp_idle_timeout=5.0))
    port = free_port()
    backends = [await Backend("b1", "127.0.0.2", port).start(), await Backend("b2", "127.0.0.3", port).start()]
    await proxy.start()
    try:
        yield client, proxy, backends
    finally:
        await proxy.stop()
        for b in backends:
            await b.stop()
        await client.close()


async def _service(client: RESTClient, name: str, backends: list[Backend], *, protocol: str = "TCP",
                   not_ready: tuple[str, ...] = (), **spec) -> dict:
    svc = await create_service(client, NS, service_body(name, [{"name": "p", "port": 80, "protocol": protocol,
                                                               "targetPort": "web"}], **spec))
    await put_slice(client, NS, slice_body(name, [b.host for b in backends], backends[0].port if backends else 1,
                                           port_name="p", protocol=protocol, not_ready=not_ready))
    return svc


async def _wait_listening(proxy: ProxyServer, ip: str, port: int, protocol: str = "TCP") -> None:
    backend = proxy.backend
    assert isinstance(backend, UserspaceProxier)
    await eventually(lambda: any(k.ip == ip and k.port == port and k.protocol == protocol
                                 for k in backend.listeners))


async def test_tcp_round_robin_across_two_backends(env) -> None:
    client, proxy, backends = env
    svc = await _service(client, "web", backends)
    ip = svc["spec"]["clusterIP"]
    assert ip.startswith("127.43.")
    await _wait_listening(proxy, ip, 80)
    names = [await tcp_name(ip, 80) for _ in range(20)]
    assert collections.Counter(names) == {"b1": 10, "b2": 10}
    assert all(a != b for a, b in zip(names, names[1:]))


async def test_udp_round_robin_per_client_flow(env) -> None:
    client, proxy, backends = env
    svc = await _service(client, "dns", backends, protocol="UDP")
    ip = svc["spec"]["clusterIP"]
    await _wait_listening(proxy, ip, 80, "UDP")
    answers = [await udp_ask(ip, 80, b"q%d" % i) for i in range(6)]  # a new client socket, so a new flow, each
    assert {a.split(":")[0] for a in answers} == {"b1", "b2"}
    assert all(a.endswith(f":q{i}") for i, a in enumerate(answers))


async def test_session_affinity_keeps_a_client_on_one_backend(env) -> None:
    client, proxy, backends = env
    svc = await _service(client, "sticky", backends, sessionAffinity="ClientIP",
                         sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})
    ip = svc["spec"]["clusterIP"]
    await _wait_listening(proxy, ip, 80)
    assert len({await tcp_name(ip, 80) for _ in range(10)}) == 1


async def test_not_ready_endpoint_gets_no_connections_and_no_endpoints_refuses_at_once(env) -> None:
    client, proxy, backends = env
    svc = await _service(client, "web", backends, not_ready=("127.0.0.3",))
    ip = svc["spec"]["clusterIP"]
    await _wait_listening(proxy, ip, 80)
    assert {await tcp_name(ip, 80) for _ in range(6)} == {"b1"}
    await put_slice(client, NS, slice_body("web", [], backends[0].port, port_name="p"))
    backend = proxy.backend
    await eventually(lambda: not any(k.ip == ip for k in backend.listeners))  # type: ignore[attr-defined]
    start = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        await tcp_name(ip, 80)
    assert time.monotonic() - start < 0.1


async def test_service_created_without_endpoints_refuses(env) -> None:
    client, proxy, _ = env
    svc = await _service(client, "empty", [])
    await proxy.proxier.wait_synced()
    start = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        await tcp_name(svc["spec"]["clusterIP"], 80)
    assert time.monotonic() - start < 0.1


async def test_failed_connect_retried_on_next_endpoint(env) -> None:
    client, proxy, backends = env
    dead = Backend("dead", "127.0.0.4", backends[0].port)  # never started: connects are refused
    svc = await _service(client, "web", [backends[0], dead])
    ip = svc["spec"]["clusterIP"]
    await _wait_listening(proxy, ip, 80)
    assert [await tcp_name(ip, 80) for _ in range(6)] == ["b1"] * 6


async def test_nodeport_and_metrics(env) -> None:
    client, proxy, backends = env
    svc = await _service(client, "np", backends, type="NodePort")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    await _wait_listening(proxy, "127.0.0.1", node_port)
    assert {await tcp_name("127.0.0.1", node_port) for _ in range(4)} == {"b1", "b2"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{proxy.servers.ports['healthz']}/healthz") as r:
            assert r.status == 200
        async with http.get(f"http://127.0.0.1:{proxy.servers.ports['metrics']}/metrics") as r:
            text = await r.text()
    assert "kubeproxy_sync_proxy_rules_duration_seconds_count" in text
    assert 'kubeproxy_userspace_listeners{protocol="TCP"} 3.0' in text  # kubernetes, web's ClusterIP, NodePort


async def test_loadbalancer_gets_node_addresses_and_listens_on_them(env) -> None:
    client, proxy, backends = env
    await client.create(resource_path("", "v1", "nodes"), {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"},
        "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}})
    svc = await _service(client, "lb", backends, type="LoadBalancer")
    path = resource_path("", "v1", "services", NS, "lb")

    async def ingress() -> bool:
        got = await client.get(path)
        return (got.get("status", {}).get("loadBalancer", {}).get("ingress") or []) == [{"ip": "127.0.0.1"}]

    await eventually(ingress)
    await _wait_listening(proxy, "127.0.0.1", 80)
    assert {await tcp_name("127.0.0.1", 80) for _ in range(4)} == {"b1", "b2"}
    assert svc["spec"]["type"] == "LoadBalancer"


async def test_backpressure_large_transfer_is_intact(env) -> None:
    client, proxy, backends = env
    svc = await _service(client, "bulk", backends)
    ip = svc["spec"]["clusterIP"]
    await _wait_listening(proxy, ip, 80)
    r, w = await asyncio.open_connection(ip, 80)
    payload = bytes(range(256)) * 40000  # 10 MB echoed back through the proxy
    async def send() -> None:
        w.write(payload)
        await w.drain()
        w.write_eof()
    sender = asyncio.create_task(send())
    got = await asyncio.wait_for(r.read(-1), 30)
    await sender
    w.close()
    assert got == payload

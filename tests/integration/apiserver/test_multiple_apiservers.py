"""Two apiservers on one store (127.0.0.2 and 127.0.0.3, one port, one PKI): the kubernetes endpoints list both,
a load-balanced client discovers the second from them and keeps working, watches included, when the first stops."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kybernetes.apiserver.server import APIServer, APIServerConfig
from kybernetes.client import RESTClient, load_kubeconfig, resource_path
from kybernetes.storage.memory import MemoryStore

IPS = ("127.0.0.2", "127.0.0.3")
ENDPOINTS = resource_path("", "v1", "endpoints", "default", "kubernetes")
SLICE = resource_path("discovery.k8s.io", "v1", "endpointslices", "default", "kubernetes")
CMS = resource_path("", "v1", "configmaps", "default")
SHARED_PKI = ("ca.crt", "ca.key", "service-account.key", "service-account.pub")


def port_free_on_both() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind((IPS[0], 0))
            port = s.getsockname()[1]
            try:
                with socket.socket() as t:
                    t.bind((IPS[1], port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free on both addresses")


def share_pki(src_data_dir: str, dst_data_dir: str) -> None:
    """What an admin does for a second control-plane node (as kubeadm's certificate copy): same CA and SA key."""
    os.makedirs(os.path.join(dst_data_dir, "pki"), mode=0o700, exist_ok=True)
    for name in SHARED_PKI:
        shutil.copy2(os.path.join(src_data_dir, "pki", name), os.path.join(dst_data_dir, "pki", name))


async def eventually(check: Any, timeout: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result or loop.time() > deadline:
            return result
        await asyncio.sleep(0.1)


@pytest.fixture
async def pair(tmp_path) -> AsyncIterator[list[APIServer]]:
    store = MemoryStore()
    port = port_free_on_both()
    servers = []
    for i, ip in enumerate(IPS):
        data_dir = str(tmp_path / f"apiserver-{i}")
        if servers:
            share_pki(servers[0].config.data_dir, data_dir)
        server = APIServer(APIServerConfig(data_dir=data_dir, bind_address=ip, secure_port=port,
                                           endpoint_lease_ttl=2), store=store)
        await server.start()
        servers.append(server)
    try:
        yield servers
    finally:
        for server in servers:
            await server.stop()


def addresses(endpoints: dict[str, Any]) -> list[tuple[str, int]]:
    return [(a["ip"], p["port"]) for s in endpoints.get("subsets") or [] for a in s["addresses"] for p in s["ports"]]


async def test_endpoints_follow_the_live_apiservers_and_clients_fail_over(pair: list[APIServer]) -> None:
    a, b = pair
    port = a.port
    assert a.config.advertise_address == IPS[0] and b.config.advertise_address == IPS[1]
    cfg = load_kubeconfig(a.kubeconfig_path)
    assert cfg.server == f"https://{IPS[0]}:{port}" and not cfg.load_balanced
    cfg.discover_servers, cfg.discovery_interval = True, 0.2
    async with RESTClient(cfg, timeout=10) as client:
        async def both_listed() -> bool:
            return addresses(await client.get(ENDPOINTS)) == [(IPS[0], port), (IPS[1], port)]
        assert await eventually(both_listed)
        eps = await client.get(ENDPOINTS)
        slice_ = await client.get(SLICE)
        assert [e["addresses"] for e in slice_["endpoints"]] == [[IPS[0]], [IPS[1]]]
        # renewals do not rewrite unchanged endpoints
        await asyncio.sleep(2 * a.endpoint_reconciler.renew_interval)
        assert (await client.get(ENDPOINTS))["metadata"]["resourceVersion"] == eps["metadata"]["resourceVersion"]

        async def discovered() -> bool:
            return client._lb is not None and f"https://{IPS[1]}:{port}" in client._lb.servers  # noqa: SLF001
        assert await eventually(discovered)

        listing = await client.list(CMS)
        seen: list[str] = []
        stream_ended = asyncio.Event()

        async def watch() -> None:
            rv = listing["metadata"]["resourceVersion"]
            while len(seen) < 2:
                try:
                    async for ev in client.watch(CMS, {"resourceVersion": rv, "timeoutSeconds": 30}):
                        seen.append(ev["object"]["metadata"]["name"])
                        rv = ev["object"]["metadata"]["resourceVersion"]
                        if len(seen) == 2:
                            return
                except Exception:  # noqa: BLE001 - the server went away mid-stream
                    pass
                stream_ended.set()
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        await client.create(CMS, {"metadata": {"name": "before"}})
        await a.stop()  # a graceful stop leaves the endpoints at once
        pair.remove(a)
        await asyncio.wait_for(stream_ended.wait(), 10)
        await client.create(CMS, {"metadata": {"name": "after"}})  # a POST to a dead server goes to the live one
        await asyncio.wait_for(watcher, 10)
        assert seen == ["before", "after"]
        assert addresses(await client.get(ENDPOINTS)) == [(IPS[1], port)]
        assert client._lb.current == f"https://{IPS[1]}:{port}"  # noqa: SLF001


async def test_a_crashed_apiserver_leaves_the_endpoints_after_its_ttl(pair: list[APIServer]) -> None:
    a, b = pair
    cfg = load_kubeconfig(b.kubeconfig_path)
    async with RESTClient(cfg, timeout=10) as client:
        async def both() -> bool:
            return len(addresses(await client.get(ENDPOINTS))) == 2
        assert await eventually(both)
        # a crash: the lease is no longer renewed and nobody removes it
        a._endpoint_task.cancel()  # noqa: SLF001
        a._endpoint_task = None  # noqa: SLF001

        async def only_b() -> bool:
            return addresses(await client.get(ENDPOINTS)) == [(IPS[1], b.port)]
        assert await eventually(only_b)

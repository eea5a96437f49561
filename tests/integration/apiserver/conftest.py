"""Fixtures for REST-semantics tests: one apiserver per module, a client, raw HTTP, per-test namespaces."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, AsyncIterator

import aiohttp
import orjson
import pytest
import pytest_asyncio

from kybernetes.apiserver.server import APIServer, APIServerConfig
from kybernetes.client import ApiError, RESTClient, load_kubeconfig
from tests.conftest import NO_CONTROLLERS_ADMISSION, free_port

_names = itertools.count()


@dataclass
class Raw:
    """One HTTP answer: status, headers and body (decoded JSON when it is JSON)."""

    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class Api:
    """A RESTClient plus raw requests for what the client cannot send (odd bodies, content types, headers)."""

    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.config = load_kubeconfig(server.kubeconfig_path)
        self.client = RESTClient(self.config, timeout=30)

    async def raw(self, method: str, path: str, *, body: bytes | None = None, content_type: str | None = None,
                  accept: str = "application/json", params: dict[str, str] | None = None) -> Raw:
        session = self.client._get_session()  # noqa: SLF001 - reuse the client's TLS pool
        headers = self.client._headers(content_type, accept)  # noqa: SLF001
        async with session.request(method, self.config.server + path, data=body, params=params or {},
                                   headers=headers) as resp:
            return Raw(resp.status, resp.headers, await resp.read())

    async def error(self, coro: Any) -> ApiError:
        """The ApiError a request raises (fails the test if it succeeds)."""
        with pytest.raises(ApiError) as ei:
            await coro
        return ei.value

    async def revision(self) -> int:
        return await self.server.store.current_revision()

    async def events(self, path: str, params: dict[str, Any], count: int, *, timeout: float = 5.0) -> list[dict]:
        """The first `count` watch events (fewer if the stream ends)."""
        import asyncio

        out: list[dict] = []

        async def collect() -> None:
            async for ev in self.client.watch(path, params):
                out.append(ev)
                if len(out) >= count:
                    return

        try:
            await asyncio.wait_for(collect(), timeout)
        except asyncio.TimeoutError:
            pass
        return out


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory) -> AsyncIterator[APIServer]:
    """One apiserver on loopback (SQLite in a temp dir) shared by a test module."""
    cfg = APIServerConfig(data_dir=str(tmp_path_factory.mktemp("apiserver") / "data"), bind_address="127.0.0.1",
                          secure_port=free_port(), disable_admission_plugins=NO_CONTROLLERS_ADMISSION)
    srv = APIServer(cfg)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(server: APIServer) -> AsyncIterator[Api]:
    a = Api(server)
    try:
        yield a
    finally:
        await a.client.close()


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{next(_names)}"


@pytest_asyncio.fixture(loop_scope="module")
async def ns(api: Api) -> str:
    """A fresh namespace for one test."""
    name = unique("ns")
    await api.client.create("/api/v1/namespaces", {"metadata": {"name": name}})
    return name


# tiny object builders


def configmap(name: str, data: dict[str, str] | None = None, **md: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **md},
            "data": {"k": "v"} if data is None else data}


def pod(name: str, *, node: str = "", labels: dict[str, str] | None = None, **md: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}, **md},
            "spec": spec}


def deployment(name: str, replicas: int = 1, image: str = "nginx") -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


def service(name: str, *, type_: str = "ClusterIP", cluster_ip: str = "", node_port: int = 0) -> dict[str, Any]:
    port: dict[str, Any] = {"port": 80, "targetPort": 8080, "protocol": "TCP"}
    if node_port:
        port["nodePort"] = node_port
    spec: dict[str, Any] = {"type": type_, "selector": {"app": name}, "ports": [port]}
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def cm_path(ns: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/configmaps" + (f"/{name}" if name else "")

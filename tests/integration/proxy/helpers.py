"""Shared helpers of the proxy integration tests: backends, clients, and waiting for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kybernetes.client import RESTClient, resource_path

Obj = dict[str, Any]


async def eventually(cond: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while True:
        r = cond()
        if isinstance(r, Awaitable):
            r = await r
        if r:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


class Backend:
    """A TCP and UDP server answering every request with its own name."""

    def __init__(self, name: str, host: str, port: int = 0) -> None:
        self.name, self.host, self.port = name, host, port
        self.tcp: asyncio.AbstractServer | None = None
        self.udp: asyncio.DatagramTransport | None = None
        self.connections = 0

    async def start(self) -> Backend:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                while data := await r.read(65536):
                    if data.startswith(b"NAME"):
                        w.write(self.name.encode() + b"\n")
                    else:
                        w.write(data)
                    await w.drain()
            except ConnectionError:
                pass
            finally:
                w.close()

        self.tcp = await asyncio.start_server(handle, self.host, self.port)
        self.port = self.tcp.sockets[0].getsockname()[1]
        outer = self

        class Echo(asyncio.DatagramProtocol):
            def connection_made(self, t: asyncio.BaseTransport) -> None:
                self.t = t

            def datagram_received(self, data: bytes, addr: Any) -> None:
                self.t.sendto(outer.name.encode() + b":" + data, addr)  # type: ignore[attr-defined]

        self.udp, _ = await asyncio.get_running_loop().create_datagram_endpoint(Echo, local_addr=(self.host,
                                                                                                  self.port))
        return self

    async def stop(self) -> None:
        if self.tcp:
            self.tcp.close()
        if self.udp:
            self.udp.close()


async def tcp_name(host: str, port: int, timeout: float = 3.0) -> str:
    """Connect, ask the backend's name, close."""
    r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        w.write(b"NAME\n")
        await w.drain()
        line = await asyncio.wait_for(r.readline(), timeout)
        if not line:
            raise ConnectionResetError("closed without an answer")
        return line.decode().strip()
    finally:
        w.close()


async def udp_ask(host: str, port: int, payload: bytes = b"ping", timeout: float = 2.0) -> str:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[bytes] = loop.create_future()

    class P(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            if not fut.done():
                fut.set_result(data)

        def error_received(self, exc: Exception) -> None:
            if not fut.done():
                fut.set_exception(exc)

    t, _ = await loop.create_datagram_endpoint(P, remote_addr=(host, port))
    try:
        t.sendto(payload)
        return (await asyncio.wait_for(fut, timeout)).decode()
    finally:
        t.close()


def service_body(name: str, ports: list[Obj], **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": ports, "selector": {"app": name}, **spec}}


def slice_body(svc: str, ips: list[str], port: int, *, port_name: str = "", protocol: str = "TCP",
               name: str = "", not_ready: tuple[str, ...] = (), node: str = "") -> Obj:
    eps = []
    for ip in ips:
        ep: Obj = {"addresses": [ip], "conditions": {"ready": ip not in not_ready}}
        if node:
            ep["nodeName"] = node
        eps.append(ep)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name or f"{svc}-1", "labels": {"kubernetes.io/service-name": svc}},
            "ports": [{"name": port_name, "port": port, "protocol": protocol}], "endpoints": eps}


async def create_service(client: RESTClient, ns: str, body: Obj) -> Obj:
    return await client.create(resource_path("", "v1", "services", ns), body)


async def put_slice(client: RESTClient, ns: str, body: Obj) -> Obj:
    path = resource_path("discovery.k8s.io", "v1", "endpointslices", ns)
    try:
        cur = await client.get(f"{path}/{body['metadata']['name']}")
    except Exception:
        return await client.create(path, body)
    body = dict(body, metadata=dict(body["metadata"], resourceVersion=cur["metadata"]["resourceVersion"]))
    return await client.update(f"{path}/{body['metadata']['name']}", body)

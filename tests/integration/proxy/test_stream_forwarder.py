"""The userspace stream forwarder on loopback, with each engine (zero-copy splice where the kernel has it, the
portable copy loop everywhere): bytes intact both ways, half-close, backpressure, resets, connection accounting."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from kybernetes.proxy.types import EndpointInfo
from kybernetes.proxy.userspace import pump
from kybernetes.proxy.userspace.sctp import sctp_supported
from kybernetes.proxy.userspace.tcp import StreamForwarder

from .helpers import eventually

ENGINES = [pytest.param(True, id="splice", marks=pytest.mark.skipif(not pump.splice_supported(),
                                                                      reason="no splice(2) here")),
           pytest.param(False, id="copy")]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Rig:
    """A backend server running `handler`, and a forwarder in front of it on 127.0.0.1."""

    def __init__(self, zero_copy: bool) -> None:
        self.zero_copy = zero_copy
        self.handler: Handler | None = None
        self.server: asyncio.AbstractServer | None = None
        self.fwd: StreamForwarder | None = None
        self.results: list[str] = []
        self.active: list[int] = []

    async def start(self) -> Rig:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            assert self.handler is not None
            try:
                await self.handler(r, w)
            finally:
                w.close()

        self.server = await asyncio.start_server(handle, "127.0.0.2", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.fwd = StreamForwarder("test", lambda _ip, _skip: EndpointInfo("127.0.0.2", port),
                                   on_result=self.results.append, on_active=self.active.append,
                                   zero_copy=self.zero_copy)
        await self.fwd.start("127.0.0.1", 0)
        return self

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        assert self.fwd is not None
        return await asyncio.open_connection(*self.fwd.address, limit=1 << 20)

    async def stop(self) -> None:
        assert self.fwd is not None and self.server is not None
        await self.fwd.close()
        self.fwd.close_connections()
        self.server.close()


@pytest_asyncio.fixture(params=ENGINES)
async def rig(request) -> AsyncIterator[Rig]:
    r = await Rig(request.param).start()
    try:
        yield r
    finally:
        await r.stop()


async def test_echo_of_a_large_stream_is_intact(rig: Rig) -> None:
    async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while data := await r.read(1 << 16):
            w.write(data)
            await w.drain()

    rig.handler = echo
    r, w = await rig.connect()
    payload = hashlib.sha256(b"seed").digest() * (20 * 1024 * 1024 // 32)  # 20 MiB

    async def send() -> None:
        w.write(payload)
        await w.drain()
        w.write_eof()

    sender = asyncio.create_task(send())
    got = await asyncio.wait_for(r.read(-1), 60)
    await sender
    assert got == payload
    w.close()
    assert rig.fwd is not None
    await eventually(lambda: rig.fwd.active == 0)  # type: ignore[union-attr]
    assert rig.results == ["ok"] and rig.active == [1, -1]


async def test_half_close_the_answer_after_the_request_ends(rig: Rig) -> None:
    async def read_all_then_answer(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        data = await r.read(-1)  # until the client's FIN, relayed as a write shutdown
        w.write(b"got %d bytes" % len(data))
        await w.drain()

    rig.handler = read_all_then_answer
    r, w = await rig.connect()
    w.write(b"x" * 100_000)
    w.write_eof()
    assert await asyncio.wait_for(r.read(-1), 10) == b"got 100000 bytes"
    w.close()


async def test_a_client_that_does_not_read_stalls_the_backend(rig: Rig) -> None:
    total = 96 * 1024 * 1024  # more than every socket buffer on the way can hold
    sent = 0

    async def firehose(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal sent
        chunk = b"z" * (1 << 20)
        await r.readline()
        while sent < total:
            w.write(chunk)
            await w.drain()
            sent += len(chunk)

    rig.handler = firehose
    r, w = await rig.connect()
    w.write(b"go\n")
    last = -1

    async def stalled() -> bool:
        nonlocal last
        await asyncio.sleep(0.3)
        done, last = sent == last, sent
        return done

    await eventually(stalled, timeout=60, interval=0)
    assert 0 < sent < total  # the proxy stopped reading: the backend cannot push everything
    assert rig.fwd is not None
    (conn,) = rig.fwd.connections
    down = conn.pumps[1]
    assert down.held <= down.capacity <= pump.MAX_SIZE  # what the proxy holds is bounded
    assert down.capacity > pump.START_SIZE  # and grew from its start for the bulk transfer
    got = 0
    while data := await asyncio.wait_for(r.read(1 << 20), 30):  # now read: everything arrives
        got += len(data)
        if got == total:
            break
    assert got == total
    w.close()


async def test_backend_reset_reaches_the_client(rig: Rig) -> None:
    async def reset(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.readline()
        sock = w.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w.transport.abort()

    rig.handler = reset
    r, w = await rig.connect()
    w.write(b"hello\n")
    with pytest.raises(ConnectionResetError):
        while await asyncio.wait_for(r.read(1024), 10):
            pass
        raise AssertionError("the connection ended with a FIN, not a reset")
    w.close()
    assert rig.fwd is not None
    await eventually(lambda: rig.fwd.active == 0)  # type: ignore[union-attr]


async def test_connections_are_counted_while_open(rig: Rig) -> None:
    async def hold(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.read(-1)

    rig.handler = hold
    conns = [await rig.connect() for _ in range(3)]
    assert rig.fwd is not None
    await eventually(lambda: rig.fwd.active == 3)  # type: ignore[union-attr]
    address = rig.fwd.address
    await rig.fwd.close()  # no longer listening: open connections carry on
    for _, w in conns:
        w.write(b"still here")
        await w.drain()
    assert rig.fwd.active == 3
    for _, w in conns:
        w.close()
    await eventually(lambda: rig.fwd.active == 0)  # type: ignore[union-attr]
    assert sum(rig.active) == 0 and rig.results == ["ok"] * 3
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*address)


async def test_no_endpoint_resets_the_client() -> None:
    fwd = StreamForwarder("test", lambda _ip, _skip: None)
    await fwd.start("127.0.0.1", 0)
    try:
        r, w = await asyncio.open_connection(*fwd.address)
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(r.read(1), 10)
        w.close()
    finally:
        await fwd.close()


@pytest.mark.skipif(not sctp_supported(), reason="this kernel cannot open SCTP sockets (no sctp module): "
                                                 "userspace SCTP forwarding is untestable here")
async def test_sctp_stream_forwarded_both_ways() -> None:
    loop = asyncio.get_running_loop()
    proto = getattr(socket, "IPPROTO_SCTP", 132)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
    listener.bind(("127.0.0.2", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]

    async def echo_once() -> None:
        conn, _ = await loop.sock_accept(listener)
        with conn:
            conn.setblocking(False)
            data = await loop.sock_recv(conn, 1024)
            await loop.sock_sendall(conn, b"echo:" + data)

    fwd = StreamForwarder("sctp", lambda _ip, _skip: EndpointInfo("127.0.0.2", port), protocol="SCTP")
    assert not fwd.zero_copy  # SCTP goes through the copy loop
    await fwd.start("127.0.0.1", 0)
    server = asyncio.create_task(echo_once())
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
    client.setblocking(False)
    try:
        await loop.sock_connect(client, fwd.address)
        await loop.sock_sendall(client, b"ping")
        assert await asyncio.wait_for(loop.sock_recv(client, 1024), 10) == b"echo:ping"
        await server
    finally:
        client.close()
        listener.close()
        await fwd.close()


@pytest.mark.skipif(not pump.splice_supported(), reason="no splice(2) here")
async def test_a_pipe_that_may_not_grow_keeps_its_size(monkeypatch) -> None:
    """Over the user's pipe quota F_SETPIPE_SZ fails: the pump stays at its size and stops asking."""
    real = pump.fcntl.fcntl
    asked = []

    def fcntl(fd: int, cmd: int, arg: int = 0) -> int:
        if cmd == pump._SET_PIPE_SZ:
            asked.append(arg)
            raise PermissionError(1, "Operation not permitted")
        return real(fd, cmd, arg)

    monkeypatch.setattr(pump.fcntl, "fcntl", fcntl)
    a, b = socket.socketpair()
    p = pump.SplicePump(asyncio.get_running_loop(), a, b, lambda _p, _e: None)
    try:
        start = p.capacity
        p._grow()
        assert (p.capacity, p.max_capacity, asked) == (start, start, [start * 2])
    finally:
        p.release()
        a.close()
        b.close()

"""A stream forwarder (TCP, or SCTP where the kernel has it): accept, connect to an endpoint, pipe both ways.

Flow control keeps memory bounded: when one side's write buffer passes its high-water mark, reading from
the other side pauses until it drains, so a slow peer never makes the proxy buffer without bound.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable

from kybernetes.proxy.types import EndpointInfo

log = logging.getLogger(__name__)

HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
CONNECT_TIMEOUT = 3.0

Picker = Callable[[str, set[str]], EndpointInfo | None]


def _reset(transport: asyncio.BaseTransport) -> None:
    """Close with a TCP RST (SO_LINGER 0) rather than a FIN."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()  # type: ignore[attr-defined]


class _Side(asyncio.Protocol):
    """One end of a proxied connection; writes what it reads into its peer's transport."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.eof = False
        self.closed = False
        self._early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(HIGH_WATER, LOW_WATER)

    def link(self, peer: _Side) -> None:
        self.peer = peer
        for chunk in self._early:
            peer.write(chunk)
        self._early.clear()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            self._early.append(data)
        else:
            self.peer.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            if peer.eof:
                peer.transport.close()
                return False
            if peer.transport.can_write_eof():
                peer.transport.write_eof()
        return True

    # our transport is full: stop reading from the peer until it drains
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None and not self.peer.closed:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None and not self.peer.closed:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            peer.transport.close()  # flushes what is buffered, then closes


class _ClientSide(_Side):
    def __init__(self, forwarder: StreamForwarder) -> None:
        super().__init__()
        self.forwarder = forwarder

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport.pause_reading()  # type: ignore[union-attr]
        task = asyncio.ensure_future(self.forwarder._connect(self))
        self.forwarder._tasks.add(task)
        task.add_done_callback(self.forwarder._tasks.discard)


class StreamForwarder:
    """Listens on one address:port; each connection goes to the endpoint `pick` chooses.

    A failed connect is retried on the next endpoint (each tried once); when none accepts, the client's
    connection is reset.
    """

    def __init__(self, name: str, pick: Picker, *, protocol: str = "TCP",
                 on_result: Callable[[str], None] | None = None) -> None:
        self.name = name
        self.pick = pick
        self.protocol = protocol
        self.on_result = on_result or (lambda _r: None)
        self.server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Future[None]] = set()

    def _socket(self) -> socket.socket:
        proto = getattr(socket, "IPPROTO_SCTP", 132) if self.protocol == "SCTP" else 0
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)

    async def start(self, host: str, port: int) -> None:
        sock = self._socket()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.setblocking(False)
            self.server = await asyncio.get_running_loop().create_server(
                lambda: _ClientSide(self), sock=sock, backlog=1024)
        except BaseException:
            sock.close()
            raise

    async def _connect(self, client: _ClientSide) -> None:
        assert client.transport is not None
        peer = client.transport.get_extra_info("peername") or ("", 0)
        loop = asyncio.get_running_loop()
        tried: set[str] = set()
        while not client.closed:
            ep = self.pick(peer[0], tried)
            if ep is None:
                break
            tried.add(ep.address)
            backend = _Side()
            try:
                sock = self._socket()
                sock.setblocking(False)
                try:
                    await asyncio.wait_for(loop.sock_connect(sock, (ep.ip, ep.port)), CONNECT_TIMEOUT)
                    await loop.create_connection(lambda: backend, sock=sock)
                except BaseException:
                    sock.close()
                    raise
            except (OSError, asyncio.TimeoutError) as e:
                log.debug("%s: connect to %s failed (%s); trying the next endpoint", self.name, ep.address, e)
                self.on_result("retry")
                continue
            if client.closed:
                backend.transport.close()  # type: ignore[union-attr]
                return
            backend.link(client)
            client.link(backend)
            client.transport.resume_reading()
            self.on_result("ok")
            return
        self.on_result("refused")
        if not client.closed:
            _reset(client.transport)

    async def close(self) -> None:
        """Stop listening (existing connections carry on until they end)."""
        if self.server is not None:
            self.server.close()
            self.server = None

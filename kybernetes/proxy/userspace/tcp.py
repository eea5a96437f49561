"""A stream forwarder (TCP, or SCTP where the kernel has it): accept, connect to an endpoint, pipe both ways.

Accepting and piping run on the loop's reader/writer callbacks over plain non-blocking sockets; a task exists
only while the endpoint is being connected. TCP is piped with zero-copy splice where the kernel allows it
(pump.py), SCTP and other systems through a bounded copy buffer. Either way a slow side makes the proxy stop
reading from the other, never buffer without bound.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable

from kybernetes.proxy.types import EndpointInfo
from kybernetes.proxy.userspace.pump import Splice, close_with_reset, splice_supported

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.0
ACCEPT_BATCH = 64  # connections accepted per wake-up at most, so one busy listener cannot starve the loop
ACCEPT_PAUSE = 1.0  # seconds without accepting after running out of descriptors or memory
BACKLOG = 1024
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

Picker = Callable[[str, set[str]], EndpointInfo | None]


class StreamForwarder:
    """Listens on one address:port; each connection goes to the endpoint `pick` chooses.

    A failed connect is retried on the next endpoint (each tried once); when none accepts, the client's
    connection is reset. `connections` holds the open proxied connections (`active` counts them); they carry
    on after `close()` until they end.
    """

    def __init__(self, name: str, pick: Picker, *, protocol: str = "TCP",
                 on_result: Callable[[str], None] | None = None,
                 on_active: Callable[[int], None] | None = None, zero_copy: bool | None = None) -> None:
        self.name = name
        self.pick = pick
        self.protocol = protocol
        self.on_result = on_result or (lambda _r: None)
        self.on_active = on_active or (lambda _d: None)
        self.zero_copy = (protocol == "TCP" and splice_supported()) if zero_copy is None else zero_copy
        self.connections: set[Splice] = set()
        self.connecting = 0
        self._listener: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._paused: asyncio.TimerHandle | None = None

    @property
    def active(self) -> int:
        return len(self.connections)

    def _socket(self) -> socket.socket:
        proto = getattr(socket, "IPPROTO_SCTP", 132) if self.protocol == "SCTP" else 0
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
        sock.setblocking(False)
        return sock

    def _tune(self, sock: socket.socket) -> None:
        if self.protocol == "TCP":  # relay small writes as they come, as the ends would send them
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def start(self, host: str, port: int) -> None:
        sock = self._socket()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(BACKLOG)
        except BaseException:
            sock.close()
            raise
        self._loop = asyncio.get_running_loop()
        self._listener = sock
        self._loop.add_reader(sock.fileno(), self._on_acceptable)

    @property
    def address(self) -> tuple[str, int]:
        assert self._listener is not None
        return self._listener.getsockname()

    def _on_acceptable(self) -> None:
        assert self._listener is not None and self._loop is not None
        for _ in range(ACCEPT_BATCH):
            try:
                conn, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as e:
                if e.errno in _OUT_OF_RESOURCES:
                    log.warning("%s: cannot accept (%s); pausing for %.0fs", self.name, e, ACCEPT_PAUSE)
                    self._loop.remove_reader(self._listener.fileno())
                    self._paused = self._loop.call_later(ACCEPT_PAUSE, self._resume_accepting)
                else:
                    log.warning("%s: accept failed: %s", self.name, e)
                return
            conn.setblocking(False)
            task = self._loop.create_task(self._connect(conn, addr[0]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _resume_accepting(self) -> None:
        self._paused = None
        if self._listener is not None and self._loop is not None:
            self._loop.add_reader(self._listener.fileno(), self._on_acceptable)

    async def _connect(self, client: socket.socket, client_ip: str) -> None:
        loop = asyncio.get_running_loop()
        tried: set[str] = set()
        self.connecting += 1
        try:
            while True:
                ep = self.pick(client_ip, tried)
                if ep is None:
                    break
                tried.add(ep.address)
                backend = self._socket()
                try:
                    async with asyncio.timeout(CONNECT_TIMEOUT):
                        await loop.sock_connect(backend, (ep.ip, ep.port))
                except (OSError, TimeoutError) as e:
                    backend.close()
                    log.debug("%s: connect to %s failed (%s); trying the next endpoint", self.name, ep.address, e)
                    self.on_result("retry")
                    continue
                except BaseException:
                    backend.close()
                    client.close()
                    raise
                self._join(loop, client, backend)
                return
            self.on_result("refused")
            close_with_reset(client)
        finally:
            self.connecting -= 1

    def _join(self, loop: asyncio.AbstractEventLoop, client: socket.socket, backend: socket.socket) -> None:
        for s in (client, backend):
            try:
                self._tune(s)
            except OSError:
                pass  # the client may already have gone; the pumps will see it
        splice = Splice(loop, client, backend, zero_copy=self.zero_copy, on_close=self._closed)
        self.connections.add(splice)
        self.on_active(1)
        self.on_result("ok")
        splice.start()

    def _closed(self, splice: Splice) -> None:
        self.connections.discard(splice)
        self.on_active(-1)
        if splice.error is not None:
            log.debug("%s: connection ended by %s", self.name, splice.error)

    async def close(self) -> None:
        """Stop listening (existing connections carry on until they end)."""
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        if self._listener is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None

    def close_connections(self) -> None:
        """Reset every open proxied connection and cancel those still connecting."""
        for t in list(self._tasks):
            t.cancel()
        for s in list(self.connections):
            s.close(reset=True)

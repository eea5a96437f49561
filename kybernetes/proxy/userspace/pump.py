"""Moving bytes between two connected stream sockets on the event loop: zero-copy `splice` through a pipe on
Linux, a bounded buffer copy elsewhere.

A `Pump` moves one direction, driven by the loop's `add_reader`/`add_writer` callbacks (no task, no future per
chunk). It reads its source only while it holds nothing for its destination, so what it holds is bounded by
its pipe (or buffer): while the destination cannot take more, the source is not read, the source socket's
receive buffer fills and TCP flow control slows the sender down. The end of the source stream becomes a
`shutdown(SHUT_WR)` of the destination once everything held is written (half-close); the other direction
carries on. A `Splice` ends when both of its pumps have finished, or at once when either fails, and then
resets both sockets so each peer learns of the failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import socket
import struct
import sys
from collections.abc import Callable

START_SIZE = 64 * 1024  # what a pump may hold at first (a new pipe's default size)
MAX_SIZE = 1024 * 1024  # grown to, doubling, while reads keep filling it (fs.pipe-max-size's default)
SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_SET_PIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_GET_PIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)
_AGAIN = (BlockingIOError, InterruptedError)


@functools.cache
def splice_supported() -> bool:
    """True where os.splice moves bytes from a socket into a pipe (Linux, not blocked by a seccomp filter)."""
    if not sys.platform.startswith("linux") or not hasattr(os, "splice"):
        return False
    try:
        a, b = socket.socketpair()
    except OSError:
        return False
    r = w = -1
    try:
        r, w = os.pipe()
        a.send(b"x")
        return os.splice(b.fileno(), w, 1, flags=SPLICE_FLAGS) == 1
    except OSError:
        return False
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)
        a.close()
        b.close()


class Pump:
    """One direction of a connection: reads `src`, writes `dst`, holding at most `capacity` bytes.

    `capacity` starts at START_SIZE and doubles up to MAX_SIZE each time a read fills it (bulk traffic), so
    request/response connections stay small and transfers take fewer, larger steps. `done(pump, error)` is
    called once: with None after the source ended and everything was written (the destination then got a
    write shutdown), or with the OSError that stopped it.
    """

    capacity: int = START_SIZE
    max_capacity: int = MAX_SIZE

    def __init__(self, loop: asyncio.AbstractEventLoop, src: socket.socket, dst: socket.socket,
                 done: Callable[[Pump, OSError | None], None]) -> None:
        self.loop = loop
        self.src, self.dst = src, dst
        self.src_fd, self.dst_fd = src.fileno(), dst.fileno()
        self._done = done
        self.held = 0  # bytes read from src, not yet written to dst
        self.moved = 0  # bytes written to dst so far
        self.eof = False
        self.finished = False
        self._reading = self._writing = False

    # what subclasses provide: move bytes in (only when nothing is held) and out
    def _fill(self) -> int:
        raise NotImplementedError

    def _drain(self) -> int:
        raise NotImplementedError

    def _grow(self) -> None:
        """Hold up to twice as much from now on (nothing is held when this is called)."""

    def release(self) -> None:
        """Free what the pump holds (the pipe); called once the sockets are done with."""

    def start(self) -> None:
        self._read(True)

    def stop(self) -> None:
        self._read(False)
        self._write(False)

    def _read(self, on: bool) -> None:
        if on != self._reading:
            self._reading = on
            if on:
                self.loop.add_reader(self.src_fd, self._on_readable)
            else:
                self.loop.remove_reader(self.src_fd)

    def _write(self, on: bool) -> None:
        if on != self._writing:
            self._writing = on
            if on:
                self.loop.add_writer(self.dst_fd, self._on_writable)
            else:
                self.loop.remove_writer(self.dst_fd)

    def _on_readable(self) -> None:
        try:
            n = self._fill()
        except _AGAIN:
            return
        except OSError as e:
            self._fail(e)
            return
        if n == 0:
            self.eof = True
        self.held += n
        full = n == self.capacity
        self._on_writable()
        if full and not self.held and not self.finished and self.capacity < self.max_capacity:
            self._grow()

    def _on_writable(self) -> None:
        while self.held:
            try:
                n = self._drain()
            except _AGAIN:
                break
            except OSError as e:
                self._fail(e)
                return
            if n <= 0:
                break
            self.held -= n
            self.moved += n
        if self.held:  # the destination is full: stop reading until it takes what is held
            self._read(False)
            self._write(True)
            return
        self._write(False)
        if self.eof:
            self._finish()
        else:
            self._read(True)

    def _finish(self) -> None:
        self.stop()
        self.finished = True
        with contextlib.suppress(OSError):
            self.dst.shutdown(socket.SHUT_WR)
        self._done(self, None)

    def _fail(self, e: OSError) -> None:
        self.stop()
        self.finished = True
        self._done(self, e)


class SplicePump(Pump):
    """Zero-copy: socket -> pipe -> socket with splice(2); the pipe's size is the bound."""

    def __init__(self, loop: asyncio.AbstractEventLoop, src: socket.socket, dst: socket.socket,
                 done: Callable[[Pump, OSError | None], None]) -> None:
        super().__init__(loop, src, dst, done)
        self._r, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.capacity = fcntl.fcntl(self._w, _GET_PIPE_SZ)

    def _grow(self) -> None:
        try:
            self.capacity = fcntl.fcntl(self._w, _SET_PIPE_SZ, min(self.capacity * 2, MAX_SIZE))
        except OSError:  # over the user's pipe quota (fs.pipe-user-pages-soft) or fs.pipe-max-size
            self.max_capacity = self.capacity  # stay at this size; do not ask again

    def _fill(self) -> int:
        return os.splice(self.src_fd, self._w, self.capacity, flags=SPLICE_FLAGS)

    def _drain(self) -> int:
        return os.splice(self._r, self.dst_fd, self.held, flags=SPLICE_FLAGS)

    def release(self) -> None:
        if self._r >= 0:
            os.close(self._r)
            os.close(self._w)
            self._r = self._w = -1


class CopyPump(Pump):
    """Portable: recv_into one buffer, send from it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, src: socket.socket, dst: socket.socket,
                 done: Callable[[Pump, OSError | None], None]) -> None:
        super().__init__(loop, src, dst, done)
        self._buf = memoryview(bytearray(self.capacity))
        self._start = 0

    def _grow(self) -> None:
        self.capacity = min(self.capacity * 2, MAX_SIZE)
        self._buf = memoryview(bytearray(self.capacity))

    def _fill(self) -> int:
        self._start = 0
        return self.src.recv_into(self._buf)

    def _drain(self) -> int:
        n = self.dst.send(self._buf[self._start:self._start + self.held])
        self._start += n
        return n


def close_with_reset(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0) rather than a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Splice:
    """A client socket joined to a backend socket by two pumps (both sockets non-blocking and connected).

    Ends when both directions have ended (each side closed after its half-closes), or at once when one
    direction fails (both sides reset). `on_close(self)` is called once, after the sockets are closed.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, client: socket.socket, backend: socket.socket, *,
                 zero_copy: bool, on_close: Callable[[Splice], None] = lambda _s: None) -> None:
        self.client, self.backend = client, backend
        self.on_close = on_close
        self.closed = False
        self.error: OSError | None = None
        self.pumps: tuple[Pump, Pump] = (self._pump(loop, client, backend, zero_copy),
                                         self._pump(loop, backend, client, zero_copy))

    def _pump(self, loop: asyncio.AbstractEventLoop, src: socket.socket, dst: socket.socket, zero_copy: bool) -> Pump:
        if zero_copy:
            try:
                return SplicePump(loop, src, dst, self._pump_done)
            except OSError:  # no pipe to be had (EMFILE): copy this one
                pass
        return CopyPump(loop, src, dst, self._pump_done)

    @property
    def upstream_bytes(self) -> int:
        return self.pumps[0].moved

    @property
    def downstream_bytes(self) -> int:
        return self.pumps[1].moved

    def start(self) -> None:
        for p in self.pumps:
            p.start()

    def _pump_done(self, pump: Pump, error: OSError | None) -> None:
        if error is not None:
            self.error = error
            self.close(reset=True)
        elif all(p.finished for p in self.pumps):
            self.close()

    def close(self, *, reset: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        for p in self.pumps:
            p.stop()
            p.release()
        for s in (self.client, self.backend):
            if reset:
                close_with_reset(s)
            else:
                s.close()
        self.on_close(self)

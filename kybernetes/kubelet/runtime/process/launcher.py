"""Starting container shims: through the runtime's shim spawner (a fork server), or by exec when it cannot serve.

`ShimLauncher.launch(cdir)` makes the container's ready pipe, hands its write end to the spawner (`spawner.py`)
with the container directory, and returns what the shim answered on it ("ok", "error", or nothing when it died
first). The spawner is started on first use, and again whenever it is found gone; its socket is this process's
only link to it, so it exits with the kubelet. A request lost because the spawner died before forking is sent
again; when no spawner can be started, the shim is started the old way, `python -m ...shim CDIR FD`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess

from kybernetes.kubelet.runtime.process.spawner import FORKED, SHIM_TITLE

log = logging.getLogger(__name__)

SHIM_MODULE = "kybernetes.kubelet.runtime.process.shim"
SPAWNER_MODULE = "kybernetes.kubelet.runtime.process.spawner"
START_TIMEOUT = 30.0
MAX_SPAWNER_FAILURES = 3  # consecutive deaths of a fresh spawner before falling back to exec for good


class ShimLauncher:
    """Starts shims for one runtime root; see the module docstring."""

    def __init__(self, root_dir: str, python: str, *, use_spawner: bool = True) -> None:
        self.root_dir = root_dir
        self.python = python
        self.use_spawner = use_spawner
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._failures = 0

    # ------------------------------------------------------------------------------------------ the spawner
    def warm(self) -> None:
        """Start the spawner now (it imports the shim while the kubelet prepares the first container)."""
        if self.use_spawner:
            self._ensure()

    def _ensure(self) -> socket.socket | None:
        """The socket of the spawner, started if there is none. One found dead is noticed when a send to it
        fails (its end of the socket is closed) or a request gets no answer (see launch)."""
        if self._sock is not None:
            return self._sock
        self.close()
        if self._failures >= MAX_SPAWNER_FAILURES:
            return None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [self.python, "-m", SPAWNER_MODULE, self.root_dir, str(theirs.fileno())]
        # room in the argv area for the shims' own command line (see spawner.shim_title)
        need = len(SHIM_TITLE) + len(self.root_dir.encode()) + 12 + 3
        have = sum(len(a.encode()) + 1 for a in argv)
        if have < need:
            argv.append("-" * (need - have))
        try:
            with open(os.path.join(self.root_dir, "spawner.log"), "ab") as errors:
                self._proc = subprocess.Popen(argv, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                              stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True,
                                              cwd="/")
        except OSError as e:
            log.warning("cannot start the shim spawner (%s): starting shims by exec", e)
            ours.close()
            self._failures = MAX_SPAWNER_FAILURES
            return None
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock = ours
        return ours

    def close(self) -> None:
        """Drop the spawner: it exits when it reads the end of its socket. Running shims are not affected."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.poll()  # reap it if it has exited; else subprocess reaps it later

    async def _send(self, cdir: str, fd: int) -> bool:
        """Hand `fd` and `cdir` to a live spawner; False when none can be had."""
        for _ in range(2):
            sock = self._ensure()
            if sock is None:
                return False
            try:
                while True:
                    try:
                        socket.send_fds(sock, [cdir.encode()], [fd])
                        return True
                    except BlockingIOError:
                        await _writable(sock)
            except OSError as e:  # the spawner is gone (EPIPE, ECONNRESET): start another
                log.warning("shim spawner lost (%s): starting a new one", e)
                self._failures += 1
                self.close()
        return False

    # ------------------------------------------------------------------------------------------ launching
    async def launch(self, cdir: str) -> bytes:
        """Start the shim of `cdir`; returns its answer on the ready pipe (b"ok\\n", b"error\\n" or b"")."""
        for _ in range(MAX_SPAWNER_FAILURES):
            if not self.use_spawner:
                break
            sent_to = None
            read_fd, write_fd = os.pipe()
            try:
                if await self._send(cdir, write_fd):
                    sent_to = self._sock
            finally:
                os.close(write_fd)
            if sent_to is None:
                os.close(read_fd)
                break
            try:
                answer = await asyncio.wait_for(_read_all(read_fd), START_TIMEOUT)
            finally:
                os.close(read_fd)
            forked = FORKED in answer
            answer = answer.replace(FORKED, b"")
            if answer or forked or not _peer_closed(sent_to):
                self._failures = 0
                return answer
            # the spawner died before this request reached a shim: nothing ran, so send it again
            log.warning("shim spawner died: starting a new one")
            self._failures += 1
            if sent_to is self._sock:
                self.close()
        return await self._exec(cdir)

    async def _exec(self, cdir: str) -> bytes:
        """The shim in a fresh interpreter (~50 ms of CPU): without a spawner."""
        read_fd, write_fd = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                self.python, "-m", SHIM_MODULE, cdir, str(write_fd),
                pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True, cwd="/",
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        try:
            await proc.wait()  # the intermediate of the shim's fork: exits at once
            return await asyncio.wait_for(_read_all(read_fd), START_TIMEOUT)
        finally:
            os.close(read_fd)


def _peer_closed(sock: socket.socket) -> bool:
    """Has the spawner's end of the socket been closed (it exited)? It never writes, so any read is its end."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


async def _writable(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    loop.add_writer(sock.fileno(), lambda: fut.done() or fut.set_result(None))
    try:
        await fut
    finally:
        loop.remove_writer(sock.fileno())


async def _read_all(fd: int) -> bytes:
    """Everything written to the pipe `fd` until its last writer closes it."""
    loop = asyncio.get_running_loop()
    chunks = []
    os.set_blocking(fd, False)
    while True:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            fut = loop.create_future()
            loop.add_reader(fd, lambda: fut.done() or fut.set_result(None))
            try:
                await fut
            finally:
                loop.remove_reader(fd)
            continue
        if not data:
            return b"".join(chunks)
        chunks.append(data)

"""Streaming sessions of the process runtime: exec (pipes or a pty) and attach (stdin fifo + log follower)."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
from typing import Awaitable, Callable

from kybernetes.kubelet.runtime import logs
from kybernetes.kubelet.runtime.process import linux


class FdInput:
    """StreamInput over a non-blocking file descriptor (pty master or fifo); `eof` is written on close."""

    def __init__(self, fd: int, *, eof: bytes = b"", on_close: Callable[[], None] | None = None,
                 owns_fd: bool = True) -> None:
        self.fd = fd
        self.eof = eof
        self.on_close = on_close
        self.owns_fd = owns_fd
        self.closed = False
        os.set_blocking(fd, False)

    async def write(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        while view and not self.closed:
            try:
                n = os.write(self.fd, view)
                view = view[n:]
            except BlockingIOError:
                fut = loop.create_future()
                loop.add_writer(self.fd, fut.set_result, None)
                try:
                    await fut
                finally:
                    loop.remove_writer(self.fd)

    async def close(self) -> None:
        if self.closed:
            return
        if self.eof:
            try:
                os.write(self.fd, self.eof)
            except OSError:
                pass
        self.closed = True
        if self.owns_fd:
            os.close(self.fd)
        if self.on_close:
            self.on_close()


class WriterInput:
    """StreamInput over an asyncio StreamWriter (the stdin pipe of an exec'd process)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    async def write(self, data: bytes) -> None:
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass

    async def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


def read_fd_into(fd: int, reader: asyncio.StreamReader) -> None:
    """Feed everything readable on `fd` into `reader` until EOF (EIO from a pty master counts as EOF)."""
    loop = asyncio.get_running_loop()

    def on_readable() -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:
                reader.set_exception(e)
            data = b""
        if data:
            reader.feed_data(data)
        else:
            loop.remove_reader(fd)
            reader.feed_eof()

    os.set_blocking(fd, False)
    loop.add_reader(fd, on_readable)


def returncode_to_exit_code(rc: int) -> int:
    return 128 - rc if rc < 0 else rc


class ExecSession:
    """A process started by exec(): pipes, or a pty when tty=True (then stderr is None)."""

    def __init__(self, proc: asyncio.subprocess.Process, *, tty: bool, master: int | None = None,
                 stdin: bool = False) -> None:
        self.proc = proc
        self.tty = tty
        self.master = master
        self.stderr: asyncio.StreamReader | None
        if tty:
            assert master is not None
            self.stdout = asyncio.StreamReader()
            self.stderr = None
            self._master_in = os.dup(master)
            read_fd_into(master, self.stdout)
            self.stdin = FdInput(self._master_in, eof=b"\x04") if stdin else None
        else:
            self.stdout = proc.stdout
            self.stderr = proc.stderr
            self.stdin = WriterInput(proc.stdin) if stdin and proc.stdin else None

    async def resize(self, width: int, height: int) -> None:
        if self.master is not None:
            linux.set_winsize(self.master, width, height)

    async def wait(self) -> int:
        return returncode_to_exit_code(await self.proc.wait())

    async def close(self) -> None:
        if self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await self.proc.wait()
        if self.stdin is not None:
            await self.stdin.close()
        if self.master is not None:
            asyncio.get_running_loop().remove_reader(self.master)
            os.close(self.master)
            self.master = None
            if self.stdin is None:
                os.close(self._master_in)


class AttachSession:
    """attach(): the container's output from now on (followed in its log file), its stdin through the fifo."""

    def __init__(
        self,
        *,
        log_path: str,
        tty: bool,
        stdin: FdInput | None,
        ctl_path: str,
        exited: Callable[[], bool],
        exit_code: Callable[[], Awaitable[int]],
        poll_interval: float = 0.05,
    ) -> None:
        self.tty = tty
        self.stdin = stdin
        self.stdout = asyncio.StreamReader()
        self.stderr = None if tty else asyncio.StreamReader()
        self._ctl_path = ctl_path
        self._exited = exited
        self._exit_code = exit_code
        self._poll = poll_interval
        try:
            self._offset = os.path.getsize(log_path)
        except FileNotFoundError:
            self._offset = 0
        self._task = asyncio.create_task(self._follow(log_path))

    async def _follow(self, path: str) -> None:
        inode = _inode(path)
        pending = b""
        try:
            while True:
                done = self._exited()  # checked before reading, so the last output is read after exit
                try:
                    with open(path, "rb") as f:
                        st = os.fstat(f.fileno())
                        if st.st_ino != inode or st.st_size < self._offset:  # rotated
                            inode, self._offset, pending = st.st_ino, 0, b""
                        f.seek(self._offset)
                        data = f.read()
                        self._offset += len(data)
                except FileNotFoundError:
                    data = b""
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    try:
                        entry = logs.parse_entry(line)
                    except ValueError:
                        continue
                    content = entry.content if entry.partial else entry.content + b"\n"
                    target = self.stderr if entry.stream == logs.STDERR and self.stderr else self.stdout
                    target.feed_data(content)
                if done:
                    break
                await asyncio.sleep(self._poll)
        finally:
            self.stdout.feed_eof()
            if self.stderr:
                self.stderr.feed_eof()

    async def resize(self, width: int, height: int) -> None:
        if self.tty:
            send_ctl(self._ctl_path, f"resize {width} {height}")

    async def wait(self) -> int:
        await asyncio.shield(self._task)
        return await self._exit_code()

    async def close(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        if self.stdin is not None:
            await self.stdin.close()


def send_ctl(path: str, command: str) -> None:
    """Write one command line to a shim's ctl fifo (fails quietly when the shim is gone)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.write(fd, command.encode() + b"\n")
    except OSError:
        pass
    finally:
        os.close(fd)


def _inode(path: str) -> int:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return 0

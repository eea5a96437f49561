"""Thin Linux helpers for the process runtime: /proc identity of a PID, unshare/setns/mount through libc, tty size.

Standard library only (imported by the shim in a fresh interpreter).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import struct
import termios

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20

_libc = None


def libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        _libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
        _libc.unshare.argtypes = [ctypes.c_int]
        _libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
    return _libc


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(libc().unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(libc().setns(fd, nstype), "setns")


def setns_path(path: str, nstype: int) -> None:
    """Move the calling thread into the namespace bound at `path` (e.g. /run/netns/NAME)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(fd, nstype)
    finally:
        os.close(fd)


def mount(source: str | None, target: str, fstype: str | None, flags: int) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(libc().mount(enc(source), enc(target), enc(fstype), flags, None), f"mount {source} on {target}")


def _stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat from field 3 (state) on; None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    return data[data.rindex(b")") + 2 :].split()


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks since boot): with the PID, a process's identity."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[19])


def proc_state(pid: int) -> str | None:
    """Field 3 of /proc/PID/stat (R, S, Z, ...), None when there is no such process."""
    fields = _stat_fields(pid)
    return None if fields is None else fields[0].decode()


def is_alive(pid: int, start_time: int | None) -> bool:
    """True when PID runs (not a zombie) and is the same process that started at `start_time`."""
    if not pid:
        return False
    fields = _stat_fields(pid)
    if fields is None or (start_time is not None and int(fields[19]) != start_time):
        return False
    return fields[0] not in (b"Z", b"X")


def set_winsize(fd: int, width: int, height: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def set_controlling_tty(fd: int = 0) -> None:
    fcntl.ioctl(fd, termios.TIOCSCTTY, 0)


def exit_code_of(status: int) -> tuple[int, int]:
    """(exit code, signal) of a waitpid status; a signal N gives exit code 128+N, as container engines report."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, sig
    return os.WEXITSTATUS(status), 0

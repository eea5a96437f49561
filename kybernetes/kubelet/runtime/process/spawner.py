"""The shim spawner: a warm interpreter per runtime that forks one shim per container (a fork server).

`python -m kybernetes.kubelet.runtime.process.spawner ROOT_DIR SOCKET_FD [PADDING]` imports the shim once, then
serves requests on SOCKET_FD, its end of a SOCK_SEQPACKET socket pair whose other end the kubelet's runtime
holds. A request is one message: the container directory, with the write end of the container's ready pipe
attached (SCM_RIGHTS). For each, the spawner forks; the child closes the socket, becomes the shim
(`shim.serve`: its own process group, its own title in ps) and answers "ok" or "error" on the pipe, which the
runtime reads. A fork takes about a millisecond, where starting an interpreter and importing the shim takes ~50 ms of
CPU; the children share the spawner's pages until they write to them.

The shims are not waited for (SIGCHLD is ignored, so the kernel reaps them); they outlive the spawner, which
exits when the kubelet's end of the socket closes (the kubelet stopped or died: a new kubelet starts a new
spawner). Once a shim is forked, the spawner writes FORKED ("+") on the ready pipe, so the runtime knows the
request reached a shim even when the shim dies before it answers. A request that cannot be served (fork failed)
closes the pipe: the runtime sees no answer. PADDING only makes room in the argv area for the longer command
line the shims give themselves. Standard library only.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import sys
import traceback

from kybernetes.kubelet.runtime.process import linux, shim

MAX_REQUEST = 4096
SHIM_TITLE = "kybernetes.kubelet.runtime.process.shim"
FORKED = b"+"  # written on the ready pipe once the shim is forked: the request reached a shim


def shim_title(root_dir: str, cdir: str) -> list[str]:
    """The command line a shim shows: module, runtime root, short container id."""
    return [SHIM_TITLE, root_dir, os.path.basename(cdir)[:12]]


def _child(sock: socket.socket, root_dir: str, cdir: str, ready_fd: int) -> None:
    """The forked child: become the shim of `cdir`; never returns into the spawner's loop."""
    code = 1
    try:
        sock.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        code = shim.serve(cdir, ready_fd, title=shim_title(root_dir, cdir))
    except BaseException:  # noqa: BLE001 - reported in shim.log (stderr), then the child exits
        traceback.print_exc()
    finally:
        os._exit(code)


def serve(root_dir: str, sock: socket.socket) -> int:
    """Fork a shim for every request until the other end closes."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the shims that exit before we do
    for sig in (signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    linux.libc()  # find_library runs ldconfig: once here, not once per shim
    gc.freeze()  # the imported objects stay untouched by the children's collections: pages stay shared
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, MAX_REQUEST, 4)
        except InterruptedError:
            continue
        except ConnectionResetError:
            return 0
        if not msg and not fds:
            return 0  # the kubelet's end is closed
        for extra in fds[1:]:
            os.close(extra)
        if not fds:
            continue
        ready_fd, cdir = fds[0], msg.decode()
        try:
            pid = os.fork()
        except OSError:
            traceback.print_exc()
            pid = -1
        if pid == 0:
            _child(sock, root_dir, cdir, ready_fd)
        if pid > 0:
            try:
                os.write(ready_fd, FORKED)
            except OSError:  # the runtime gave up on this request (its end is closed)
                pass
        os.close(ready_fd)


def main(argv: list[str]) -> int:
    root_dir, fd = argv[0], int(argv[1])
    os.chdir("/")
    with socket.socket(fileno=fd) as sock:
        return serve(root_dir, sock)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

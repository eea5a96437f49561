"""The per-container supervisor: one process per container that outlives the kubelet.

Normally forked by the node's shim spawner (`spawner.py`, a warm interpreter that has imported this module once)
and entered at `serve(CONTAINER_DIR, READY_FD)`; `python -m kybernetes.kubelet.runtime.process.shim CONTAINER_DIR
READY_FD` is the same without the spawner (it forks once more itself so that the runtime can reap its parent).
Either way the shim leads its own process group, its parent exits or never waits for it (it is re-parented to init or
the nearest subreaper), and it survives the kubelet, `kill -9` included.

It starts the container's process and acts as its parent until it exits: it writes its stdout/stderr to the CRI
log file (rotating it), relays the `stdin` fifo to the process's stdin, obeys commands on the `ctl` fifo
(`close-stdin`, `resize W H`), and finally records the exit in `exited.json`. The kubelet only reads the files
of CONTAINER_DIR and signals the process group; it never needs to be the process's parent.

Files in CONTAINER_DIR: container.json (input: its "spec", written by the runtime), started.json {pid, pid_start_time,
started_at, shim_pid, shim_start_time}, exited.json {exit_code, signal, finished_at, reason, message},
mountpoints.json (mount points the shim had to create), shim.log (the shim's own errors, made only when it has
any: Python's sys.stderr; what is written to file descriptor 2 itself goes to the spawner's log).

When the process dies, everything left in its process group (and its cgroup) is killed, as when the init
process of a PID namespace dies. Standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from kybernetes.kubelet.runtime import logs
from kybernetes.kubelet.runtime.process import linux
from kybernetes.kubelet.runtime.process.cgroups import CgroupSet

DRAIN_TIMEOUT = 2.0
IGNORED_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)


def write_json(path: str, data: dict, *, durable: bool = True) -> None:
    """Atomically (temp file, rename); `durable` also fsyncs (the exit record: it must survive a crash of the
    machine; started.json need not, as the process it names does not survive one either)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.rename(tmp, path)


def set_title(words: list[str], comm: str = "kybernetes-shim") -> None:
    """Show `words` as this process's command line (ps, /proc/PID/cmdline) and `comm` as its name.

    A forked shim would otherwise show its spawner's command line. The original argv area is rewritten in
    place (through /proc/self/mem, within its bounds, the rest zero-filled); best effort.
    """
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48 and 49 of stat)
        title = b"\0".join(w.encode() for w in words)[: end - start - 1]
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            mem.write(title.ljust(end - start, b"\0"))
        with open("/proc/self/comm", "w") as f:
            f.write(comm[:15])
    except (OSError, ValueError, IndexError):
        pass


class Spawned:
    """What the shim keeps of a process it started with posix_spawn: its PID (as Popen's)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid


def _no_inheritance() -> None:
    """Every open descriptor above 2 close-on-exec (the ready pipe arrives inheritable, and a process holding
    it would keep the runtime waiting for the shim's answer)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:  # the listing's own descriptor, closed by now
                pass


def find_executable(name: str, env: dict[str, str]) -> str:
    """The file exec runs for `name`: as Popen looks it up, in the PATH of the process's own environment (a
    path with a slash as it is: posix_spawn reports what is wrong with it)."""
    found = name if "/" in name else shutil.which(name, path=os.pathsep.join(os.get_exec_path(env)))
    if found is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
    return found


class LazyLog:
    """The shim's stderr: shim.log, created on the first write (a shim with nothing to say makes no file)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: Any = None

    def write(self, text: str) -> int:
        if self._file is None:
            self._file = open(self.path, "a", buffering=1)  # noqa: SIM115 - open for the shim's lifetime
        return self._file.write(text)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()


def _write_proc(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _return_to_namespace(fd: int, nstype: int) -> None:
    try:
        linux.setns(fd, nstype)
    finally:
        os.close(fd)


def _ignore(signum: int, frame: object) -> None:
    """The shim's handler of IGNORED_SIGNALS: a handled signal is reset to its default by exec (an ignored one
    would stay ignored in the container's process)."""


class Shim:
    def __init__(self, cdir: str, spec: dict) -> None:
        self.cdir = cdir
        self.spec = spec
        self.cgroup = CgroupSet.from_json(spec.get("cgroup"))
        self.log = logs.LogWriter(spec["log_path"], spec.get("log_max_size", 0), spec.get("log_max_files", 5))
        self.sel = selectors.DefaultSelector()
        self.stdin_w: int | None = None  # our end of the process's stdin (pipe write end or pty master)
        self.stdin_buf = b""
        self.stdin_eof = False
        self.master: int | None = None
        self.outputs: dict[int, str] = {}
        self.proc: subprocess.Popen | Spawned | None = None

    # ----------------------------------------------------------------------------- setup
    def prepare_mountpoints(self) -> None:
        """Create missing mount points (as root, before entering the new mount namespace); record them."""
        created = []
        for m in self.spec.get("mounts", []) if self.spec.get("namespaces") else []:
            target, source = m["container_path"], m["host_path"]
            if os.path.lexists(target):
                continue
            missing = []
            parent = os.path.dirname(target)
            while parent and not os.path.exists(parent):
                missing.append(parent)
                parent = os.path.dirname(parent)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            created.extend(reversed(missing))
            if os.path.isdir(source):
                os.mkdir(target)
            else:
                open(target, "a").close()
            created.append(target)
        if created:
            write_json(os.path.join(self.cdir, "mountpoints.json"), {"created": created})

    def preexec(self) -> None:
        """In the child, between fork and exec. Errors are written to start_error for the runtime to report."""
        try:
            for sig in IGNORED_SIGNALS:  # ignored dispositions survive exec: give the process the defaults
                signal.signal(sig, signal.SIG_DFL)
            os.setsid()
            if self.spec.get("tty"):
                linux.set_controlling_tty(0)
            if self.cgroup:
                self.cgroup.join(os.getpid())
            adj = self.spec.get("oom_score_adj")
            if adj:
                _write_proc("/proc/self/oom_score_adj", str(adj))
            if self.spec.get("netns_path"):
                linux.setns_path(self.spec["netns_path"], linux.CLONE_NEWNET)
            if self.spec.get("namespaces"):
                self.enter_namespaces()
            if self.spec.get("cwd"):
                os.chdir(self.spec["cwd"])
            gid, uid = self.spec.get("gid"), self.spec.get("uid")
            if gid is not None:
                os.setgroups(self.spec.get("groups") or [gid])
                os.setgid(gid)
            if uid is not None:
                os.setuid(uid)
        except BaseException as e:  # noqa: BLE001 - reported, then re-raised to fail the exec
            self.report_start_error(e)
            raise

    def report_start_error(self, e: BaseException) -> None:
        """What went wrong setting up the process, for the runtime's ContainerCannotRun message."""
        with open(os.path.join(self.cdir, "start_error"), "w") as f:
            f.write(str(e))

    def fast_spawn(self) -> bool:
        """Can the process be started by vfork+exec, with no Python in the child (see spawn_here)? Not for a
        TTY (the child must take it as its controlling terminal), another user (setuid in the child), or without
        root (the shim could not lower its OOM score again, nor return to its namespaces)."""
        spec = self.spec
        return os.geteuid() == 0 and not spec.get("tty") and spec.get("uid") is None and spec.get("gid") is None

    @contextlib.contextmanager
    def container_context(self) -> Iterator[None]:
        """The shim itself inside the container's OOM score, network, mount and UTS namespaces, working directory
        and cgroup for the moment of the spawn (the child inherits them), then back in its own. Errors go to
        start_error."""
        undo: list[Callable[[], None]] = []
        own = self.cgroup.current_dirs() if self.cgroup else {}
        try:
            try:
                adj = self.spec.get("oom_score_adj")
                if adj:
                    with open("/proc/self/oom_score_adj") as f:
                        before = f.read().strip()
                    _write_proc("/proc/self/oom_score_adj", str(adj))
                    undo.append(lambda: _write_proc("/proc/self/oom_score_adj", before))
                for nstype, name, wanted in ((linux.CLONE_NEWNET, "net", bool(self.spec.get("netns_path"))),
                                             (linux.CLONE_NEWNS, "mnt", bool(self.spec.get("namespaces"))),
                                             (linux.CLONE_NEWUTS, "uts", bool(self.spec.get("namespaces")))):
                    if wanted:
                        fd = os.open(f"/proc/self/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
                        undo.append(functools.partial(_return_to_namespace, fd, nstype))
                if self.spec.get("netns_path"):
                    linux.setns_path(self.spec["netns_path"], linux.CLONE_NEWNET)
                if self.spec.get("namespaces"):
                    self.enter_namespaces()
                if self.spec.get("cwd"):  # after the mount namespace: the directory may be a mount in it
                    os.chdir(self.spec["cwd"])
                    undo.append(functools.partial(os.chdir, "/"))
                if self.cgroup:  # last in, first out: pages the shim touches meanwhile are charged to the cgroup
                    self.cgroup.join(os.getpid())
                    undo.append(lambda: self.cgroup.leave(own))  # type: ignore[union-attr]
            except BaseException as e:  # noqa: BLE001 - reported as the start error, then raised
                self.report_start_error(e)
                raise
            yield
        finally:
            for step in reversed(undo):
                try:
                    step()
                except OSError as e:  # best effort: the shim then stays where it is
                    print(f"shim: cannot return after the spawn: {e}", file=sys.stderr)

    def spawn_here(self, stdin: int, stdout: int, stderr: int) -> Spawned:
        """posix_spawn (vfork+exec) from inside container_context: none of the shim's pages are copied and no
        Python runs in the child (a forked child with a preexec function copies ~300 pages of the shim and runs
        the interpreter, ~1-2 ms of CPU per container); and little runs in the shim while it is in the
        container's cgroup, where the pages it first writes are charged (Popen there charged ~450 KiB)."""
        spec = self.spec
        env = spec.get("env", {})
        argv = spec["argv"]
        path = find_executable(argv[0], env)
        _no_inheritance()  # what Popen's close_fds did: only the three standard descriptors reach the process
        devnull = -1
        if stdin == subprocess.DEVNULL:
            stdin = devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        actions = [(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, stdout, 1),
                   (os.POSIX_SPAWN_DUP2, stderr, 2)]
        try:
            with self.container_context():
                pid = os.posix_spawn(path, argv, env, file_actions=actions, setsid=True, setsigdef=IGNORED_SIGNALS)
        finally:
            if devnull >= 0:
                os.close(devnull)
        return Spawned(pid)

    def enter_namespaces(self) -> None:
        linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWUTS)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        for m in self.spec.get("mounts", []):
            target = m["container_path"]
            linux.mount(m["host_path"], target, None, linux.MS_BIND | linux.MS_REC)
            if m.get("readonly"):
                linux.mount(None, target, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)
            prop = m.get("propagation")
            if prop == "PROPAGATION_HOST_TO_CONTAINER":
                linux.mount(None, target, None, linux.MS_REC | linux.MS_SLAVE)
            elif prop == "PROPAGATION_BIDIRECTIONAL":
                linux.mount(None, target, None, linux.MS_REC | linux.MS_SHARED)
        if self.spec.get("hostname"):
            import socket

            socket.sethostname(self.spec["hostname"])

    def open_fifos(self) -> None:
        """Open ctl and stdin before the runtime hears "ok", so that attach can open them for writing."""
        ctl = os.path.join(self.cdir, "ctl")  # made for containers with stdin or a tty only
        self.ctl_fd = os.open(ctl, os.O_RDWR | os.O_NONBLOCK) if os.path.exists(ctl) else None
        self.fifo_fd = None
        if self.spec.get("stdin"):
            self.fifo_fd = os.open(os.path.join(self.cdir, "stdin"), os.O_RDWR | os.O_NONBLOCK)

    def spawn(self) -> None:
        spec = self.spec
        child_fds: list[int] = []
        if spec.get("tty"):
            self.master, slave = os.openpty()
            os.set_blocking(self.master, False)
            stdin = stdout = stderr = slave
            child_fds.append(slave)
            self.outputs[self.master] = logs.STDOUT
            if spec.get("stdin"):
                self.stdin_w = self.master
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            stdout, stderr = out_w, err_w
            child_fds += [out_w, err_w]
            self.outputs[out_r] = logs.STDOUT
            self.outputs[err_r] = logs.STDERR
            if spec.get("stdin"):
                in_r, in_w = os.pipe()
                stdin = in_r
                child_fds.append(in_r)
                self.stdin_w = in_w
                os.set_blocking(in_w, False)
            else:
                stdin = subprocess.DEVNULL
        try:
            if self.fast_spawn():
                self.proc = self.spawn_here(stdin, stdout, stderr)
                return
            self.proc = subprocess.Popen(
                spec["argv"],
                env=spec.get("env", {}),
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                preexec_fn=self.preexec,
                close_fds=True,
            )
        finally:
            for fd in child_fds:
                os.close(fd)

    # ----------------------------------------------------------------------------- loop
    def run(self) -> int:
        assert self.proc is not None
        pidfd = os.pidfd_open(self.proc.pid)
        self.sel.register(pidfd, selectors.EVENT_READ, "exit")
        for fd in self.outputs:
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ, "out")
        if self.ctl_fd is not None:
            self.sel.register(self.ctl_fd, selectors.EVENT_READ, "ctl")
        fifo = self.fifo_fd
        if fifo is not None:
            self.sel.register(fifo, selectors.EVENT_READ, "stdin")
        status = None
        deadline = None
        ctl_buf = b""
        while True:
            if status is not None and (not self.outputs or time.monotonic() > deadline):
                break
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            for key, events in self.sel.select(timeout):
                fd, what = key.fd, key.data
                if what == "out":
                    self.pump(fd)
                elif what == "exit":
                    self.sel.unregister(pidfd)
                    _, status = os.waitpid(self.proc.pid, 0)
                    self.kill_leftovers()
                    deadline = time.monotonic() + DRAIN_TIMEOUT
                elif what == "ctl":
                    ctl_buf += _read(fd)
                    while b"\n" in ctl_buf:
                        line, ctl_buf = ctl_buf.split(b"\n", 1)
                        self.command(line.decode(errors="replace").split())
                elif what == "stdin":
                    self.stdin_buf += _read(fd, 65536 - len(self.stdin_buf))
                    self.flush_stdin()
                    if len(self.stdin_buf) >= 65536:
                        self.sel.unregister(fd)  # back-pressure: stop reading until flushed
                elif what == "stdin_w":
                    self.flush_stdin()
            if fifo is not None and len(self.stdin_buf) < 65536 and not self.stdin_eof:
                try:
                    self.sel.register(fifo, selectors.EVENT_READ, "stdin")
                except KeyError:
                    pass
        self.log.close()
        return status

    def pump(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as e:  # EIO on a pty master once the slave side is gone
            if e.errno != errno.EIO:
                raise
            data = b""
        if data:
            self.log.write(self.outputs[fd], data)
            return
        self.sel.unregister(fd)
        del self.outputs[fd]
        if fd != self.master:
            os.close(fd)

    def flush_stdin(self) -> None:
        if self.stdin_w is None:
            return
        if self.stdin_buf:
            try:
                n = os.write(self.stdin_w, self.stdin_buf)
                self.stdin_buf = self.stdin_buf[n:]
            except BlockingIOError:
                pass
            except OSError:  # the process closed its stdin
                self.stdin_buf = b""
        waiting = "stdin_w" in [k.data for k in self.sel.get_map().values()]
        if self.stdin_buf and not waiting and self.stdin_w != self.master:
            self.sel.register(self.stdin_w, selectors.EVENT_WRITE, "stdin_w")
        elif not self.stdin_buf and waiting:
            self.sel.unregister(self.stdin_w)
        if not self.stdin_buf and self.stdin_eof:
            self.close_stdin_now()

    def command(self, words: list[str]) -> None:
        if words[:1] == ["close-stdin"]:
            self.stdin_eof = True
            self.flush_stdin()
        elif words[:1] == ["resize"] and len(words) == 3 and self.master is not None:
            linux.set_winsize(self.master, int(words[1]), int(words[2]))

    def close_stdin_now(self) -> None:
        if self.stdin_w is None:
            return
        if self.stdin_w == self.master:
            try:
                os.write(self.master, b"\x04")  # the terminal's EOF
            except OSError:
                pass
        else:
            os.close(self.stdin_w)
        self.stdin_w = None

    def kill_leftovers(self) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.cgroup:
            self.cgroup.kill_all()


def _read(fd: int, n: int = 65536) -> bytes:
    try:
        return os.read(fd, max(1, n))
    except BlockingIOError:
        return b""


def exit_record(shim: Shim, status: int) -> dict:
    code, sig = linux.exit_code_of(status)
    oom = False
    if shim.cgroup:
        oom = shim.cgroup.oom_kills() > 0 or (sig == signal.SIGKILL and shim.cgroup.memory_failcnt() > 0)
    reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
    return {"exit_code": code, "signal": sig, "finished_at": time.time_ns(), "reason": reason, "message": ""}


def read_spec(cdir: str) -> dict:
    """What to run: the "spec" of container.json (spec.json, from runtimes before it moved there)."""
    try:
        with open(os.path.join(cdir, "container.json")) as f:
            spec = json.load(f).get("spec")
        if spec:
            return spec
    except FileNotFoundError:
        pass
    with open(os.path.join(cdir, "spec.json")) as f:
        return json.load(f)


def serve(cdir: str, ready_fd: int, title: list[str] | None = None) -> int:
    """Be the shim of CONTAINER_DIR in this (already forked) process: detach, start the process, report "ok" or
    "error" on `ready_fd`, then supervise it until it exits. Returns the shim's exit code.

    The shim leads a process group of its own, in the session of whoever forked it (the spawner's, or the exec'd
    shim's own): not a session of its own, as setsid() costs ~0.5 ms of CPU where the kernel groups sessions for
    scheduling (CONFIG_SCHED_AUTOGROUP), and makes each of a hundred starting shims a scheduling group as
    heavy as the whole control plane. The container's process still gets its own session."""
    os.setpgid(0, 0)
    for sig in IGNORED_SIGNALS:
        signal.signal(sig, _ignore)
    if title:
        set_title(title)
    sys.stderr = LazyLog(os.path.join(cdir, "shim.log"))
    spec = read_spec(cdir)
    shim = Shim(cdir, spec)
    try:
        shim.prepare_mountpoints()
        shim.open_fifos()
        shim.spawn()
    except (OSError, subprocess.SubprocessError) as e:
        detail = ""
        try:
            with open(os.path.join(cdir, "start_error")) as f:
                detail = f.read()
        except FileNotFoundError:
            pass
        if detail:
            message = f"failed to set up the container process: {detail}"
        elif isinstance(e, OSError) and e.strerror:
            message = f'exec: "{spec["argv"][0]}": {e.strerror}'
        else:
            message = str(e)
        write_json(
            os.path.join(cdir, "exited.json"),
            {"exit_code": 128, "signal": 0, "finished_at": time.time_ns(), "reason": "ContainerCannotRun",
             "message": message, "started": False},
        )
        os.write(ready_fd, b"error\n")
        os.close(ready_fd)
        return 1
    assert shim.proc is not None
    write_json(
        os.path.join(cdir, "started.json"),
        {"pid": shim.proc.pid, "pid_start_time": linux.proc_start_time(shim.proc.pid),
         "started_at": time.time_ns(), "shim_pid": os.getpid(), "shim_start_time": linux.proc_start_time(os.getpid())},
        durable=False,
    )
    os.write(ready_fd, b"ok\n")
    os.close(ready_fd)
    status = shim.run()
    write_json(os.path.join(cdir, "exited.json"), exit_record(shim, status))
    return 0


def main(argv: list[str]) -> int:
    """`python -m ...shim CONTAINER_DIR READY_FD`: fork, so that the caller reaps this process at once."""
    if os.fork() > 0:
        os._exit(0)  # the runtime reaps this intermediate at once; the shim is re-parented to init
    return serve(argv[0], int(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

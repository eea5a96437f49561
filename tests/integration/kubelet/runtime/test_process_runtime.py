"""The process runtime running real processes: lifecycle, exit codes, stop, logs, exec, attach, port-forward,
adoption by a new runtime instance, namespaces and cgroup limits (root only)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from kybernetes.kubelet.runtime import logs
from kybernetes.kubelet.runtime.interface import (
    ContainerFilter,
    ContainerState,
    ExecTimeoutError,
    KeyValue,
    LinuxContainerConfig,
    LinuxContainerResources,
    Mount,
    RunContainerError,
)
from kybernetes.kubelet.runtime.process import ProcessRuntime
from kybernetes.kubelet.runtime.process.linux import is_alive
from kybernetes.kubelet.runtime.process.state import read_json

from .conftest import cleanup, container_config, recorded_pids, sandbox_config

PY = sys.executable


async def run(rt, tmp_path, cfg, sandbox=None):
    sandbox = sandbox or sandbox_config(tmp_path)
    sid = await rt.run_pod_sandbox(sandbox)
    cid = await rt.create_container(sid, cfg, sandbox)
    await rt.start_container(cid)
    return sid, cid


async def wait_exited(rt, cid, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        status = await rt.container_status(cid)
        if status.state == ContainerState.CONTAINER_EXITED or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.02)


async def wait_log(path, needle, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and needle in open(path, "rb").read():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{needle!r} never appeared in {path}")


async def read_until(reader, needle, timeout=10.0):
    data = b""
    async with asyncio.timeout(timeout):
        while needle not in data:
            chunk = await reader.read(4096)
            if not chunk:
                break
            data += chunk
    assert needle in data, data
    return data


@pytest.mark.parametrize(
    "script,exit_code,reason",
    [
        ("exit 0", 0, "Completed"),
        ("exit 3", 3, "Error"),
        ("kill -TERM $$", 143, "Error"),
    ],
    ids=["success", "failure", "signal"],
)
async def test_lifecycle_and_exit_codes(runtime, tmp_path, script, exit_code, reason):
    sid, cid = await run(runtime, tmp_path, container_config("c", "sh", "-c", script))
    status = await wait_exited(runtime, cid)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.CONTAINER_EXITED, exit_code, reason)
    assert status.created_at <= status.started_at <= status.finished_at
    await runtime.remove_container(cid)
    assert await runtime.list_containers(ContainerFilter(pod_sandbox_id=sid)) == []


async def test_command_that_cannot_run(runtime, tmp_path):
    sandbox = sandbox_config(tmp_path)
    sid = await runtime.run_pod_sandbox(sandbox)
    cid = await runtime.create_container(sid, container_config("c", "/no/such/binary"), sandbox)
    with pytest.raises(RunContainerError, match="no/such/binary"):
        await runtime.start_container(cid)
    status = await runtime.container_status(cid)
    assert (status.state, status.reason, status.exit_code) == (ContainerState.CONTAINER_EXITED, "ContainerCannotRun", 128)
    assert "No such file or directory" in status.message


async def test_working_directory_that_does_not_exist(runtime, tmp_path):
    sandbox = sandbox_config(tmp_path)
    sid = await runtime.run_pod_sandbox(sandbox)
    cid = await runtime.create_container(sid, container_config("c", "true", working_dir="/no/such/dir"), sandbox)
    with pytest.raises(RunContainerError, match="no/such/dir"):
        await runtime.start_container(cid)
    status = await runtime.container_status(cid)
    assert (status.state, status.reason, status.exit_code) == (ContainerState.CONTAINER_EXITED, "ContainerCannotRun", 128)
    assert status.message.startswith("failed to set up the container process:")


@pytest.mark.parametrize(
    "script,timeout,exit_code,min_s,max_s",
    [
        ("trap 'echo bye; exit 7' TERM; while :; do sleep 0.05; done", 5, 7, 0, 3),
        ("trap '' TERM; while :; do sleep 0.05; done", 1, 137, 1, 4),
        ("while :; do sleep 0.05; done", 0, 137, 0, 2),
    ],
    ids=["graceful", "killed-after-grace", "no-grace"],
)
async def test_stop_with_grace_then_kill(runtime, tmp_path, script, timeout, exit_code, min_s, max_s):
    _, cid = await run(runtime, tmp_path, container_config("c", "sh", "-c", "echo ready; " + script))
    status = await runtime.container_status(cid)
    await wait_log(status.log_path, b"ready")
    started = time.monotonic()
    await runtime.stop_container(cid, timeout)
    elapsed = time.monotonic() - started
    status = await runtime.container_status(cid)
    assert (status.state, status.exit_code) == (ContainerState.CONTAINER_EXITED, exit_code)
    assert min_s <= elapsed < max_s
    await runtime.stop_container(cid, timeout)  # idempotent


async def test_stop_kills_the_whole_process_group(runtime, tmp_path):
    pidfile = tmp_path / "child"
    _, cid = await run(runtime, tmp_path, container_config("c", "sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"))
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    child = int(pidfile.read_text())
    assert is_alive(child, None)
    await runtime.stop_container(cid, 5)
    assert not is_alive(child, None)


async def test_logs_streams_and_partial_lines(runtime, tmp_path):
    script = "echo out1; echo err1 >&2; printf 'no-newline'; sleep 0.1; echo; echo out2"
    _, cid = await run(runtime, tmp_path, container_config("c", "sh", "-c", script))
    status = await wait_exited(runtime, cid)
    assert status.log_path == str(tmp_path / "pods" / "web" / "c" / "0.log")
    got = [(e.stream, e.partial, e.content) for e in logs.iter_entries(status.log_path)]
    assert ("stderr", False, b"err1") in got
    stdout = [x for x in got if x[0] == "stdout"]
    assert stdout == [("stdout", False, b"out1"), ("stdout", True, b"no-newline"), ("stdout", False, b""),
                      ("stdout", False, b"out2")]


async def test_logs_rotate_by_size(tmp_path):
    rt = ProcessRuntime(str(tmp_path / "root"), container_log_max_size=2000, container_log_max_files=3)
    try:
        script = "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done"
        _, cid = await run(rt, tmp_path, container_config("c", "sh", "-c", script))
        status = await wait_exited(rt, cid)
        files = logs.all_files(status.log_path)
        assert len(files) == 3 and all(os.path.getsize(f) <= 2000 for f in files)
        lines = [e.content for e in logs.iter_entries(status.log_path, include_rotated=True)]
        assert lines[-1] == b"line-199" and lines == [b"line-%d" % i for i in range(200 - len(lines), 200)]
    finally:
        await cleanup(rt)


async def test_exec_sync_env_cwd_exit_code_and_timeout(runtime, tmp_path):
    cfg = container_config("c", "sleep", "30", envs=[KeyValue("GREETING", "hi")], working_dir=str(tmp_path))
    _, cid = await run(runtime, tmp_path, cfg)
    res = await runtime.exec_sync(cid, ["sh", "-c", "echo $GREETING; pwd; echo oops >&2; exit 4"], timeout=10)
    assert (res.stdout, res.stderr, res.exit_code) == (f"hi\n{tmp_path}\n".encode(), b"oops\n", 4)
    started = time.monotonic()
    with pytest.raises(ExecTimeoutError):
        await runtime.exec_sync(cid, ["sleep", "30"], timeout=0.3)
    assert time.monotonic() - started < 3


async def test_interactive_exec_with_tty(runtime, tmp_path):
    _, cid = await run(runtime, tmp_path, container_config("c", "sleep", "30"))
    session = await runtime.exec(cid, ["sh"], tty=True, stdin=True)
    try:
        assert session.stderr is None
        await session.resize(100, 30)
        await session.stdin.write(b"tty -s && echo is-a-tty; stty size; echo $((6*7))\n")
        out = await read_until(session.stdout, b"42\r\n")
        assert b"is-a-tty" in out and b"30 100" in out
        await session.stdin.write(b"exit 5\n")
        assert await asyncio.wait_for(session.wait(), 10) == 5
    finally:
        await session.close()


async def test_exec_with_pipes(runtime, tmp_path):
    _, cid = await run(runtime, tmp_path, container_config("c", "sleep", "30"))
    session = await runtime.exec(cid, ["sh", "-c", "tr a-z A-Z; echo done >&2"], stdin=True)
    await session.stdin.write(b"hello\n")
    await session.stdin.close()
    assert await session.stdout.read() == b"HELLO\n"
    assert await session.stderr.read() == b"done\n"
    assert await session.wait() == 0
    await session.close()


async def test_attach_to_stdin_once_container(runtime, tmp_path):
    code = "import sys\nfor l in sys.stdin: print('got', l.strip(), flush=True)\nprint('eof', flush=True)"
    cfg = container_config("c", PY, "-c", code, stdin=True, stdin_once=True)
    _, cid = await run(runtime, tmp_path, cfg)
    session = await runtime.attach(cid, stdin=True)
    await session.stdin.write(b"hello\n")
    await read_until(session.stdout, b"got hello\n")
    await session.stdin.close()  # stdin_once: the container sees EOF
    await read_until(session.stdout, b"eof\n")
    assert await asyncio.wait_for(session.wait(), 10) == 0
    await session.close()


async def test_attach_to_tty_container(runtime, tmp_path):
    cfg = container_config("c", "sh", stdin=True, tty=True)
    _, cid = await run(runtime, tmp_path, cfg)
    session = await runtime.attach(cid, stdin=True, tty=True)
    await session.resize(90, 20)
    await session.stdin.write(b"stty size; echo $((7*6))\n")
    out = await read_until(session.stdout, b"42\r\n")
    assert b"20 90" in out
    await session.stdin.write(b"exit 2\n")
    assert await asyncio.wait_for(session.wait(), 10) == 2
    await session.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_port_forward_to_http_server(runtime, tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hello from the pod")
    port = free_port()
    cfg = container_config("web", PY, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                           working_dir=str(tmp_path / "www"))
    sid, cid = await run(runtime, tmp_path, cfg)
    deadline = time.monotonic() + 10
    while True:
        try:
            reader, writer = await runtime.port_forward(sid, port)
            break
        except OSError:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    writer.write(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
    body = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert body.startswith(b"HTTP/1.0 200") and body.endswith(b"hello from the pod")


async def test_adoption_by_a_new_runtime(tmp_path):
    root = str(tmp_path / "root")
    first = ProcessRuntime(root)
    sid, running = await run(first, tmp_path, container_config("long", "sleep", "30"))
    sandbox = sandbox_config(tmp_path)
    done = await first.create_container(sid, container_config("short", "sh", "-c", "exit 4"), sandbox)
    await first.start_container(done)
    await wait_exited(first, done)
    del first
    second = ProcessRuntime(root)
    try:
        got = {c.metadata.name: c.state for c in await second.list_containers()}
        assert got == {"long": ContainerState.CONTAINER_RUNNING, "short": ContainerState.CONTAINER_EXITED}
        assert (await second.container_status(done)).exit_code == 4
        await second.stop_container(running, 5)
        assert (await second.container_status(running)).exit_code == 143
    finally:
        await cleanup(second)


ORPHAN_KUBELET = """
import asyncio, sys
from kybernetes.kubelet.runtime.interface import *
from kybernetes.kubelet.runtime.process import ProcessRuntime
async def main():
    rt = ProcessRuntime(sys.argv[1])
    sb = PodSandboxConfig(PodSandboxMetadata("p", "default", "u"), log_directory=sys.argv[2])
    sid = await rt.run_pod_sandbox(sb)
    cfg = ContainerConfig(ContainerMetadata("c"), ImageSpec("x"), command=["sh", "-c", "echo alive; sleep 30"],
                          log_path="c/0.log")
    cid = await rt.create_container(sid, cfg, sb)
    await rt.start_container(cid)
    print(cid, flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""


async def test_adoption_after_kill_9_of_the_kubelet(tmp_path):
    root = str(tmp_path / "root")
    kubelet = subprocess.Popen([PY, "-c", ORPHAN_KUBELET, root, str(tmp_path / "logs")], stdout=subprocess.PIPE)
    try:
        cid = (await asyncio.get_running_loop().run_in_executor(None, kubelet.stdout.readline)).decode().strip()
    finally:
        kubelet.kill()
        kubelet.wait()
    rt = ProcessRuntime(root)
    try:
        status = await rt.container_status(cid)
        assert status.state == ContainerState.CONTAINER_RUNNING
        await wait_log(status.log_path, b"alive")
        await rt.stop_container(cid, 2)
        assert (await rt.container_status(cid)).exit_code == 143
    finally:
        await cleanup(rt)


root_only = pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and cgroups need root")


@root_only
async def test_mount_namespace_bind_mounts_and_hostname(runtime, tmp_path):
    if not runtime.namespaces:
        pytest.skip("this machine refuses mount/UTS namespaces")
    (tmp_path / "vol").mkdir()
    (tmp_path / "vol" / "data").write_text("volume content")
    target = str(tmp_path / "in-container" / "data-dir")  # does not exist on the host: created empty
    script = f"hostname; cat {target}/data; touch {target}/x 2>/dev/null && echo writable || echo read-only; sleep 30"
    cfg = container_config("c", "sh", "-c", script, mounts=[Mount(target, str(tmp_path / "vol"), readonly=True)])
    _, cid = await run(runtime, tmp_path, cfg, sandbox_config(tmp_path, hostname="pod-host"))
    status = await runtime.container_status(cid)
    await wait_log(status.log_path, b"read-only")
    content = open(status.log_path, "rb").read()
    assert b"stdout F pod-host\n" in content and b"volume content" in content
    assert os.listdir(target) == []  # the host sees the empty mount point, not the volume
    res = await runtime.exec_sync(cid, ["sh", "-c", f"cat {target}/data; hostname"], timeout=10)
    assert res.stdout == b"volume contentpod-host\n"


def _signal_mask(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    return 0


def _cgroup_of(pid, controller="memory"):
    for line in open(f"/proc/{pid}/cgroup"):
        _, ctls, path = line.rstrip("\n").split(":", 2)
        if controller in ctls.split(",") or (not ctls and controller == ""):
            return path
    return None


@root_only
async def test_shim_starts_the_process_inside_the_container_and_stays_outside(runtime, tmp_path):
    """The vfork start: the shim enters the container's namespaces and cgroup only for the spawn."""
    if not runtime.namespaces:
        pytest.skip("this machine refuses mount/UTS namespaces")
    cfg = container_config("c", "sleep", "30", linux=LinuxContainerConfig(LinuxContainerResources()))
    _, cid = await run(runtime, tmp_path, cfg, sandbox_config(tmp_path, hostname="pod-host"))
    started = read_json(os.path.join(runtime.root_dir, "containers", cid, "started.json"))
    pid, shim_pid = started["pid"], started["shim_pid"]
    for ns in ("mnt", "uts"):
        assert os.readlink(f"/proc/{shim_pid}/ns/{ns}") == os.readlink(f"/proc/self/ns/{ns}")
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")
    if runtime.cgroups.available:
        controller = "" if runtime.cgroups.version == 2 else "memory"
        assert "/kybernetes/" in _cgroup_of(pid, controller)  # the container's own cgroup
        assert _cgroup_of(shim_pid, controller) == _cgroup_of(os.getpid(), controller)  # the shim's: ours
    term = 1 << (signal.SIGTERM - 1) | 1 << (signal.SIGINT - 1) | 1 << (signal.SIGHUP - 1)
    assert _signal_mask(pid, "SigIgn") & term == 0  # exec reset the shim's handled signals to their defaults
    assert _signal_mask(pid, "SigBlk") == 0
    assert os.getsid(pid) == pid  # its own session
    assert not os.path.exists(os.path.join(runtime.root_dir, "containers", cid, "shim.log"))  # nothing to say


async def test_rootless_fallback_exposes_mounts_under_kybernetes_root(tmp_path):
    rt = ProcessRuntime(str(tmp_path / "root"), namespaces=False, cgroups=False)
    try:
        (tmp_path / "vol").mkdir()
        (tmp_path / "vol" / "data").write_text("fallback")
        cfg = container_config("c", "sh", "-c", 'cat "$KYBERNETES_ROOT/etc/config/data"',
                               mounts=[Mount("/etc/config", str(tmp_path / "vol"))])
        _, cid = await run(rt, tmp_path, cfg)
        status = await wait_exited(rt, cid)
        assert status.exit_code == 0
        assert [e.content for e in logs.iter_entries(status.log_path)] == [b"fallback"]
    finally:
        await cleanup(rt)


@root_only
async def test_memory_limit_gets_container_oom_killed(runtime, tmp_path):
    if not runtime.cgroups.available:
        pytest.skip("no writable memory cgroup here")
    limit = 64 * 1024 * 1024
    code = "b = []\nwhile True: b.append(bytearray(16 * 1024 * 1024))"
    cfg = container_config("c", PY, "-c", code,
                           linux=LinuxContainerConfig(LinuxContainerResources(memory_limit_in_bytes=limit)))
    _, cid = await run(runtime, tmp_path, cfg)
    status = await wait_exited(runtime, cid, timeout=20)
    assert (status.state, status.reason, status.exit_code) == (ContainerState.CONTAINER_EXITED, "OOMKilled", 137)


@root_only
async def test_cpu_limits_and_update_reach_the_cgroup(runtime, tmp_path):
    if "cpu" not in runtime.cgroups.bases:
        pytest.skip("no writable cpu cgroup (v1) here")
    res = LinuxContainerResources(cpu_period=100000, cpu_quota=50000, cpu_shares=512)
    _, cid = await run(runtime, tmp_path, container_config("c", "sleep", "30", linux=LinuxContainerConfig(res)))
    cpu_dir = runtime._record(cid)["cgroup"]["dirs"]["cpu"]
    assert open(os.path.join(cpu_dir, "cpu.cfs_quota_us")).read().strip() == "50000"
    assert open(os.path.join(cpu_dir, "cpu.shares")).read().strip() == "512"
    assert str((await runtime.container_status(cid)).pid) in open(os.path.join(cpu_dir, "cgroup.procs")).read()
    await runtime.update_container_resources(cid, LinuxContainerResources(cpu_period=100000, cpu_quota=20000))
    assert open(os.path.join(cpu_dir, "cpu.cfs_quota_us")).read().strip() == "20000"
    stats = await runtime.container_stats(cid)
    assert stats.memory_working_set_bytes > 0


@root_only
async def test_killall_removes_the_cgroups_of_stopped_containers(runtime, tmp_path):
    if not runtime.cgroups.available:
        pytest.skip("no writable cgroup here")
    from kybernetes.cli.killall import stop_all_containers

    _, cid = await run(runtime, tmp_path, container_config("c", "sleep", "30"))
    dirs = list(runtime._record(cid)["cgroup"]["dirs"].values())
    assert dirs and all(os.path.isdir(d) for d in dirs)
    assert await stop_all_containers(runtime.root_dir) == 1
    assert not any(os.path.isdir(d) for d in dirs)
    assert [c.id for c in await ProcessRuntime(runtime.root_dir).list_containers()] == [cid]  # records stay


async def test_no_process_survives_cleanup(tmp_path):
    rt = ProcessRuntime(str(tmp_path / "root"))
    await run(rt, tmp_path, container_config("c", "sleep", "30"))
    pids = recorded_pids(rt.root_dir)
    for sb in await rt.list_pod_sandbox():
        await rt.remove_pod_sandbox(sb.id)
    assert pids and not any(is_alive(pid, start) for pid, start in pids)


async def test_running_state_comes_from_a_watched_pidfd_not_proc(runtime, tmp_path, monkeypatch):
    """After one look in /proc, a running container's state costs no system call; its exit is seen through
    the pidfd the event loop watches."""
    from kybernetes.kubelet.runtime.process import linux

    _, cid = await run(runtime, tmp_path, container_config("c", "sleep", "30"))
    assert (await runtime.container_status(cid)).state == ContainerState.CONTAINER_RUNNING
    looks = []
    real = linux.is_alive
    monkeypatch.setattr(linux, "is_alive", lambda pid, start: looks.append(pid) or real(pid, start))
    for _ in range(20):
        assert (await runtime.container_status(cid)).state == ContainerState.CONTAINER_RUNNING
    assert [c.state for c in await runtime.list_containers()] == [ContainerState.CONTAINER_RUNNING]
    assert looks == []
    os.kill(runtime._started[cid]["pid"], signal.SIGKILL)
    status = await wait_exited(runtime, cid)
    assert (status.state, status.exit_code) == (ContainerState.CONTAINER_EXITED, 137)
    assert cid not in runtime._watched
    await runtime.remove_container(cid)
    assert cid not in runtime._gone

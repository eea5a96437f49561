"""The shim spawner of the process runtime: shims forked from one warm interpreter, what survives whom, and the
exec fallback."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from kybernetes.kubelet.runtime.interface import ContainerState, RunContainerError
from kybernetes.kubelet.runtime.process import ProcessRuntime
from kybernetes.kubelet.runtime.process.linux import is_alive, proc_start_time

from .conftest import cleanup, container_config
from .test_process_runtime import run, wait_exited, wait_log

PY = sys.executable


def cmdline(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [w.decode() for w in f.read().split(b"\0") if w]


def spawner_pids(root_dir: str) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                words = cmdline(int(name))
            except OSError:
                continue
            if "kybernetes.kubelet.runtime.process.spawner" in words and root_dir in words:
                out.append(int(name))
    return out


async def wait_gone(pid: int, start: int | None, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while is_alive(pid, start):
            await asyncio.sleep(0.02)


async def test_shims_are_forked_by_one_spawner_and_named_after_their_container(tmp_path):
    rt = ProcessRuntime(str(tmp_path / "root"))
    try:
        cids = [(await run(rt, tmp_path, container_config(f"c{i}", "sleep", "30")))[1] for i in range(3)]
        [spawner] = spawner_pids(rt.root_dir)
        for cid in cids:
            status = await rt.container_status(cid)
            started = rt._started[cid]
            shim = started["shim_pid"]
            assert cmdline(shim) == ["kybernetes.kubelet.runtime.process.shim", rt.root_dir, cid[:12]]
            assert open(f"/proc/{shim}/comm").read().strip() == "kybernetes-shim"
            assert os.getpgid(shim) == shim  # its own process group
            assert os.getsid(shim) == os.getsid(spawner)  # in the spawner's session: no setsid per shim
            assert status.state == ContainerState.CONTAINER_RUNNING
        assert spawner_pids(rt.root_dir) == [spawner]  # one spawner served them all
    finally:
        await cleanup(rt)
        rt.close()


async def test_containers_outlive_the_spawner_and_a_new_one_is_started(tmp_path):
    rt = ProcessRuntime(str(tmp_path / "root"))
    try:
        _, first = await run(rt, tmp_path, container_config("first", "sleep", "30"))
        [spawner] = spawner_pids(rt.root_dir)
        start = proc_start_time(spawner)
        os.kill(spawner, signal.SIGKILL)
        await wait_gone(spawner, start)
        assert (await rt.container_status(first)).state == ContainerState.CONTAINER_RUNNING
        _, second = await run(rt, tmp_path, container_config("second", "sh", "-c", "echo second; exit 7"))
        status = await wait_exited(rt, second)
        assert (status.exit_code, status.reason) == (7, "Error")
        await wait_log(status.log_path, b"second")
        assert [p for p in spawner_pids(rt.root_dir) if p != spawner]  # a new one
        await rt.stop_container(first, 5)
        assert (await rt.container_status(first)).exit_code == 143
    finally:
        await cleanup(rt)
        rt.close()


async def test_spawner_exits_with_its_runtime_and_leaves_the_containers_running(tmp_path):
    rt = ProcessRuntime(str(tmp_path / "root"))
    try:
        _, cid = await run(rt, tmp_path, container_config("c", "sleep", "30"))
        [spawner] = spawner_pids(rt.root_dir)
        rt.close()  # as the kubelet's exit closes its end of the socket
        await wait_gone(spawner, proc_start_time(spawner))
        again = ProcessRuntime(rt.root_dir)
        assert (await again.container_status(cid)).state == ContainerState.CONTAINER_RUNNING
    finally:
        await cleanup(rt)


ORPHAN_KUBELET = """
import asyncio, sys
from kybernetes.kubelet.runtime.interface import *
from kybernetes.kubelet.runtime.process import ProcessRuntime
async def main():
    rt = ProcessRuntime(sys.argv[1])
    sb = PodSandboxConfig(PodSandboxMetadata("p", "default", "u"), log_directory=sys.argv[2])
    sid = await rt.run_pod_sandbox(sb)
    cfg = ContainerConfig(ContainerMetadata("c"), ImageSpec("x"), command=["sleep", "30"], log_path="c/0.log")
    cid = await rt.create_container(sid, cfg, sb)
    await rt.start_container(cid)
    print(cid, flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""


async def test_kill_9_of_the_kubelet_ends_its_spawner_not_its_containers(tmp_path):
    root = str(tmp_path / "root")
    kubelet = subprocess.Popen([PY, "-c", ORPHAN_KUBELET, root, str(tmp_path / "logs")], stdout=subprocess.PIPE)
    try:
        cid = (await asyncio.get_running_loop().run_in_executor(None, kubelet.stdout.readline)).decode().strip()
        [spawner] = spawner_pids(root)
        start = proc_start_time(spawner)
    finally:
        kubelet.kill()
        kubelet.wait()
    await wait_gone(spawner, start)
    rt = ProcessRuntime(root)
    try:
        assert (await rt.container_status(cid)).state == ContainerState.CONTAINER_RUNNING
    finally:
        await cleanup(rt)


async def test_without_spawner_shims_start_by_exec(tmp_path):
    rt = ProcessRuntime(str(tmp_path / "root"), shim_spawner=False)
    try:
        _, cid = await run(rt, tmp_path, container_config("c", "sh", "-c", "echo by-exec; exit 3"))
        status = await wait_exited(rt, cid)
        assert (status.exit_code, status.reason) == (3, "Error")
        await wait_log(status.log_path, b"by-exec")
        assert spawner_pids(rt.root_dir) == []
    finally:
        await cleanup(rt)


@pytest.mark.parametrize("spawner", [True, False], ids=["spawner", "exec"])
async def test_a_command_that_cannot_run_is_reported_either_way(tmp_path, spawner):
    rt = ProcessRuntime(str(tmp_path / "root"), shim_spawner=spawner)
    try:
        with pytest.raises(RunContainerError, match="no-such-binary"):
            await run(rt, tmp_path, container_config("c", "/no-such-binary"))
    finally:
        await cleanup(rt)
        rt.close()


async def test_a_shim_that_dies_before_answering_is_not_started_again(tmp_path):
    """The spawner marks a forked request on the ready pipe: the launcher does not resend it (a second shim
    would start the container twice), and the shim's error lands in its shim.log."""
    rt = ProcessRuntime(str(tmp_path / "root"))
    try:
        await run(rt, tmp_path, container_config("warm", "sleep", "30"))  # the spawner is up
        [spawner] = spawner_pids(rt.root_dir)
        cdir = tmp_path / "root" / "containers" / "broken"
        cdir.mkdir(parents=True)  # no container.json: the shim dies reading its spec
        answer = await rt.launcher.launch(str(cdir))
        assert answer == b""
        assert "No such file or directory" in (cdir / "shim.log").read_text()
        assert spawner_pids(rt.root_dir) == [spawner]  # served by the same spawner, not a replacement
        assert rt.launcher._failures == 0
    finally:
        await cleanup(rt)
        rt.close()

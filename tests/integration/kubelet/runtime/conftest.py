"""Fixtures for process runtime tests: a runtime on a temporary root whose containers are all gone afterwards."""

from __future__ import annotations

import os
import signal

import pytest_asyncio

from kybernetes.kubelet.runtime.interface import (
    LABEL_CONTAINER_NAME,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    ContainerConfig,
    ContainerMetadata,
    ImageSpec,
    PodSandboxConfig,
    PodSandboxMetadata,
)
from kybernetes.kubelet.runtime.process import ProcessRuntime
from kybernetes.kubelet.runtime.process.linux import is_alive
from kybernetes.kubelet.runtime.process.state import read_json


def sandbox_config(tmp_path, name="web", hostname="web-host"):
    return PodSandboxConfig(
        PodSandboxMetadata(name, "default", f"uid-{name}"),
        hostname=hostname,
        log_directory=str(tmp_path / "pods" / name),
        labels={LABEL_POD_NAME: name, LABEL_POD_NAMESPACE: "default", LABEL_POD_UID: f"uid-{name}"},
    )


def container_config(name, *command, **kw):
    return ContainerConfig(ContainerMetadata(name), ImageSpec("busybox"), command=list(command),
                           labels={LABEL_CONTAINER_NAME: name}, log_path=f"{name}/0.log", **kw)


def recorded_pids(root_dir):
    """(pid, start time) of every container process and shim ever recorded under root_dir."""
    out = []
    cdir = os.path.join(root_dir, "containers")
    for cid in os.listdir(cdir) if os.path.isdir(cdir) else []:
        started = read_json(os.path.join(cdir, cid, "started.json"))
        if started:
            out += [(started["pid"], started["pid_start_time"]), (started["shim_pid"], started["shim_start_time"])]
    return out


@pytest_asyncio.fixture
async def runtime(tmp_path):
    rt = ProcessRuntime(str(tmp_path / "root"))
    yield rt
    await cleanup(rt)


async def cleanup(rt):
    pids = recorded_pids(rt.root_dir)
    for sb in await rt.list_pod_sandbox():
        await rt.remove_pod_sandbox(sb.id)
    for pid, start in pids:  # belt and braces: the recorded processes only, by PID
        if is_alive(pid, start):
            os.kill(pid, signal.SIGKILL)
    rt.close()  # its shim spawner exits

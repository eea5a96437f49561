"""Process runtime state on disk: JSON codec, filters, image names, and adoption of containers from files."""

from __future__ import annotations

import os

import pytest

from kybernetes.kubelet.runtime.interface import (
    LABEL_CONTAINER_NAME,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    Container,
    ContainerConfig,
    ContainerFilter,
    ContainerMetadata,
    ContainerState,
    CreateContainerError,
    DNSConfig,
    ImageSpec,
    KeyValue,
    LinuxContainerConfig,
    LinuxContainerResources,
    Mount,
    MountPropagation,
    NotFoundError,
    PodSandbox,
    PodSandboxConfig,
    PodSandboxFilter,
    PodSandboxMetadata,
    PodSandboxState,
    PortMapping,
)
from kybernetes.kubelet.runtime.process import ProcessRuntime
from kybernetes.kubelet.runtime.process.images import normalize
from kybernetes.kubelet.runtime.process.linux import proc_start_time
from kybernetes.kubelet.runtime.process.state import from_dict, to_dict, write_json


def sandbox_config(name="web", ns="default", uid="uid-1"):
    labels = {LABEL_POD_NAME: name, LABEL_POD_NAMESPACE: ns, LABEL_POD_UID: uid}
    return PodSandboxConfig(PodSandboxMetadata(name, ns, uid), hostname=name, labels=labels,
                            dns_config=DNSConfig(servers=["198.19.0.10"], searches=["default.svc"]),
                            port_mappings=[PortMapping(8080)])


def container_config(name="app", command=("sleep", "30"), **kw):
    return ContainerConfig(ContainerMetadata(name), ImageSpec("busybox"), command=list(command),
                           labels={LABEL_CONTAINER_NAME: name}, **kw)


@pytest.fixture
def runtime(tmp_path):
    return ProcessRuntime(str(tmp_path / "root"), namespaces=False, cgroups=False)


@pytest.mark.parametrize(
    "obj",
    [
        sandbox_config(),
        container_config(
            envs=[KeyValue("A", "1")],
            mounts=[Mount("/data", "/tmp", readonly=True, propagation=MountPropagation.PROPAGATION_HOST_TO_CONTAINER)],
            linux=LinuxContainerConfig(LinuxContainerResources(cpu_quota=50000, memory_limit_in_bytes=1 << 20)),
        ),
    ],
    ids=["sandbox-config", "container-config"],
)
def test_json_codec_round_trip(obj):
    import orjson

    assert from_dict(type(obj), orjson.loads(orjson.dumps(to_dict(obj)))) == obj


def sb(id="abc", state=PodSandboxState.SANDBOX_READY, labels=None):
    return PodSandbox(id, PodSandboxMetadata("p", "ns", "u"), state, 0, labels or {})


@pytest.mark.parametrize(
    "flt,match",
    [
        (PodSandboxFilter(), True),
        (PodSandboxFilter(id="ab"), True),
        (PodSandboxFilter(id="x"), False),
        (PodSandboxFilter(state=PodSandboxState.SANDBOX_NOTREADY), False),
        (PodSandboxFilter(label_selector={"a": "1"}), True),
        (PodSandboxFilter(label_selector={"a": "2"}), False),
    ],
    ids=["empty", "id-prefix", "other-id", "state", "label", "label-mismatch"],
)
def test_sandbox_filter(flt, match):
    assert flt.matches(sb(labels={"a": "1", "b": "2"})) is match


def ctr(state=ContainerState.CONTAINER_RUNNING):
    return Container("c123", "s456", ContainerMetadata("app"), ImageSpec("x"), "ref", state, 0, {"k": "v"})


@pytest.mark.parametrize(
    "flt,match",
    [
        (ContainerFilter(), True),
        (ContainerFilter(id="c1"), True),
        (ContainerFilter(pod_sandbox_id="s4"), True),
        (ContainerFilter(pod_sandbox_id="s5"), False),
        (ContainerFilter(state=ContainerState.CONTAINER_EXITED), False),
        (ContainerFilter(state=ContainerState.CONTAINER_RUNNING, label_selector={"k": "v"}), True),
        (ContainerFilter(label_selector={"k": "w"}), False),
    ],
    ids=["empty", "id-prefix", "sandbox", "other-sandbox", "state", "state-and-label", "label-mismatch"],
)
def test_container_filter(flt, match):
    assert flt.matches(ctr()) is match


@pytest.mark.parametrize(
    "ref,norm",
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("me/app", "docker.io/me/app:latest"),
        ("registry.local:5000/app", "registry.local:5000/app:latest"),
        ("localhost/app:v1", "localhost/app:v1"),
        ("busybox@sha256:abc", "docker.io/library/busybox@sha256:abc"),
    ],
    ids=["bare", "tag", "user", "registry-port", "localhost", "digest"],
)
def test_image_normalize(ref, norm):
    assert normalize(ref) == norm


async def test_images_pull_status_list_remove(runtime):
    ref = await runtime.pull_image(ImageSpec("busybox"))
    assert (await runtime.image_status(ImageSpec("docker.io/library/busybox:latest"))).id == ref
    assert [i.repo_tags for i in await runtime.list_images()] == [["docker.io/library/busybox:latest"]]
    await runtime.remove_image(ImageSpec("busybox"))
    await runtime.remove_image(ImageSpec("busybox"))  # idempotent
    assert await runtime.image_status(ImageSpec("busybox")) is None


async def test_create_without_command_fails_with_reason(runtime):
    sid = await runtime.run_pod_sandbox(sandbox_config())
    with pytest.raises(CreateContainerError) as err:
        await runtime.create_container(sid, container_config(command=()), sandbox_config())
    assert err.value.reason == "CreateContainerError"
    assert str(err.value) == (
        "the process runtime runs commands on the host: container app has no command (image busybox has none to give)"
    )


async def test_sandbox_lifecycle_and_filters(runtime):
    a = await runtime.run_pod_sandbox(sandbox_config("a", uid="ua"))
    b = await runtime.run_pod_sandbox(sandbox_config("b", uid="ub"))
    await runtime.stop_pod_sandbox(b)
    await runtime.stop_pod_sandbox(b)  # idempotent
    ready = await runtime.list_pod_sandbox(PodSandboxFilter(state=PodSandboxState.SANDBOX_READY))
    assert [s.id for s in ready] == [a]
    by_uid = await runtime.list_pod_sandbox(PodSandboxFilter(label_selector={LABEL_POD_UID: "ub"}))
    assert [s.metadata.name for s in by_uid] == ["b"]
    status = await runtime.pod_sandbox_status(a[:12])
    assert (status.id, status.netns_path, status.labels[LABEL_POD_NAME]) == (a, None, "a")
    assert open(os.path.join(runtime.root_dir, "sandboxes", a, "resolv.conf")).read() == (
        "nameserver 198.19.0.10\nsearch default.svc\n"
    )
    await runtime.remove_pod_sandbox(b)
    await runtime.remove_pod_sandbox(b)  # idempotent
    with pytest.raises(NotFoundError):
        await runtime.pod_sandbox_status(b)


def fake_start(runtime, cid, pid, start_time, shim_pid=0, shim_start=None):
    cdir = os.path.join(runtime.root_dir, "containers", cid)
    write_json(os.path.join(cdir, "started.json"), {"pid": pid, "pid_start_time": start_time, "started_at": 5,
                                                    "shim_pid": shim_pid, "shim_start_time": shim_start})
    return cdir


@pytest.mark.parametrize(
    "setup,state,exit_code,reason",
    [
        ("none", ContainerState.CONTAINER_CREATED, 0, ""),
        ("alive", ContainerState.CONTAINER_RUNNING, 0, ""),
        ("pid-reused", ContainerState.CONTAINER_UNKNOWN, 0, "Unknown"),
        ("exited", ContainerState.CONTAINER_EXITED, 3, "Error"),
    ],
    ids=["created", "running", "pid-reused", "exited"],
)
async def test_adoption_reads_state_from_files(tmp_path, setup, state, exit_code, reason):
    """A second runtime on the same root derives every container's state from the files the shim wrote."""
    first = ProcessRuntime(str(tmp_path / "root"), namespaces=False, cgroups=False)
    sid = await first.run_pod_sandbox(sandbox_config())
    cid = await first.create_container(sid, container_config(), sandbox_config())
    me, my_start = os.getpid(), proc_start_time(os.getpid())
    if setup == "alive":  # this very test process stands for the container's
        fake_start(first, cid, me, my_start)
    elif setup == "pid-reused":  # same PID, another start time: not our process any more
        fake_start(first, cid, me, my_start - 1)
    elif setup == "exited":
        cdir = fake_start(first, cid, me, my_start - 1)
        write_json(os.path.join(cdir, "exited.json"),
                   {"exit_code": 3, "signal": 0, "finished_at": 9, "reason": "Error", "message": ""})
    del first
    second = ProcessRuntime(str(tmp_path / "root"), namespaces=False, cgroups=False)
    [c] = await second.list_containers(ContainerFilter(label_selector={LABEL_CONTAINER_NAME: "app"}))
    status = await second.container_status(c.id)
    assert (c.id, c.pod_sandbox_id, c.state) == (cid, sid, state)
    assert (status.state, status.exit_code, status.reason) == (state, exit_code, reason)
    assert status.pid == (me if state == ContainerState.CONTAINER_RUNNING else 0)
    assert await second.list_containers(ContainerFilter(state=state)) == [c]


def test_process_runtime_satisfies_the_interface(runtime):
    from kybernetes.kubelet.runtime.interface import ContainerRuntime

    assert isinstance(runtime, ContainerRuntime)

"""A stand-in for the kubelet core in server tests: pods given by the test, containers run by a real runtime."""

from __future__ import annotations

import os
from typing import Any

from kybernetes.kubelet.runtime.interface import (
    LABEL_CONTAINER_NAME,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    ContainerConfig,
    ContainerFilter,
    ContainerMetadata,
    ImageSpec,
    PodSandboxConfig,
    PodSandboxMetadata,
)


class FakeKubelet:
    """pod_for / container_id / pods over a dict of pods and the runtime's labelled containers."""

    def __init__(self, runtime: Any, node_name: str = "node-1") -> None:
        self.runtime = runtime
        self.node_name = node_name
        self._pods: dict[tuple[str, str], dict] = {}

    def add_pod(self, pod: dict) -> None:
        md = pod["metadata"]
        self._pods[(md.get("namespace", "default"), md["name"])] = pod

    def pod_for(self, namespace: str, name: str) -> dict | None:
        return self._pods.get((namespace, name))

    def pods(self) -> list[dict]:
        return list(self._pods.values())

    async def container_id(self, pod_uid: str, container_name: str, previous: bool = False) -> str | None:
        found = await self.runtime.list_containers(ContainerFilter(
            label_selector={LABEL_POD_UID: pod_uid, LABEL_CONTAINER_NAME: container_name}))
        found.sort(key=lambda c: c.created_at)
        if previous:
            return found[-2].id if len(found) >= 2 else None
        return found[-1].id if found else None


def pod_object(name: str, containers: list[str], *, namespace: str = "default", uid: str | None = None,
               node: str = "node-1") -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": uid or f"uid-{name}"},
            "spec": {"nodeName": node, "containers": [{"name": c, "image": "busybox"} for c in containers]},
            "status": {"phase": "Running"}}


async def run_pod(runtime: Any, log_root: str, pod: dict, commands: dict[str, list[str]], **container_kw: Any) -> str:
    """Start a sandbox and one container per entry of `commands`, labelled as the kubelet labels them."""
    md = pod["metadata"]
    labels = {LABEL_POD_NAME: md["name"], LABEL_POD_NAMESPACE: md["namespace"], LABEL_POD_UID: md["uid"]}
    sandbox = PodSandboxConfig(PodSandboxMetadata(md["name"], md["namespace"], md["uid"]), hostname=md["name"],
                               log_directory=os.path.join(log_root, f"{md['namespace']}_{md['name']}_{md['uid']}"),
                               labels=labels)
    sid = await runtime.run_pod_sandbox(sandbox)
    for name, argv in commands.items():
        await start_container(runtime, sid, sandbox, name, argv, **container_kw)
    return sid


async def start_container(runtime: Any, sid: str, sandbox: PodSandboxConfig, name: str, argv: list[str],
                          attempt: int = 0, **kw: Any) -> str:
    config = ContainerConfig(ContainerMetadata(name, attempt), ImageSpec("busybox"), command=argv,
                             labels={**sandbox.labels, LABEL_CONTAINER_NAME: name},
                             log_path=f"{name}/{attempt}.log", **kw)
    cid = await runtime.create_container(sid, config, sandbox)
    await runtime.start_container(cid)
    return cid

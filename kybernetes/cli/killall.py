"""`kybernetes killall`: stop every container the node's kubelet left running (they outlive server restarts), and
remove their cgroups, the pod network and the address ranges the server pinned."""

from __future__ import annotations

import os
import shutil

from kybernetes.cli.routes import unpin_recorded
from kybernetes.kubelet.runtime.process import ProcessRuntime


async def stop_all_containers(runtime_dir: str) -> int:
    """Stop every container and sandbox of a process runtime (and what else a killed server or agent on that data
    dir left: its pod network, its pinned address ranges); returns how many containers were running."""
    kubelet_dir = os.path.dirname(os.path.abspath(runtime_dir))
    running = await _stop_runtime(runtime_dir, kubelet_dir) if os.path.isdir(runtime_dir) else 0
    await unpin_recorded(os.path.dirname(kubelet_dir))  # the ranges a killed server or agent left pinned
    return running


async def _stop_runtime(runtime_dir: str, kubelet_dir: str) -> int:
    """The containers, sandboxes, cgroups and pod network of one kubelet's process runtime."""
    rt = ProcessRuntime(runtime_dir)
    containers = await rt.list_containers()
    running = 0
    for c in containers:
        if getattr(c, "state", "") == "CONTAINER_RUNNING":
            running += 1
        try:
            await rt.stop_container(c.id, 0)
        except Exception:  # noqa: BLE001 - best effort: keep stopping the rest
            pass
    for sb in await rt.list_pod_sandbox():
        try:
            await rt.stop_pod_sandbox(sb.id)
        except Exception:  # noqa: BLE001
            pass
    await rt.remove_stopped_cgroups()  # the containers' cgroups, empty now (a restarted kubelet makes new ones)
    if os.geteuid() == 0 and shutil.which("ip"):  # the pods' namespaces, the node bridge, its nft table and routes
        from kybernetes.kubelet.network.bridge import remove_node_network

        await remove_node_network(kubelet_dir)
    rt.close()
    return running

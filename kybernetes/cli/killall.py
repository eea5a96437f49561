"""`kybernetes killall`: stop every container the node's kubelet left running (they outlive server restarts), and
remove their cgroups and the pod network."""

from __future__ import annotations

import os
import shutil

from kybernetes.kubelet.runtime.process import ProcessRuntime


async def stop_all_containers(runtime_dir: str) -> int:
    """Stop every container and sandbox of a process runtime; returns how many containers were running."""
    if not os.path.isdir(runtime_dir):
        return 0
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

        await remove_node_network(os.path.dirname(os.path.abspath(runtime_dir)))
    return running

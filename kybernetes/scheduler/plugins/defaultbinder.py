"""DefaultBinder: binds a pod by POSTing a Binding to pods/NAME/binding."""

from __future__ import annotations

from typing import Any

from kybernetes.client.rest import ApiError, resource_path
from kybernetes.scheduler.framework.interface import SUCCESS, CycleState, Handle, PodInfo, Status

NAME = "DefaultBinder"


class DefaultBinder:
    name = NAME

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        md = pod.pod.get("metadata") or {}
        ns, name = md.get("namespace", "default"), md.get("name", "")
        body = {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": name, "namespace": ns, "uid": md.get("uid")},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}
        try:
            await self.handle.client.create(resource_path("", "v1", "pods", ns, name, "binding"), body)
        except ApiError as e:
            return Status.error(e.message or str(e))
        return SUCCESS


def new(args: dict[str, Any], handle: Handle) -> DefaultBinder:
    return DefaultBinder(handle)

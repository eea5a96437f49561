"""DefaultBinder: binds a pod by POSTing a Binding to pods/NAME/binding."""

from __future__ import annotations

import asyncio
from typing import Any

from kybernetes.client.rest import ApiError, resource_path
from kybernetes.scheduler.framework.interface import SUCCESS, CycleState, Handle, PodInfo, Status

NAME = "DefaultBinder"
# Bindings in flight at once. The binding cycle is asynchronous and the scheduling cycle keeps assuming pods while
# bindings wait here; the bound keeps the HTTP/1.1 connection pool small and reused (unbounded bursts opened a new
# TLS connection per request, a handshake each on both sides), and more requests than this in flight do not make
# one apiserver any faster.
MAX_BINDINGS_IN_FLIGHT = 32


class DefaultBinder:
    name = NAME

    def __init__(self, handle: Handle, max_in_flight: int = MAX_BINDINGS_IN_FLIGHT) -> None:
        self.handle = handle
        self.max_in_flight = max_in_flight
        self._slots: asyncio.Semaphore | None = None  # made in the running loop at the first bind

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        md = pod.pod.get("metadata") or {}
        ns, name = md.get("namespace", "default"), md.get("name", "")
        body = {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": name, "namespace": ns, "uid": md.get("uid")},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_in_flight)
        try:
            async with self._slots:
                await self.handle.client.create(resource_path("", "v1", "pods", ns, name, "binding"), body)
        except ApiError as e:
            return Status.error(e.message or str(e))
        return SUCCESS


def new(args: dict[str, Any], handle: Handle) -> DefaultBinder:
    return DefaultBinder(handle)

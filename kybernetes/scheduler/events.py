"""Event recording for the scheduler: core/v1 Events (Scheduled, FailedScheduling, ...) posted in the background
through a bounded buffer that drops when full, as client-go's event broadcaster does."""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from typing import Any

from kybernetes.client.rest import ApiError, RESTClient, resource_path

log = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 1024
BUFFER = 1000


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class EventRecorder:
    """recorder(obj, type, reason, action, message): queue an Event about obj; `run()` posts them."""

    def __init__(self, client: RESTClient, *, component: str = "default-scheduler", instance: str = "",
                 workers: int = 4, buffer: int = BUFFER) -> None:
        self.client = client
        self.component, self.instance = component, instance
        self.workers = workers
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(buffer)
        self.dropped = 0

    def __call__(self, obj: dict[str, Any], event_type: str, reason: str, action: str, message: str) -> None:
        md = obj.get("metadata") or {}
        ns = md.get("namespace") or "default"
        now = _now()
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{md.get('name', '')}.{time.time_ns():x}", "namespace": ns},
            "involvedObject": {"apiVersion": obj.get("apiVersion", "v1"), "kind": obj.get("kind", "Pod"),
                               "namespace": ns, "name": md.get("name", ""), "uid": md.get("uid", ""),
                               "resourceVersion": md.get("resourceVersion", "")},
            "reason": reason, "message": message[:MAX_MESSAGE_LENGTH], "type": event_type, "action": action,
            "source": {"component": self.component}, "reportingComponent": self.component,
            "reportingInstance": self.instance, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "eventTime": _micro_now(),
        }
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self) -> None:
        await asyncio.gather(*(self._worker() for _ in range(self.workers)))

    async def _worker(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self.client.create(resource_path("", "v1", "events", event["metadata"]["namespace"]), event)
            except asyncio.CancelledError:
                raise
            except (ApiError, OSError, asyncio.TimeoutError, Exception) as e:  # events are best effort
                log.debug("event %s dropped: %s", event["reason"], e)

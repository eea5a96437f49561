"""Event recording for the scheduler: core/v1 Events (Scheduled, FailedScheduling, ...) posted in the background
through a bounded buffer that drops when full, as client-go's event broadcaster does, after client-go's
EventCorrelator (kybernetes.client.record): a repeat of an event already written (the same FailedScheduling
message for the same pod) PATCHes its count instead of creating another, similar events with many different
messages are aggregated, and a per-pod spam filter (burst 25, then one per 5 minutes) drops the rest."""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from typing import Any

from kybernetes.client.record import EventCorrelator
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
                 workers: int = 4, buffer: int = BUFFER, correlator: EventCorrelator | None = None) -> None:
        self.client = client
        self.component, self.instance = component, instance
        self.workers = workers
        self.correlator = correlator if correlator is not None else EventCorrelator()
        self._queue: asyncio.Queue[tuple[dict[str, Any], dict[str, Any] | None]] = asyncio.Queue(buffer)
        self.dropped = 0  # buffer full
        self.filtered = 0  # dropped by the spam filter

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
        result = self.correlator.correlate(event)
        if result.skip:
            self.filtered += 1
            return
        try:
            self._queue.put_nowait((result.event, result.patch))
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self) -> None:
        await asyncio.gather(*(self._worker() for _ in range(self.workers)))

    async def _worker(self) -> None:
        while True:
            event, patch = await self._queue.get()
            try:
                await self._write(event, patch)
            except asyncio.CancelledError:
                raise
            except (ApiError, OSError, asyncio.TimeoutError, Exception) as e:  # events are best effort
                log.debug("event %s dropped: %s", event["reason"], e)

    async def _write(self, event: dict[str, Any], patch: dict[str, Any] | None) -> None:
        """Create the event, or PATCH the one it repeats (created again if that one is gone)."""
        md = event["metadata"]
        path = resource_path("", "v1", "events", md["namespace"])
        stored = None
        if patch is not None:
            try:
                stored = await self.client.patch(f"{path}/{md['name']}", patch, "strategic")
            except ApiError as e:
                if not e.not_found:
                    raise
        if stored is None:
            stored = await self.client.create(path, {**event, "metadata": {"name": md["name"],
                                                                           "namespace": md["namespace"]}})
        if isinstance(stored, dict):
            self.correlator.update_state(stored)

"""The scheduler's event recorder: repeats PATCH the event they repeat, a pod's flood of events is spam-filtered."""

from __future__ import annotations

import asyncio
from typing import Any

from kybernetes.client.record import EventCorrelator
from kybernetes.scheduler.events import EventRecorder

from .builders import make_pod


class Client:
    """Stores created events (with a resourceVersion) and applies count/message patches."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.events: dict[str, dict[str, Any]] = {}

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("POST", path))
        stored = {**body, "metadata": {**body["metadata"], "resourceVersion": str(len(self.calls))}}
        self.events[body["metadata"]["name"]] = stored
        return stored

    async def patch(self, path: str, body: dict[str, Any], patch_type: str = "merge") -> dict[str, Any]:
        self.calls.append(("PATCH", path))
        stored = self.events[path.rsplit("/", 1)[1]]
        stored.update(body)
        return stored


async def _record(pod: dict[str, Any], messages: list[str]) -> tuple[Client, EventRecorder]:
    client = Client()
    rec = EventRecorder(client, workers=1, correlator=EventCorrelator(clock=lambda: 1000.0))  # type: ignore[arg-type]
    worker = asyncio.create_task(rec.run())
    for msg in messages:
        rec(pod, "Warning", "FailedScheduling", "Scheduling", msg)
        await asyncio.sleep(0.01)
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    return client, rec


async def test_repeated_failed_scheduling_patches_the_count() -> None:
    client, _ = await _record(make_pod("p"), ["0/3 nodes are available: 3 Insufficient cpu."] * 3)
    assert [m for m, _ in client.calls] == ["POST", "PATCH", "PATCH"]
    (event,) = client.events.values()
    assert event["count"] == 3


async def test_a_pods_flood_of_events_is_spam_filtered() -> None:
    client, rec = await _record(make_pod("p"), [f"0/{i} nodes are available" for i in range(40)])
    assert len(client.calls) == 25  # the default burst per object
    assert rec.filtered == 15
    assert any(e["message"].startswith("(combined from similar events): ") for e in client.events.values())

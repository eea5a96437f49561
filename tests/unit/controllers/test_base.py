"""QueueWorker: results map onto forget / requeue-after / rate-limited retry; one key is never run twice at once."""

from __future__ import annotations

import asyncio

import pytest

from kybernetes.client import FakeClock, ItemExponentialFailureRateLimiter
from kybernetes.controllers.base import QueueWorker, Result, TerminalError


@pytest.mark.parametrize("outcome,want_waiting,want_requeues", [
    (Result(), 0, 0),
    (Result(requeue_after=5.0), 1, 0),
    (Result(requeue=True), 1, 1),
    (RuntimeError("boom"), 1, 1),
    (TerminalError("bad spec"), 0, 0),
], ids=["done", "requeue-after", "requeue", "error-backs-off", "terminal"])
async def test_outcomes(outcome: object, want_waiting: int, want_requeues: int) -> None:
    clock = FakeClock()

    async def reconcile(key: str) -> Result:
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[return-value]

    w = QueueWorker("t", reconcile, rate_limiter=ItemExponentialFailureRateLimiter(1.0, 10.0), clock=clock)
    w.enqueue("ns/a")
    assert await w.process_next()
    assert w.queue.num_waiting() == want_waiting
    assert w.queue.num_requeues("ns/a") == want_requeues
    assert w.retries == want_requeues
    clock.step(11)
    assert len(w.queue) == want_waiting


async def test_one_worker_per_key_and_dedup() -> None:
    running: set[str] = set()
    overlaps = 0
    calls = 0

    async def reconcile(key: str) -> Result:
        nonlocal overlaps, calls
        calls += 1
        if key in running:
            overlaps += 1
        running.add(key)
        await asyncio.sleep(0.01)
        running.discard(key)
        return Result()

    w = QueueWorker("t", reconcile)
    task = asyncio.create_task(w.run(4))
    for _ in range(5):
        w.enqueue("ns/a")
        await asyncio.sleep(0.002)
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert overlaps == 0
    assert 1 < calls < 5  # re-adds during processing fold into one more run

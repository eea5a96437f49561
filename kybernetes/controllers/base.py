"""QueueWorker: the key queue + N workers + reconcile(key) loop every controller is built on.

How to use it (for every controller of this package)::

    class MyController:
        name = "my"

        def __init__(self, ctx: ControllerContext) -> None:
            self.pods = ctx.informers.informer_for("", "v1", "pods")
            self.worker = QueueWorker(self.name, self.reconcile)
            self.pods.add_event_handler(on_add=self.worker.enqueue_object, ...)

        async def reconcile(self, key: str) -> Result:
            obj = self.pods.store.get_by_key(key)   # read the cache, never the event
            if obj is None:
                return Result()                        # NotFound is done
            ...                                        # compare, then write through ctx.client
            return Result(requeue_after=30.0)          # or Result() when nothing is left to do

        async def run(self, workers: int) -> None:
            await self.worker.run(workers)

Contract: `reconcile(key)` gets only a "namespace/name" key, must be idempotent and level-based, and may be
re-run at any time. A given key is never reconciled by two workers at once (the WorkQueue's processing set).
Outcomes: `Result()` = done (failures forgotten); `Result(requeue_after=s)` = done, look again in s seconds;
`Result(requeue=True)` = retry with the rate limiter's back-off; raising an exception = log it, retry with
back-off (client-go's `AddRateLimited`); raising `TerminalError` = log it and do not retry.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from kybernetes.client import RateLimiter, RateLimitingQueue, meta_namespace_key
from kybernetes.client.clock import Clock
from kybernetes.client.workqueue import QueueShutDown

log = logging.getLogger(__name__)


class Result(NamedTuple):
    """What reconcile asks of the queue: retry with back-off (`requeue`) or look again after a delay."""

    requeue: bool = False
    requeue_after: float = 0.0


class TerminalError(Exception):
    """A reconcile failure that retrying cannot fix: logged, not retried."""


Reconcile = Callable[[str], Awaitable[Result | None]]

_WORKERS: weakref.WeakSet[QueueWorker] = weakref.WeakSet()


def all_workers() -> list[QueueWorker]:
    """Every live QueueWorker of this process (the controller manager's /metrics reads their counters)."""
    return list(_WORKERS)


class QueueWorker:
    """A rate-limited key queue drained by N workers that call `reconcile(key)`."""

    def __init__(self, name: str, reconcile: Reconcile, *, rate_limiter: RateLimiter | None = None,
                 clock: Clock | None = None) -> None:
        self.name = name
        self.reconcile = reconcile
        self.queue: RateLimitingQueue[str] = RateLimitingQueue(rate_limiter, name=name, clock=clock)
        self.adds = 0
        self.retries = 0
        self.reconciles = 0
        self.errors = 0
        _WORKERS.add(self)

    # -- producers (event handlers call these) ----------------------------------------------------------------

    def enqueue(self, key: str) -> None:
        self.adds += 1
        self.queue.add(key)

    def enqueue_after(self, key: str, delay: float) -> None:
        self.adds += 1
        self.queue.add_after(key, delay)

    def enqueue_rate_limited(self, key: str) -> None:
        self.adds += 1
        self.retries += 1
        self.queue.add_rate_limited(key)

    def enqueue_object(self, obj: dict[str, Any], new: dict[str, Any] | None = None) -> None:
        """Enqueue the key of `obj`; usable directly as on_add/on_delete, and as on_update (enqueues `new`)."""
        self.enqueue(meta_namespace_key(new if new is not None else obj))

    def depth(self) -> int:
        return len(self.queue)

    # -- consumers --------------------------------------------------------------------------------------------

    async def process_next(self) -> bool:
        """Take one key, reconcile it, and settle it in the queue; False once the queue is shut down."""
        try:
            key = await self.queue.get()
        except QueueShutDown:
            return False
        try:
            await self._reconcile_one(key)
        finally:
            self.queue.done(key)
        return True

    async def _reconcile_one(self, key: str) -> None:
        self.reconciles += 1
        try:
            result = await self.reconcile(key) or Result()
        except asyncio.CancelledError:
            raise
        except TerminalError as e:
            self.errors += 1
            log.error("%s: %s: %s (not retried)", self.name, key, e)
            self.queue.forget(key)
            return
        except Exception as e:  # noqa: BLE001 - any failure is retried with back-off
            self.errors += 1
            level = logging.DEBUG if getattr(e, "conflict", False) else logging.WARNING
            log.log(level, "%s: error syncing %r: %s", self.name, key, e,
                    exc_info=not hasattr(e, "code") and level == logging.WARNING)
            self.enqueue_rate_limited(key)
            return
        if result.requeue_after > 0:
            self.queue.forget(key)
            self.enqueue_after(key, result.requeue_after)
        elif result.requeue:
            self.enqueue_rate_limited(key)
        else:
            self.queue.forget(key)

    async def run(self, workers: int) -> None:
        """Run `workers` workers until cancelled; then shut the queue down."""
        tasks = [asyncio.create_task(self._work(), name=f"{self.name}-worker-{i}") for i in range(max(1, workers))]
        try:
            await asyncio.gather(*tasks)
        finally:
            self.queue.shutdown()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _work(self) -> None:
        while await self.process_next():
            pass

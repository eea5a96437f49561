"""client-go's work queues for asyncio: de-duplicating WorkQueue, DelayingQueue, RateLimitingQueue.

Contract (as client-go's): an item added while queued is stored once (the dirty set); an item handed out by
`get` is not handed out again until `done` is called for it (the processing set); an item added while being
processed is queued again by `done`. Items must be hashable (usually "namespace/name" keys).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from kybernetes.client.clock import Clock, RealClock, TimerHandle
from kybernetes.client.ratelimit import RateLimiter, default_controller_rate_limiter

T = TypeVar("T", bound=Hashable)


class QueueShutDown(Exception):
    """`get` on a queue that is shut down and has nothing left to hand out."""


class WorkQueue(Generic[T]):
    """A FIFO of distinct items; at most one worker holds a given item at a time."""

    def __init__(self, *, name: str = "", clock: Clock | None = None) -> None:
        self.name = name
        self.clock = clock or RealClock()
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        self._drained: asyncio.Event | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def __bool__(self) -> bool:  # an empty queue is still a queue: `queue or default` must not replace it
        return True

    def add(self, item: T) -> None:
        """Mark `item` as needing processing; no-op if already queued or the queue is shutting down."""
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item in self._processing:
            return  # `done` will put it back
        self._queue.append(item)
        self._wake_one()

    async def get(self) -> T:
        """Wait for the next item and mark it as processing; raise QueueShutDown once shut down and empty."""
        while not self._queue:
            if self._shutting_down:
                raise QueueShutDown(self.name)
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # we were woken for an item we will not take: pass it on
                else:
                    self._waiters.remove(waiter)
                raise
        item = self._queue.popleft()
        self._processing.add(item)
        self._dirty.discard(item)
        return item

    def done(self, item: T) -> None:
        """The worker finished `item`; if it was re-added meanwhile, it is queued again now."""
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_one()
        if not self._processing and self._drained is not None:
            self._drained.set()

    def shutdown(self) -> None:
        """Refuse new items; waiting getters wake up and raise QueueShutDown once the queue is empty."""
        self._shutting_down = True
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(None)

    async def shutdown_with_drain(self) -> None:
        """Shut down, then wait until every item handed out has been marked done."""
        self.shutdown()
        if self._processing:
            self._drained = asyncio.Event()
            await self._drained.wait()

    def shutting_down(self) -> bool:
        return self._shutting_down

    def _wake_one(self) -> None:
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(None)
                return


class DelayingQueue(WorkQueue[T]):
    """A WorkQueue with `add_after`: items become ready after a delay measured on the (injectable) clock."""

    def __init__(self, *, name: str = "", clock: Clock | None = None) -> None:
        super().__init__(name=name, clock=clock)
        self._waiting: dict[T, tuple[float, TimerHandle]] = {}

    def add_after(self, item: T, delay: float) -> None:
        """Add `item` after `delay` seconds; if it is already waiting, the earlier ready time wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        ready_at = self.clock.now() + delay
        current = self._waiting.get(item)
        if current is not None:
            if current[0] <= ready_at:
                return
            current[1].cancel()
        handle = self.clock.call_later(delay, lambda: self._fire(item))
        self._waiting[item] = (ready_at, handle)

    def _fire(self, item: T) -> None:
        self._waiting.pop(item, None)
        self.add(item)

    def shutdown(self) -> None:
        for _, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        super().shutdown()

    def num_waiting(self) -> int:
        return len(self._waiting)


class RateLimitingQueue(DelayingQueue[T]):
    """A DelayingQueue whose retries are paced by a RateLimiter (client-go's default unless one is given)."""

    def __init__(self, rate_limiter: RateLimiter | None = None, *, name: str = "",
                 clock: Clock | None = None) -> None:
        super().__init__(name=name, clock=clock)
        self.rate_limiter = rate_limiter or default_controller_rate_limiter(clock=self.clock)

    def add_rate_limited(self, item: T) -> None:
        """Add `item` once the rate limiter allows it (counts one more failure for it)."""
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """Stop tracking `item`'s failures (call after it was processed successfully)."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)

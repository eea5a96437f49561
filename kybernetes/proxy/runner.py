"""BoundedFrequencyRunner: run a sync when asked, at most once per min_interval and at least once per max_interval."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class BoundedFrequencyRunner:
    """Coalesces `run()` requests into syncs spaced by at least `min_interval` seconds.

    A sync that raises is retried after `retry_interval`; with nothing requested, a sync still happens
    every `max_interval` seconds (level-triggered resync). `fn` must be idempotent.
    """

    def __init__(self, name: str, fn: Callable[[], Awaitable[None]], *, min_interval: float, max_interval: float,
                 retry_interval: float = 1.0) -> None:
        self.name = name
        self.fn = fn
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.retry_interval = retry_interval
        self._wake = asyncio.Event()
        self._last = -float("inf")
        self.runs = 0

    def run(self) -> None:
        """Ask for a sync soon (never more often than min_interval)."""
        self._wake.set()

    async def loop(self, stop: asyncio.Event | None = None) -> None:
        """Run until cancelled (or `stop` is set)."""
        timeout = self.max_interval
        while stop is None or not stop.is_set():
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            wait = self._last + self.min_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._wake.clear()
            self._last = time.monotonic()
            timeout = self.max_interval
            try:
                await self.fn()
                self.runs += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: sync failed; retrying in %.1fs", self.name, self.retry_interval)
                timeout = self.retry_interval

"""Fan-out of committed events to live watchers, each with a bounded buffer, on the event loop."""

from __future__ import annotations

import asyncio

from kybernetes.storage.interface import CompactedError, Event


class WatchOverflowError(CompactedError):
    """A watcher fell too far behind and its buffer overflowed; the caller must re-list.

    A CompactedError, so callers that already map "too old" to 410 Gone (and re-list) handle it:
    requested is the last revision delivered, compacted the first revision that was dropped.
    """


class Watcher:
    """One live subscription: the events under prefix published since it registered."""

    def __init__(self, prefix: str, *, limit: int, after: int) -> None:
        self.prefix = prefix
        self.limit = limit
        self.after = after  # revision published when it registered: it receives what follows
        self._pending: list[Event] = []
        self._wakeup = asyncio.Event()
        self._error: Exception | None = None
        self._closed = False

    def push(self, events: list[Event]) -> None:
        if self._error is not None or self._closed:
            return
        matched = [e for e in events if e.kv.key.startswith(self.prefix)] if self.prefix else events
        if not matched:
            return
        if len(self._pending) + len(matched) > self.limit:
            first = self._pending[0].revision if self._pending else matched[0].revision
            self._error = WatchOverflowError(first - 1, first)
            self._pending = []
        else:
            self._pending.extend(matched)
        self._wakeup.set()

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    async def next_batch(self) -> list[Event] | None:
        """The events buffered so far (waiting for at least one); None once closed; raises on overflow."""
        while not self._pending:
            if self._error is not None:
                raise self._error
            if self._closed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        batch, self._pending = self._pending, []
        return batch


class WatchHub:
    """Live watchers and the last revision published to them; used from the event loop only."""

    def __init__(self, revision: int, *, buffer_limit: int) -> None:
        self.revision = revision
        self.buffer_limit = buffer_limit
        self._watchers: set[Watcher] = set()

    def register(self, prefix: str) -> Watcher:
        watcher = Watcher(prefix, limit=self.buffer_limit, after=self.revision)
        self._watchers.add(watcher)
        return watcher

    def unregister(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    def publish(self, revision: int, events: list[Event]) -> None:
        """Hand the events of a commit (revisions up to revision) to every watcher."""
        self.revision = revision
        if events:
            for watcher in list(self._watchers):
                watcher.push(events)

    def close(self) -> None:
        for watcher in list(self._watchers):
            watcher.close()
        self._watchers.clear()

    def __len__(self) -> int:
        return len(self._watchers)

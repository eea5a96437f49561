"""Container restart back-off, as client-go's flowcontrol.Backoff used by upstream's kuberuntime manager.

A key (pod uid + container name) gets `base` after its first restart, then doubles up to `max`. An entry whose
last restart is older than 2*max at the container's exit is forgotten (so 10 minutes of running resets the
back-off with upstream's 5 minute maximum).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Entry:
    backoff: float
    last_update: float


class Backoff:
    """`in_backoff_since(key, finished_at)` asks whether a restart must still wait; `next(key, t)` records one."""

    def __init__(self, base: float, max_duration: float, clock: Callable[[], float] = time.time) -> None:
        self.base = base
        self.max = max_duration
        self.clock = clock
        self._entries: dict[str, _Entry] = {}

    def _expired(self, event_time: float, entry: _Entry) -> bool:
        return event_time - entry.last_update > 2 * self.max

    def get(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.backoff if entry else 0.0

    def in_backoff_since(self, key: str, event_time: float) -> bool:
        """True while less than the current back-off has passed since `event_time` (the container's exit)."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            return False
        return self.clock() - event_time < entry.backoff

    def remaining(self, key: str, event_time: float) -> float:
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        return max(0.0, entry.backoff - (self.clock() - event_time))

    def next(self, key: str, event_time: float) -> None:
        """Record a restart at `event_time`: start at `base`, else double up to `max`."""
        now = self.clock()
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            self._entries[key] = _Entry(self.base, now)
        else:
            entry.backoff = min(entry.backoff * 2, self.max)
            entry.last_update = now

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def gc(self, keep: Callable[[str], bool]) -> None:
        for key in [k for k in self._entries if not keep(k)]:
            del self._entries[key]

"""Controller expectations: how many creates/deletes a controller still waits to see through its informers.

As upstream's ControllerExpectations: a controller that just issued N creates must not act on its (lagging)
cache again until the informer has shown it those N pods, or until EXPECTATIONS_TIMEOUT passes (a lost watch
event must not wedge it forever). UIDTrackingControllerExpectations also remembers *which* pods it deletes,
so a delete observed twice (an update with deletionTimestamp, then the DELETED event) counts once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

EXPECTATIONS_TIMEOUT = 5 * 60.0


@dataclass
class ControlleeExpectations:
    """Outstanding adds and deletes of one controller, and when they were set."""

    add: int
    delete: int
    timestamp: float

    def fulfilled(self) -> bool:
        return self.add <= 0 and self.delete <= 0


class ControllerExpectations:
    """controller key -> ControlleeExpectations. Thread-safe; `clock` is monotonic seconds (injectable)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.clock = clock
        self.timeout = timeout
        self._lock = threading.Lock()
        self._items: dict[str, ControlleeExpectations] = {}

    def get_expectations(self, key: str) -> ControlleeExpectations | None:
        with self._lock:
            return self._items.get(key)

    def satisfied_expectations(self, key: str) -> bool:
        """True when the controller may sync: no record, all observed, or the record expired."""
        with self._lock:
            exp = self._items.get(key)
        if exp is None:
            return True  # a new controller, or one whose expectations were deleted
        if exp.fulfilled():
            return True
        if self.clock() - exp.timestamp > self.timeout:
            log.info("expectations of %s expired (add %d, del %d)", key, exp.add, exp.delete)
            return True
        return False

    def set_expectations(self, key: str, add: int, delete: int) -> None:
        with self._lock:
            self._items[key] = ControlleeExpectations(add, delete, self.clock())

    def expect_creations(self, key: str, adds: int) -> None:
        self.set_expectations(key, adds, 0)

    def expect_deletions(self, key: str, dels: int) -> None:
        self.set_expectations(key, 0, dels)

    def lower_expectations(self, key: str, add: int, delete: int) -> None:
        with self._lock:
            exp = self._items.get(key)
            if exp is not None:
                exp.add -= add
                exp.delete -= delete

    def raise_expectations(self, key: str, add: int, delete: int) -> None:
        with self._lock:
            exp = self._items.get(key)
            if exp is not None:
                exp.add += add
                exp.delete += delete

    def creation_observed(self, key: str) -> None:
        self.lower_expectations(key, 1, 0)

    def deletion_observed(self, key: str) -> None:
        self.lower_expectations(key, 0, 1)

    def delete_expectations(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


class UIDTrackingControllerExpectations(ControllerExpectations):
    """ControllerExpectations that also track the keys of pods being deleted, so each deletion counts once."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        super().__init__(clock=clock, timeout=timeout)
        self._uids: dict[str, set[str]] = {}

    def get_uids(self, key: str) -> set[str] | None:
        with self._lock:
            uids = self._uids.get(key)
            return set(uids) if uids is not None else None

    def expect_deletions(self, key: str, deleted_keys: Iterable[str]) -> None:  # type: ignore[override]
        keys = set(deleted_keys)
        with self._lock:
            self._uids[key] = keys
        self.set_expectations(key, 0, len(keys))

    def deletion_observed(self, key: str, deleted_key: str = "") -> None:  # type: ignore[override]
        """Lower the deletions expected by `key` if `deleted_key` was one of them."""
        with self._lock:
            uids = self._uids.get(key)
            if uids is None or deleted_key not in uids:
                return
            uids.discard(deleted_key)
        self.lower_expectations(key, 0, 1)

    def delete_expectations(self, key: str) -> None:
        super().delete_expectations(key)
        with self._lock:
            self._uids.pop(key, None)

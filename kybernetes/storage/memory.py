"""An in-memory Store (no durability): the reference model of the storage contract, used by fast tests."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

from kybernetes.storage.interface import (
    CompactedError,
    Event,
    FutureRevisionError,
    KeyExistsError,
    KeyValue,
    RangeResult,
    WriteResult,
)


class MemoryStore:
    """Keeps the whole history in a list; revisions and watch semantics as the SQLite store."""

    def __init__(self) -> None:
        self._rev = 0
        self._compacted = 0
        self._log: list[Event] = []  # one event per revision, in order
        self._watchers: list[tuple[str, asyncio.Queue[list[Event] | None]]] = []
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for _, q in self._watchers:
            q.put_nowait(None)
        self._watchers.clear()

    async def current_revision(self) -> int:
        return self._rev

    async def compacted_revision(self) -> int:
        return self._compacted

    def _check_rev(self, revision: int) -> int:
        if revision == 0:
            return self._rev
        if revision > self._rev:
            raise FutureRevisionError(revision, self._rev)
        if revision < self._compacted:
            raise CompactedError(revision, self._compacted)
        return revision

    def _state_at(self, revision: int) -> dict[str, KeyValue]:
        state: dict[str, KeyValue] = {}
        for ev in self._log:
            if ev.revision > revision:
                break
            if ev.type == "PUT":
                state[ev.kv.key] = ev.kv
            else:
                state.pop(ev.kv.key, None)
        return state

    def _latest(self, key: str) -> KeyValue | None:
        for ev in reversed(self._log):
            if ev.kv.key == key:
                return ev.kv if ev.type == "PUT" else None
        return None

    async def get(self, key: str, *, revision: int = 0) -> tuple[int, KeyValue | None]:
        rev = self._check_rev(revision)
        if rev == self._rev:
            return rev, self._latest(key)
        return rev, self._state_at(rev).get(key)

    async def range(self, prefix: str, *, revision: int = 0, limit: int = 0,
                    start_key: str | None = None) -> RangeResult:
        rev = self._check_rev(revision)
        state = self._state_at(rev)
        keys = sorted(k for k in state if k.startswith(prefix) and (start_key is None or k >= start_key))
        page = keys[:limit] if limit else keys
        return RangeResult(rev, [state[k] for k in page], len(page) < len(keys), len(keys))

    def _append(self, ev: Event) -> None:
        self._log.append(ev)
        for prefix, q in self._watchers:
            if ev.kv.key.startswith(prefix):
                q.put_nowait([ev])

    async def create(self, key: str, value: bytes) -> KeyValue:
        async with self._lock:
            if self._latest(key) is not None:
                raise KeyExistsError(key)
            self._rev += 1
            kv = KeyValue(key, value, self._rev, self._rev)
            self._append(Event("PUT", kv))
            return kv

    async def update(self, key: str, value: bytes, *, mod_revision: int) -> WriteResult:
        async with self._lock:
            cur = self._latest(key)
            if cur is None or (mod_revision and cur.mod_revision != mod_revision):
                return WriteResult(False, self._rev, cur)
            self._rev += 1
            kv = KeyValue(key, value, cur.create_revision, self._rev)
            self._append(Event("PUT", kv, cur))
            return WriteResult(True, self._rev, kv)

    async def delete(self, key: str, *, mod_revision: int = 0) -> WriteResult:
        async with self._lock:
            cur = self._latest(key)
            if cur is None or (mod_revision and cur.mod_revision != mod_revision):
                return WriteResult(False, self._rev, cur)
            self._rev += 1
            self._append(Event("DELETE", KeyValue(key, b"", cur.create_revision, self._rev), cur))
            return WriteResult(True, self._rev, cur)

    async def watch(self, prefix: str, *, start_revision: int) -> AsyncIterator[list[Event]]:
        if start_revision and start_revision < self._compacted:
            raise CompactedError(start_revision, self._compacted)
        q: asyncio.Queue[list[Event] | None] = asyncio.Queue()
        history = [ev for ev in self._log if ev.revision > start_revision and ev.kv.key.startswith(prefix)]
        entry = (prefix, q)
        self._watchers.append(entry)
        try:
            for ev in history:
                yield [ev]
            while True:
                batch = await q.get()
                if batch is None:
                    return
                batch = [ev for ev in batch if ev.revision > start_revision]
                if batch:
                    yield batch
        finally:
            if entry in self._watchers:
                self._watchers.remove(entry)

    async def compact(self, revision: int) -> None:
        if revision <= self._compacted:
            return
        latest: dict[str, int] = {}
        for i, ev in enumerate(self._log):
            latest[ev.kv.key] = i
        keep = set(latest.values())
        self._log = [ev for i, ev in enumerate(self._log)
                     if ev.revision > revision or (i in keep and ev.type == "PUT")]
        self._compacted = revision

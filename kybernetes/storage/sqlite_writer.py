"""The single writer thread of the SQLite backend: group commit of CAS writes, compaction steps."""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any, Callable

from kybernetes.storage import sqlite_schema as sql
from kybernetes.storage.interface import Event, KeyExistsError, KeyValue, WriteResult

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WriteOp:
    """A request to the writer: create/update/delete a key, or compact the revisions (lo, hi]."""

    kind: str  # "create" | "update" | "delete" | "compact"
    future: asyncio.Future
    key: str = ""
    value: bytes = b""
    mod_revision: int = 0
    lo: int = 0
    hi: int = 0
    target: int = 0


# called on the event loop after each commit: (revision, events, [(future, result or exception)])
Committed = Callable[[int, list[Event], list[tuple[asyncio.Future, Any]]], None]


class Writer:
    """Owns the write connection; applies queued ops in order, many per transaction and fsync."""

    def __init__(self, conn: sqlite3.Connection, *, revision: int, loop: asyncio.AbstractEventLoop,
                 on_commit: Committed, max_batch: int = 512) -> None:
        self.conn = conn
        self.revision = revision  # last committed revision; read by the store as "latest"
        self._loop = loop
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[WriteOp | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="kybernetes-sqlite-writer", daemon=True)
        self.batches = 0  # commits done (for benchmarks and tests)

    def start(self) -> None:
        self._thread.start()

    def submit(self, op: WriteOp) -> None:
        self._queue.put(op)

    def stop(self) -> None:
        """Finish the queued ops, then end the thread (blocks; call from a worker thread)."""
        self._queue.put(None)
        self._thread.join()

    # --- the thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    op = self._queue.get_nowait()
                except queue.Empty:
                    break
                if op is None:
                    stopping = True
                    break
                batch.append(op)
            writes = [op for op in batch if op.kind != "compact"]
            if writes:
                self._commit_writes(writes)
            for op in batch:
                if op.kind == "compact":
                    self._commit_compaction(op)

    def _deliver(self, revision: int, events: list[Event], outcomes: list[tuple[asyncio.Future, Any]]) -> None:
        try:
            self._loop.call_soon_threadsafe(self._on_commit, revision, events, outcomes)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            log.debug("event loop closed; dropped %d outcomes", len(outcomes))

    def _commit_writes(self, ops: list[WriteOp]) -> None:
        rev = self.revision
        events: list[Event] = []
        outcomes: list[tuple[asyncio.Future, Any]] = []
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            for op in ops:
                rev, outcome, event = self._apply(op, rev)
                outcomes.append((op.future, outcome))
                if event is not None:
                    events.append(event)
            if rev != self.revision:
                self.conn.execute(sql.SET_META, (rev, "rev"))
            self.conn.execute("COMMIT")
        except Exception as exc:  # I/O failure: nothing of this batch happened
            log.exception("write batch failed")
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self._deliver(self.revision, [], [(op.future, exc) for op in ops])
            return
        self.revision = rev
        self.batches += 1
        self._deliver(rev, events, outcomes)

    def _apply(self, op: WriteOp, rev: int) -> tuple[int, Any, Event | None]:
        """Apply one op inside the open transaction: (new revision, outcome, event or None)."""
        conn = self.conn
        row = conn.execute(sql.SELECT_CURRENT, (op.key,)).fetchone()
        cur = KeyValue(op.key, row[2], row[0], row[1]) if row else None
        if op.kind == "create":
            if cur is not None:
                return rev, KeyExistsError(op.key), None
            rev += 1
            conn.execute(sql.INSERT_ROW, (rev, op.key, rev, 0, 0, op.value))
            conn.execute(sql.INSERT_CURRENT, (op.key, rev))
            kv = KeyValue(op.key, op.value, rev, rev)
            return rev, kv, Event("PUT", kv)
        if cur is None or (op.mod_revision and cur.mod_revision != op.mod_revision):
            return rev, WriteResult(False, rev, cur), None
        rev += 1
        if op.kind == "update":
            conn.execute(sql.INSERT_ROW, (rev, op.key, cur.create_revision, cur.mod_revision, 0, op.value))
            conn.execute(sql.UPDATE_CURRENT, (rev, op.key))
            kv = KeyValue(op.key, op.value, cur.create_revision, rev)
            return rev, WriteResult(True, rev, kv), Event("PUT", kv, cur)
        conn.execute(sql.INSERT_ROW, (rev, op.key, cur.create_revision, cur.mod_revision, 1, cur.value))
        conn.execute(sql.DELETE_CURRENT, (op.key,))
        return rev, WriteResult(True, rev, cur), Event("DELETE", KeyValue(op.key, b"", 0, rev), cur)

    def _commit_compaction(self, op: WriteOp) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(sql.SET_META, (op.target, "compact_rev"))
            self.conn.execute(sql.COMPACT_SUPERSEDED, (op.lo, op.hi))
            self.conn.execute(sql.COMPACT_TOMBSTONES, (op.lo, op.hi))
            self.conn.execute(sql.SET_META, (op.hi, "compact_done"))
            self.conn.execute("COMMIT")
        except Exception as exc:
            log.exception("compaction step failed")
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self._deliver(self.revision, [], [(op.future, exc)])
            return
        self._deliver(self.revision, [], [(op.future, None)])

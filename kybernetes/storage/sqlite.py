"""The embedded SQLite backend of the Store contract: one WAL-mode file holding a kine-style revision log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator, Callable

from kybernetes.storage import sqlite_schema as sql
from kybernetes.storage.interface import (
    CompactedError,
    Event,
    FutureRevisionError,
    KeyValue,
    RangeResult,
    WriteResult,
)
from kybernetes.storage.sqlite_writer import WriteOp, Writer
from kybernetes.storage.watch import WatchHub

log = logging.getLogger(__name__)

COMPACT_STEP = 1000  # revisions per compaction transaction
HISTORY_CHUNK = 1000  # log rows per catch-up read of a watch


class SQLiteStore:
    """Store on one SQLite file: a single group-committing writer thread, a pool of reader threads.

    The in-memory revision (the writer's last commit) is what "latest" means for reads; readers
    use their own connections and never wait for the writer.
    """

    def __init__(self, path: str, *, compaction_interval: float = 300.0, compaction_keep: int = 1000,
                 synchronous: str = "FULL", readers: int = 4, watch_buffer: int = 10_000,
                 max_batch: int = 512) -> None:
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA", "OFF"):
            raise ValueError(f"unknown synchronous mode {synchronous!r}")
        self.path = path
        self.compaction_interval = compaction_interval
        self.compaction_keep = compaction_keep
        self.synchronous = synchronous.upper()
        self._readers = readers
        self._watch_buffer = watch_buffer
        self._max_batch = max_batch
        self._writer: Writer | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._hub: WatchHub | None = None
        self._compact_rev = 0
        self._compact_done = 0
        self._compact_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        conn = await asyncio.to_thread(self._open_writer_conn)
        meta = dict(conn.execute(sql.SELECT_META).fetchall())
        revision = max(meta["rev"], conn.execute("SELECT COALESCE(MAX(id), 0) FROM kv").fetchone()[0])
        self._compact_rev, self._compact_done = meta["compact_rev"], meta["compact_done"]
        self._hub = WatchHub(revision, buffer_limit=self._watch_buffer)
        self._writer = Writer(conn, revision=revision, loop=loop, on_commit=self._on_commit,
                              max_batch=self._max_batch)
        self._writer.start()
        self._pool = ThreadPoolExecutor(self._readers, thread_name_prefix="kybernetes-sqlite-reader")
        if self._compact_done < self._compact_rev:  # a compaction was cut short: finish it
            self._spawn(self._compact_steps(self._compact_rev))
        if self.compaction_interval > 0:
            self._spawn(self._compaction_loop())

    def _open_writer_conn(self) -> sqlite3.Connection:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        conn = sql.connect(self.path, synchronous=self.synchronous)
        conn.executescript(sql.SCHEMA)
        return conn

    async def close(self) -> None:
        if self._closed or self._writer is None:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        assert self._hub is not None and self._pool is not None
        self._hub.close()
        await asyncio.to_thread(self._writer.stop)
        # let the writer's last outcomes reach their futures before the connection goes
        await asyncio.sleep(0)
        self._pool.shutdown(wait=True)
        with self._conns_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        self._writer.conn.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- revisions ---------------------------------------------------------------------------------
    async def current_revision(self) -> int:
        return self._require_writer().revision

    async def compacted_revision(self) -> int:
        return self._compact_rev

    def _require_writer(self) -> Writer:
        if self._writer is None or self._closed:
            raise RuntimeError("store is not started (or closed)")
        return self._writer

    def _read_revision(self, revision: int) -> int:
        """The revision a read runs at; raises for compacted and future revisions."""
        current = self._require_writer().revision
        if revision <= 0:
            return current
        if revision > current:
            raise FutureRevisionError(revision, current)
        self._check_compacted(revision)
        return revision

    def _check_compacted(self, revision: int) -> None:
        if revision < self._compact_rev:
            raise CompactedError(revision, self._compact_rev)

    # --- reads -------------------------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sql.connect(self.path, synchronous=self.synchronous, readonly=True)
            self._local.conn = conn
            with self._conns_lock:
                self._reader_conns.append(conn)
        return conn

    def _in_snapshot(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(conn, snapshot_revision, *args) inside one read transaction (a consistent snapshot)."""
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            snapshot = conn.execute(sql.SELECT_REV).fetchone()[0]
            return fn(conn, snapshot, *args)
        finally:
            conn.execute("COMMIT")

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        self._require_writer()
        assert self._pool is not None
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._in_snapshot, fn, *args)

    async def get(self, key: str, *, revision: int = 0) -> tuple[int, KeyValue | None]:
        rev = self._read_revision(revision)
        kv = await self._read(_get_sync, key, rev)
        self._check_compacted(rev)  # a compaction that started meanwhile may have cut the rows read
        return rev, kv

    async def range(self, prefix: str, *, revision: int = 0, limit: int = 0,
                    start_key: str | None = None) -> RangeResult:
        rev = self._read_revision(revision)
        kvs, more, count = await self._read(_range_sync, prefix, start_key, rev, max(limit, 0))
        self._check_compacted(rev)
        return RangeResult(revision=rev, kvs=kvs, more=more, count=count)

    # --- writes ------------------------------------------------------------------------------------
    async def _write(self, op: WriteOp) -> Any:
        self._require_writer().submit(op)
        return await op.future

    def _op(self, kind: str, key: str, value: bytes = b"", mod_revision: int = 0) -> WriteOp:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"value must be bytes, not {type(value).__name__}")
        return WriteOp(kind, asyncio.get_running_loop().create_future(), key, bytes(value), mod_revision)

    async def create(self, key: str, value: bytes) -> KeyValue:
        return await self._write(self._op("create", key, value))

    async def update(self, key: str, value: bytes, *, mod_revision: int) -> WriteResult:
        return await self._write(self._op("update", key, value, mod_revision))

    async def delete(self, key: str, *, mod_revision: int = 0) -> WriteResult:
        return await self._write(self._op("delete", key, b"", mod_revision))

    def _on_commit(self, revision: int, events: list[Event], outcomes: list[tuple[asyncio.Future, Any]]) -> None:
        """On the event loop after each commit: events to watchers first, then the writers' answers."""
        assert self._hub is not None
        self._hub.publish(revision, events)
        for future, outcome in outcomes:
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    # --- watch -------------------------------------------------------------------------------------
    async def watch(self, prefix: str, *, start_revision: int) -> AsyncIterator[list[Event]]:
        """Events with revision > start_revision under prefix: history from the log, then live ones."""
        self._require_writer()
        assert self._hub is not None
        self._check_compacted(start_revision)
        watcher = self._hub.register(prefix)  # from here on, every commit after watcher.after is buffered
        try:
            last = start_revision
            while last < watcher.after:
                events = await self._read(_history_sync, prefix, last, watcher.after, HISTORY_CHUNK)
                self._check_compacted(last)
                if events:
                    yield events
                    last = events[-1].revision
                if len(events) < HISTORY_CHUNK:
                    break
            last = max(last, watcher.after)
            while True:
                batch = await watcher.next_batch()
                if batch is None:
                    return
                if batch[0].revision <= last:
                    batch = [e for e in batch if e.revision > last]
                    if not batch:
                        continue
                yield batch
                last = batch[-1].revision
        finally:
            self._hub.unregister(watcher)

    # --- compaction --------------------------------------------------------------------------------
    async def compact(self, revision: int) -> None:
        """Forget history at and below revision; a revision already compacted is a no-op."""
        current = self._require_writer().revision
        if revision > current:
            raise FutureRevisionError(revision, current)
        async with self._compact_lock:
            if revision <= self._compact_rev:
                return
            self._compact_rev = revision  # reads below it fail from now on, before any row goes
            await self._compact_steps(revision)

    async def _compact_steps(self, target: int) -> None:
        lo = self._compact_done
        while lo < target:
            hi = min(lo + COMPACT_STEP, target)
            op = WriteOp("compact", asyncio.get_running_loop().create_future(), lo=lo, hi=hi, target=target)
            await self._write(op)
            self._compact_done = lo = hi

    async def _compaction_loop(self) -> None:
        """Every interval, compact to the revision seen one interval ago, keeping compaction_keep revisions."""
        seen = self._require_writer().revision
        while True:
            await asyncio.sleep(self.compaction_interval)
            current = self._require_writer().revision
            target = min(seen, current - self.compaction_keep)
            if target > self._compact_rev:
                try:
                    await self.compact(target)
                except Exception:
                    log.exception("periodic compaction to %d failed", target)
            seen = current


# --- reader-thread bodies (conn, snapshot revision, ...) --------------------------------------------
def _get_sync(conn: sqlite3.Connection, snapshot: int, key: str, rev: int) -> KeyValue | None:
    if snapshot == rev:
        row = conn.execute(sql.GET_LATEST, (key,)).fetchone()
        return KeyValue(key, row[2], row[0], row[1]) if row else None
    row = conn.execute(sql.GET_AT, (key, rev)).fetchone()
    if row is None or row[3]:
        return None
    return KeyValue(key, row[2], row[0], row[1])


def _range_sync(conn: sqlite3.Connection, snapshot: int, prefix: str, start_key: str | None, rev: int,
                limit: int) -> tuple[list[KeyValue], bool, int]:
    low, high = sql.key_bounds(prefix, start_key)
    bounds: tuple = (low,) if high is None else (low, high)
    if snapshot == rev:
        rows_sql, count_sql = sql.range_latest_sql(high)
        params = bounds
    else:
        rows_sql, count_sql = sql.range_at_sql(high)
        params = bounds + (rev,)
    rows = conn.execute(rows_sql, params + (limit + 1 if limit else -1,)).fetchall()
    more = bool(limit) and len(rows) > limit
    if more:
        rows = rows[:limit]
        count = conn.execute(count_sql, params).fetchone()[0]
    else:
        count = len(rows)
    return [KeyValue(r[0], r[3], r[1], r[2]) for r in rows], more, count


def _history_sync(conn: sqlite3.Connection, snapshot: int, prefix: str, after: int, until: int,
                  limit: int) -> list[Event]:
    low, high = sql.key_bounds(prefix, None)
    params: tuple = (after, until, low) + (() if high is None else (high,)) + (limit,)
    return [sql.row_event(row) for row in conn.execute(sql.history_sql(high), params)]

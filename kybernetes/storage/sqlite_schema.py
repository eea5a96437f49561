"""SQL of the SQLite backend: the append-only log, the table of live keys, and row decoding."""

from __future__ import annotations

import sqlite3

from kybernetes.storage.interface import Event, KeyValue

# kv is the log: one row per revision (id). A delete is a tombstone row (deleted=1) that keeps
# the deleted value, so a DELETE event carries its prev_kv without a join. prev_revision is the
# row this one supersedes (0 for a create), which is both the update's prev_kv and what
# compaction deletes. current maps every live key to its latest row, for fast reads of "latest".
SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_key_id ON kv (key, id);
CREATE TABLE IF NOT EXISTS current (key TEXT PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('rev', 0), ('compact_rev', 0), ('compact_done', 0);
"""

SELECT_META = "SELECT name, value FROM meta"
SELECT_REV = "SELECT value FROM meta WHERE name = 'rev'"
SET_META = "UPDATE meta SET value = ? WHERE name = ?"

# --- writer -------------------------------------------------------------------------------------
SELECT_CURRENT = (
    "SELECT k.create_revision, k.id, k.value FROM current c JOIN kv k ON k.id = c.id WHERE c.key = ?"
)
INSERT_ROW = (
    "INSERT INTO kv (id, key, create_revision, prev_revision, deleted, value) VALUES (?, ?, ?, ?, ?, ?)"
)
INSERT_CURRENT = "INSERT INTO current (key, id) VALUES (?, ?)"
UPDATE_CURRENT = "UPDATE current SET id = ? WHERE key = ?"
DELETE_CURRENT = "DELETE FROM current WHERE key = ?"

# compaction of the revisions (lo, hi]: every row there removes the row it superseded, and
# tombstones go; what remains at or below hi is the latest live row of each key.
COMPACT_SUPERSEDED = (
    "DELETE FROM kv WHERE id IN (SELECT prev_revision FROM kv WHERE id > ? AND id <= ? AND prev_revision > 0)"
)
COMPACT_TOMBSTONES = "DELETE FROM kv WHERE id > ? AND id <= ? AND deleted = 1"

# --- readers ------------------------------------------------------------------------------------
GET_LATEST = SELECT_CURRENT
GET_AT = "SELECT create_revision, id, value, deleted FROM kv WHERE key = ? AND id <= ? ORDER BY id DESC LIMIT 1"


def key_bounds(prefix: str, start_key: str | None) -> tuple[str, str | None]:
    """[low, high) of the keys under prefix from start_key on; high None means unbounded."""
    low = prefix if start_key is None or start_key < prefix else start_key
    return low, prefix_end(prefix)


def prefix_end(prefix: str) -> str | None:
    """The smallest string above every string that starts with prefix (None: no such bound)."""
    chars = list(prefix)
    while chars:
        last = ord(chars[-1])
        if last < 0x10FFFF:
            chars[-1] = chr(last + 1)
            return "".join(chars)
        chars.pop()
    return None


def _range_cond(column: str, high: str | None) -> str:
    return f"{column} >= ?" + (f" AND {column} < ?" if high is not None else "")


def range_latest_sql(high: str | None) -> tuple[str, str]:
    """(rows, count) queries over the live keys."""
    cond = _range_cond("c.key", high)
    rows = (
        "SELECT c.key, k.create_revision, k.id, k.value FROM current c JOIN kv k ON k.id = c.id "
        f"WHERE {cond} ORDER BY c.key LIMIT ?"
    )
    count = f"SELECT COUNT(*) FROM current c WHERE {cond}"
    return rows, count


def range_at_sql(high: str | None) -> tuple[str, str]:
    """(rows, count) queries over the keys as they were at a past revision (the last parameter)."""
    cond = _range_cond("key", high)
    latest = f"SELECT key, MAX(id) AS id FROM kv WHERE {cond} AND id <= ? GROUP BY key"
    rows = (
        f"SELECT k.key, k.create_revision, k.id, k.value FROM ({latest}) m JOIN kv k ON k.id = m.id "
        "WHERE k.deleted = 0 ORDER BY k.key LIMIT ?"
    )
    count = f"SELECT COUNT(*) FROM ({latest}) m JOIN kv k ON k.id = m.id WHERE k.deleted = 0"
    return rows, count


def history_sql(high: str | None) -> str:
    """Log rows with revision in (after, until] under a key range, each with its superseded row."""
    cond = _range_cond("k.key", high)
    return (
        "SELECT k.id, k.key, k.create_revision, k.prev_revision, k.deleted, k.value, p.value "
        "FROM kv k LEFT JOIN kv p ON p.id = k.prev_revision AND k.deleted = 0 "
        f"WHERE k.id > ? AND k.id <= ? AND {cond} ORDER BY k.id LIMIT ?"
    )


def row_event(row: tuple) -> Event:
    """An Event from a history_sql row."""
    rev, key, create_rev, prev_rev, deleted, value, prev_value = row
    if deleted:
        return Event("DELETE", KeyValue(key, b"", 0, rev), KeyValue(key, value, create_rev, prev_rev))
    prev = KeyValue(key, prev_value, create_rev, prev_rev) if prev_rev else None
    return Event("PUT", KeyValue(key, value, create_rev, rev), prev)


def connect(path: str, *, synchronous: str, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) on the WAL-mode database."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=256)
    conn.execute("PRAGMA busy_timeout = 10000")
    if readonly:
        conn.execute("PRAGMA query_only = 1")
    else:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    return conn

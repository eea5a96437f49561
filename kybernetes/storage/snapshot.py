"""Online snapshots of the SQLite store and their restore into a data dir, verified by revision and sha256.

A snapshot file is one header line, `KYBSNAP1 {"revision": R, "sha256": H, "size": N}\\n`, followed by
the N bytes of a consistent SQLite copy of the database whose sha256 is H and whose revision is R.
On an etcd datastore, save_etcd_snapshot writes etcd's own snapshot instead (restore it with etcdutl).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from dataclasses import dataclass

import orjson

from kybernetes.storage import db_path

__all__ = ["MAGIC", "SnapshotError", "SnapshotInfo", "db_path", "read_snapshot_info", "restore_snapshot",
           "save_etcd_snapshot", "save_snapshot"]

MAGIC = b"KYBSNAP1 "
_CHUNK = 1 << 20


class SnapshotError(Exception):
    """A snapshot file is malformed, corrupt, or cannot be restored where asked."""


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """What a snapshot holds: the store revision it was taken at, the database's sha256 and size."""

    revision: int
    sha256: str
    size: int


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _db_revision(path: str) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT value FROM meta WHERE name = 'rev'").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"{path} is not a kybernetes database: {exc}") from exc
    finally:
        conn.close()


def save_snapshot(db_file: str, file: str) -> SnapshotInfo:
    """Write a consistent snapshot of the database at db_file to file, while it may serve writes.

    Uses SQLite's online backup API from a separate connection, in one step (one read transaction),
    so the copy is a single point in the revision history. file is replaced atomically.
    """
    if not os.path.exists(db_file):
        raise SnapshotError(f"no database at {db_file}")
    out_dir = os.path.dirname(os.path.abspath(file))
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".snapshot-") as tmp:
        copy = os.path.join(tmp, "copy.db")
        src = sqlite3.connect(db_file)
        src.execute("PRAGMA query_only = 1")
        dst = sqlite3.connect(copy)
        try:
            src.backup(dst)  # pages=-1: the whole database in one step
            dst.execute("PRAGMA journal_mode = DELETE")  # a self-contained file, no -wal beside it
        finally:
            dst.close()
            src.close()
        revision = _db_revision(copy)
        digest, size = hashlib.sha256(), 0
        with open(copy, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        info = SnapshotInfo(revision=revision, sha256=digest.hexdigest(), size=size)
        partial = os.path.join(tmp, "snapshot")
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out, \
                open(copy, "rb") as f:  # every key of the cluster is in it: readable by its owner only
            out.write(MAGIC + orjson.dumps({"revision": info.revision, "sha256": info.sha256,
                                            "size": info.size}) + b"\n")
            while chunk := f.read(_CHUNK):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, file)
    _fsync_dir(out_dir)
    return info


async def save_etcd_snapshot(url: str, file: str) -> SnapshotInfo:
    """Write etcd's own snapshot (its Maintenance.Snapshot stream, a bbolt database) of the cluster at url.

    The file is etcd's format, without the KYBSNAP1 header: `etcdutl snapshot restore` restores it.
    revision is the store revision when the snapshot started; file is replaced atomically.
    """
    from kybernetes.storage.etcd import EtcdStore
    from kybernetes.storage.interface import StorageError

    out_dir = os.path.dirname(os.path.abspath(file))
    os.makedirs(out_dir, exist_ok=True)
    store = EtcdStore(url)
    await store.start()
    fd, partial = tempfile.mkstemp(dir=out_dir, prefix=".snapshot-")
    try:
        with os.fdopen(fd, "wb") as out:
            revision, _ = await store.snapshot(out)
            out.flush()
            os.fsync(out.fileno())
        digest, size = hashlib.sha256(), 0
        with open(partial, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        os.replace(partial, file)
    except StorageError as exc:
        raise SnapshotError(str(exc)) from exc
    finally:
        await store.close()
        if os.path.exists(partial):
            os.remove(partial)
    _fsync_dir(out_dir)
    return SnapshotInfo(revision=revision, sha256=digest.hexdigest(), size=size)


def read_snapshot_info(file: str) -> SnapshotInfo:
    """The header of a snapshot file (not verified; restore_snapshot verifies)."""
    with open(file, "rb") as f:
        return _read_header(f)


def _read_header(f) -> SnapshotInfo:  # type: ignore[no-untyped-def]
    line = f.readline(4096)
    if not line.startswith(MAGIC) or not line.endswith(b"\n"):
        raise SnapshotError("not a kybernetes snapshot (bad header)")
    try:
        meta = orjson.loads(line[len(MAGIC):])
        return SnapshotInfo(revision=int(meta["revision"]), sha256=str(meta["sha256"]), size=int(meta["size"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"not a kybernetes snapshot (bad header: {exc})") from exc


def restore_snapshot(file: str, data_dir: str, *, force: bool = False, bump_revision: int = 0,
                     mark_compacted: bool = False) -> SnapshotInfo:
    """Lay the snapshot down as data_dir's database (db_path(data_dir)), after verifying it.

    Refuses to replace an existing database unless force is True. No server may be running on
    data_dir meanwhile. Every key comes back with its exact create and mod revisions.
    As `etcdutl snapshot restore`: bump_revision moves the store's revision that far past the snapshot's,
    so revisions handed out after the restore never repeat ones clients saw before it; mark_compacted
    compacts at that revision, so a client watching from an older resourceVersion gets 410 Gone and relists.
    """
    target = db_path(data_dir)
    target_dir = os.path.dirname(target)
    if os.path.exists(target) and not force:
        raise SnapshotError(f"a database already exists at {target} (use force to overwrite)")
    os.makedirs(target_dir, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target_dir, prefix=".restore-", suffix=".db")
    try:
        with open(file, "rb") as f, os.fdopen(fd, "wb") as out:
            info = _read_header(f)
            digest, size = hashlib.sha256(), 0
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size != info.size or digest.hexdigest() != info.sha256:
            raise SnapshotError(f"snapshot {file} is corrupt: checksum or size mismatch")
        revision = _db_revision(partial)
        if revision != info.revision:
            raise SnapshotError(f"snapshot {file} says revision {info.revision}, its database has {revision}")
        if bump_revision or mark_compacted:
            _move_revision(partial, info.revision + max(0, bump_revision), compact=mark_compacted)
        for stale in (target + "-wal", target + "-shm"):
            if os.path.exists(stale):
                os.remove(stale)
        os.replace(partial, target)
        _fsync_dir(target_dir)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    return info


def _move_revision(path: str, revision: int, *, compact: bool) -> None:
    """Set the database's revision (no key changes); with compact, forget all history up to it."""
    from kybernetes.storage import sqlite_schema as sql

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        meta = dict(conn.execute(sql.SELECT_META).fetchall())
        conn.execute(sql.SET_META, (revision, "rev"))
        if compact:
            conn.execute(sql.COMPACT_SUPERSEDED, (meta["compact_done"], meta["rev"]))
            conn.execute(sql.COMPACT_TOMBSTONES, (meta["compact_done"], meta["rev"]))
            conn.execute(sql.SET_META, (revision, "compact_rev"))
            conn.execute(sql.SET_META, (revision, "compact_done"))
        conn.execute("COMMIT")
    finally:
        conn.close()

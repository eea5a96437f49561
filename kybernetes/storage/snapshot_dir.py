"""A directory of named snapshots as k3s keeps them: `<prefix>-<node>-<unix time>` files, each described by a
JSON file in .metadata/ (its checksum, revision, size, creation time), listed, taken, deleted and pruned here."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass
from typing import Callable

import orjson

from kybernetes.storage import db_path
from kybernetes.storage.snapshot import (
    SnapshotError,
    SnapshotInfo,
    _fsync_dir,
    read_snapshot_info,
    save_etcd_snapshot,
    save_snapshot,
)

__all__ = ["METADATA_DIR", "ON_DEMAND_PREFIX", "SCHEDULED_PREFIX", "SnapshotRecord", "default_snapshot_dir",
           "delete_snapshot", "list_snapshots", "prune_snapshots", "read_record", "remove_partials",
           "resolve_snapshot", "scheduled_snapshots", "snapshot_name", "take_snapshot"]

METADATA_DIR = ".metadata"
SCHEDULED_PREFIX = "etcd-snapshot"  # k3s's --etcd-snapshot-name default: the scheduled ones
ON_DEMAND_PREFIX = "on-demand"  # k3s's name of `etcd-snapshot save` without --name: never pruned by the schedule


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """One snapshot in a directory: what `kybernetes snapshot ls` prints, and what .metadata/<name> holds."""

    name: str
    location: str  # file:///abs/path
    size: int
    created: float  # Unix time the snapshot was started
    node_name: str = ""
    revision: int = 0
    sha256: str = ""  # of the database it holds (the KYBSNAP1 payload; the whole file for etcd's format)
    backend: str = "sqlite"  # sqlite: a KYBSNAP1 file; etcd: etcd's own snapshot (restore it with etcdutl)
    scheduled: bool = False

    @property
    def path(self) -> str:
        return self.location.removeprefix("file://")


def default_snapshot_dir(data_dir: str) -> str:
    return os.path.join(data_dir, "snapshots")


def snapshot_name(prefix: str, node: str, when: float) -> str:
    """k3s's naming: `<prefix>-<node>-<unix seconds>`."""
    return f"{prefix}-{node}-{int(when)}"


def _check_name(name: str) -> None:
    if not name or name.startswith(".") or "/" in name or os.sep in name:
        raise SnapshotError(f"invalid snapshot name {name!r}")


def _metadata_path(directory: str, name: str) -> str:
    return os.path.join(directory, METADATA_DIR, name)


def _write_metadata(directory: str, record: SnapshotRecord) -> None:
    meta_dir = os.path.join(directory, METADATA_DIR)
    os.makedirs(meta_dir, exist_ok=True)
    partial = _metadata_path(directory, "." + record.name + ".tmp")
    with open(partial, "wb") as f:
        f.write(orjson.dumps(asdict(record), option=orjson.OPT_INDENT_2))
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, _metadata_path(directory, record.name))
    _fsync_dir(meta_dir)


def read_record(directory: str, name: str) -> SnapshotRecord | None:
    """The record of a file in directory: its metadata, else its KYBSNAP1 header; None when it is no snapshot."""
    path = os.path.join(directory, name)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    try:
        with open(_metadata_path(directory, name), "rb") as f:
            meta = orjson.loads(f.read())
        fields = {k: meta[k] for k in SnapshotRecord.__dataclass_fields__ if k in meta}
        return SnapshotRecord(**{**fields, "name": name, "location": f"file://{path}", "size": st.st_size})
    except (OSError, orjson.JSONDecodeError, TypeError):
        pass
    try:
        info = read_snapshot_info(path)
    except (SnapshotError, OSError):
        return None
    return SnapshotRecord(name=name, location=f"file://{path}", size=st.st_size, created=st.st_mtime,
                          revision=info.revision, sha256=info.sha256)


def list_snapshots(directory: str) -> list[SnapshotRecord]:
    """Every snapshot in directory (files with metadata or a KYBSNAP1 header), oldest first."""
    try:
        names = sorted(n for n in os.listdir(directory) if not n.startswith("."))
    except FileNotFoundError:
        return []
    records = [r for n in names if os.path.isfile(os.path.join(directory, n))
               and (r := read_record(directory, n)) is not None]
    return sorted(records, key=lambda r: (r.created, r.name))


def scheduled_snapshots(directory: str, prefix: str, node: str) -> list[SnapshotRecord]:
    """The snapshots a schedule of prefix on node took (named `<prefix>-<node>-<digits>`), oldest first."""
    pattern = re.compile(rf"^{re.escape(prefix)}-{re.escape(node)}-(\d+)$")
    found = [(int(m.group(1)), r) for r in list_snapshots(directory) if (m := pattern.match(r.name))]
    return [r for _, r in sorted(found, key=lambda t: (t[0], t[1].name))]


def resolve_snapshot(directory: str, name_or_path: str) -> str:
    """A path to a snapshot: name_or_path itself when such a file exists, else the snapshot of that name."""
    if os.path.exists(name_or_path):
        return name_or_path
    if "/" not in name_or_path and os.path.isfile(os.path.join(directory, name_or_path)):
        return os.path.join(directory, name_or_path)
    raise SnapshotError(f"no snapshot {name_or_path!r} (neither a file nor a snapshot in {directory})")


def remove_partials(directory: str) -> list[str]:
    """Remove what snapshots cut short by a crash left behind (their hidden temporary files); their names."""
    try:
        names = [n for n in os.listdir(directory) if n.startswith(".snapshot-")]
    except FileNotFoundError:
        return []
    for n in names:
        path = os.path.join(directory, n)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    return names


def delete_snapshot(directory: str, name: str, companions: tuple[str, ...] = ()) -> None:
    """Remove a snapshot, its metadata, and the files named `<name><suffix>` for each companion suffix."""
    _check_name(name)
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        raise SnapshotError(f"no snapshot {name!r} in {directory}")
    for extra in (_metadata_path(directory, name), *(path + s for s in companions)):
        if os.path.exists(extra):
            os.remove(extra)
    os.remove(path)


def prune_snapshots(directory: str, prefix: str, node: str, retention: int,
                    companions: tuple[str, ...] = ()) -> list[str]:
    """Delete the oldest of the schedule's snapshots until `retention` remain; the names deleted.

    Only `<prefix>-<node>-<digits>` files count: snapshots saved by hand, or by other nodes, are never pruned."""
    if retention < 1:
        return []
    records = scheduled_snapshots(directory, prefix, node)
    doomed = records[:max(0, len(records) - retention)]
    for r in doomed:
        delete_snapshot(directory, r.name, companions)
    return [r.name for r in doomed]


def _datastore(data_dir: str, endpoint: str) -> tuple[str, str]:
    """('sqlite', db file) or ('etcd', url) for a data dir and its --datastore-endpoint."""
    if endpoint.startswith(("etcd://", "etcds://")):
        return "etcd", endpoint
    if endpoint.startswith("sqlite://"):
        return "sqlite", endpoint.removeprefix("sqlite://")
    return "sqlite", endpoint or db_path(data_dir)


async def take_snapshot(*, data_dir: str, datastore_endpoint: str, directory: str, prefix: str, node: str,
                        scheduled: bool, clock: Callable[[], float] = time.time) -> SnapshotRecord:
    """Take a consistent snapshot of the datastore into directory as `<prefix>-<node>-<now>` with its metadata.

    SQLite: the online backup API in a worker thread (the server keeps serving); etcd: its Maintenance.Snapshot."""
    now = clock()
    name = snapshot_name(prefix, node, now)
    path = os.path.join(directory, name)
    backend, target = _datastore(data_dir, datastore_endpoint)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if backend == "etcd":
        info: SnapshotInfo = await save_etcd_snapshot(target, path)
    else:
        info = await asyncio.to_thread(save_snapshot, target, path)
    record = SnapshotRecord(name=name, location=f"file://{os.path.abspath(path)}", size=os.path.getsize(path),
                            created=now, node_name=node, revision=info.revision, sha256=info.sha256,
                            backend=backend, scheduled=scheduled)
    _write_metadata(directory, record)
    return record

"""Snapshots: save while serving writes, restore with exact revisions, verification and overwrite refusal."""

from __future__ import annotations

import asyncio
import os

import pytest

from kybernetes.storage import db_path
from kybernetes.storage.snapshot import SnapshotError, read_snapshot_info, restore_snapshot, save_snapshot
from kybernetes.storage.sqlite import SQLiteStore


async def _started(path: str) -> SQLiteStore:
    store = SQLiteStore(path, compaction_interval=0)
    await store.start()
    return store


async def test_snapshot_round_trip_keeps_revisions(tmp_path) -> None:
    source = await _started(db_path(str(tmp_path / "a")))
    try:
        kv = await source.create("/s/a", b"1")
        await source.update("/s/a", b"2", mod_revision=kv.mod_revision)
        await source.create("/s/b", b"1")
        await source.delete("/s/b")
        await source.create("/s/c", b"1")
        expected = await source.range("/s/")
        info = await asyncio.to_thread(save_snapshot, source.path, str(tmp_path / "snap"))
    finally:
        await source.close()
    assert info.revision == 5 == read_snapshot_info(str(tmp_path / "snap")).revision
    restored_info = restore_snapshot(str(tmp_path / "snap"), str(tmp_path / "b"))
    assert restored_info == info
    restored = await _started(db_path(str(tmp_path / "b")))
    try:
        assert await restored.current_revision() == 5
        assert (await restored.range("/s/")).kvs == expected.kvs
        assert (await restored.get("/s/a", revision=1))[1].value == b"1"
        assert (await restored.create("/s/d", b"1")).mod_revision == 6
    finally:
        await restored.close()


async def test_snapshot_is_consistent_under_concurrent_writes(tmp_path) -> None:
    source = await _started(db_path(str(tmp_path / "a")))
    stop = asyncio.Event()

    async def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            await source.create(f"/s/{n}/{i}", b"x")
            i += 1

    tasks = [asyncio.create_task(writer(n)) for n in range(8)]
    try:
        await asyncio.sleep(0.05)
        info = await asyncio.to_thread(save_snapshot, source.path, str(tmp_path / "snap"))
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await source.close()
    restore_snapshot(str(tmp_path / "snap"), str(tmp_path / "b"))
    restored = await _started(db_path(str(tmp_path / "b")))
    try:
        result = await restored.range("/s/")
        assert info.revision > 0
        assert result.revision == info.revision
        assert sorted(kv.mod_revision for kv in result.kvs) == list(range(1, info.revision + 1))
    finally:
        await restored.close()


def _corrupt(path: str) -> None:
    with open(path, "r+b") as f:
        f.seek(-100, os.SEEK_END)
        byte = f.read(1)
        f.seek(-100, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0xFF]))


def _truncate(path: str) -> None:
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 10)


def _bad_header(path: str) -> None:
    with open(path, "r+b") as f:
        f.write(b"XXXX")


@pytest.mark.parametrize("damage", [_corrupt, _truncate, _bad_header], ids=["bitflip", "truncated", "header"])
async def test_restore_rejects_damaged_snapshot(tmp_path, damage) -> None:
    source = await _started(db_path(str(tmp_path / "a")))
    await source.create("/s/a", b"1")
    await source.close()
    save_snapshot(db_path(str(tmp_path / "a")), str(tmp_path / "snap"))
    damage(str(tmp_path / "snap"))
    with pytest.raises(SnapshotError):
        restore_snapshot(str(tmp_path / "snap"), str(tmp_path / "b"))
    assert not os.path.exists(db_path(str(tmp_path / "b")))
    assert os.listdir(tmp_path / "b" / "db") == []


async def test_restore_refuses_to_overwrite_unless_forced(tmp_path) -> None:
    for name, key in (("a", "/from-a"), ("b", "/from-b")):
        store = await _started(db_path(str(tmp_path / name)))
        await store.create(key, b"1")
        await store.close()
    save_snapshot(db_path(str(tmp_path / "a")), str(tmp_path / "snap"))
    with pytest.raises(SnapshotError, match="already exists"):
        restore_snapshot(str(tmp_path / "snap"), str(tmp_path / "b"))
    restore_snapshot(str(tmp_path / "snap"), str(tmp_path / "b"), force=True)
    store = await _started(db_path(str(tmp_path / "b")))
    try:
        assert [kv.key for kv in (await store.range("/")).kvs] == ["/from-a"]
    finally:
        await store.close()

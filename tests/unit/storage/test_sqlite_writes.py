"""Compare-and-swap writes of the Store (SQLite and etcd): outcomes, revisions, KeyExistsError, group commit."""

from __future__ import annotations

import asyncio

import pytest

from kybernetes.storage.interface import KeyExistsError, KeyValue, Store, WriteResult
from kybernetes.storage.sqlite import SQLiteStore
from tests.unit.storage.revisions import shift, shift_result


async def test_create_assigns_next_revision(store: Store, base: int) -> None:
    a = await store.create("/r/a", b"1")
    b = await store.create("/r/b", b"2")
    assert a == shift(KeyValue("/r/a", b"1", 1, 1), base)
    assert b == shift(KeyValue("/r/b", b"2", 2, 2), base)
    assert await store.current_revision() == base + 2


async def test_create_existing_raises_and_keeps_revision(store: Store, base: int) -> None:
    await store.create("/r/a", b"1")
    with pytest.raises(KeyExistsError) as info:
        await store.create("/r/a", b"2")
    assert info.value.key == "/r/a"
    assert await store.current_revision() == base + 1
    assert (await store.get("/r/a"))[1].value == b"1"


async def test_create_after_delete_starts_new_lifetime(store: Store, base: int) -> None:
    await store.create("/r/a", b"1")
    await store.delete("/r/a")
    kv = await store.create("/r/a", b"2")
    assert kv == shift(KeyValue("/r/a", b"2", 3, 3), base)


# (op, key, mod_revision) on a store holding /r/a created at rev 1, updated at rev 2
CAS_CASES = [
    ("update", "/r/a", 2, WriteResult(True, 3, KeyValue("/r/a", b"new", 1, 3))),
    ("update", "/r/a", 0, WriteResult(True, 3, KeyValue("/r/a", b"new", 1, 3))),
    ("update", "/r/a", 1, WriteResult(False, 2, KeyValue("/r/a", b"v2", 1, 2))),
    ("update", "/r/missing", 0, WriteResult(False, 2, None)),
    ("update", "/r/missing", 5, WriteResult(False, 2, None)),
    ("delete", "/r/a", 2, WriteResult(True, 3, KeyValue("/r/a", b"v2", 1, 2))),
    ("delete", "/r/a", 0, WriteResult(True, 3, KeyValue("/r/a", b"v2", 1, 2))),
    ("delete", "/r/a", 1, WriteResult(False, 2, KeyValue("/r/a", b"v2", 1, 2))),
    ("delete", "/r/missing", 0, WriteResult(False, 2, None)),
]


@pytest.mark.parametrize("op,key,mod_revision,expected", CAS_CASES, ids=[
    "update-match", "update-unconditional", "update-stale", "update-missing", "update-missing-cas",
    "delete-match", "delete-unconditional", "delete-stale", "delete-missing",
])
async def test_cas_outcomes(store: Store, base: int, op: str, key: str, mod_revision: int,
                            expected: WriteResult) -> None:
    created = await store.create("/r/a", b"v1")
    await store.update("/r/a", b"v2", mod_revision=created.mod_revision)
    mod_revision = mod_revision and base + mod_revision
    if op == "update":
        result = await store.update(key, b"new", mod_revision=mod_revision)
    else:
        result = await store.delete(key, mod_revision=mod_revision)
    assert result == shift_result(expected, base)
    assert await store.current_revision() == base + expected.revision


async def test_concurrent_cas_exactly_one_wins(store: Store, base: int) -> None:
    kv = await store.create("/r/a", b"0")
    results = await asyncio.gather(*(store.update("/r/a", str(i).encode(), mod_revision=kv.mod_revision)
                                     for i in range(20)))
    winners = [r for r in results if r.succeeded]
    assert len(winners) == 1
    assert all(r.kv == winners[0].kv for r in results if not r.succeeded)
    assert await store.current_revision() == base + 2


async def test_concurrent_writes_are_group_committed(store: Store, base: int) -> None:
    kvs = await asyncio.gather(*(store.create(f"/r/{i:04d}", b"x") for i in range(500)))
    assert sorted(kv.mod_revision for kv in kvs) == list(range(base + 1, base + 501))
    if isinstance(store, SQLiteStore):  # etcd batches in its own raft log
        assert store._writer is not None and store._writer.batches < 500


async def test_value_must_be_bytes(store: Store) -> None:
    with pytest.raises(TypeError):
        await store.create("/r/a", "text")  # type: ignore[arg-type]


async def test_state_survives_reopen(tmp_path) -> None:
    path = str(tmp_path / "state.db")
    first = SQLiteStore(path, compaction_interval=0)
    await first.start()
    await first.create("/r/a", b"1")
    await first.create("/r/b", b"1")
    await first.delete("/r/b")
    await first.close()
    second = SQLiteStore(path, compaction_interval=0)
    await second.start()
    try:
        assert await second.current_revision() == 3
        assert await second.get("/r/a") == (3, KeyValue("/r/a", b"1", 1, 1))
        assert (await second.get("/r/b"))[1] is None
        assert (await second.create("/r/c", b"1")).mod_revision == 4
    finally:
        await second.close()

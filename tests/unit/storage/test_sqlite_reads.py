"""Reads of the Store (SQLite and etcd): get and range at latest and past revisions, paging, compaction, future errors."""

from __future__ import annotations

import pytest

from kybernetes.storage.interface import CompactedError, FutureRevisionError, KeyValue
from kybernetes.storage.interface import Store
from kybernetes.storage.sqlite import SQLiteStore
from tests.unit.storage.revisions import shift


async def _history(store: Store) -> None:
    """rev1 create a=1, rev2 create b=1, rev3 update a=2, rev4 delete b, rev5 create c=1, rev6 create b=2."""
    a = await store.create("/p/a", b"1")
    await store.create("/p/b", b"1")
    await store.update("/p/a", b"2", mod_revision=a.mod_revision)
    await store.delete("/p/b")
    await store.create("/p/c", b"1")
    await store.create("/p/b", b"2")


GET_CASES = [
    ("/p/a", 0, KeyValue("/p/a", b"2", 1, 3)),
    ("/p/a", 1, KeyValue("/p/a", b"1", 1, 1)),
    ("/p/a", 2, KeyValue("/p/a", b"1", 1, 1)),
    ("/p/a", 3, KeyValue("/p/a", b"2", 1, 3)),
    ("/p/b", 3, KeyValue("/p/b", b"1", 2, 2)),
    ("/p/b", 4, None),
    ("/p/b", 5, None),
    ("/p/b", 6, KeyValue("/p/b", b"2", 6, 6)),
    ("/p/c", 4, None),
    ("/p/zz", 0, None),
]


@pytest.mark.parametrize("key,revision,expected", GET_CASES,
                         ids=[f"{k}@{r}" for k, r, _ in GET_CASES])
async def test_get(store: Store, base: int, key: str, revision: int, expected: KeyValue | None) -> None:
    await _history(store)
    rev, kv = await store.get(key, revision=revision and base + revision)
    assert rev == base + (revision or 6)
    assert kv == shift(expected, base)


RANGE_CASES = [
    ("/p/", 0, ["/p/a", "/p/b", "/p/c"]),
    ("/p/", 1, ["/p/a"]),
    ("/p/", 3, ["/p/a", "/p/b"]),
    ("/p/", 4, ["/p/a"]),
    ("/p/", 5, ["/p/a", "/p/c"]),
    ("/p/b", 0, ["/p/b"]),
    ("/q/", 0, []),
    ("", 0, ["/other", "/p/a", "/p/b", "/p/c"]),
]


@pytest.mark.parametrize("prefix,revision,keys", RANGE_CASES,
                         ids=[f"{p or 'all'}@{r}" for p, r, _ in RANGE_CASES])
async def test_range(store: Store, base: int, prefix: str, revision: int, keys: list[str]) -> None:
    await _history(store)
    if prefix == "":
        await store.create("/other", b"o")
    result = await store.range(prefix, revision=revision and base + revision)
    assert [kv.key for kv in result.kvs] == keys
    assert result.count == len(keys)
    assert result.more is False


async def test_range_returns_mod_and_create_revisions(store: Store, base: int) -> None:
    await _history(store)
    result = await store.range("/p/")
    assert result.kvs == [shift(kv, base) for kv in (KeyValue("/p/a", b"2", 1, 3), KeyValue("/p/b", b"2", 6, 6),
                                                      KeyValue("/p/c", b"1", 5, 5))]
    assert result.revision == base + 6


@pytest.mark.parametrize("limit", [1, 3, 7, 50], ids=lambda n: f"limit{n}")
async def test_range_paging_at_fixed_revision(store: Store, limit: int) -> None:
    for i in range(20):
        await store.create(f"/k/{i:02d}", str(i).encode())
    first = await store.range("/k/", limit=limit)
    # writes after the first page must not show up in later pages read at its revision
    await store.delete("/k/05")
    await store.create("/k/10a", b"late")
    pages, kvs, start = [first], list(first.kvs), None
    page = first
    while page.more:
        start = page.kvs[-1].key + "\x00"
        page = await store.range("/k/", revision=first.revision, limit=limit, start_key=start)
        assert page.revision == first.revision
        assert page.count == 20 - len(kvs)
        pages.append(page)
        kvs.extend(page.kvs)
    assert first.count == 20
    assert [kv.key for kv in kvs] == [f"/k/{i:02d}" for i in range(20)]
    assert all(len(p.kvs) <= limit for p in pages)
    assert len(pages) == -(-20 // limit)


async def test_range_start_key_at_latest(store: Store) -> None:
    for key in ("/k/a", "/k/b", "/k/c", "/l/a"):
        await store.create(key, b"x")
    result = await store.range("/k/", start_key="/k/b", limit=1)
    assert [kv.key for kv in result.kvs] == ["/k/b"]
    assert (result.more, result.count) == (True, 2)


async def test_read_of_future_revision(store: Store, base: int) -> None:
    await store.create("/p/a", b"1")
    with pytest.raises(FutureRevisionError) as info:
        await store.get("/p/a", revision=base + 2)
    assert (info.value.requested, info.value.current) == (base + 2, base + 1)
    with pytest.raises(FutureRevisionError):
        await store.range("/p/", revision=base + 9)


async def test_compaction_keeps_latest_and_forgets_history(store: Store, base: int) -> None:
    await _history(store)
    await store.compact(base + 4)
    assert await store.compacted_revision() == base + 4
    for call in (store.get("/p/a", revision=base + 3), store.range("/p/", revision=base + 1)):
        with pytest.raises(CompactedError) as info:
            await call
        assert info.value.compacted == base + 4
    assert [kv.key for kv in (await store.range("/p/", revision=base + 4)).kvs] == ["/p/a"]
    assert (await store.get("/p/a", revision=base + 4))[1] == shift(KeyValue("/p/a", b"2", 1, 3), base)
    assert [kv.key for kv in (await store.range("/p/")).kvs] == ["/p/a", "/p/b", "/p/c"]
    with pytest.raises(FutureRevisionError):
        await store.compact(base + 7)


async def test_compaction_deletes_superseded_rows_and_tombstones(tmp_path) -> None:
    store = SQLiteStore(str(tmp_path / "state.db"), compaction_interval=0)
    await store.start()
    try:
        await _compaction_deletes_rows(store)
    finally:
        await store.close()


async def _compaction_deletes_rows(store: SQLiteStore) -> None:
    kv = await store.create("/p/a", b"0")
    for i in range(1, 50):
        kv = (await store.update("/p/a", str(i).encode(), mod_revision=kv.mod_revision)).kv
    await store.create("/p/gone", b"x")
    await store.delete("/p/gone")
    await store.compact(await store.current_revision())
    rows = store._writer.conn.execute("SELECT id, key FROM kv ORDER BY id").fetchall()
    assert rows == [(50, "/p/a")]
    await store.compact(10)  # already compacted: no-op
    assert await store.compacted_revision() == 52


async def test_compaction_in_steps_resumes_after_restart(tmp_path, monkeypatch) -> None:
    from kybernetes.storage import sqlite as sqlite_module

    monkeypatch.setattr(sqlite_module, "COMPACT_STEP", 7)
    path = str(tmp_path / "state.db")
    store = SQLiteStore(path, compaction_interval=0)
    await store.start()
    kv = await store.create("/p/a", b"0")
    for i in range(40):
        kv = (await store.update("/p/a", str(i).encode(), mod_revision=kv.mod_revision)).kv
    await store.compact(30)
    await store.close()
    rows = await _count_rows(path)
    assert rows == 41 - 29  # revisions 30..41 remain
    store = SQLiteStore(path, compaction_interval=0)
    await store.start()
    try:
        assert await store.compacted_revision() == 30
        assert (await store.get("/p/a", revision=30))[1].value == b"28"
    finally:
        await store.close()


async def _count_rows(path: str) -> int:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COUNT(*) FROM kv").fetchone()[0]
    finally:
        conn.close()


async def test_periodic_compaction(tmp_path) -> None:
    import asyncio

    store = SQLiteStore(str(tmp_path / "state.db"), compaction_interval=0.05, compaction_keep=5)
    await store.start()
    try:
        for i in range(20):
            await store.create(f"/p/{i}", b"x")
        for _ in range(100):
            if await store.compacted_revision() == 15:
                break
            await asyncio.sleep(0.02)
        assert await store.compacted_revision() == 15
    finally:
        await store.close()

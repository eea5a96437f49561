"""Watch of the Store (SQLite and etcd): history, hand-off to live events under concurrent writes, prev_kv, overflow."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import pytest

from kybernetes.storage.interface import CompactedError, Event, KeyValue, Store
from kybernetes.storage.sqlite import SQLiteStore
from tests.unit.storage.revisions import shift_event
from kybernetes.storage.watch import WatchOverflowError


async def _collect(it: AsyncIterator[list[Event]], until: int, timeout: float = 10.0) -> list[Event]:
    """Events from it until one has revision >= until."""
    events: list[Event] = []

    async def run() -> None:
        async for batch in it:
            events.extend(batch)
            if events and events[-1].revision >= until:
                return

    await asyncio.wait_for(run(), timeout)
    return events


async def test_events_carry_prev_kv(store: Store, base: int) -> None:
    watch = store.watch("/w/", start_revision=base)
    a = await store.create("/w/a", b"1")
    await store.update("/w/a", b"2", mod_revision=a.mod_revision)
    await store.delete("/w/a")
    await store.create("/w/a", b"3")
    events = await _collect(watch, base + 4)
    assert events == [shift_event(e, base) for e in (
        Event("PUT", KeyValue("/w/a", b"1", 1, 1)),
        Event("PUT", KeyValue("/w/a", b"2", 1, 2), KeyValue("/w/a", b"1", 1, 1)),
        Event("DELETE", KeyValue("/w/a", b"", 0, 3), KeyValue("/w/a", b"2", 1, 2)),
        Event("PUT", KeyValue("/w/a", b"3", 4, 4)),
    )]
    assert [e.is_create for e in events] == [True, False, False, True]


async def test_history_replays_what_live_watchers_saw(store: Store, base: int) -> None:
    live = asyncio.create_task(_collect(store.watch("/w/", start_revision=base), base + 4))
    await asyncio.sleep(0.01)
    a = await store.create("/w/a", b"1")
    await store.update("/w/a", b"2", mod_revision=a.mod_revision)
    await store.delete("/w/a")
    await store.create("/w/b", b"1")
    replay = await _collect(store.watch("/w/", start_revision=base), base + 4)
    assert replay == await live
    assert [e.type for e in replay] == ["PUT", "PUT", "DELETE", "PUT"]


@pytest.mark.parametrize("start", [0, 3, 10, 40], ids=lambda s: f"start{s}")
async def test_prefix_filter_and_start_revision(store: Store, base: int, start: int) -> None:
    for i in range(40):
        await store.create(f"/{'w' if i % 2 else 'x'}/{i}", b"v")
    events = await _collect(store.watch("/w/", start_revision=base + start), base + 40) if start < 40 else []
    expected = [base + r for r in range(start + 1, 41) if (r - 1) % 2]
    assert [e.revision for e in events] == expected
    assert all(e.kv.key.startswith("/w/") for e in events)


@pytest.mark.parametrize("start", [0, 150, 290], ids=lambda s: f"start{s}")
async def test_handoff_under_concurrent_writes(store: Store, base: int, start: int, monkeypatch) -> None:
    from kybernetes.storage import sqlite as sqlite_module

    monkeypatch.setattr(sqlite_module, "HISTORY_CHUNK", 16)  # several catch-up reads
    for i in range(300):
        await store.create(f"/w/pre{i:03d}", b"x")
    writers_done = asyncio.Event()

    async def writers() -> None:
        await asyncio.gather(*(store.create(f"/w/live{i:03d}", b"y") for i in range(300)))
        writers_done.set()

    task = asyncio.create_task(writers())
    await asyncio.sleep(0)  # writes are in flight while the watch catches up
    events = await _collect(store.watch("/w/", start_revision=base + start), base + 600)
    await task
    assert [e.revision for e in events] == list(range(base + start + 1, base + 601))


async def test_many_watchers_see_the_same_stream(store: Store, base: int) -> None:
    watches = [store.watch("/w/", start_revision=base) for _ in range(5)]
    collectors = [asyncio.create_task(_collect(w, base + 200)) for w in watches]
    await asyncio.gather(*(store.create(f"/w/{i}", b"v") for i in range(200)))
    results = await asyncio.gather(*collectors)
    assert all([e.revision for e in r] == list(range(base + 1, base + 201)) for r in results)


async def test_watch_below_compacted_revision(store: Store, base: int) -> None:
    for i in range(10):
        await store.create(f"/w/{i}", b"v")
    await store.compact(base + 5)
    with pytest.raises(CompactedError) as info:
        await store.watch("/w/", start_revision=base + 4).__anext__()
    assert (info.value.requested, info.value.compacted) == (base + 4, base + 5)
    events = await _collect(store.watch("/w/", start_revision=base + 5), base + 10)
    assert [e.revision for e in events] == list(range(base + 6, base + 11))


async def test_slow_watcher_overflows_without_blocking_others(tmp_path) -> None:
    store = SQLiteStore(str(tmp_path / "state.db"), compaction_interval=0, watch_buffer=50)
    await store.start()
    try:
        slow = store.watch("/w/", start_revision=0)
        first = asyncio.create_task(slow.__anext__())  # reads one batch, then never again
        fast = asyncio.create_task(_collect(store.watch("/w/", start_revision=0), 200))
        await asyncio.sleep(0.01)
        for chunk in range(10):  # bursts smaller than the buffer; the fast watcher keeps up
            await asyncio.gather(*(store.create(f"/w/{chunk}-{i}", b"v") for i in range(20)))
            await asyncio.sleep(0.005)
        assert [e.revision for e in await fast] == list(range(1, 201))
        assert (await first)[0].revision == 1
        with pytest.raises(WatchOverflowError) as info:
            await asyncio.wait_for(_drain(slow), 5)
        assert isinstance(info.value, CompactedError)
    finally:
        await store.close()


async def _drain(it: AsyncIterator[list[Event]]) -> None:
    async for _ in it:
        pass


async def test_close_ends_watches(store: Store, base: int) -> None:
    watch = store.watch("/w/", start_revision=base)
    task = asyncio.create_task(_drain(watch))
    await asyncio.sleep(0.05)
    await store.close()
    await asyncio.wait_for(task, 5)

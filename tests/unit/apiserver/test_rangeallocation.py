"""Range allocation: the bitmap, the stored RangeAllocation shared by compare-and-swap, and its repair loop."""

from __future__ import annotations

import asyncio
import random

import orjson
import pytest

from kybernetes.api import errors
from kybernetes.apiserver.allocators import IPAllocator, PortAllocator, range_offset
from kybernetes.apiserver.rangeallocation import (Bitmap, RangeMismatchError, StoredRange, decode_range,
                                                  encode_range)
from kybernetes.apiserver.rangerepair import RangeRepair
from kybernetes.storage.memory import MemoryStore

KEY = "/registry/ranges/servicenodeports"


def stored(store: MemoryStore, size: int = 64, seed: int = 0, range_text: str = "30000-30063") -> StoredRange:
    return StoredRange(store, KEY, range_text, size, random.Random(seed))


async def fresh() -> None:
    return None


# the bitmap


def test_bitmap_set_clear_and_offsets() -> None:
    b = Bitmap(100)
    assert b.set(3) and b.set(70) and not b.set(3)
    b.clear(3)
    b.clear(5)  # not set: nothing happens
    assert b.offsets() == [70] and b.count == 1


@pytest.mark.parametrize("taken,lo,want", [
    pytest.param(set(), 10, range(10, 16), id="upper band first"),
    pytest.param(set(range(10, 16)), 10, range(0, 10), id="lower band when the upper is full"),
    pytest.param(set(range(16)) - {4}, 10, [4], id="the one free offset"),
    pytest.param(set(range(16)), 10, [], id="full"),
    pytest.param(set(), 20, range(0, 16), id="a band wider than the range"),
])
def test_bitmap_free(taken: set[int], lo: int, want: range | list[int]) -> None:
    b = Bitmap(16)
    for o in taken:
        b.set(o)
    for seed in range(20):
        found = b.free(lo, random.Random(seed))
        assert (found in want) if want else found is None


def test_bitmap_bytes_round_trip_big_endian() -> None:
    b = Bitmap(20)
    b.set(0)
    b.set(9)
    assert b.to_bytes() == bytes([0b10, 0b1])  # upstream's big.Int.Bytes()
    assert Bitmap.from_bytes(20, b.to_bytes()).bits == b.bits
    assert decode_range(encode_range("30000-30019", b)) == ("30000-30019", b.to_bytes())


@pytest.mark.parametrize("size,low,high,step,want", [
    pytest.param(65536, 16, 256, 16, 256, id="ip /16"),
    pytest.param(256, 16, 256, 16, 16, id="ip /24"),
    pytest.param(8, 16, 256, 16, 0, id="ip /29"),
    pytest.param(2768, 16, 128, 32, 86, id="default node ports"),
])
def test_range_offset(size: int, low: int, high: int, step: int, want: int) -> None:
    assert range_offset(size, low=low, high=high, step=step) == want


# the stored range


async def test_stored_range_is_created_on_first_write_and_batches_concurrent_allocations() -> None:
    store = MemoryStore()
    r = stored(store)
    got = await asyncio.gather(*(r.take_next(8) for _ in range(20)))
    assert len(set(got)) == 20 and None not in got
    assert r.writes == 1  # queued together, written together
    _, kv = await store.get(KEY)
    assert kv is not None and Bitmap.from_bytes(64, decode_range(kv.value)[1]).offsets() == sorted(got)


async def test_two_ranges_on_one_store_never_hand_out_one_offset_twice() -> None:
    store = MemoryStore()
    a, b = stored(store, seed=1), stored(store, seed=1)  # same random choices: they collide unless CAS works
    got: list[int | None] = []

    async def allocate(r: StoredRange) -> None:
        for _ in range(16):
            got.append(await r.take_next(0))
    await asyncio.gather(allocate(a), allocate(b), allocate(a), allocate(b))
    assert None not in got and len(set(got)) == 64
    assert await a.take_next(0) is None and await b.take_next(0) is None  # full


async def test_take_sees_a_release_by_another_apiserver() -> None:
    store = MemoryStore()
    a, b = stored(store), stored(store)
    assert await a.take(5)
    assert not await b.take(5)
    a.release(5)
    await a.flush()
    assert await b.take(5)  # b's cached state said taken: it read the stored one before refusing


async def test_release_then_take_in_order() -> None:
    r = stored(MemoryStore())
    assert await r.take(7)
    r.release(7)
    assert await r.take(7)


async def test_a_range_written_for_another_range_is_refused() -> None:
    store = MemoryStore()
    await stored(store, range_text="31000-31063").take(1)
    with pytest.raises(RangeMismatchError):
        await stored(store).take(2)


async def test_allocators_answer_like_upstream_when_the_range_is_shared() -> None:
    store = MemoryStore()
    a, b = PortAllocator("30000-30063"), PortAllocator("30000-30063")
    a.attach(StoredRange(store, KEY, a.port_range, a.size))
    b.attach(StoredRange(store, KEY, b.port_range, b.size))
    await a.allocate_specific(30005, "spec.ports[0].nodePort")
    with pytest.raises(errors.StatusError) as e:
        await b.allocate_specific(30005, "spec.ports[0].nodePort", "web")
    assert e.value.code == 422 and "provided port is already allocated" in e.value.message
    with pytest.raises(errors.StatusError):
        await a.allocate_specific(30005, "spec.ports[0].nodePort", dry_run=True)
    assert 30005 in b.used and len(b.used) == 1
    ips = IPAllocator("198.19.0.0/28")
    ips.attach(StoredRange(store, "/registry/ranges/serviceips", ips.cidr, ips.size))
    taken = {await ips.allocate() for _ in range(ips.size)}
    assert len(taken) == 14
    with pytest.raises(errors.StatusError) as e:
        await ips.allocate()
    assert e.value.code == 500 and "range is full" in e.value.message


async def test_dry_run_takes_nothing() -> None:
    store = MemoryStore()
    ports = PortAllocator("30000-30063")
    ports.attach(stored(store))
    await ports.allocate_specific(30001, "f", dry_run=True)
    assert await ports.allocate(dry_run=True)
    assert len(ports.used) == 0 and (await store.get(KEY))[1] is None


# the repair loop


async def test_repair_marks_missing_and_frees_leaks_after_grace() -> None:
    store = MemoryStore()
    r = stored(store)
    for o in (1, 2):
        assert await r.take(o)
    holders = {2: ["ns/a"], 9: ["ns/b"]}  # 1 leaked (its Service never stored), 9 held but not marked
    repair = RangeRepair(r, lambda: holders, lambda rev: fresh(), leak_runs=3)
    for run in range(3):
        assert await repair.run_once()
        want = [2, 9] if run == 2 else [1, 2, 9]
        assert r.bitmap.offsets() == want, f"run {run}"
        other = stored(store)
        await other.load()
        assert other.bitmap.offsets() == want


async def test_repair_loses_to_a_concurrent_allocation_and_keeps_it() -> None:
    store = MemoryStore()
    r, other = stored(store), stored(store)
    assert await r.take(1)

    async def allocation_during_the_list(revision: int) -> None:
        assert await other.take(3)  # another apiserver allocates after the range was read
    repair = RangeRepair(r, lambda: {1: ["ns/a"], 9: ["ns/b"]}, allocation_during_the_list)
    assert not await repair.run_once()  # it would have marked 9: its write loses
    await r.load()
    assert r.bitmap.offsets() == [1, 3]


async def test_repair_creates_the_range_from_existing_services() -> None:
    store = MemoryStore()
    r = stored(store)
    assert await RangeRepair(r, lambda: {0: ["default/kubernetes"]}, lambda rev: fresh()).run_once()
    _, kv = await store.get(KEY)
    assert kv is not None and orjson.loads(kv.value)["kind"] == "RangeAllocation"
    assert r.bitmap.offsets() == [0]

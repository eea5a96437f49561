"""WorkQueue, DelayingQueue and RateLimitingQueue semantics (client-go's), with a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from kybernetes.client import (BucketRateLimiter, DelayingQueue, FakeClock, ItemExponentialFailureRateLimiter,
                               MaxOfRateLimiter, QueueShutDown, RateLimitingQueue, WorkQueue)


async def _drain(q: WorkQueue) -> list:
    """Everything immediately available, each marked done."""
    out = []
    while len(q):
        item = await q.get()
        out.append(item)
        q.done(item)
    return out


# Each step: ("add", x) | ("get", expected) | ("done", x); then the queue's order of what is left.
@pytest.mark.parametrize("steps,left", [
    ([("add", "a"), ("add", "b"), ("add", "a")], ["a", "b"]),
    ([("add", "a"), ("get", "a"), ("add", "a")], []),  # processing: parked in dirty, not queued
    ([("add", "a"), ("get", "a"), ("add", "a"), ("done", "a")], ["a"]),  # back after done
    ([("add", "a"), ("get", "a"), ("add", "a"), ("add", "a"), ("done", "a")], ["a"]),  # still once
    ([("add", "a"), ("get", "a"), ("done", "a")], []),
    ([("add", "a"), ("add", "b"), ("get", "a"), ("add", "c"), ("add", "a"), ("done", "a")], ["b", "c", "a"]),
], ids=["dedup-while-queued", "readd-while-processing", "readd-back-after-done", "readd-twice-once",
        "plain", "fifo-order"])
async def test_queue_semantics(steps, left):
    q: WorkQueue[str] = WorkQueue()
    for op, x in steps:
        if op == "add":
            q.add(x)
        elif op == "get":
            assert await q.get() == x
        else:
            q.done(x)
    remaining = []
    while len(q):
        remaining.append(await q.get())
    assert remaining == left


async def test_no_two_workers_hold_one_key():
    q: WorkQueue[str] = WorkQueue()
    holding: set[str] = set()
    overlaps: list[str] = []
    handled: list[str] = []

    async def worker():
        while True:
            try:
                key = await q.get()
            except QueueShutDown:
                return
            if key in holding:
                overlaps.append(key)
            holding.add(key)
            await asyncio.sleep(0.001)
            handled.append(key)
            holding.discard(key)
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    for i in range(50):
        q.add(f"k{i % 3}")
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    await q.shutdown_with_drain()
    await asyncio.gather(*workers)
    assert overlaps == []
    assert set(handled) == {"k0", "k1", "k2"}
    assert len(handled) < 50  # de-duplicated


async def test_get_waits_then_wakes_on_add():
    q: WorkQueue[str] = WorkQueue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 1) == "x"


async def test_shutdown_wakes_getters_and_refuses_adds():
    q: WorkQueue[str] = WorkQueue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.shutdown()
    with pytest.raises(QueueShutDown):
        await asyncio.wait_for(getter, 1)
    q.add("late")
    assert len(q) == 0


async def test_shutdown_still_hands_out_queued_items():
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.shutdown()
    assert await q.get() == "a"
    with pytest.raises(QueueShutDown):
        await q.get()


async def test_cancelled_getter_passes_wakeup_on():
    q: WorkQueue[str] = WorkQueue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    first.cancel()
    q.add("x")
    assert await asyncio.wait_for(second, 1) == "x"


@pytest.mark.parametrize("adds,step,ready", [
    ([("a", 5.0)], 4.9, []),
    ([("a", 5.0)], 5.0, ["a"]),
    ([("a", 5.0), ("b", 1.0)], 2.0, ["b"]),
    ([("a", 5.0), ("a", 1.0)], 1.0, ["a"]),  # earlier ready time wins
    ([("a", 1.0), ("a", 5.0)], 1.0, ["a"]),  # a later one does not push it back
    ([("a", 0.0)], 0.0, ["a"]),
], ids=["not-yet", "due", "shorter-first", "earlier-wins", "later-ignored", "zero-is-now"])
async def test_add_after_with_fake_clock(adds, step, ready):
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    for item, delay in adds:
        q.add_after(item, delay)
    clock.step(step)
    assert await _drain(q) == ready


async def test_add_after_fires_once():
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("a", 5.0)
    q.add_after("a", 1.0)
    clock.step(10)
    assert await _drain(q) == ["a"]
    assert q.num_waiting() == 0


async def test_add_after_real_clock_wakes_getter():
    q: DelayingQueue[str] = DelayingQueue()
    q.add_after("a", 0.02)
    assert await asyncio.wait_for(q.get(), 1) == "a"


@pytest.mark.parametrize("failures,expected", [
    (1, 0.005), (2, 0.010), (3, 0.020), (11, 0.005 * 1024), (100, 1000.0),
], ids=["first", "second", "third", "eleventh", "capped"])
def test_item_exponential_delays(failures, expected):
    rl = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    delays = [rl.when("k") for _ in range(failures)]
    assert delays[-1] == pytest.approx(expected)
    assert rl.num_requeues("k") == failures


def test_item_exponential_forget_and_independent_items():
    rl = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    rl.when("a"), rl.when("a"), rl.when("b")
    assert rl.when("a") == pytest.approx(0.02)
    assert rl.when("b") == pytest.approx(0.01)
    rl.forget("a")
    assert rl.num_requeues("a") == 0
    assert rl.when("a") == pytest.approx(0.005)


def test_bucket_limits_after_burst_and_refills():
    clock = FakeClock()
    rl = BucketRateLimiter(qps=10, burst=3, clock=clock)
    assert [rl.when(i) for i in range(3)] == [0, 0, 0]
    assert rl.when(3) == pytest.approx(0.1)
    assert rl.when(4) == pytest.approx(0.2)
    clock.step(1.0)  # refills 10 tokens, capped at burst 3, minus the 2 owed
    assert rl.when(5) == 0


def test_max_of_takes_longest():
    clock = FakeClock()
    rl = MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000), BucketRateLimiter(1, 1, clock=clock))
    assert rl.when("a") == pytest.approx(0.005)  # bucket has a token
    assert rl.when("b") == pytest.approx(1.0)  # bucket empty: 1 s beats 5 ms


async def test_rate_limited_requeue_with_fake_clock():
    clock = FakeClock()
    q: RateLimitingQueue[str] = RateLimitingQueue(ItemExponentialFailureRateLimiter(0.005, 1000), clock=clock)
    for delay in (0.005, 0.010, 0.020, 0.040):  # fail four times: each retry waits twice as long
        q.add_rate_limited("k")
        clock.step(delay - 1e-6)
        assert len(q) == 0, f"ready before {delay}"
        clock.step(2e-6)
        assert len(q) == 1, f"not ready at {delay}"
        item = await q.get()
        q.done(item)
    assert q.num_requeues("k") == 4
    q.forget("k")
    assert q.num_requeues("k") == 0
    q.add_rate_limited("k")
    assert q.num_waiting() == 1
    clock.step(0.005)
    assert await _drain(q) == ["k"]


async def test_default_rate_limiter_is_client_gos():
    clock = FakeClock()
    q: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
    assert [q.rate_limiter.when("k") for _ in range(3)] == pytest.approx([0.005, 0.01, 0.02])
    for i in range(200):  # overall bucket: 100 burst at 10 qps
        last = q.rate_limiter.when(f"other-{i}")
    assert last > 5.0


async def test_shutdown_cancels_delayed():
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("a", 1)
    q.shutdown()
    clock.step(2)
    assert len(q) == 0
    with pytest.raises(QueueShutDown):
        await q.get()

"""EventCorrelator: de-duplication into count++, aggregation of similar events, the spam filter."""

from __future__ import annotations

import pytest

from kybernetes.client.record import COMBINED_PREFIX, EventBroadcaster, EventCorrelator


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


POD = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}


def recorder(**kw) -> tuple[EventBroadcaster, Clock]:
    clock = Clock()
    b = EventBroadcaster(None, host="h", correlator=EventCorrelator(clock=clock, **kw))
    return b, clock


async def emit(b: EventBroadcaster, *msgs: str, reason: str = "Started", obj: dict = POD) -> list[dict]:
    r = b("kubelet")
    for m in msgs:
        r.event(obj, "Normal", reason, m)
    await b.flush()
    out, b.written = b.written, []
    return out


async def test_identical_events_become_count_patches() -> None:
    b, clock = recorder()
    first = await emit(b, "hello")
    clock.t += 5
    again = await emit(b, "hello", "hello")
    assert first[0]["_patch"] is None and first[0]["count"] == 1
    assert [e["_patch"]["count"] for e in again] == [2, 3]
    assert {e["metadata"]["name"] for e in again} == {first[0]["metadata"]["name"]}
    assert again[0]["firstTimestamp"] == first[0]["firstTimestamp"]
    assert again[0]["_patch"]["lastTimestamp"] != first[0]["lastTimestamp"]


@pytest.mark.parametrize("distinct,combined", [(9, 0), (10, 1), (15, 6)],
                         ids=["below-threshold", "at-threshold", "above-threshold"])
async def test_similar_events_are_aggregated(distinct: int, combined: int) -> None:
    b, _ = recorder()
    out = await emit(b, *(f"message {i}" for i in range(distinct)))
    merged = [e for e in out if e["message"].startswith(COMBINED_PREFIX)]
    assert len(merged) == combined
    if combined > 1:  # the combined event is created once, then counted
        assert merged[0]["_patch"] is None and merged[-1]["_patch"]["count"] == combined
        assert len({e["metadata"]["name"] for e in merged}) == 1


async def test_aggregation_window_expires() -> None:
    b, clock = recorder()
    await emit(b, *(f"m{i}" for i in range(9)))
    clock.t += 601
    out = await emit(b, "m9")
    assert not out[0]["message"].startswith(COMBINED_PREFIX)


async def test_spam_filter_per_object() -> None:
    b, clock = recorder(spam_burst=3, spam_qps=1.0)
    out = await emit(b, "a", "b", "c", "d", "e")
    assert len(out) == 3
    other = {**POD, "metadata": {**POD["metadata"], "name": "q", "uid": "u2"}}
    assert len(await emit(b, "x", obj=other)) == 1
    clock.t += 1.0
    assert len(await emit(b, "f", "g")) == 1


def test_event_without_loop_is_dropped_not_raised() -> None:
    b, _ = recorder()
    b("x").event(POD, "Normal", "R", "m")
    assert b.dropped == 1


async def test_writes_limited_to_burst_then_qps() -> None:
    """The kubelet's eventRecordQPS/eventBurst: `burst` writes at once, the rest paced at `qps`, none dropped."""
    import asyncio
    import time

    b = EventBroadcaster(None, host="h", qps=20.0, burst=3)
    r = b("kubelet")
    pods = [{**POD, "metadata": {**POD["metadata"], "name": f"p{i}", "uid": f"u{i}"}} for i in range(6)]
    start = time.monotonic()
    for p in pods:
        r.event(p, "Normal", "Started", "started")
    await asyncio.sleep(0.02)
    assert len(b.written) == 3  # the burst at once
    await b.flush()
    assert len(b.written) == 6  # then the other three, about 1/20 s apart
    assert time.monotonic() - start >= 0.1

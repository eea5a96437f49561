"""Container restart back-off: 10 s doubling to 5 min, forgotten after 2x max."""

from __future__ import annotations

import pytest

from kybernetes.kubelet.backoff import Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_delays_double_up_to_max():
    clock = Clock()
    b = Backoff(10, 300, clock)
    delays = []
    for _ in range(7):
        exited = clock.now  # the container exits at once, the restart waits out the back-off
        clock.now += b.get("k")
        assert not b.in_backoff_since("k", exited)
        b.next("k", exited)
        delays.append(b.get("k"))
    assert delays == [10, 20, 40, 80, 160, 300, 300]


@pytest.mark.parametrize("elapsed,want", [(0, True), (9.9, True), (10.1, False)], ids=["just-exited", "almost", "over"])
def test_in_backoff_since_exit(elapsed, want):
    clock = Clock()
    b = Backoff(10, 300, clock)
    b.next("k", clock.now)  # first restart: immediate, records 10 s
    exited = clock.now
    clock.now += elapsed
    assert b.in_backoff_since("k", exited) is want


def test_reset_after_long_run():
    clock = Clock()
    b = Backoff(10, 300, clock)
    for _ in range(4):
        b.next("k", clock.now)
    assert b.get("k") == 80
    clock.now += 601  # ran for more than 2 x max
    assert not b.in_backoff_since("k", clock.now)
    b.next("k", clock.now)
    assert b.get("k") == 10

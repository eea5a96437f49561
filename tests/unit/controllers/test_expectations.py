"""ControllerExpectations and UIDTrackingControllerExpectations."""

from __future__ import annotations

import pytest

from kybernetes.controllers.expectations import ControllerExpectations, UIDTrackingControllerExpectations


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize("adds,observed,want", [
    (3, 0, False), (3, 2, False), (3, 3, True), (3, 4, True), (0, 0, True),
], ids=["none-seen", "some-seen", "all-seen", "over-seen", "nothing-expected"])
def test_creations(adds: int, observed: int, want: bool) -> None:
    e = ControllerExpectations()
    e.expect_creations("ns/rs", adds)
    for _ in range(observed):
        e.creation_observed("ns/rs")
    assert e.satisfied_expectations("ns/rs") is want


def test_unknown_key_is_satisfied_and_expiry_unblocks() -> None:
    clock = Clock()
    e = ControllerExpectations(clock=clock, timeout=300)
    assert e.satisfied_expectations("ns/new")
    e.expect_creations("ns/rs", 2)
    clock.t = 299
    assert not e.satisfied_expectations("ns/rs")
    clock.t = 301
    assert e.satisfied_expectations("ns/rs")
    e.delete_expectations("ns/rs")
    assert e.get_expectations("ns/rs") is None


def test_uid_tracking_counts_each_deletion_once() -> None:
    e = UIDTrackingControllerExpectations()
    e.expect_deletions("ns/rs", ["ns/p1", "ns/p2"])
    e.deletion_observed("ns/rs", "ns/p1")
    e.deletion_observed("ns/rs", "ns/p1")  # the update with deletionTimestamp, then the DELETED event
    e.deletion_observed("ns/rs", "ns/other")  # not one of ours
    assert not e.satisfied_expectations("ns/rs")
    e.deletion_observed("ns/rs", "ns/p2")
    assert e.satisfied_expectations("ns/rs")
    e.delete_expectations("ns/rs")
    assert e.get_uids("ns/rs") is None

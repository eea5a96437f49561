"""Probe result thresholds."""

from __future__ import annotations

import pytest

from kybernetes.kubelet.probes import ResultTracker, probe_settings


@pytest.mark.parametrize("initial,success,failure,results,want", [
    (False, 1, 3, [True], [True]),
    (False, 2, 3, [True, True], [False, True]),
    (False, 2, 3, [True, False, True, True], [False, False, False, True]),
    (True, 1, 3, [False, False, False], [True, True, False]),
    (True, 1, 3, [False, False, True, False], [True, True, True, True]),
    (True, 1, 1, [False], [False]),
    (None, 1, 3, [True], [True]),
], ids=["readiness-one-success", "two-successes-needed", "interrupted-success-run", "three-failures",
        "failure-run-interrupted", "failure-threshold-1", "startup-unknown-to-success"])
def test_thresholds(initial, success, failure, results, want):
    t = ResultTracker(success, failure, initial)
    got = []
    for ok in results:
        t.observe(ok)
        got.append(t.result)
    assert got == want


def test_settings_defaults():
    assert probe_settings({}) == (0.0, 10.0, 1.0, 1, 3)
    assert probe_settings({"initialDelaySeconds": 5, "periodSeconds": 2, "timeoutSeconds": 3, "successThreshold": 2,
                           "failureThreshold": 1}) == (5.0, 2.0, 3.0, 2, 1)

"""Pod phase and conditions as upstream computes them."""

from __future__ import annotations

import pytest

from kybernetes.kubelet import status as st


def spec(policy: str = "Always", inits: tuple = (), sidecars: tuple = (), apps: tuple = ("a",), gates: tuple = ()) -> dict:
    return {"restartPolicy": policy,
            "initContainers": [{"name": n} for n in inits] + [{"name": n, "restartPolicy": "Always"} for n in sidecars],
            "containers": [{"name": n} for n in apps],
            "readinessGates": [{"conditionType": g} for g in gates]}


def running(name: str, ready: bool = True, started: bool = True) -> dict:
    return {"name": name, "state": {"running": {}}, "ready": ready, "started": started}


def terminated(name: str, code: int) -> dict:
    return {"name": name, "state": {"terminated": {"exitCode": code}}, "ready": False}


def waiting(name: str, last_code: int | None = None) -> dict:
    s = {"name": name, "state": {"waiting": {"reason": "X"}}, "ready": False}
    if last_code is not None:
        s["lastState"] = {"terminated": {"exitCode": last_code}}
    return s


@pytest.mark.parametrize("pod_spec,inits,apps,terminal,want", [
    (spec(), [], [running("a")], False, "Running"),
    (spec(), [], [waiting("a")], False, "Pending"),
    (spec(), [], [], False, "Pending"),
    (spec(), [], [waiting("a", 1)], False, "Running"),
    (spec("Always"), [], [terminated("a", 0)], False, "Running"),
    (spec("Never"), [], [terminated("a", 0)], False, "Succeeded"),
    (spec("Never"), [], [terminated("a", 2)], False, "Failed"),
    (spec("OnFailure"), [], [terminated("a", 2)], False, "Running"),
    (spec("OnFailure"), [], [terminated("a", 0)], False, "Succeeded"),
    (spec("Always"), [], [terminated("a", 143)], True, "Failed"),
    (spec("Always"), [], [terminated("a", 0)], True, "Succeeded"),
    (spec("Never", inits=("i",)), [terminated("i", 1)], [waiting("a")], False, "Failed"),
    (spec("Always", inits=("i",)), [running("i")], [waiting("a")], False, "Pending"),
    (spec("Always", inits=("i",)), [terminated("i", 0)], [running("a")], False, "Running"),
    (spec("Always", sidecars=("s",)), [running("s", started=False)], [waiting("a")], False, "Pending"),
    (spec("Never", sidecars=("s",)), [running("s")], [terminated("a", 0)], False, "Running"),
    (spec("Never", sidecars=("s",)), [terminated("s", 137)], [terminated("a", 0)], False, "Succeeded"),
], ids=["running", "waiting", "unknown", "crashloop", "always-exited", "never-ok", "never-fail", "onfailure-fail",
        "onfailure-ok", "terminal-killed", "terminal-ok", "init-failed-never", "init-running", "init-done",
        "sidecar-not-started", "sidecar-still-running", "sidecar-stopped"])
def test_get_phase(pod_spec, inits, apps, terminal, want):
    assert st.get_phase(pod_spec, inits, apps, pod_is_terminal=terminal) == want


@pytest.mark.parametrize("pod_spec,apps,phase,old,want", [
    (spec(apps=("a", "b")), [running("a"), running("b")], "Running", [], ("True", None, None)),
    (spec(apps=("a", "b")), [running("a"), running("b", ready=False)], "Running", [],
     ("False", "ContainersNotReady", "containers with unready status: [b]")),
    (spec(apps=("a", "b")), [running("a", ready=False)], "Pending", [],
     ("False", "ContainersNotReady", "containers with unknown status: [b], containers with unready status: [a]")),
    (spec(), [terminated("a", 0)], "Succeeded", [], ("False", "PodCompleted", None)),
    (spec(gates=("g",)), [running("a")], "Running", [],
     ("False", "ReadinessGatesNotReady", 'corresponding condition of pod readiness gate "g" does not exist.')),
    (spec(gates=("g",)), [running("a")], "Running", [{"type": "g", "status": "False"}],
     ("False", "ReadinessGatesNotReady", 'the status of pod readiness gate "g" is not "True", but False')),
    (spec(gates=("g",)), [running("a")], "Running", [{"type": "g", "status": "True"}], ("True", None, None)),
], ids=["all-ready", "one-unready", "unknown-and-unready", "completed", "gate-missing", "gate-false", "gate-true"])
def test_ready_condition(pod_spec, apps, phase, old, want):
    conds = st.pod_conditions(pod_spec, old, [], apps, phase, True, "now")
    ready = next(c for c in conds if c["type"] == "Ready")
    assert (ready["status"], ready.get("reason"), ready.get("message")) == want


@pytest.mark.parametrize("inits,apps,want", [
    ([terminated("i1", 0), running("i2")], [waiting("a")], ("False", "containers with incomplete status: [i2]")),
    ([terminated("i1", 0), terminated("i2", 0)], [waiting("a")], ("True", None)),
    ([], [waiting("a")], ("False", "containers with incomplete status: [i1 i2]")),
    ([], [running("a")], ("True", None)),
], ids=["second-running", "all-done", "none-started", "app-started"])
def test_initialized_condition(inits, apps, want):
    c = st.initialized_condition(spec(inits=("i1", "i2")), inits, apps)
    assert (c["status"], c.get("message")) == want


def test_conditions_keep_transition_time_and_foreign_conditions():
    old = [{"type": "Ready", "status": "True", "lastTransitionTime": "t0"}, {"type": "DisruptionTarget", "status": "True"},
           {"type": "PodScheduled", "status": "True", "lastTransitionTime": "t0"}]
    conds = st.pod_conditions(spec(), old, [], [running("a")], "Running", True, "t1")
    by = {c["type"]: c for c in conds}
    assert by["Ready"]["lastTransitionTime"] == "t0"
    assert by["ContainersReady"]["lastTransitionTime"] == "t1"
    assert "DisruptionTarget" in by and by["PodScheduled"]["lastTransitionTime"] == "t0"


def test_transition_times_come_from_the_last_written_status_before_the_informer_has_it():
    written = st.pod_conditions(spec(), [], [], [running("a")], "Running", True, "t1")
    # a sync a second later, the informer's copy of the pod still without the written conditions
    again = st.pod_conditions(spec(), [], [], [running("a")], "Running", True, "t2", written)
    assert again == written


def test_conditions_carry_no_nulls_for_the_merge_patch_to_drop():
    old = [{"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": "t0"}]
    conds = st.pod_conditions(spec(), old, [], [running("a")], "Running", True, "t1")
    assert all(None not in c.values() for c in conds)


def _pod(**status):
    return {"metadata": {"name": "p", "uid": "u", "resourceVersion": "1", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending", **status}}


def _with(pod, path, value):
    import copy

    out = copy.deepcopy(pod)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


_GATE = {"type": "example.com/gate", "status": "True", "lastProbeTime": None}


@pytest.mark.parametrize(
    "path,value,expected",
    [
        (("metadata", "resourceVersion"), "2", False),
        (("status", "phase"), "Running", False),  # the kubelet's own status write coming back
        (("status", "conditions"), [{"type": "Ready", "status": "True"}], False),
        (("status", "phase"), "Failed", True),  # set by another component
        (("status", "conditions"), [_GATE], True),  # a readiness gate's condition
        (("metadata", "labels"), {"a": "c"}, True),
        (("metadata", "deletionTimestamp"), "2024-01-01T00:00:00Z", True),
        (("spec", "activeDeadlineSeconds"), 5, True),
    ],
    ids=["rv", "own-phase", "own-condition", "terminal-phase", "gate", "labels", "deletion", "spec"],
)
def test_needs_sync(path, value, expected):
    old = _pod()
    assert st.needs_sync(old, _with(old, path, value)) is expected


def test_needs_sync_ignores_nulls_the_apiserver_drops():
    old = _pod(conditions=[_GATE])
    new = _pod(conditions=[{k: v for k, v in _GATE.items() if v is not None}])
    assert st.needs_sync(old, new) is False

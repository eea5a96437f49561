"""Job controller pieces: counting finished pods exactly once, pod failure and success policies, completion
indexes, back-off of failed pods, and conditions."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.controllers import jobutil as ju
from kybernetes.controllers.job import observe

Obj = dict[str, Any]
F = ju.JOB_TRACKING_FINALIZER


def job(**spec: Any) -> Obj:
    status = spec.pop("status", {})
    return {"metadata": {"name": "j", "namespace": "ns", "uid": "job"}, "spec": spec, "status": status}


def pod(uid: str, phase: str = "Running", *, finalizer: bool = True, deleting: bool = False, index: int | None = None,
        exit_codes: dict[str, int] | None = None, init_exit_codes: dict[str, int] | None = None,
        conditions: list[Obj] | None = None) -> Obj:
    md: Obj = {"name": f"p-{uid}", "namespace": "ns", "uid": uid, "finalizers": [F] if finalizer else []}
    if deleting:
        md["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    if index is not None:
        md["annotations"] = {ju.JOB_COMPLETION_INDEX_ANNOTATION: str(index)}

    def statuses(codes: dict[str, int] | None) -> list[Obj]:
        return [{"name": n, "state": {"terminated": {"exitCode": c}}} for n, c in (codes or {}).items()]

    return {"metadata": md, "status": {"phase": phase, "containerStatuses": statuses(exit_codes),
                                       "initContainerStatuses": statuses(init_exit_codes),
                                       "conditions": conditions or []}}


def uids(pods: list[Obj]) -> list[str]:
    return sorted(p["metadata"]["uid"] for p in pods)


IGNORE_137 = {"rules": [{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [137]}}]}


@pytest.mark.parametrize("the_job,pods,expected,want", [
    (job(), [pod("a", "Succeeded"), pod("b", "Failed"), pod("c")], set(),
     {"new_succeeded": ["a"], "new_failed": ["b"], "succeeded": 1, "failed": 1, "active": 1}),
    (job(status={"succeeded": 2, "failed": 1, "uncountedTerminatedPods": {"succeeded": ["a"]}}),
     [pod("a", "Succeeded"), pod("b", "Succeeded")], set(),
     {"new_succeeded": ["b"], "new_failed": [], "succeeded": 4, "failed": 1, "active": 0}),
    (job(), [pod("a", "Succeeded", finalizer=False), pod("b", "Failed")], {"b"},
     {"new_succeeded": [], "new_failed": [], "succeeded": 0, "failed": 0, "active": 0}),
    (job(), [pod("a", deleting=True)], set(),
     {"new_succeeded": [], "new_failed": ["a"], "succeeded": 0, "failed": 1, "active": 0, "terminating": 1}),
    (job(podReplacementPolicy="Failed"), [pod("a", deleting=True)], set(),
     {"new_succeeded": [], "new_failed": [], "succeeded": 0, "failed": 0, "active": 0, "terminating": 1}),
    (job(podFailurePolicy=IGNORE_137), [pod("a", "Failed", exit_codes={"c": 137}),
                                        pod("b", "Failed", exit_codes={"c": 1})], set(),
     {"new_succeeded": [], "new_failed": ["b"], "succeeded": 0, "failed": 1, "active": 0}),
    (job(completionMode="Indexed", completions=4, status={"completedIndexes": "0"}),
     [pod("a", "Succeeded", index=2), pod("b", "Succeeded", index=9), pod("c", index=3)], set(),
     {"new_succeeded": ["a", "b"], "new_failed": [], "succeeded": 2, "failed": 0, "active": 1}),
], ids=["new-finished-pods", "uncounted-are-not-new", "finalizer-gone-or-removal-pending",
        "deleted-running-pod-counts-as-failed", "replace-only-failed-waits-for-phase",
        "ignored-exit-code-not-counted", "indexed-counts-distinct-valid-indexes"])
def test_observe_counts_each_finished_pod_once(the_job: Obj, pods: list[Obj], expected: set[str],
                                               want: dict[str, Any]) -> None:
    state = observe(the_job, pods, expected)
    got = {"new_succeeded": uids(state.new_succeeded), "new_failed": uids(state.new_failed),
           "succeeded": state.succeeded, "failed": state.failed, "active": len(state.active_pods)}
    if "terminating" in want:
        got["terminating"] = state.terminating
    assert got == want


def rule(action: str, **on: Any) -> Obj:
    return {"action": action, **on}


@pytest.mark.parametrize("policy,the_pod,want", [
    (None, pod("a", "Failed", exit_codes={"c": 1}), (None, True, None)),
    ({"rules": [rule("FailJob", onExitCodes={"operator": "In", "values": [42]})]},
     pod("a", "Failed", exit_codes={"c": 42}),
     ("Container c for pod ns/p-a failed with exit code 42 matching FailJob rule at index 0", True, "FailJob")),
    ({"rules": [rule("FailJob", onExitCodes={"operator": "NotIn", "values": [1, 2]})]},
     pod("a", "Failed", exit_codes={"c": 2}), (None, True, None)),
    ({"rules": [rule("FailJob", onExitCodes={"operator": "NotIn", "values": [1, 2]})]},
     pod("a", "Failed", exit_codes={"ok": 0, "c": 3}),
     ("Container c for pod ns/p-a failed with exit code 3 matching FailJob rule at index 0", True, "FailJob")),
    ({"rules": [rule("FailJob", onExitCodes={"containerName": "main", "operator": "In", "values": [5]})]},
     pod("a", "Failed", exit_codes={"side": 5}), (None, True, None)),
    ({"rules": [rule("Count", onExitCodes={"operator": "In", "values": [5]})]},
     pod("a", "Failed", init_exit_codes={"init": 5}), (None, True, "Count")),
    ({"rules": [rule("Ignore", onPodConditions=[{"type": "DisruptionTarget", "status": "True"}]),
                rule("FailJob", onExitCodes={"operator": "In", "values": [137]})]},
     pod("a", "Failed", exit_codes={"c": 137}, conditions=[{"type": "DisruptionTarget", "status": "True"}]),
     (None, False, "Ignore")),
    ({"rules": [rule("FailJob", onPodConditions=[{"type": "ConfigIssue", "status": "True"}])]},
     pod("a", "Failed", conditions=[{"type": "ConfigIssue", "status": "True"}]),
     ("Pod ns/p-a has condition ConfigIssue matching FailJob rule at index 0", True, "FailJob")),
    ({"rules": [rule("FailIndex", onExitCodes={"operator": "In", "values": [7]})]},
     pod("a", "Failed", exit_codes={"c": 7}), (None, True, "FailIndex")),
], ids=["no-policy", "failjob-in", "notin-excluded", "notin-skips-exit-0", "container-name-must-match",
        "init-container-count", "first-matching-rule-wins", "failjob-on-condition", "failindex"])
def test_pod_failure_policy(policy: Obj | None, the_pod: Obj, want: tuple[Any, ...]) -> None:
    assert ju.match_pod_failure_policy(policy, the_pod) == want


@pytest.mark.parametrize("text,completions,indexes,canonical", [
    ("", 5, set(), ""),
    ("1,3-5,7", 10, {1, 3, 4, 5, 7}, "1,3-5,7"),
    ("0-2,9", 5, {0, 1, 2}, "0-2"),
    ("4,2,3", 5, {2, 3, 4}, "2-4"),
], ids=["empty", "ranges", "out-of-range-dropped", "unsorted"])
def test_completed_indexes_round_trip(text: str, completions: int, indexes: set[int], canonical: str) -> None:
    assert ju.parse_indexes(text, completions) == indexes
    assert ju.format_indexes(indexes) == canonical


def test_first_pending_indexes_skip_succeeded_and_taken() -> None:
    assert ju.first_pending_indexes(6, {0, 3}, {1}, 2) == [2, 4]
    assert ju.first_pending_indexes(3, {0, 1, 2}, set(), 5) == []


def test_indexed_pod_template_gets_annotation_label_hostname_and_env() -> None:
    template = {"spec": {"containers": [{"name": "c"}], "initContainers": [{"name": "i", "env": [{"name": "X"}]}]}}
    ju.add_completion_index_env(template)
    ju.set_completion_index(template, 4, "work")
    assert template["metadata"] == {"annotations": {ju.JOB_COMPLETION_INDEX_ANNOTATION: "4"},
                                    "labels": {ju.JOB_INDEX_LABEL: "4"}}
    assert template["spec"]["hostname"] == "work-4"
    env = {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
        "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}
    assert template["spec"]["containers"][0]["env"] == [env]
    assert template["spec"]["initContainers"][0]["env"] == [{"name": "X"}, env]


@pytest.mark.parametrize("policy,succeeded,want", [
    ({"rules": [{"succeededIndexes": "0-2"}]}, {0, 1}, None),
    ({"rules": [{"succeededIndexes": "0-2"}]}, {0, 1, 2, 5}, "Matched rules at index 0"),
    ({"rules": [{"succeededIndexes": "1-4", "succeededCount": 3}]}, {1, 3, 5}, None),
    ({"rules": [{"succeededIndexes": "1-4", "succeededCount": 2}]}, {1, 3, 5}, "Matched rules at index 0"),
    ({"rules": [{"succeededIndexes": "9"}, {"succeededCount": 2}]}, {0, 6}, "Matched rules at index 1"),
], ids=["indexes-missing", "indexes-all-in", "count-within-indexes-short", "count-within-indexes", "second-rule"])
def test_success_policy(policy: Obj, succeeded: set[int], want: str | None) -> None:
    assert ju.match_success_policy(policy, succeeded, 10) == want


@pytest.mark.parametrize("record,now,want", [
    (ju.BackoffRecord(0, None), 100.0, 0.0),
    (ju.BackoffRecord(1, 100.0), 104.0, 6.0),
    (ju.BackoffRecord(3, 100.0), 110.0, 30.0),
    (ju.BackoffRecord(20, 100.0), 100.0, 600.0),
    (ju.BackoffRecord(2, 100.0), 200.0, 0.0),
], ids=["no-failures", "first-10s", "doubles", "capped-10min", "elapsed"])
def test_backoff_remaining(record: ju.BackoffRecord, now: float, want: float) -> None:
    assert record.remaining(now) == pytest.approx(want)


def test_backoff_record_reset_by_success() -> None:
    rec = ju.BackoffRecord().updated([], [10.0, 12.0])
    assert rec == ju.BackoffRecord(2, 12.0)
    assert rec.updated([20.0], [15.0, 25.0]) == ju.BackoffRecord(1, 25.0)


@pytest.mark.parametrize("restart_policy,limit,restarts,want", [
    ("Never", 0, 5, False), ("OnFailure", 0, 1, True), ("OnFailure", 3, 2, False), ("OnFailure", 3, 3, True),
], ids=["never-ignores-restarts", "limit-zero", "below-limit", "at-limit"])
def test_past_backoff_limit_on_failure(restart_policy: str, limit: int, restarts: int, want: bool) -> None:
    the_job = job(backoffLimit=limit, template={"spec": {"restartPolicy": restart_policy}})
    running = pod("a")
    running["status"]["containerStatuses"] = [{"name": "c", "restartCount": restarts}]
    assert ju.past_backoff_limit_on_failure(the_job, [running]) is want


def test_ensure_condition_keeps_transition_time_and_skips_new_false() -> None:
    cond = ju.new_condition("Suspended", "True", "JobSuspended", "Job suspended", "t1")
    conds, changed = ju.ensure_condition([], cond)
    assert changed and conds[0]["lastTransitionTime"] == "t1"
    assert ju.ensure_condition(conds, ju.new_condition("Suspended", "True", "JobSuspended", "Job suspended",
                                                       "t2")) == (conds, False)
    resumed, changed = ju.ensure_condition(conds, ju.new_condition("Suspended", "False", "JobResumed", "Job resumed",
                                                                   "t3"))
    assert changed and (resumed[0]["status"], resumed[0]["lastTransitionTime"]) == ("False", "t3")
    assert ju.ensure_condition([], ju.new_condition("Suspended", "False", "JobResumed", "Job resumed", "t")) == \
        ([], False)

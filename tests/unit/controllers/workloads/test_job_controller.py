"""The Job controller's sync against a recording client: how many pods it creates or deletes, which indexes,
when it waits out the failure back-off, and the status it writes."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.controllers import jobutil as ju
from kybernetes.controllers.job import JobController
from tests.unit.controllers.workloads.fakes import fake_context

Obj = dict[str, Any]
NOW = 1_700_000_000.0
SELECTOR = {"matchLabels": {"batch.kubernetes.io/controller-uid": "job-uid"}}


def job(**spec: Any) -> Obj:
    status = spec.pop("status", {})
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "j", "namespace": "ns", "uid": "job-uid", "resourceVersion": "1"},
            "spec": {"parallelism": 1, "selector": SELECTOR, "template": {
                "metadata": {"labels": {"batch.kubernetes.io/controller-uid": "job-uid"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c"}]}}, **spec},
            "status": status}


def pod(name: str, phase: str = "Running", index: int | None = None, finalizer: bool = True) -> Obj:
    md: Obj = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "creationTimestamp": "2024-01-01T00:00:00Z",
               "labels": {"batch.kubernetes.io/controller-uid": "job-uid"},
               "ownerReferences": [{"kind": "Job", "name": "j", "uid": "job-uid", "controller": True}],
               "finalizers": [ju.JOB_TRACKING_FINALIZER] if finalizer else []}
    if index is not None:
        md["annotations"] = {ju.JOB_COMPLETION_INDEX_ANNOTATION: str(index)}
    return {"metadata": md, "spec": {}, "status": {"phase": phase}}


async def sync(the_job: Obj, pods: list[Obj], **extra: Any) -> tuple[Any, Any, Any, Any]:
    ctx, client, informers, events = fake_context(**extra)
    ctl = JobController(ctx, now=lambda: NOW)
    ctl.jobs.store.upsert(the_job)
    for p in pods:
        ctl.pods.store.upsert(p)
    result = await ctl.reconcile("ns/j")
    return result, client, events, ctl


def created(client: Any) -> list[Obj]:
    return [body for verb, _, body in client.calls if verb == "create"]


def last_status(client: Any) -> Obj:
    return [body for verb, path, body in client.calls if verb == "update" and path.endswith("/status")][-1]["status"]


@pytest.mark.parametrize("spec,pods,want_created", [
    ({"parallelism": 2, "completions": 5}, [], 2),
    ({"parallelism": 4, "completions": 5, "status": {"succeeded": 3}}, [], 2),
    ({"parallelism": 3, "completions": 5}, [pod("a")], 2),
    ({"parallelism": 3}, [], 3),
    ({"parallelism": 3, "status": {"succeeded": 1}}, [pod("a")], 0),
    ({"parallelism": 2, "suspend": True}, [], 0),
], ids=["parallelism-caps", "remaining-completions-cap", "counts-active", "work-queue",
        "work-queue-after-a-success", "suspended"])
async def test_creates_up_to_the_wanted_active_count(spec: Obj, pods: list[Obj], want_created: int) -> None:
    _, client, events, _ = await sync(job(**spec), pods)
    pods_made = created(client)
    assert len(pods_made) == want_created
    for body in pods_made:
        assert body["metadata"]["finalizers"] == [ju.JOB_TRACKING_FINALIZER]
        assert body["metadata"]["ownerReferences"][0]["uid"] == "job-uid"
        assert body["metadata"]["generateName"] == "j-"
    assert events.reasons().count("SuccessfulCreate") == want_created


async def test_indexed_job_creates_lowest_missing_indexes() -> None:
    the_job = job(completionMode="Indexed", completions=5, parallelism=3, status={"completedIndexes": "0"})
    _, client, _, _ = await sync(the_job, [pod("a", index=2)])
    made = created(client)
    assert sorted(int(b["metadata"]["annotations"][ju.JOB_COMPLETION_INDEX_ANNOTATION]) for b in made) == [1, 3]
    assert sorted(b["metadata"]["generateName"] for b in made) == ["j-1-", "j-3-"]


async def test_suspend_deletes_active_pods_without_counting_them() -> None:
    _, client, events, _ = await sync(job(parallelism=2, suspend=True), [pod("a"), pod("b")])
    verbs = [(v, p.rsplit("/", 1)[-1]) for v, p, _ in client.calls if "/pods/" in p]
    assert sorted(verbs) == [("delete", "a"), ("delete", "b"), ("patch", "a"), ("patch", "b")]
    assert verbs.index(("patch", "a")) < verbs.index(("delete", "a"))  # the finalizer goes first
    status = last_status(client)
    assert status["active"] == 0 and not status.get("failed")
    cond = [c for c in status["conditions"] if c["type"] == "Suspended"][0]
    assert (cond["status"], cond["reason"]) == ("True", "JobSuspended")
    assert "Suspended" in events.reasons()


async def test_replacement_waits_for_failure_backoff() -> None:
    result, client, _, ctl = await sync(job(completions=1), [pod("a", "Failed")], job_pod_failure_backoff=10.0)
    assert created(client) == []
    assert result.requeue_after == pytest.approx(10.0)
    assert ctl.backoffs["ns/j"].failures_after_last_success == 1
    status = last_status(client)
    assert status["failed"] == 1 and not status.get("uncountedTerminatedPods")


async def test_finished_pods_are_recorded_then_finalizers_removed_then_counted() -> None:
    _, client, events, _ = await sync(job(completions=2, parallelism=2), [pod("a", "Succeeded"),
                                                                          pod("b", "Succeeded")])
    writes = [(v, p.rsplit("/", 1)[-1], b) for v, p, b in client.calls if v in ("update", "patch")]
    assert [w[:2] for w in writes] == [("update", "status"), ("patch", "a"), ("patch", "b"), ("update", "status")]
    first, last = writes[0][2]["status"], writes[-1][2]["status"]
    assert first["uncountedTerminatedPods"] == {"succeeded": ["uid-a", "uid-b"]} and not first.get("succeeded")
    assert first["conditions"][0]["type"] == "SuccessCriteriaMet"
    assert last["succeeded"] == 2 and last["uncountedTerminatedPods"] == {}
    assert {c["type"]: c["reason"] for c in last["conditions"]} == {"SuccessCriteriaMet": "CompletionsReached",
                                                                    "Complete": "CompletionsReached"}
    assert last["completionTime"] and "Completed" in events.reasons()


@pytest.mark.parametrize("spec,pods,reason", [
    ({"backoffLimit": 1, "completions": 3, "status": {"failed": 1}}, [pod("a", "Failed")], "BackoffLimitExceeded"),
    ({"activeDeadlineSeconds": 30, "status": {"startTime": "2023-11-14T22:12:00Z"}}, [], "DeadlineExceeded"),
    ({"podFailurePolicy": {"rules": [{"action": "FailJob", "onPodConditions": [{"type": "Boom", "status": "True"}]}]},
      "completions": 3}, [{**pod("a", "Failed"), "status": {"phase": "Failed", "conditions": [
          {"type": "Boom", "status": "True"}]}}], "PodFailurePolicy"),
], ids=["backoff-limit", "deadline", "pod-failure-policy"])
async def test_failure_reasons(spec: Obj, pods: list[Obj], reason: str) -> None:
    _, client, events, _ = await sync(job(**spec), pods)
    conds = {c["type"]: c for c in last_status(client)["conditions"]}
    assert conds["FailureTarget"]["reason"] == reason and conds["Failed"]["reason"] == reason
    assert reason in events.reasons()
    assert created(client) == []

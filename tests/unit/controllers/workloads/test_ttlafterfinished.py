"""The TTL-after-finished controller: when a finished Job expires, and the foreground delete it then sends."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.controllers.base import Result
from kybernetes.controllers.ttlafterfinished import TTLAfterFinishedController, time_left
from tests.unit.controllers.workloads.fakes import fake_context

Obj = dict[str, Any]
FINISHED_AT = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def job(ttl: int | None, condition: str | None = "Complete", deleting: bool = False) -> Obj:
    md: Obj = {"name": "j", "namespace": "ns", "uid": "u", "resourceVersion": "7"}
    if deleting:
        md["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    conds = [{"type": condition, "status": "True", "lastTransitionTime": "2023-11-14T22:13:20Z"}] if condition else []
    return {"metadata": md, "spec": {"ttlSecondsAfterFinished": ttl} if ttl is not None else {},
            "status": {"conditions": conds}}


@pytest.mark.parametrize("the_job,now,want", [
    (job(60), FINISHED_AT + 10, 50.0),
    (job(60, "Failed"), FINISHED_AT + 61, -1.0),
    (job(0), FINISHED_AT, 0.0),
    (job(None), FINISHED_AT, None),
    (job(60, None), FINISHED_AT, None),
    (job(60, deleting=True), FINISHED_AT + 100, None),
], ids=["waiting", "failed-expired", "zero-ttl", "no-ttl", "still-running", "already-deleting"])
def test_time_left(the_job: Obj, now: float, want: float | None) -> None:
    assert time_left(the_job, now) == want


@pytest.mark.parametrize("now,want_delete,want_result", [
    (FINISHED_AT + 30, False, Result(requeue_after=30.0)),
    (FINISHED_AT + 60, True, Result()),
], ids=["requeued-until-expiry", "deleted-in-foreground"])
async def test_reconcile(now: float, want_delete: bool, want_result: Result) -> None:
    ctx, client, _, _ = fake_context()

    async def get(path: str, params: Any = None) -> Obj:
        return job(60)
    client.get = get  # type: ignore[method-assign]
    ctl = TTLAfterFinishedController(ctx, now=lambda: now)
    ctl.jobs.store.upsert(job(60))
    assert await ctl.reconcile("ns/j") == want_result
    deletes = [body for verb, _, body in client.calls if verb == "delete"]
    assert deletes == ([{"propagationPolicy": "Foreground",
                         "preconditions": {"uid": "u", "resourceVersion": "7"}}] if want_delete else [])

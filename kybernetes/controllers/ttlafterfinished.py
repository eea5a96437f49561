"""The TTL-after-finished controller: deletes a finished Job (and, in the foreground, its pods) once
spec.ttlSecondsAfterFinished have passed since its Complete or Failed condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kybernetes.client import ApiError, resource_path, split_key
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext
from kybernetes.controllers.controller_utils import is_being_deleted
from kybernetes.controllers.jobutil import timestamp_of

Obj = dict[str, Any]


def finish_time(job: Obj) -> float | None:
    """When the Job's terminal (Complete or Failed) condition became True, or None while it runs."""
    for c in (job.get("status") or {}).get("conditions") or ():
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return timestamp_of(c.get("lastTransitionTime"))
    return None


def needs_cleanup(job: Obj) -> bool:
    return (job.get("spec") or {}).get("ttlSecondsAfterFinished") is not None and \
        finish_time(job) is not None and not is_being_deleted(job)


def time_left(job: Obj, now: float) -> float | None:
    """Seconds until the Job expires (<= 0 once expired); None when it needs no clean-up."""
    if not needs_cleanup(job):
        return None
    finished = finish_time(job)
    assert finished is not None
    return finished + float(job["spec"]["ttlSecondsAfterFinished"]) - now


class TTLAfterFinishedController:
    """Deletes finished Jobs whose time to live has run out."""

    name = "ttl-after-finished"

    def __init__(self, ctx: ControllerContext, *, now: Callable[[], float] = time.time) -> None:
        self.client = ctx.client
        self.now = now
        self.worker = QueueWorker(self.name, self.reconcile)
        self.jobs = ctx.informers.informer_for("batch", "v1", "jobs")
        self.jobs.add_event_handler(on_add=self._maybe_enqueue, on_update=lambda old, new: self._maybe_enqueue(new))

    async def run(self, workers: int = 0) -> None:
        await self.worker.run(workers or 5)

    def _maybe_enqueue(self, job: Obj) -> None:
        if needs_cleanup(job):
            self.worker.enqueue_object(job)

    async def reconcile(self, key: str) -> Result:
        job = self.jobs.store.get_by_key(key)
        if job is None:
            return Result()
        left = time_left(job, self.now())
        if left is None:
            return Result()
        if left > 0:
            return Result(requeue_after=left)
        namespace, name = split_key(key)
        path = resource_path("batch", "v1", "jobs", namespace, name)
        try:
            fresh = await self.client.get(path)  # the cache may be stale: the TTL may have been changed
        except ApiError as e:
            if e.not_found:
                return Result()
            raise
        left = time_left(fresh, self.now())
        if left is None:
            return Result()
        if left > 0:
            return Result(requeue_after=left)
        try:
            await self.client.delete(path, body={"propagationPolicy": "Foreground", "preconditions": {
                "uid": fresh["metadata"]["uid"], "resourceVersion": fresh["metadata"]["resourceVersion"]}})
        except ApiError as e:
            if not e.not_found:
                raise
        return Result()


CONTROLLER = TTLAfterFinishedController

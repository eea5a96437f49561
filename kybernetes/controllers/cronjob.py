"""The CronJob controller (upstream's cronjob ControllerV2): creates a Job at each scheduled time, honouring
startingDeadlineSeconds, concurrencyPolicy, suspend and the history limits, and requeues each CronJob for
its next activation. The wall clock is injectable (`now`), so tests can step through schedules."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone, tzinfo
from email.utils import format_datetime
from typing import Any

from kybernetes.api.validation.cron import CronError
from kybernetes.client import ApiError, resource_path
from kybernetes.controllers import jobutil as ju
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext
from kybernetes.controllers.controller_utils import get_controller_of, is_being_deleted, new_controller_ref
from kybernetes.controllers.cronschedule import CronSchedule, load_location, most_recent_schedule, parse_schedule

log = logging.getLogger(__name__)

Obj = dict[str, Any]

API_VERSION, KIND = "batch/v1", "CronJob"
SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
NEXT_SCHEDULE_DELTA = 0.1  # upstream wakes up 100ms after the activation
TOO_MANY_MISSED = 100


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_in(epoch: float, location: tzinfo) -> str:
    """Go's time.RFC3339 in a zone: '2024-01-01T09:00:00+09:00', or 'Z' for a zero offset."""
    text = datetime.fromtimestamp(int(epoch), location).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def job_name(cronjob: Obj, scheduled: float) -> str:
    """<cronjob>-<scheduled time in minutes since the epoch>."""
    return f"{cronjob['metadata']['name']}-{int(scheduled) // 60}"


def finished_type(job: Obj) -> str | None:
    for c in (job.get("status") or {}).get("conditions") or ():
        if c.get("type") in (ju.COMPLETE, ju.FAILED) and c.get("status") == "True":
            return str(c["type"])
    return None


def most_recent_schedule_time(cj: Obj, now: float, schedule: CronSchedule,
                              include_starting_deadline: bool) -> tuple[float, float | None, int]:
    """(earliest time considered, latest activation in (earliest, now] or None, estimated number missed)."""
    md, spec, status = cj["metadata"], cj.get("spec") or {}, cj.get("status") or {}
    earliest = ju.timestamp_of(status.get("lastScheduleTime")) or ju.timestamp_of(md.get("creationTimestamp")) or now
    deadline = spec.get("startingDeadlineSeconds")
    if include_starting_deadline and deadline is not None:
        earliest = max(earliest, now - float(deadline))
    recent, missed = most_recent_schedule(schedule, earliest, now)
    return earliest, recent, missed


def next_schedule_duration(cj: Obj, now: float, schedule: CronSchedule) -> float | None:
    """Seconds from now until just after the next activation (nextScheduleTimeDuration)."""
    try:
        earliest, recent, _ = most_recent_schedule_time(cj, now, schedule, False)
    except ValueError:
        return None
    following = schedule.next(recent if recent is not None else earliest)
    if following is None:
        return None
    return max(following + NEXT_SCHEDULE_DELTA - now, NEXT_SCHEDULE_DELTA)


def job_from_template(cj: Obj, scheduled: float, location: tzinfo) -> Obj:
    """getJobFromTemplate2: the template's labels, annotations and spec, named for the scheduled time."""
    template = copy.deepcopy((cj.get("spec") or {}).get("jobTemplate") or {})
    tmeta = template.get("metadata") or {}
    annotations = dict(tmeta.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP_ANNOTATION] = rfc3339_in(scheduled, location)
    meta: Obj = {"name": job_name(cj, scheduled), "namespace": cj["metadata"]["namespace"],
                 "annotations": annotations,
                 "ownerReferences": [new_controller_ref(cj, api_version=API_VERSION, kind=KIND)]}
    if tmeta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": template.get("spec") or {}}


def _job_ref(job: Obj) -> Obj:
    md = job["metadata"]
    return {"apiVersion": "batch/v1", "kind": "Job", "name": md["name"], "namespace": md["namespace"],
            "uid": md["uid"], "resourceVersion": md.get("resourceVersion", "")}


def _start_key(job: Obj) -> tuple[int, float, str]:
    started = ju.timestamp_of((job.get("status") or {}).get("startTime"))
    return (1, 0.0, job["metadata"]["name"]) if started is None else (0, started, job["metadata"]["name"])


class CronJobController:
    """Runs Jobs on a cron schedule."""

    name = "cronjob"

    def __init__(self, ctx: ControllerContext, *, now: Callable[[], float] = time.time,
                 default_location: tzinfo | None = None) -> None:
        self.client = ctx.client
        self.recorder = ctx.recorder("cronjob-controller")
        self.now = now
        self.default_location = default_location or load_location(ctx.options.extra.get("cronjob_time_zone"))
        self.worker = QueueWorker(self.name, self.reconcile)
        self.cronjobs = ctx.informers.informer_for("batch", "v1", "cronjobs")
        self.jobs = ctx.informers.informer_for("batch", "v1", "jobs")
        self.cronjobs.add_event_handler(on_add=self.worker.enqueue_object,
                                        on_update=lambda old, new: self.worker.enqueue_object(new))
        self.jobs.add_event_handler(on_add=self._job_changed, on_update=lambda old, new: self._job_changed(new),
                                    on_delete=self._job_changed)

    async def run(self, workers: int = 0) -> None:
        await self.worker.run(workers or 5)

    def _job_changed(self, job: Obj) -> None:
        ref = get_controller_of(job)
        if ref is not None and ref.get("kind") == KIND:
            self.worker.enqueue(f"{job['metadata'].get('namespace', '')}/{ref.get('name', '')}")

    # -- reconcile ---------------------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result:
        cj = self.cronjobs.store.get_by_key(key)
        if cj is None:
            return Result()
        cj = copy.deepcopy(cj)
        uid = cj["metadata"]["uid"]
        jobs = [j for j in self.jobs.store.list(cj["metadata"]["namespace"])
                if (ref := get_controller_of(j)) is not None and ref.get("uid") == uid]
        original = copy.deepcopy(cj.get("status") or {})
        cj.setdefault("status", {})
        requeue_after = await self.sync_cronjob(cj, jobs)
        if not is_being_deleted(cj):
            await self.cleanup_finished_jobs(cj, jobs)
        if (cj.get("status") or {}) != original:
            await self._update_status(cj)
        return Result(requeue_after=requeue_after or 0.0)

    async def sync_cronjob(self, cj: Obj, jobs: list[Obj]) -> float | None:
        """syncCronJob: reconcile status.active with the Jobs, then start the Job due now, if any.

        Mutates cj's status; returns the delay until the next activation (None: do not requeue)."""
        now = self.now()
        await self._reconcile_active(cj, jobs)
        if is_being_deleted(cj):
            return None
        spec, status = cj.get("spec") or {}, cj["status"]
        try:
            if spec.get("timeZone"):
                load_location(spec["timeZone"])
        except (ValueError, KeyError) as e:
            self.recorder.event(cj, "Warning", "UnknownTimeZone", f"invalid timeZone: {spec['timeZone']!r}: {e}")
            return None
        try:
            schedule = parse_schedule(spec.get("schedule", ""), spec.get("timeZone"), self.default_location)
        except (CronError, ValueError, KeyError) as e:
            self.recorder.event(cj, "Warning", "UnparseableSchedule",
                                f"unparseable schedule: {spec.get('schedule')!r} : {e}")
            return None
        if spec.get("suspend"):
            return None
        try:
            _, scheduled, missed = most_recent_schedule_time(cj, now, schedule, True)
        except ValueError as e:
            self.recorder.event(cj, "Warning", "InvalidSchedule", f"invalid schedule: {spec.get('schedule')} : {e}")
            return None
        if missed > TOO_MANY_MISSED:
            self.recorder.event(cj, "Warning", "TooManyMissedTimes",
                                f"too many missed start times: {missed}. Set or decrease "
                                ".spec.startingDeadlineSeconds or check clock skew")
        following = next_schedule_duration(cj, now, schedule)
        if scheduled is None:
            return following
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + float(deadline) < now:
            when = format_datetime(datetime.fromtimestamp(scheduled, timezone.utc))
            self.recorder.event(cj, "Warning", "MissSchedule", f"Missed scheduled time to start a job: {when}")
            return following
        name = job_name(cj, scheduled)
        active = status.get("active") or []
        if any(r.get("name") == name for r in active) or status.get("lastScheduleTime") == _rfc3339(scheduled):
            return following
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and active:
            self.recorder.event(cj, "Normal", "JobAlreadyActive", "Not starting job because prior execution is "
                                "running and concurrency policy is Forbid")
            return following
        if policy == "Replace":
            for ref in list(active):
                job = self.jobs.store.get(ref.get("name", ""), cj["metadata"]["namespace"])
                if job is not None:
                    await self._delete_job(cj, job)
        body = job_from_template(cj, scheduled, schedule.location)
        try:
            created = await self.client.create(resource_path("batch", "v1", "jobs", cj["metadata"]["namespace"]), body)
        except ApiError as e:
            if e.code == 409:
                return following  # another actor (or an earlier sync of ours) made it
            if e.code == 403 and "being terminated" in (e.message or ""):
                return None
            self.recorder.event(cj, "Warning", "FailedCreate", f"Error creating job: {e.message or e}")
            raise
        self.recorder.event(cj, "Normal", "SuccessfulCreate", f"Created job {created['metadata']['name']}")
        status["active"] = [*(status.get("active") or []), _job_ref(created)]
        status["lastScheduleTime"] = _rfc3339(scheduled)
        return following

    async def _reconcile_active(self, cj: Obj, jobs: list[Obj]) -> None:
        status = cj["status"]
        children = {j["metadata"]["uid"] for j in jobs}
        for job in jobs:
            in_active = any(r.get("uid") == job["metadata"]["uid"] for r in status.get("active") or ())
            finished = finished_type(job)
            if not in_active and finished is None:
                fresh = await self._fresh(cj)
                if fresh is not None and any(r.get("uid") == job["metadata"]["uid"]
                                             for r in (fresh.get("status") or {}).get("active") or ()):
                    status["active"] = [*(status.get("active") or []), _job_ref(job)]  # our own cache lagged
                    continue
                self.recorder.event(cj, "Warning", "UnexpectedJob", "Saw a job that the controller did not create "
                                    f"or forgot: {job['metadata']['name']}")
            elif in_active and finished is not None:
                self._remove_active(cj, job["metadata"]["uid"])
                self.recorder.event(cj, "Normal", "SawCompletedJob",
                                    f"Saw completed job: {job['metadata']['name']}, condition: {finished}")
            if finished == ju.COMPLETE:
                done = (job.get("status") or {}).get("completionTime")
                last = status.get("lastSuccessfulTime")
                if done and (not last or (ju.timestamp_of(done) or 0) > (ju.timestamp_of(last) or 0)):
                    status["lastSuccessfulTime"] = done
        for ref in list(status.get("active") or ()):
            if ref.get("uid") in children:
                continue
            try:
                found = await self.client.get(resource_path("batch", "v1", "jobs", cj["metadata"]["namespace"],
                                                            ref.get("name", "")))
            except ApiError as e:
                if not e.not_found:
                    raise
                found = None
            if found is None or found["metadata"].get("uid") != ref.get("uid"):
                self.recorder.event(cj, "Normal", "MissingJob", f"Active job went missing: {ref.get('name')}")
                self._remove_active(cj, ref.get("uid", ""))

    async def _fresh(self, cj: Obj) -> Obj | None:
        try:
            return await self.client.get(self._path(cj))
        except ApiError as e:
            if e.not_found:
                return None
            raise

    @staticmethod
    def _remove_active(cj: Obj, uid: str) -> None:
        status = cj["status"]
        status["active"] = [r for r in status.get("active") or () if r.get("uid") != uid]
        if not status["active"]:
            del status["active"]

    async def cleanup_finished_jobs(self, cj: Obj, jobs: list[Obj]) -> None:
        """Delete the oldest finished Jobs beyond successful/failedJobsHistoryLimit."""
        spec = cj.get("spec") or {}
        for kind, field in ((ju.COMPLETE, "successfulJobsHistoryLimit"), (ju.FAILED, "failedJobsHistoryLimit")):
            limit = spec.get(field)
            if limit is None:
                continue
            done = sorted((j for j in jobs if finished_type(j) == kind and not is_being_deleted(j)), key=_start_key)
            for job in done[:max(0, len(done) - int(limit))]:
                await self._delete_job(cj, job)

    async def _delete_job(self, cj: Obj, job: Obj) -> None:
        md = job["metadata"]
        try:
            await self.client.delete(resource_path("batch", "v1", "jobs", md["namespace"], md["name"]),
                                     body={"propagationPolicy": "Background", "preconditions": {"uid": md["uid"]}})
        except ApiError as e:
            if not (e.not_found or e.conflict):
                self.recorder.event(cj, "Warning", "FailedDelete", f"Deleted job: {e.message or e}")
                raise
        else:
            self.recorder.event(cj, "Normal", "SuccessfulDelete", f"Deleted job {md['name']}")
        self._remove_active(cj, md["uid"])

    def _path(self, cj: Obj, subresource: str | None = None) -> str:
        md = cj["metadata"]
        return resource_path("batch", "v1", "cronjobs", md["namespace"], md["name"], subresource)

    async def _update_status(self, cj: Obj) -> None:
        try:
            await self.client.update(self._path(cj, "status"), cj)
            return
        except ApiError as e:
            if e.not_found:
                return
            if not e.conflict:
                raise
        fresh = await self._fresh(cj)  # our cache lagged: what we observed still holds, write it on the newest
        if fresh is not None and fresh["metadata"].get("uid") == cj["metadata"]["uid"]:
            await self.client.update(self._path(cj, "status"), {**fresh, "status": cj["status"]})


CONTROLLER = CronJobController

"""Cron next-activation times (robfig/cron semantics, time zones, DST) and the CronJob controller's handling
of missed schedules, deadlines and concurrency on a fake clock."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from kybernetes.client import FakeClock
from kybernetes.controllers.cronjob import (CronJobController, job_from_template, job_name,
                                            most_recent_schedule_time, next_schedule_duration)
from kybernetes.controllers.cronschedule import load_location, most_recent_schedule, parse_schedule
from tests.unit.controllers.workloads.fakes import fake_context

Obj = dict[str, Any]


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def iso(epoch: float, zone: Any) -> str:
    return datetime.fromtimestamp(epoch, zone).isoformat()


@pytest.mark.parametrize("spec,tz,start,want", [
    ("*/15 * * * *", None, "2024-01-01T00:07:00+00:00",
     ["2024-01-01T00:15:00+00:00", "2024-01-01T00:30:00+00:00", "2024-01-01T00:45:00+00:00"]),
    ("@hourly", None, "2024-01-01T00:00:00+00:00",
     ["2024-01-01T01:00:00+00:00", "2024-01-01T02:00:00+00:00", "2024-01-01T03:00:00+00:00"]),
    ("@every 90s", None, "2024-01-01T00:00:00.700+00:00",
     ["2024-01-01T00:01:30+00:00", "2024-01-01T00:03:00+00:00", "2024-01-01T00:04:30+00:00"]),
    ("0 9-17/4 * * mon-fri", None, "2024-01-05T14:00:00+00:00",
     ["2024-01-05T17:00:00+00:00", "2024-01-08T09:00:00+00:00", "2024-01-08T13:00:00+00:00"]),
    ("0 0 1,15 * 3", None, "2024-01-01T00:00:00+00:00",
     ["2024-01-03T00:00:00+00:00", "2024-01-10T00:00:00+00:00", "2024-01-15T00:00:00+00:00"]),
    ("0 0 29 2 *", None, "2024-03-01T00:00:00+00:00",
     ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00", "2036-02-29T00:00:00+00:00"]),
    ("0 0 31 * *", None, "2024-01-31T00:00:00+00:00",
     ["2024-03-31T00:00:00+00:00", "2024-05-31T00:00:00+00:00", "2024-07-31T00:00:00+00:00"]),
    ("0 9 * * *", "Asia/Tokyo", "2023-12-31T12:00:00+00:00",
     ["2024-01-01T09:00:00+09:00", "2024-01-02T09:00:00+09:00", "2024-01-03T09:00:00+09:00"]),
    ("30 2 * * *", "America/New_York", "2024-03-09T05:00:00+00:00",
     ["2024-03-09T02:30:00-05:00", "2024-03-11T02:30:00-04:00", "2024-03-12T02:30:00-04:00"]),
    ("30 1 * * *", "America/New_York", "2024-11-03T04:00:00+00:00",
     ["2024-11-03T01:30:00-04:00", "2024-11-03T01:30:00-05:00", "2024-11-04T01:30:00-05:00"]),
    ("TZ=Europe/Berlin 0 12 * * *", None, "2024-06-01T00:00:00+00:00",
     ["2024-06-01T12:00:00+02:00", "2024-06-02T12:00:00+02:00", "2024-06-03T12:00:00+02:00"]),
], ids=["step", "hourly", "every", "range-step-weekdays", "dom-or-dow", "leap-day", "skips-short-months",
        "time-zone", "dst-gap-skipped", "dst-overlap-twice", "tz-prefix"])
def test_next_activations(spec: str, tz: str | None, start: str, want: list[str]) -> None:
    schedule = parse_schedule(spec, tz)
    t, got = ts(start), []
    for _ in want:
        t = schedule.next(t)  # type: ignore[assignment]
        got.append(iso(t, schedule.location))
    assert got == want


def test_impossible_schedule_has_no_next_time() -> None:
    assert parse_schedule("0 0 30 2 *").next(ts("2024-01-01T00:00:00+00:00")) is None


@pytest.mark.parametrize("spec,earliest,now,want_recent,want_missed", [
    ("*/5 * * * *", "2024-01-01T00:00:00", "2024-01-01T00:04:59", None, 0),
    ("*/5 * * * *", "2024-01-01T00:00:00", "2024-01-01T00:05:00", "2024-01-01T00:05:00", 1),
    ("*/5 * * * *", "2024-01-01T00:00:00", "2024-01-01T00:17:00", "2024-01-01T00:15:00", 3),
    ("* * * * *", "2024-01-01T00:00:00", "2024-01-01T05:00:30", "2024-01-01T05:00:00", 300),
    ("0 0 1 * *", "2023-01-15T00:00:00", "2024-03-10T00:00:00", "2024-03-01T00:00:00", 15),
], ids=["none-yet", "exactly-due", "few-missed", "many-missed", "uneven-intervals-upstream-estimate"])
def test_most_recent_schedule(spec: str, earliest: str, now: str, want_recent: str | None,
                              want_missed: int) -> None:
    recent, missed = most_recent_schedule(parse_schedule(spec), ts(earliest + "+00:00"), ts(now + "+00:00"))
    assert (iso(recent, timezone.utc)[:19] if recent is not None else None) == want_recent
    assert missed == want_missed


def cronjob(**spec: Any) -> Obj:
    status = spec.pop("status", {})
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "cj", "namespace": "ns", "uid": "cj-uid", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"schedule": "*/10 * * * *", "concurrencyPolicy": "Allow",
                     "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}, **spec},
            "status": status}


def test_starting_deadline_limits_how_far_back_we_look() -> None:
    cj = cronjob(startingDeadlineSeconds=120)
    now = ts("2024-01-02T00:01:00+00:00")
    earliest, recent, missed = most_recent_schedule_time(cj, now, parse_schedule("*/10 * * * *"), True)
    assert (earliest, recent, missed) == (now - 120, ts("2024-01-02T00:00:00+00:00"), 1)
    _, _, missed_all = most_recent_schedule_time(cj, now, parse_schedule("*/10 * * * *"), False)
    assert missed_all == 144  # 00:10 on Jan 1 to 00:00 on Jan 2


def test_job_name_is_minutes_since_epoch() -> None:
    assert job_name(cronjob(), ts("2024-01-01T00:10:00+00:00")) == "cj-28401130"


@pytest.mark.parametrize("tz,want", [(None, "2024-01-01T00:10:00Z"), ("Asia/Tokyo", "2024-01-01T09:10:00+09:00")],
                         ids=["utc", "zone"])
def test_job_from_template_carries_scheduled_timestamp(tz: str | None, want: str) -> None:
    cj = cronjob()
    cj["spec"]["jobTemplate"]["metadata"] = {"labels": {"a": "b"}, "annotations": {"x": "y"}}
    body = job_from_template(cj, ts("2024-01-01T00:10:00+00:00"), load_location(tz))
    assert body["metadata"]["name"] == "cj-28401130" and body["metadata"]["labels"] == {"a": "b"}
    assert body["metadata"]["annotations"] == {"x": "y", "batch.kubernetes.io/cronjob-scheduled-timestamp": want}
    assert body["metadata"]["ownerReferences"][0]["uid"] == "cj-uid"
    assert body["spec"] == cj["spec"]["jobTemplate"]["spec"]


@pytest.mark.parametrize("status,now,want", [
    ({}, "2024-01-01T00:03:00", 7 * 60 + 0.1),
    ({"lastScheduleTime": "2024-01-01T00:10:00Z"}, "2024-01-01T00:10:00.5", 9 * 60 + 59.5 + 0.1),
], ids=["from-creation", "after-last-schedule"])
def test_next_schedule_duration(status: Obj, now: str, want: float) -> None:
    duration = next_schedule_duration(cronjob(status=status), ts(now + "+00:00"), parse_schedule("*/10 * * * *"))
    assert duration == pytest.approx(want)


async def run_sync(cj: Obj, now: str, active_jobs: list[Obj] | None = None) -> tuple[float | None, Any, Any, Obj]:
    ctx, client, _, events = fake_context()
    clock = FakeClock(start=ts(now + "+00:00"))
    ctl = CronJobController(ctx, now=clock.now)
    requeue = await ctl.sync_cronjob(cj, active_jobs or [])
    return requeue, client, events, cj


@pytest.mark.parametrize("spec,now,want_job,want_events", [
    ({}, "2024-01-01T00:20:30", "cj-28401140", ["SuccessfulCreate"]),
    ({}, "2024-01-01T00:09:59", None, []),
    ({"schedule": "* * * * *"}, "2024-01-02T00:00:30", "cj-28402560", ["TooManyMissedTimes", "SuccessfulCreate"]),
    ({"schedule": "* * * * *", "startingDeadlineSeconds": 60}, "2024-01-02T00:00:30", "cj-28402560",
     ["SuccessfulCreate"]),
    ({"startingDeadlineSeconds": 10, "status": {"lastScheduleTime": "2024-01-01T00:10:00Z"}},
     "2024-01-01T00:20:30", None, []),
    ({"suspend": True}, "2024-01-01T00:20:30", None, []),
    ({"concurrencyPolicy": "Forbid", "status": {"active": [{"name": "cj-1", "uid": "j1"}]}},
     "2024-01-01T00:20:30", None, ["JobAlreadyActive"]),
    ({"schedule": "not a cron"}, "2024-01-01T00:20:30", None, ["UnparseableSchedule"]),
    ({"timeZone": "Mars/Olympus"}, "2024-01-01T00:20:30", None, ["UnknownTimeZone"]),
], ids=["latest-missed-run", "not-due", "too-many-missed", "deadline-bounds-missed", "deadline-passed",
        "suspended", "forbid", "unparseable", "unknown-time-zone"])
async def test_sync_cronjob(spec: Obj, now: str, want_job: str | None, want_events: list[str]) -> None:
    cj = cronjob(**spec)
    active = cj["status"].get("active")
    jobs = [{"metadata": {"name": a["name"], "namespace": "ns", "uid": a["uid"],
                          "ownerReferences": [{"uid": "cj-uid", "controller": True, "kind": "CronJob"}]},
             "status": {}} for a in active or []]
    requeue, client, events, cj = await run_sync(cj, now, jobs)
    assert client.verbs("create") == ([want_job] if want_job else [])
    assert events.reasons() == want_events
    if want_job:
        assert [a["name"] for a in cj["status"]["active"]][-1] == want_job
        assert cj["status"]["lastScheduleTime"][:16] == \
            datetime.fromtimestamp(int(want_job.rsplit("-", 1)[1]) * 60, timezone.utc).isoformat()[:16]
    if not spec.get("suspend") and "schedule" not in spec and not spec.get("timeZone"):
        assert requeue is not None and 0 < requeue <= 600.1

"""Next activation times of cron schedules, as robfig/cron's SpecSchedule.Next and ConstantDelaySchedule
(the library kube-controller-manager uses), in an IANA time zone; plus the CronJob controller's search for the
most recent missed activation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from kybernetes.api.validation.cron import Schedule, parse_standard

UTC = timezone.utc
_YEARS_AHEAD = 5  # robfig gives up when nothing matches within five years


def load_location(name: str | None) -> tzinfo:
    """An IANA zone ('' or None or 'UTC' is UTC; 'Local' is UTC here); raises ZoneInfoNotFoundError/ValueError."""
    if not name or name in ("UTC", "Local"):
        return UTC
    return ZoneInfo(name)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed schedule evaluated in a time zone. Times in and out are Unix epoch seconds."""

    schedule: Schedule
    location: tzinfo = UTC

    def next(self, after: float) -> float | None:
        """The first activation strictly after `after`, or None if there is none within five years."""
        if self.schedule.every is not None:
            delay = max(1.0, math.floor(self.schedule.every))
            return math.floor(after) + delay
        start = datetime.fromtimestamp(math.floor(after), self.location)
        found = spec_next(self.schedule, start)
        return found.timestamp() if found is not None else None


def parse_schedule(spec: str, time_zone: str | None = None, default_location: tzinfo = UTC) -> CronSchedule:
    """Parse a schedule ('TZ=zone ' / 'CRON_TZ=zone ' prefixes honoured); `time_zone` (spec.timeZone) wins."""
    location = default_location
    text = spec.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        zone = text.split(" ", 1)[0].split("=", 1)[1]
        location = load_location(zone)
    if time_zone:
        location = load_location(time_zone)
    return CronSchedule(parse_standard(spec), location)


# -- robfig/cron's SpecSchedule.Next, field by field ------------------------------------------------------------

def _norm(t: datetime) -> datetime:
    """Go's time.Date normalisation: a wall time in a DST gap moves forward by the gap."""
    return t.astimezone(UTC).astimezone(t.tzinfo)


def _add(t: datetime, delta: timedelta) -> datetime:
    """Absolute (not wall-clock) arithmetic, as Go's Time.Add."""
    return (t.astimezone(UTC) + delta).astimezone(t.tzinfo)


def _add_days(t: datetime, days: int) -> datetime:
    """Go's AddDate(0, 0, days): the same wall time on another day, normalised."""
    d = t.date() + timedelta(days=days)
    return _norm(t.replace(year=d.year, month=d.month, day=d.day, fold=0))


def _add_month(t: datetime) -> datetime:
    """Go's AddDate(0, 1, 0): day overflow rolls into the following month, as time.Date normalises."""
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    first = t.replace(year=year, month=month, day=1, fold=0)
    return _add_days(first, t.day - 1)


def _day_matches(s: Schedule, t: datetime) -> bool:
    dom = t.day in s.days_of_month
    dow = (t.weekday() + 1) % 7 in s.days_of_week  # Go: Sunday = 0
    if s.dom_star or s.dow_star:
        return dom and dow
    return dom or dow


def spec_next(s: Schedule, t: datetime) -> datetime | None:
    """The first time after `t` (aware) matching every field of `s`, computed in t's zone."""
    loc = t.tzinfo
    t = _add(t.replace(microsecond=0), timedelta(seconds=1))
    added = False
    year_limit = t.year + _YEARS_AHEAD
    while True:  # robfig's WRAP label
        if t.year > year_limit:
            return None
        wrapped = False
        while t.month not in s.months:
            if not added:
                added = True
                t = _norm(datetime(t.year, t.month, 1, tzinfo=loc))
            t = _add_month(t)
            if t.month == 1:
                wrapped = True
                break
        if wrapped:
            continue
        while not _day_matches(s, t):
            if not added:
                added = True
                t = _norm(datetime(t.year, t.month, t.day, tzinfo=loc))
            t = _add_days(t, 1)
            if t.hour != 0:  # DST moved midnight: back to the start of the day
                t = _add(t, timedelta(hours=24 - t.hour)) if t.hour > 12 else _add(t, timedelta(hours=-t.hour))
            if t.day == 1:
                wrapped = True
                break
        if wrapped:
            continue
        while t.hour not in s.hours:
            if not added:
                added = True
                t = _norm(datetime(t.year, t.month, t.day, t.hour, tzinfo=loc))
            t = _add(t, timedelta(hours=1))
            if t.hour == 0:
                wrapped = True
                break
        if wrapped:
            continue
        while t.minute not in s.minutes:
            if not added:
                added = True
                t = t.replace(second=0)
            t = _add(t, timedelta(minutes=1))
            if t.minute == 0:
                wrapped = True
                break
        if wrapped:
            continue
        if t.second != 0:  # the seconds field of a standard spec is always 0
            added = True
            t = _add(t.replace(second=0), timedelta(minutes=1))
            continue
        return t


# -- missed activations -----------------------------------------------------------------------------------------

def last_at_or_before(schedule: CronSchedule, now: float, first: float, interval: float) -> float:
    """The latest activation <= now, given that `first` is one (searching back in doubling windows)."""
    window = max(2.0 * interval, 60.0)
    while True:
        start = now - window
        candidate = first if start < first else schedule.next(start)
        if candidate is not None and candidate <= now:
            while (following := schedule.next(candidate)) is not None and following <= now:
                candidate = following
            return candidate
        window *= 2


def most_recent_schedule(schedule: CronSchedule, earliest: float, now: float) -> tuple[float | None, int]:
    """(the latest activation in (earliest, now], or None; upstream's estimate of how many were missed).

    Raises ValueError when two activations are less than a second apart (upstream's guard)."""
    t1 = schedule.next(earliest)
    if t1 is None or now < t1:
        return None, 0
    t2 = schedule.next(t1)
    if t2 is None or now < t2:
        return t1, 1
    interval = round(t2 - t1)
    if interval < 1:
        raise ValueError("time difference between two schedules is less than 1 second")
    missed = int((now - t1) // interval) + 1
    return last_at_or_before(schedule, now, t1, interval), missed

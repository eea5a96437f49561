"""Standard cron schedules ('*/5 * * * *', '@hourly') parsed as robfig/cron's ParseStandard does, with its errors."""

from __future__ import annotations

import re
from dataclasses import dataclass

DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
MONTHS = {n: i + 1 for i, n in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
DAYS = {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (min, max, names) for minute, hour, day of month, month, day of week
BOUNDS = ((0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, MONTHS), (0, 6, DAYS))


class CronError(ValueError):
    """An invalid schedule; str() is robfig/cron's message."""


@dataclass(frozen=True)
class Schedule:
    """The allowed values of each field; `every` is set instead for '@every <duration>'."""

    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days_of_month: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    days_of_week: frozenset[int] = frozenset()
    dom_star: bool = False
    dow_star: bool = False
    every: float | None = None


def _go_slice(fields: list[str]) -> str:
    return "[" + " ".join(fields) + "]"


def _atoi(text: str, expr: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise CronError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax')
    value = int(text)
    if value < 0:
        raise CronError(f"negative number ({value}) not allowed: {text}")
    return value


def _int_or_name(text: str, names: dict[str, int], expr: str) -> int:
    if names and text.lower() in names:
        return names[text.lower()]
    return _atoi(text, expr)


def _range(expr: str, lo: int, hi: int, names: dict[str, int]) -> tuple[set[int], bool]:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    star = False
    if low_and_high[0] in ("*", "?"):
        start, end, star = lo, hi, True
    else:
        start = _int_or_name(low_and_high[0], names, expr)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _int_or_name(low_and_high[1], names, expr)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _atoi(range_and_step[1], expr)
        if single and not star:
            end = hi
        if step > 1:
            star = False
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < lo:
        raise CronError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise CronError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _field(text: str, index: int) -> tuple[frozenset[int], bool]:
    lo, hi, names = BOUNDS[index]
    values: set[int] = set()
    star = False
    for expr in text.split(","):
        got, is_star = _range(expr, lo, hi, names)
        values |= got
        star = star or is_star
    return frozenset(values), star


_DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _go_duration(text: str) -> float:
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise CronError(f'failed to parse duration {text}: time: invalid duration "{text}"')
    return total


def parse_standard(spec: str) -> Schedule:
    """Parse a five-field schedule or a descriptor; raises CronError with robfig/cron's wording."""
    if not spec:
        raise CronError("empty spec string")
    spec = spec.strip()
    if spec.startswith(("TZ=", "CRON_TZ=")):
        spec = spec.split(" ", 1)[1].strip() if " " in spec else ""
    if spec.startswith("@"):
        if spec.startswith("@every "):
            return Schedule(every=_go_duration(spec[len("@every "):].strip()))
        if spec not in DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {spec}")
        spec = DESCRIPTORS[spec]
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: {_go_slice(fields)}")
    parsed = [_field(f, i) for i, f in enumerate(fields)]
    return Schedule(minutes=parsed[0][0], hours=parsed[1][0], days_of_month=parsed[2][0], months=parsed[3][0],
                    days_of_week=parsed[4][0], dom_star=parsed[2][1], dow_star=parsed[4][1])

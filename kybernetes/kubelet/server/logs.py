"""Serving a container's CRI log files as kubectl sees them: tail, since, timestamps, limitBytes, follow.

Log options follow upstream PodLogOptions. Lines are logical lines: a run of partial (P) entries and the
full (F) entry that ends it; partial content is written out as soon as it is read, so a prompt without a
newline shows up while following. With `timestamps`, each logical line starts with the RFC3339Nano time of
its first entry and a space. Rotated files are read first (oldest first); following survives a rotation.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping

from kybernetes.kubelet.runtime import logs
from kybernetes.kubelet.runtime.logs import LogEntry

FOLLOW_POLL = 0.1


class InvalidLogOptions(ValueError):
    """A query parameter is malformed (answered with 400)."""


@dataclass
class LogOptions:
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since_ns: int | None = None  # only entries at or after this time (ns since the epoch)
    limit_bytes: int | None = None


def _bool(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def _non_negative(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidLogOptions(f"{name}: invalid value {raw!r}") from None
    if value < 0:
        raise InvalidLogOptions(f"{name}: must be greater than or equal to 0")
    return value


def parse_log_options(query: Mapping[str, str], now_ns: int | None = None) -> LogOptions:
    """LogOptions from the kubelet's /containerLogs query (the apiserver's pods/log parameters)."""
    opts = LogOptions(follow=_bool(query.get("follow")), previous=_bool(query.get("previous")),
                      timestamps=_bool(query.get("timestamps")))
    opts.tail_lines = _non_negative(query, "tailLines")
    opts.limit_bytes = _non_negative(query, "limitBytes")
    if opts.limit_bytes == 0:
        raise InvalidLogOptions("limitBytes: must be greater than 0")
    since_seconds = _non_negative(query, "sinceSeconds")
    since_time = query.get("sinceTime")
    if since_seconds is not None and since_time:
        raise InvalidLogOptions("at most one of sinceTime or sinceSeconds may be specified")
    if since_seconds is not None:
        if since_seconds == 0:
            raise InvalidLogOptions("sinceSeconds: must be greater than 0")
        opts.since_ns = (now_ns or time.time_ns()) - since_seconds * 1_000_000_000
    elif since_time:
        try:
            opts.since_ns = logs.parse_timestamp(since_time)
        except ValueError:
            raise InvalidLogOptions(f"sinceTime: invalid value {since_time!r}") from None
    return opts


class LineFormatter:
    """Turns entries into output bytes: newline after full entries, timestamp at the start of each line."""

    def __init__(self, timestamps: bool) -> None:
        self.timestamps = timestamps
        self._in_line: set[str] = set()  # streams whose current line has started

    def format(self, entry: LogEntry) -> bytes:
        prefix = b""
        if self.timestamps and entry.stream not in self._in_line:
            prefix = logs.format_timestamp(entry.timestamp).encode() + b" "
        if entry.partial:
            self._in_line.add(entry.stream)
            return prefix + entry.content
        self._in_line.discard(entry.stream)
        return prefix + entry.content + b"\n"


def tail_entries(entries: Iterable[LogEntry], lines: int) -> list[LogEntry]:
    """The entries of the last `lines` logical lines (a trailing unfinished line counts as one)."""
    if lines == 0:
        return []
    groups: collections.deque[list[LogEntry]] = collections.deque(maxlen=lines)
    open_group: dict[str, list[LogEntry]] = {}
    for e in entries:
        group = open_group.get(e.stream)
        if group is None:
            group = open_group[e.stream] = []
            groups.append(group)
        group.append(e)
        if not e.partial:
            del open_group[e.stream]
    return [e for g in groups for e in g]


class FileFollower:
    """Reads complete entries of one log path from an offset, and keeps reading across rotations."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._f = None
        self._pending = b""

    def _open(self) -> bool:
        try:
            self._f = open(self.path, "rb")
        except FileNotFoundError:
            return False
        self._pending = b""
        return True

    def read_available(self) -> list[LogEntry]:
        """Entries appended since the last call; switches to the new file once the old one is drained."""
        out: list[LogEntry] = []
        if self._f is None and not self._open():
            return out
        while True:
            assert self._f is not None
            data = self._f.read()
            if data:
                self._pending += data
                *lines, self._pending = self._pending.split(b"\n")
                for line in lines:
                    try:
                        out.append(logs.parse_entry(line))
                    except ValueError:
                        continue
            try:
                rotated = os.stat(self.path).st_ino != os.fstat(self._f.fileno()).st_ino
            except FileNotFoundError:
                rotated = False
            if not rotated:
                return out
            self._f.close()
            if not self._open():
                self._f = None
                return out

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def _rotated_entries(path: str) -> Iterator[LogEntry]:
    for p in logs.rotated_files(path):
        yield from logs.iter_entries(p)


async def stream_logs(path: str, opts: LogOptions,
                      running: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[bytes]:
    """Output chunks of the log at `path` (current file; rotated ones before it) for `opts`.

    When following, `running()` says whether the container still runs; the stream ends once it does not and
    the file has nothing more.
    """
    follower = FileFollower(path)
    fmt = LineFormatter(opts.timestamps)
    remaining = opts.limit_bytes

    def since_ok(e: LogEntry) -> bool:
        return opts.since_ns is None or e.timestamp >= opts.since_ns

    def emit(entries: Iterable[LogEntry]) -> tuple[bytes, bool]:
        nonlocal remaining
        out = b"".join(fmt.format(e) for e in entries if since_ok(e))
        if remaining is not None:
            out = out[:remaining]
            remaining -= len(out)
            return out, remaining <= 0
        return out, False

    try:
        initial: Iterable[LogEntry] = list(_rotated_entries(path)) + follower.read_available()
        if opts.tail_lines is not None:
            initial = tail_entries((e for e in initial if since_ok(e)), opts.tail_lines)
        chunk, done = emit(initial)
        if chunk:
            yield chunk
        if done or not opts.follow or running is None:
            return
        while True:
            alive = await running()
            chunk, done = emit(follower.read_available())
            if chunk:
                yield chunk
            if done or not alive:
                return
            await asyncio.sleep(FOLLOW_POLL)
    finally:
        follower.close()

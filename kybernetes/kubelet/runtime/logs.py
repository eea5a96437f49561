"""The CRI container log format: `<RFC3339Nano time> <stdout|stderr> <F|P> <content>\\n`, with size rotation.

One entry per line. `F` (full) closes a logical line; `P` (partial) entries are pieces of a line that is
continued by the next entries of the same stream (a line longer than the buffer, or output not yet ended by
a newline). A writer rotates the file when the next entry would make it exceed `max_size`: the current file is
renamed `<path>.<YYYYMMDD-HHMMSS.ffffff>` (upstream's kubelet uses `<path>.<YYYYMMDD-HHMMSS>`) and older
rotated files are deleted so that at most `max_files` files (current one included) remain.

Standard library only: the shim imports this module in a fresh interpreter for every container.
"""

from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

STDOUT = "stdout"
STDERR = "stderr"
TAG_FULL = b"F"
TAG_PARTIAL = b"P"

DEFAULT_MAX_SIZE = 10 * 1024 * 1024  # containerLogMaxSize "10Mi"
DEFAULT_MAX_FILES = 5  # containerLogMaxFiles
MAX_LINE = 16 * 1024  # a longer line is split into P entries, as containerd does


def format_timestamp(ns: int) -> str:
    """RFC3339 with nanoseconds and a Z, e.g. 2024-01-01T00:00:00.000000000Z."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def parse_timestamp(text: str) -> int:
    """Nanoseconds since the epoch of an RFC3339(Nano) timestamp (any number of fraction digits, Z or offset)."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    main, _, rest = text.partition(".")
    frac = ""
    offset = ""
    if rest:
        i = next((i for i, c in enumerate(rest) if c in "+-"), len(rest))
        frac, offset = rest[:i], rest[i:]
    else:
        i = max(main.rfind("+"), main.rfind("-"))
        if i > 10:
            main, offset = main[:i], main[i:]
    dt = datetime.fromisoformat(main + (offset or "+00:00"))
    return int(dt.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)


def format_entry(ns: int, stream: str, partial: bool, content: bytes) -> bytes:
    """One log line; `content` must not contain a newline."""
    tag = TAG_PARTIAL if partial else TAG_FULL
    return b"%s %s %s %s\n" % (format_timestamp(ns).encode(), stream.encode(), tag, content)


@dataclass
class LogEntry:
    timestamp: int  # ns
    stream: str  # "stdout" or "stderr"
    partial: bool
    content: bytes  # without the trailing newline of the entry


def parse_entry(line: bytes) -> LogEntry:
    """Parse one line (with or without its trailing newline). Raises ValueError when malformed."""
    if line.endswith(b"\n"):
        line = line[:-1]
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (TAG_FULL, TAG_PARTIAL):
        raise ValueError(f"not a CRI log line: {line[:80]!r}")
    content = parts[3] if len(parts) == 4 else b""
    return LogEntry(parse_timestamp(parts[0].decode()), parts[1].decode(), parts[2] == TAG_PARTIAL, content)


def rotated_files(path: str) -> list[str]:
    """Rotated files of `path`, oldest first (their suffix is a sortable timestamp)."""
    return sorted(p for p in glob.glob(glob.escape(path) + ".*") if not p.endswith(".tmp"))


def all_files(path: str) -> list[str]:
    """Rotated files then the current one, oldest first: the order to read a container's whole log."""
    return rotated_files(path) + ([path] if os.path.exists(path) else [])


def iter_entries(path: str, include_rotated: bool = False) -> Iterator[LogEntry]:
    """Entries of the current file (and the rotated ones first, when asked); malformed lines are skipped."""
    for p in all_files(path) if include_rotated else [path]:
        try:
            f = open(p, "rb")
        except FileNotFoundError:
            continue
        with f:
            for line in f:
                if not line.endswith(b"\n"):
                    break  # being written
                try:
                    yield parse_entry(line)
                except ValueError:
                    continue


class LogWriter:
    """Writes a container's streams to a CRI log file, splitting lines into entries and rotating by size.

    Not thread-safe; one writer per file (the shim owns it). `write(stream, data)` takes raw output chunks;
    complete lines become F entries; the unterminated rest of a chunk is written at once as a P entry, so a
    prompt without newline shows up in `logs -f` and attach without waiting (as CRI-O's conmon does).
    """

    def __init__(
        self,
        path: str,
        max_size: int = DEFAULT_MAX_SIZE,
        max_files: int = DEFAULT_MAX_FILES,
        clock=time.time_ns,
    ) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self.clock = clock
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._f = open(path, "ab")
        self._size = self._f.tell()

    def write(self, stream: str, data: bytes) -> None:
        ts = self.clock()
        out = []
        start = 0
        n = len(data)
        while start < n:
            nl = data.find(b"\n", start, start + MAX_LINE + 1)
            if nl == -1:
                end = min(n, start + MAX_LINE)
                out.append(format_entry(ts, stream, True, data[start:end]))
                start = end
            else:
                out.append(format_entry(ts, stream, False, data[start:nl]))
                start = nl + 1
        for entry in out:
            self._write_entry(entry)
        self._f.flush()

    def _write_entry(self, entry: bytes) -> None:
        if self.max_size > 0 and self._size > 0 and self._size + len(entry) > self.max_size:
            self.rotate()
        self._f.write(entry)
        self._size += len(entry)

    def rotate(self) -> None:
        """Rename the current file aside, start a new one, delete the oldest beyond max_files."""
        self._f.close()
        if self.max_files > 1:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S.%f")
            target = f"{self.path}.{stamp}"
            i = 0
            while os.path.exists(target):  # two rotations within a microsecond
                i += 1
                target = f"{self.path}.{stamp}{i:03d}"
            os.rename(self.path, target)
            for old in rotated_files(self.path)[: -(self.max_files - 1)]:
                try:
                    os.unlink(old)
                except FileNotFoundError:
                    pass
        else:
            os.unlink(self.path)
        self._f = open(self.path, "ab")
        self._size = 0

    def close(self) -> None:
        self._f.close()

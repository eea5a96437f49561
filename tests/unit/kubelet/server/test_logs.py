"""Log options on CRI files: tail, since, limitBytes, timestamps, partial lines, rotated files, follow."""

from __future__ import annotations

import asyncio

import pytest

from kybernetes.kubelet.runtime import logs
from kybernetes.kubelet.server.logs import InvalidLogOptions, LogOptions, parse_log_options, stream_logs

T0 = 1_700_000_000_000_000_000
SEC = 1_000_000_000


def write(path, entries):
    with open(path, "ab") as f:
        for ts, stream, partial, content in entries:
            f.write(logs.format_entry(ts, stream, partial, content))


ENTRIES = [
    (T0, "stdout", False, b"one"),
    (T0 + SEC, "stderr", False, b"two"),
    (T0 + 2 * SEC, "stdout", True, b"thr"),
    (T0 + 2 * SEC, "stdout", False, b"ee"),
    (T0 + 3 * SEC, "stdout", True, b"prompt> "),
]


async def collect(path, opts, running=None) -> bytes:
    return b"".join([c async for c in stream_logs(str(path), opts, running)])


@pytest.mark.parametrize("opts,want", [
    (LogOptions(), b"one\ntwo\nthree\nprompt> "),
    (LogOptions(tail_lines=2), b"three\nprompt> "),
    (LogOptions(tail_lines=0), b""),
    (LogOptions(tail_lines=10), b"one\ntwo\nthree\nprompt> "),
    (LogOptions(since_ns=T0 + SEC), b"two\nthree\nprompt> "),
    (LogOptions(limit_bytes=6), b"one\ntw"),
    (LogOptions(tail_lines=1, limit_bytes=3), b"pro"),
], ids=["all", "tail", "tail-0", "tail-more", "since", "limit", "tail-and-limit"])
async def test_options(tmp_path, opts, want):
    path = tmp_path / "0.log"
    write(path, ENTRIES)
    assert await collect(path, opts) == want


async def test_timestamps_prefix_each_logical_line(tmp_path):
    path = tmp_path / "0.log"
    write(path, ENTRIES[:4])
    lines = (await collect(path, LogOptions(timestamps=True))).decode().splitlines()
    assert lines == [f"{logs.format_timestamp(T0)} one", f"{logs.format_timestamp(T0 + SEC)} two",
                     f"{logs.format_timestamp(T0 + 2 * SEC)} three"]


async def test_rotated_files_come_first(tmp_path):
    path = tmp_path / "0.log"
    write(str(path) + ".20240101-000000.000000", [(T0, "stdout", False, b"old")])
    write(path, [(T0 + SEC, "stdout", False, b"new")])
    assert await collect(path, LogOptions()) == b"old\nnew\n"
    assert await collect(path, LogOptions(tail_lines=1)) == b"new\n"


async def test_follow_reads_appended_entries_across_a_rotation_until_the_container_stops(tmp_path):
    path = tmp_path / "0.log"
    write(path, [(T0, "stdout", False, b"a")])
    alive = True

    async def running() -> bool:
        return alive

    async def writer():
        nonlocal alive
        await asyncio.sleep(0.15)
        write(path, [(T0 + 1, "stdout", False, b"b")])
        await asyncio.sleep(0.15)
        path.rename(str(path) + ".20240101-000000.000000")
        write(path, [(T0 + 2, "stdout", False, b"c")])
        await asyncio.sleep(0.15)
        alive = False

    task = asyncio.ensure_future(writer())
    out = await asyncio.wait_for(collect(path, LogOptions(follow=True), running), 5)
    await task
    assert out == b"a\nb\nc\n"


@pytest.mark.parametrize("query,want", [
    ({"follow": "true", "tailLines": "5", "limitBytes": "10"}, LogOptions(follow=True, tail_lines=5, limit_bytes=10)),
    ({"previous": "1", "timestamps": "true"}, LogOptions(previous=True, timestamps=True)),
    ({"sinceSeconds": "10"}, LogOptions(since_ns=100 * SEC - 10 * SEC)),
    ({"sinceTime": "2023-11-14T22:13:20Z"}, LogOptions(since_ns=T0)),
], ids=["follow-tail-limit", "previous-timestamps", "since-seconds", "since-time"])
def test_parse_log_options(query, want):
    assert parse_log_options(query, now_ns=100 * SEC) == want


@pytest.mark.parametrize("query", [
    {"tailLines": "-1"}, {"tailLines": "x"}, {"limitBytes": "0"}, {"sinceSeconds": "0"},
    {"sinceSeconds": "5", "sinceTime": "2023-11-14T22:13:20Z"}, {"sinceTime": "yesterday"},
], ids=["negative-tail", "bad-tail", "zero-limit", "zero-since", "both-since", "bad-since-time"])
def test_parse_log_options_rejects(query):
    with pytest.raises(InvalidLogOptions):
        parse_log_options(query)

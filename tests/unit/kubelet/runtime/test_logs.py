"""CRI log format: entries, line splitting into F/P entries, size rotation, reading back."""

from __future__ import annotations

import os

import pytest

from kybernetes.kubelet.runtime import logs

T0 = 1704067200 * 1_000_000_000  # 2024-01-01T00:00:00Z


@pytest.mark.parametrize(
    "ns,text",
    [
        (T0, "2024-01-01T00:00:00.000000000Z"),
        (T0 + 123_456_789, "2024-01-01T00:00:00.123456789Z"),
        (T0 + 5, "2024-01-01T00:00:00.000000005Z"),
    ],
    ids=["zero", "nanos", "leading-zeros"],
)
def test_timestamp_round_trip(ns, text):
    assert logs.format_timestamp(ns) == text
    assert logs.parse_timestamp(text) == ns


@pytest.mark.parametrize(
    "text,ns",
    [
        ("2024-01-01T00:00:00Z", T0),
        ("2024-01-01T01:00:00.5+01:00", T0 + 500_000_000),
        ("2023-12-31T19:00:00-05:00", T0),
    ],
    ids=["no-fraction", "offset-and-short-fraction", "negative-offset"],
)
def test_parse_timestamp_variants(text, ns):
    assert logs.parse_timestamp(text) == ns


@pytest.mark.parametrize(
    "stream,partial,content,line",
    [
        ("stdout", False, b"hello world", b"2024-01-01T00:00:00.000000000Z stdout F hello world\n"),
        ("stderr", True, b"prompt> ", b"2024-01-01T00:00:00.000000000Z stderr P prompt> \n"),
        ("stdout", False, b"", b"2024-01-01T00:00:00.000000000Z stdout F \n"),
    ],
    ids=["full", "partial", "empty-line"],
)
def test_entry_format_and_parse(stream, partial, content, line):
    assert logs.format_entry(T0, stream, partial, content) == line
    entry = logs.parse_entry(line)
    assert (entry.timestamp, entry.stream, entry.partial, entry.content) == (T0, stream, partial, content)


@pytest.mark.parametrize("line", [b"garbage", b"2024-01-01T00:00:00Z stdin F x", b"2024-01-01T00:00:00Z stdout X x"],
                         ids=["garbage", "bad-stream", "bad-tag"])
def test_parse_rejects_malformed(line):
    with pytest.raises(ValueError):
        logs.parse_entry(line)


def entries(path, rotated=False):
    return [(e.stream, e.partial, e.content) for e in logs.iter_entries(str(path), include_rotated=rotated)]


@pytest.mark.parametrize(
    "chunks,expected",
    [
        ([b"a\nb\n"], [("stdout", False, b"a"), ("stdout", False, b"b")]),
        ([b"abc", b"def\n"], [("stdout", True, b"abc"), ("stdout", False, b"def")]),
        ([b"x\ny"], [("stdout", False, b"x"), ("stdout", True, b"y")]),
        ([b"\n\n"], [("stdout", False, b""), ("stdout", False, b"")]),
        (
            [b"z" * (logs.MAX_LINE + 10) + b"\n"],
            [("stdout", True, b"z" * logs.MAX_LINE), ("stdout", False, b"z" * 10)],
        ),
    ],
    ids=["two-lines", "split-line", "unterminated-tail", "empty-lines", "long-line"],
)
def test_writer_splits_lines(tmp_path, chunks, expected):
    w = logs.LogWriter(str(tmp_path / "0.log"), clock=lambda: T0)
    for c in chunks:
        w.write("stdout", c)
    w.close()
    assert entries(tmp_path / "0.log") == expected


def test_writer_keeps_streams_apart(tmp_path):
    w = logs.LogWriter(str(tmp_path / "0.log"), clock=lambda: T0)
    w.write("stdout", b"out\n")
    w.write("stderr", b"err\n")
    w.close()
    assert entries(tmp_path / "0.log") == [("stdout", False, b"out"), ("stderr", False, b"err")]


@pytest.mark.parametrize("max_files,kept", [(1, 1), (2, 2), (3, 3)], ids=["one", "two", "three"])
def test_rotation_by_size_keeps_max_files(tmp_path, max_files, kept):
    path = str(tmp_path / "0.log")
    entry_len = len(logs.format_entry(T0, "stdout", False, b"line-00"))
    w = logs.LogWriter(path, max_size=entry_len * 2, max_files=max_files, clock=lambda: T0)
    for i in range(10):
        w.write("stdout", b"line-%02d\n" % i)
    w.close()
    files = logs.all_files(path)
    assert len(files) == kept
    assert all(os.path.getsize(f) <= entry_len * 2 for f in files)
    # Reading the files oldest first gives the newest lines, in order, without gaps.
    got = [c for _, _, c in entries(path, rotated=True)]
    assert got == [b"line-%02d" % i for i in range(10 - len(got), 10)]
    assert len(got) == 2 * kept


def test_writer_appends_to_existing_file_and_counts_its_size(tmp_path):
    path = str(tmp_path / "0.log")
    entry_len = len(logs.format_entry(T0, "stdout", False, b"a"))
    w = logs.LogWriter(path, max_size=entry_len, max_files=2, clock=lambda: T0)
    w.write("stdout", b"a\n")
    w.close()
    w = logs.LogWriter(path, max_size=entry_len, max_files=2, clock=lambda: T0)
    w.write("stdout", b"b\n")
    w.close()
    assert [entries(f) for f in logs.all_files(path)] == [[("stdout", False, b"a")], [("stdout", False, b"b")]]

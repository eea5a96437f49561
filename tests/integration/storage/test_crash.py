"""Durability across kill -9: every acknowledged write is present after reopening; a resumed watch is exact."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from kybernetes.storage.interface import Event
from kybernetes.storage.sqlite import SQLiteStore

SCRIPT = os.path.join(os.path.dirname(__file__), "crash_writer.py")


async def _run_until_killed(path: str, writers: int, acks_wanted: int) -> list[str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, SCRIPT, path, str(writers),
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    lines: list[str] = []
    acks = 0
    try:
        while acks < acks_wanted:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, "load process ended early"
            lines.append(line.decode())
            acks += line.startswith(b"ACK")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
    rest = await proc.stdout.read()  # what it printed before dying is acknowledged too
    await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    lines.extend(rest.decode().splitlines(keepends=True))
    return [line.rstrip("\n") for line in lines if line.endswith("\n")]  # drop a torn last line


@pytest.mark.parametrize("writers", [1, 32], ids=["serial", "concurrent"])
async def test_acknowledged_writes_survive_sigkill(tmp_path, writers: int) -> None:
    path = str(tmp_path / "state.db")
    lines = await _run_until_killed(path, writers, acks_wanted=1500)
    acked = [line.split()[1:] for line in lines if line.startswith("ACK ")]
    seen = [int(line.split()[1]) for line in lines if line.startswith("SEEN ")]
    assert len(acked) >= 1500 and seen

    store = SQLiteStore(path, compaction_interval=0)
    await store.start()
    try:
        current = await store.current_revision()
        assert current >= max(int(rev) for _, rev, _ in acked)
        for key, rev, value in acked:
            _, kv = await store.get(key, revision=int(rev))
            assert kv is not None and (kv.mod_revision, kv.value) == (int(rev), value.encode()), key

        # the watcher's stream before the kill had no gap and no repeat
        assert seen == list(range(1, len(seen) + 1))
        resume = seen[-1]
        events: list[Event] = []
        more = 100

        async def watch() -> None:
            async for batch in store.watch("/crash/", start_revision=resume):
                events.extend(batch)
                if events[-1].revision >= current + more:
                    return

        task = asyncio.create_task(watch())
        await asyncio.gather(*(store.create(f"/crash/after/{i}", b"a") for i in range(more)))
        await asyncio.wait_for(task, 30)
        assert [e.revision for e in events] == list(range(resume + 1, current + more + 1))
        by_revision = {e.revision: e for e in events}
        for key, rev, value in acked:
            if int(rev) > resume:
                event = by_revision[int(rev)]
                assert (event.kv.key, event.kv.value) == (key, value.encode())
    finally:
        await store.close()

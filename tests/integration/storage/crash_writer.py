"""Load for the crash test: many concurrent writers on a SQLiteStore, printing each acknowledged write.

Usage: python crash_writer.py DB_PATH WRITERS. Prints `ACK key revision value` once a write returned
and `SEEN revision` for each event a watcher received; runs until killed.
"""

from __future__ import annotations

import asyncio
import sys

from kybernetes.storage.sqlite import SQLiteStore


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def writer(store: SQLiteStore, n: int) -> None:
    i = 0
    while True:
        key = f"/crash/{n}/{i}"
        kv = await store.create(key, f"c{i}".encode())
        emit(f"ACK {key} {kv.mod_revision} c{i}")
        result = await store.update(key, f"u{i}".encode(), mod_revision=kv.mod_revision)
        assert result.succeeded
        emit(f"ACK {key} {result.revision} u{i}")
        i += 1


async def watcher(store: SQLiteStore) -> None:
    async for batch in store.watch("/crash/", start_revision=0):
        for event in batch:
            emit(f"SEEN {event.revision}")


async def main(path: str, writers: int) -> None:
    store = SQLiteStore(path, compaction_interval=0)
    await store.start()
    emit("READY")
    await asyncio.gather(watcher(store), *(writer(store, n) for n in range(writers)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))

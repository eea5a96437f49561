"""Pod workers: one asyncio task per pod, syncing it level-triggered (upstream pkg/kubelet/pod_workers.go).

`update(uid)` marks a pod dirty and starts its worker if needed. A worker runs `sync(uid)` whenever it is
dirty, when the requeue delay its last sync asked for has passed, or every `resync` seconds; syncs of one pod
never overlap, different pods sync in parallel. A sync that returns DONE ends the worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

DONE = -1.0
ERROR_BACKOFF = 2.0


class _Worker:
    def __init__(self) -> None:
        self.dirty = asyncio.Event()
        self.task: asyncio.Task[None] | None = None


class PodWorkers:
    """The worker per pod uid; `sync(uid)` returns the seconds until the next wanted sync, None or DONE."""

    def __init__(self, sync: Callable[[str], Awaitable[float | None]], *, resync: float) -> None:
        self._sync = sync
        self.resync = resync
        self._workers: dict[str, _Worker] = {}

    def update(self, uid: str) -> None:
        worker = self._workers.get(uid)
        if worker is None:
            worker = self._workers[uid] = _Worker()
            worker.task = asyncio.create_task(self._run(uid, worker), name=f"pod-worker {uid}")
        worker.dirty.set()

    def known(self) -> list[str]:
        return list(self._workers)

    async def _run(self, uid: str, worker: _Worker) -> None:
        delay: float | None = 0.0
        try:
            while True:
                timeout = self.resync if delay is None else min(delay, self.resync)
                try:
                    await asyncio.wait_for(worker.dirty.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
                worker.dirty.clear()
                try:
                    delay = await self._sync(uid)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - a failed sync is retried, never fatal
                    log.exception("sync of pod %s failed", uid)
                    delay = ERROR_BACKOFF
                if delay == DONE:
                    if worker.dirty.is_set():  # updated while finishing: go on
                        delay = 0.0
                        continue
                    return
        finally:
            if self._workers.get(uid) is worker:
                del self._workers[uid]

    async def stop(self) -> None:
        workers, self._workers = list(self._workers.values()), {}
        for w in workers:
            if w.task is not None:
                w.task.cancel()
        await asyncio.gather(*(w.task for w in workers if w.task is not None), return_exceptions=True)

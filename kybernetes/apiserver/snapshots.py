"""Scheduled snapshots inside the apiserver process, as k3s's --etcd-snapshot-schedule-cron: on a cron
schedule, a consistent snapshot of the datastore into the snapshot dir, then the schedule's oldest pruned."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from kybernetes.controllers.cronschedule import CronSchedule, parse_schedule
from kybernetes.storage.snapshot_dir import (
    SCHEDULED_PREFIX,
    SnapshotRecord,
    default_snapshot_dir,
    prune_snapshots,
    remove_partials,
    take_snapshot,
)

log = logging.getLogger(__name__)

DEFAULT_CRON = "0 */12 * * *"  # k3s's default: every 12 hours
DEFAULT_RETENTION = 5


@dataclass
class SnapshotSchedule:
    """--snapshot-cron, --snapshot-retention, --snapshot-dir, --snapshot-name; node_name goes into the names."""

    cron: str = DEFAULT_CRON  # a cron spec, or '@every <duration>' (e.g. '@every 30s')
    retention: int = DEFAULT_RETENTION  # scheduled snapshots kept (0: all)
    dir: str = ""  # default: <data-dir>/snapshots
    name: str = SCHEDULED_PREFIX
    node_name: str = ""  # default: the hostname

    def parsed(self) -> CronSchedule:
        """The cron schedule; raises ValueError for a bad spec."""
        return parse_schedule(self.cron)


def key_companions() -> tuple[str, ...]:
    """Files kept beside a snapshot that go when it goes: the encryption keys `snapshot save` writes."""
    from kybernetes.apiserver.encryption import DEFAULT_CONFIG_NAME

    return (f".{DEFAULT_CONFIG_NAME}",)


class SnapshotMetrics:
    """Counts of scheduled snapshots by result and the time of the last good one, in the apiserver's registry."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry or CollectorRegistry()
        self.saves = Counter("kybernetes_snapshot_save", "Scheduled datastore snapshots taken, by result "
                             "(success or failure).", ["result"], registry=r)
        self.last_success = Gauge("kybernetes_snapshot_last_success_timestamp_seconds",
                                  "Unix time of the last successful scheduled snapshot.", registry=r)
        self.pruned = Counter("kybernetes_snapshot_pruned", "Scheduled snapshots deleted by the retention count.",
                              registry=r)


class SnapshotController:
    """Runs the schedule until stopped; one snapshot at a time; a failure is logged, counted and retried next time."""

    def __init__(self, schedule: SnapshotSchedule, *, data_dir: str, datastore_endpoint: str = "",
                 registry: CollectorRegistry | None = None, clock: Callable[[], float] = time.time) -> None:
        self.schedule = schedule
        self.cron = schedule.parsed()
        self.data_dir = data_dir
        self.datastore_endpoint = datastore_endpoint
        self.directory = schedule.dir or default_snapshot_dir(data_dir)
        self.node = schedule.node_name or socket.gethostname().lower()
        self.metrics = SnapshotMetrics(registry)
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        for name in remove_partials(self.directory):
            log.info("removed %s, left by a snapshot cut short", name)
        self._task = asyncio.create_task(self._run(), name="scheduled snapshots")
        log.info("scheduled snapshots %r into %s, keeping %s", self.schedule.cron, self.directory,
                 self.schedule.retention or "all")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            following = self.cron.next(self.clock())
            if following is None:
                log.warning("snapshot schedule %r never fires again", self.schedule.cron)
                return
            await asyncio.sleep(max(0.0, following - self.clock()))
            await self.snapshot_once()

    async def snapshot_once(self) -> SnapshotRecord | None:
        """Take one scheduled snapshot and prune; None (logged and counted) when it failed."""
        try:
            record = await take_snapshot(data_dir=self.data_dir, datastore_endpoint=self.datastore_endpoint,
                                         directory=self.directory, prefix=self.schedule.name, node=self.node,
                                         scheduled=True, clock=self.clock)
            self._save_keys(record)
        except Exception:  # noqa: BLE001 - a failed snapshot must not stop the apiserver or the schedule
            log.exception("scheduled snapshot failed")
            self.metrics.saves.labels(result="failure").inc()
            return None
        self.metrics.saves.labels(result="success").inc()
        self.metrics.last_success.set(record.created)
        log.info("snapshot %s saved (revision %d, %d bytes)", record.name, record.revision, record.size)
        try:
            pruned = prune_snapshots(self.directory, self.schedule.name, self.node, self.schedule.retention,
                                     key_companions())
        except OSError:
            log.exception("pruning snapshots failed")
            return record
        self.metrics.pruned.inc(len(pruned))
        for name in pruned:
            log.info("snapshot %s pruned (retention %d)", name, self.schedule.retention)
        return record

    def _save_keys(self, record: SnapshotRecord) -> None:
        """The encryption keys beside the snapshot, as `kybernetes snapshot save` does: restore needs them."""
        from kybernetes.cli.secrets_encrypt import save_keys_beside

        save_keys_beside(self.data_dir, record.path)

"""The apiserver's scheduled snapshots: k3s names, retention of the schedule's own, metrics, failures counted."""

from __future__ import annotations

import asyncio
import os

import pytest
from prometheus_client import CollectorRegistry

from kybernetes.apiserver.snapshots import SnapshotController, SnapshotSchedule
from kybernetes.storage import db_path
from kybernetes.storage.snapshot_dir import list_snapshots, take_snapshot
from kybernetes.storage.sqlite import SQLiteStore


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _data_dir(tmp_path) -> str:
    d = str(tmp_path / "data")
    store = SQLiteStore(db_path(d), compaction_interval=0)
    await store.start()
    await store.create("/registry/core/namespaces/default", b"{}")
    await store.close()
    return d


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_snapshot_once_names_prunes_and_counts(tmp_path) -> None:
    data_dir = await _data_dir(tmp_path)
    registry = CollectorRegistry()
    clock = Clock(1_700_000_000.0)
    ctl = SnapshotController(SnapshotSchedule(cron="@every 1h", retention=3, node_name="cp-1"), data_dir=data_dir,
                             registry=registry, clock=clock)
    directory = os.path.join(data_dir, "snapshots")
    manual = await take_snapshot(data_dir=data_dir, datastore_endpoint="", directory=directory, prefix="on-demand",
                                 node="cp-1", scheduled=False, clock=lambda: 1.0)
    for _ in range(5):
        clock.now += 3600
        assert await ctl.snapshot_once() is not None
    names = [r.name for r in list_snapshots(directory)]
    assert names == [manual.name] + [f"etcd-snapshot-cp-1-{1_700_000_000 + 3600 * i}" for i in (3, 4, 5)]
    assert _sample(registry, "kybernetes_snapshot_save_total", result="success") == 5
    assert _sample(registry, "kybernetes_snapshot_pruned_total") == 2
    assert _sample(registry, "kybernetes_snapshot_last_success_timestamp_seconds") == clock.now


async def test_a_failed_snapshot_is_counted_and_the_schedule_goes_on(tmp_path) -> None:
    registry = CollectorRegistry()
    ctl = SnapshotController(SnapshotSchedule(cron="@every 1s"), data_dir=str(tmp_path / "no-db"),
                             registry=registry)
    assert await ctl.snapshot_once() is None
    assert _sample(registry, "kybernetes_snapshot_save_total", result="failure") == 1


async def test_the_schedule_runs_until_stopped(tmp_path) -> None:
    data_dir = await _data_dir(tmp_path)
    registry = CollectorRegistry()
    ctl = SnapshotController(SnapshotSchedule(cron="@every 1s", retention=1), data_dir=data_dir,
                             registry=registry)
    await ctl.start()
    try:
        for _ in range(100):
            if _sample(registry, "kybernetes_snapshot_save_total", result="success") >= 1:
                break
            await asyncio.sleep(0.05)
    finally:
        await ctl.stop()
    assert len(list_snapshots(os.path.join(data_dir, "snapshots"))) == 1


@pytest.mark.parametrize("cron", ["not a cron", "61 * * * *"], ids=["garbage", "minute-out-of-range"])
def test_a_bad_cron_is_refused(cron) -> None:
    with pytest.raises(ValueError):
        SnapshotSchedule(cron=cron).parsed()

"""The snapshot directory: k3s naming, metadata, listing, retention pruning of one schedule only, restore by name."""

from __future__ import annotations

import os

import orjson
import pytest

from kybernetes.storage import db_path
from kybernetes.storage.snapshot import SnapshotError, restore_snapshot
from kybernetes.storage.snapshot_dir import (
    METADATA_DIR,
    delete_snapshot,
    list_snapshots,
    prune_snapshots,
    remove_partials,
    resolve_snapshot,
    scheduled_snapshots,
    snapshot_name,
    take_snapshot,
)
from kybernetes.storage.sqlite import SQLiteStore


@pytest.fixture
async def data_dir(tmp_path) -> str:
    d = str(tmp_path / "data")
    store = SQLiteStore(db_path(d), compaction_interval=0)
    await store.start()
    await store.create("/registry/core/configmaps/default/a", b"1")
    await store.close()
    return d


async def _take(data_dir: str, directory: str, prefix: str, node: str, when: float, scheduled: bool = True):
    return await take_snapshot(data_dir=data_dir, datastore_endpoint="", directory=directory, prefix=prefix,
                               node=node, scheduled=scheduled, clock=lambda: when)


@pytest.mark.parametrize(("prefix", "node", "when", "name"), [
    ("etcd-snapshot", "node-1", 1700000000.9, "etcd-snapshot-node-1-1700000000"),
    ("on-demand", "server", 5.0, "on-demand-server-5"),
], ids=["scheduled", "on-demand"])
def test_snapshot_name_is_k3s_shaped(prefix, node, when, name) -> None:
    assert snapshot_name(prefix, node, when) == name


async def test_take_writes_the_snapshot_and_its_metadata(data_dir, tmp_path) -> None:
    directory = str(tmp_path / "snaps")
    record = await _take(data_dir, directory, "etcd-snapshot", "n1", 1000.0)
    assert record.name == "etcd-snapshot-n1-1000" and record.revision == 1 and record.scheduled
    assert record.location == "file://" + os.path.join(directory, record.name)
    assert record.size == os.path.getsize(record.path)
    with open(os.path.join(directory, METADATA_DIR, record.name), "rb") as f:
        meta = orjson.loads(f.read())
    assert meta["sha256"] == record.sha256 and meta["created"] == 1000.0 and meta["node_name"] == "n1"
    assert list_snapshots(directory) == [record]
    assert os.stat(record.path).st_mode & 0o777 == 0o600  # it holds every key of the cluster


async def test_take_from_etcd_writes_etcds_own_snapshot(etcd_server, tmp_path) -> None:
    import hashlib

    directory = str(tmp_path / "snaps")
    record = await take_snapshot(data_dir=str(tmp_path), datastore_endpoint=etcd_server.url, directory=directory,
                                 prefix="etcd-snapshot", node="n1", scheduled=True, clock=lambda: 42.0)
    assert (record.name, record.backend) == ("etcd-snapshot-n1-42", "etcd")
    with open(record.path, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == record.sha256
    assert list_snapshots(directory) == [record]


async def test_list_includes_plain_snapshot_files_and_skips_other_files(data_dir, tmp_path) -> None:
    from kybernetes.storage.snapshot import save_snapshot

    directory = str(tmp_path / "snaps")
    await _take(data_dir, directory, "etcd-snapshot", "n1", 1000.0)
    save_snapshot(db_path(data_dir), os.path.join(directory, "by-hand"))
    with open(os.path.join(directory, "by-hand.encryption-config.yaml"), "w") as f:
        f.write("kind: EncryptionConfiguration\n")
    names = {r.name for r in list_snapshots(directory)}
    assert names == {"etcd-snapshot-n1-1000", "by-hand"}


async def test_prune_keeps_the_newest_of_this_schedule_only(data_dir, tmp_path) -> None:
    directory = str(tmp_path / "snaps")
    for t in (100, 200, 300, 900, 1000):  # 900 < 1000 numerically though not as a string
        await _take(data_dir, directory, "etcd-snapshot", "n1", float(t))
    await _take(data_dir, directory, "on-demand", "n1", 50.0, scheduled=False)
    await _take(data_dir, directory, "etcd-snapshot", "other-node", 60.0)
    with open(os.path.join(directory, "etcd-snapshot-n1-100.keys"), "w") as f:
        f.write("x")
    pruned = prune_snapshots(directory, "etcd-snapshot", "n1", 2, (".keys",))
    assert pruned == ["etcd-snapshot-n1-100", "etcd-snapshot-n1-200", "etcd-snapshot-n1-300"]
    assert [r.name for r in scheduled_snapshots(directory, "etcd-snapshot", "n1")] == [
        "etcd-snapshot-n1-900", "etcd-snapshot-n1-1000"]
    left = sorted(os.listdir(directory))
    assert left == [".metadata", "etcd-snapshot-n1-1000", "etcd-snapshot-n1-900", "etcd-snapshot-other-node-60",
                    "on-demand-n1-50"]
    assert sorted(os.listdir(os.path.join(directory, METADATA_DIR))) == sorted(left[1:])
    assert prune_snapshots(directory, "etcd-snapshot", "n1", 0) == []  # 0 keeps all


async def test_delete_and_resolve_by_name(data_dir, tmp_path) -> None:
    directory = str(tmp_path / "snaps")
    record = await _take(data_dir, directory, "on-demand", "n1", 7.0, scheduled=False)
    assert resolve_snapshot(directory, record.name) == record.path
    assert resolve_snapshot(directory, record.path) == record.path
    with pytest.raises(SnapshotError):
        delete_snapshot(directory, "../data")
    delete_snapshot(directory, record.name)
    assert list_snapshots(directory) == []
    with pytest.raises(SnapshotError):
        resolve_snapshot(directory, record.name)
    with pytest.raises(SnapshotError):
        delete_snapshot(directory, record.name)


async def test_restore_by_name_with_bumped_and_compacted_revision(data_dir, tmp_path) -> None:
    from kybernetes.storage.interface import CompactedError

    store = SQLiteStore(db_path(data_dir), compaction_interval=0)
    await store.start()
    kv = await store.create("/k/b", b"1")
    await store.update("/k/b", b"2", mod_revision=kv.mod_revision)
    await store.close()
    directory = str(tmp_path / "snaps")
    record = await _take(data_dir, directory, "etcd-snapshot", "n1", 1.0)
    target = str(tmp_path / "restored")
    restore_snapshot(resolve_snapshot(directory, record.name), target, bump_revision=1000, mark_compacted=True)
    store = SQLiteStore(db_path(target), compaction_interval=0)
    await store.start()
    try:
        assert await store.current_revision() == 1003
        assert await store.compacted_revision() == 1003
        live = (await store.range("/k/")).kvs
        assert [(k.key, k.value, k.mod_revision) for k in live] == [("/k/b", b"2", 3)]  # exact revisions kept
        with pytest.raises(CompactedError):
            await store.get("/k/b", revision=2)
        assert (await store.create("/k/c", b"1")).mod_revision == 1004
    finally:
        await store.close()


def test_remove_partials_leaves_snapshots_alone(tmp_path) -> None:
    (tmp_path / ".snapshot-abc").mkdir()
    (tmp_path / ".snapshot-abc" / "copy.db").write_bytes(b"x")
    (tmp_path / ".snapshot-def").write_bytes(b"x")
    (tmp_path / "etcd-snapshot-n-1").write_bytes(b"x")
    assert sorted(remove_partials(str(tmp_path))) == [".snapshot-abc", ".snapshot-def"]
    assert os.listdir(tmp_path) == ["etcd-snapshot-n-1"]

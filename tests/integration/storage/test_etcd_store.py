"""EtcdStore against a real etcd: compaction seen across clients, etcd's snapshot, an apiserver on etcd."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from kybernetes.storage.etcd import EtcdStore
from kybernetes.storage.interface import CompactedError, StorageError
from kybernetes.storage.snapshot import save_etcd_snapshot
from tests.etcd_server import EtcdServer, _free_port, etcd_binary, etcd_server  # noqa: F401  (the session fixture)


async def _store(server: EtcdServer) -> EtcdStore:
    store = EtcdStore(server.url)
    await store.start()
    return store


async def test_compaction_by_another_client(etcd_server: EtcdServer) -> None:  # noqa: F811
    """A compaction made elsewhere reaches a watcher as CompactedError and a new client finds its revision."""
    first, second = await _store(etcd_server), await _store(etcd_server)
    try:
        start = await first.current_revision()
        for i in range(6):
            await first.create(f"/elsewhere/{i}", b"v")
        await second.compact(start + 4)
        with pytest.raises(CompactedError) as info:
            await asyncio.wait_for(first.watch("/elsewhere/", start_revision=start + 1).__anext__(), 5)
        assert info.value.compacted == start + 4
        third = await _store(etcd_server)
        try:
            assert await third.compacted_revision() == start + 4
        finally:
            await third.close()
    finally:
        await first.close()
        await second.close()


async def test_several_endpoints_use_a_live_one(etcd_server: EtcdServer) -> None:  # noqa: F811
    store = EtcdStore(f"etcd://127.0.0.1:{_free_port()},{etcd_server.endpoint}")  # the first one is down
    await store.start()
    try:
        kv = await store.create("/several/a", b"1")
        assert (await store.get("/several/a"))[1] == kv
    finally:
        await store.close()


async def test_periodic_compaction(etcd_server: EtcdServer) -> None:  # noqa: F811
    store = EtcdStore(etcd_server.url, compaction_interval=0.05, compaction_keep=5)
    await store.start()
    try:
        for i in range(20):
            await store.create(f"/periodic/{i}", b"x")
        target = await store.current_revision() - 5
        for _ in range(100):
            if await store.compacted_revision() >= target:
                break
            await asyncio.sleep(0.02)
        assert target <= await store.compacted_revision() <= await store.current_revision() - 5
    finally:
        await store.close()


async def test_tls_client_certificates() -> None:
    """etcds:// with cacert, cert and key reaches an etcd that requires client certificates; without them it fails."""
    binary = etcd_binary()
    if binary is None:
        pytest.skip("etcd binary not found (apt-get install etcd-server)")
    server = EtcdServer(binary, tls=True)
    await asyncio.to_thread(server.start)
    try:
        store = await _store(server)
        try:
            kv = await store.create("/tls/a", b"secret")
            assert (await store.get("/tls/a"))[1] == kv
        finally:
            await store.close()
        without_cert = EtcdStore(f"etcds://{server.endpoint}?cacert={server.data_dir}/ca.crt")
        with pytest.raises(StorageError):
            await without_cert.start()
        await without_cert.close()
    finally:
        await asyncio.to_thread(server.stop)


async def test_snapshot_save_uses_etcds_snapshot(etcd_server: EtcdServer, tmp_path) -> None:  # noqa: F811
    store = await _store(etcd_server)
    try:
        kv = await store.create("/snap/a", b"value-in-snapshot")
    finally:
        await store.close()
    file = str(tmp_path / "out" / "etcd.snap")
    info = await save_etcd_snapshot(etcd_server.url, file)
    data = open(file, "rb").read()
    assert info.size == len(data) and info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.revision >= kv.mod_revision
    # etcd's snapshot stream is the bbolt file followed by its sha256 (what etcdutl verifies on restore)
    assert hashlib.sha256(data[:-32]).digest() == data[-32:]
    assert b"value-in-snapshot" in data


async def test_apiserver_on_etcd(etcd_server: EtcdServer, tmp_path) -> None:  # noqa: F811
    """kubectl-like CRUD and a watch through an apiserver whose datastore is etcd."""
    from kybernetes.apiserver.server import APIServer, APIServerConfig
    from kybernetes.client import ApiError, RESTClient, load_kubeconfig
    from tests.conftest import free_port

    cfg = APIServerConfig(data_dir=str(tmp_path / "data"), bind_address="127.0.0.1", secure_port=free_port(),
                          datastore_endpoint=etcd_server.url)
    server = APIServer(cfg)
    await server.start()
    client = RESTClient(load_kubeconfig(server.kubeconfig_path), timeout=30)
    path = "/api/v1/namespaces/default/configmaps"
    try:
        assert isinstance(server._raw_store, EtcdStore)
        created = await client.create(path, {"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": "on-etcd"}, "data": {"k": "1"}})
        rv = created["metadata"]["resourceVersion"]
        raw = await server._raw_store.get("/registry/core/configmaps/default/on-etcd")
        assert raw[1] is not None and str(raw[1].mod_revision) == rv  # resourceVersion is etcd's mod_revision
        events: list[dict] = []

        async def watch() -> None:
            async for ev in client.watch(path, {"resourceVersion": rv}):
                events.append(ev)
                if len(events) == 2:
                    return

        watcher = asyncio.create_task(watch())
        patched = await client.patch(f"{path}/on-etcd", {"data": {"k": "2"}})
        assert int(patched["metadata"]["resourceVersion"]) > int(rv)
        stale = dict(created, data={"k": "stale"})
        with pytest.raises(ApiError) as conflict:
            await client.update(f"{path}/on-etcd", stale)
        assert conflict.value.code == 409
        assert (await client.get(f"{path}/on-etcd"))["data"] == {"k": "2"}
        assert [i["metadata"]["name"] for i in (await client.list(path))["items"]] == ["on-etcd"]
        await client.delete(f"{path}/on-etcd")
        await asyncio.wait_for(watcher, 10)
        assert [(e["type"], e["object"]["data"]["k"]) for e in events] == [("MODIFIED", "2"), ("DELETED", "2")]
        with pytest.raises(ApiError) as gone:
            await client.get(f"{path}/on-etcd")
        assert gone.value.code == 404
    finally:
        await client.close()
        await server.stop()

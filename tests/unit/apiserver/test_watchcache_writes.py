"""The watch cache keeps a writer's own object when the stored bytes are the ones it announced, else decodes."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from kybernetes.apiserver.watchcache import WatchCache
from kybernetes.storage.memory import MemoryStore

KEY = "/registry/core/configmaps/ns/a"


def body(value: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "ns"},
            "data": {"k": value}}


async def started() -> tuple[MemoryStore, WatchCache]:
    store = MemoryStore()
    await store.start()
    cache = WatchCache(store)
    await cache.start()
    return store, cache


@pytest.mark.parametrize("announced_value,kept", [
    ("v1", True),   # the announced bytes were stored: the cache keeps the writer's object
    ("v2", False),  # other bytes were stored (another writer won): the cache decodes them
], ids=["same-bytes", "other-bytes"])
def test_announced_object_kept_only_for_its_bytes(announced_value: str, kept: bool) -> None:
    async def run() -> None:
        store, cache = await started()
        try:
            obj = body(announced_value)
            entry = cache.expect_write(KEY, orjson.dumps(obj), obj)
            kv = await store.create(KEY, orjson.dumps(body("v1")))
            assert await cache.wait_for_revision(kv.mod_revision, 5)
            cache.forget_write(KEY, entry)
            cached = cache.cache_for("/registry/core/configmaps/").objects[KEY]
            assert (cached is obj) is kept
            assert cached["data"] == {"k": "v1"}
            assert cached["metadata"]["resourceVersion"] == str(kv.mod_revision)
            assert not cache._written  # noqa: SLF001 - nothing announced stays behind
        finally:
            await cache.stop()
            await store.close()

    asyncio.run(run())


def test_forget_write_leaves_a_newer_announcement() -> None:
    async def run() -> None:
        store, cache = await started()
        try:
            first = cache.expect_write(KEY, b"1", body("1"))
            second = cache.expect_write(KEY, b"2", body("2"))
            cache.forget_write(KEY, first)
            assert cache._written[KEY] is second  # noqa: SLF001
            cache.forget_write(KEY, second)
            assert KEY not in cache._written  # noqa: SLF001
        finally:
            await cache.stop()
            await store.close()

    asyncio.run(run())


def test_deleted_event_carries_the_cached_object_at_the_deletion_revision() -> None:
    async def run() -> None:
        store, cache = await started()
        try:
            kv = await store.create(KEY, orjson.dumps(body("v1")))
            assert await cache.wait_for_revision(kv.mod_revision, 5)
            w = cache.watch("/registry/core/configmaps/ns/", lambda _o: True)
            res = await store.delete(KEY, mod_revision=kv.mod_revision)
            assert await cache.wait_for_revision(res.revision, 5)
            (ev,) = await w.next_batch(timeout=1)
            assert ev.type == "DELETED"
            assert ev.obj["data"] == {"k": "v1"}
            assert ev.obj["metadata"]["resourceVersion"] == str(res.revision)
            assert ev.prev is not None and ev.prev["metadata"]["resourceVersion"] == str(kv.mod_revision)
        finally:
            await cache.stop()
            await store.close()

    asyncio.run(run())


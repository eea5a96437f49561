"""Reflector and shared informers against the fake apiserver: list+watch, re-list on 410, handlers, cache."""

from __future__ import annotations

import asyncio

import pytest

from kybernetes.client import Backoff, SharedInformer, SharedInformerFactory, resource_path

ALL_CMS = resource_path("", "v1", "configmaps")


class Recorder:
    """A handler recording ('add'|'update'|'delete', name, data) in arrival order."""

    def __init__(self, delay: float = 0.0) -> None:
        self.events: list[tuple] = []
        self.delay = delay

    async def _rec(self, *e):
        if self.delay:
            await asyncio.sleep(self.delay)
        self.events.append(e)

    async def on_add(self, obj):
        await self._rec("add", obj["metadata"]["name"], obj.get("data"))

    async def on_update(self, old, new):
        await self._rec("update", new["metadata"]["name"], new.get("data"))

    async def on_delete(self, obj):
        await self._rec("delete", obj["metadata"]["name"], obj.get("data"))


async def until(cond, timeout=5.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def cache_state(informer):
    return {k: informer.store.get_by_key(k).get("data") for k in sorted(informer.store.list_keys())}


def server_state(api):
    return {k: o.get("data") for k, o in sorted(api.objects.items())}


@pytest.fixture
async def informer(client):
    inf = SharedInformer(client, ALL_CMS, backoff=Backoff(0.01, 0.05))
    yield inf
    await inf.stop()


async def test_list_then_watch_in_order(api, informer):
    api.put("a", {"v": "1"})
    api.put("b", {"v": "1"}, namespace="other")
    rec = Recorder()
    reg = informer.add_event_handler(rec)
    informer.start()
    assert await informer.wait_for_sync(5)
    await asyncio.wait_for(reg.wait_for_sync(), 5)
    assert reg.has_synced()
    assert sorted(rec.events) == [("add", "a", {"v": "1"}), ("add", "b", {"v": "1"})]
    # every item carries kind/apiVersion, like watch objects
    assert informer.store.get("a", "default")["kind"] == "ConfigMap"

    await until(lambda: api.watches)
    api.put("c", {"v": "1"})
    api.put("a", {"v": "2"})
    api.remove("b", namespace="other")
    api.put("c", {"v": "2"})
    await until(lambda: len(rec.events) == 6)
    assert rec.events[2:] == [("add", "c", {"v": "1"}), ("update", "a", {"v": "2"}),
                              ("delete", "b", {"v": "1"}), ("update", "c", {"v": "2"})]
    assert cache_state(informer) == server_state(api)
    assert informer.reflector.last_sync_resource_version == str(api.rv)
    assert informer.reflector.lists == 1


@pytest.mark.parametrize("gone_as_http", [False, True], ids=["error-event", "http-410"])
async def test_relist_on_410(api, informer, gone_as_http):
    api.gone_as_http = gone_as_http
    api.put("keep", {"v": "1"})
    api.put("drop", {"v": "1"})
    rec = Recorder()
    informer.add_event_handler(rec)
    informer.start()
    await informer.wait_for_sync(5)
    await until(lambda: api.watches)
    # while the client is cut off: changes it never sees as events, then the log is compacted
    api.drop_watches()
    api.put("keep", {"v": "2"})
    api.remove("drop")
    api.put("new", {"v": "1"})
    api.compact()
    await until(lambda: informer.reflector.lists == 2 and len(rec.events) == 5)
    assert sorted(rec.events[2:]) == [("add", "new", {"v": "1"}), ("delete", "drop", {"v": "1"}),
                                      ("update", "keep", {"v": "2"})]
    assert cache_state(informer) == server_state(api)
    # and it watches again from the new list
    await until(lambda: api.watches)
    api.put("after", {})
    await until(lambda: ("add", "after", {}) in rec.events)


async def test_closed_watch_resumes_without_relist(api, informer):
    informer.start()
    await informer.wait_for_sync(5)
    await until(lambda: api.watches)
    api.drop_watches()
    api.put("x", {})  # happens between watches: replayed from the log
    await until(lambda: informer.store.get("x", "default") is not None)
    assert informer.reflector.lists == 1


async def test_bookmark_advances_resource_version(api, informer):
    informer.start()
    await informer.wait_for_sync(5)
    await until(lambda: api.watches)
    api.rv += 7  # other resources changed
    api.bookmark()
    await until(lambda: informer.reflector.last_sync_resource_version == str(api.rv))
    assert len(informer.store) == 0


async def test_handlers_are_independent_and_ordered(api, informer):
    fast, slow = Recorder(), Recorder(delay=0.02)
    informer.add_event_handler(fast)
    informer.add_event_handler(slow)
    informer.start()
    await informer.wait_for_sync(5)
    await until(lambda: api.watches)
    for i in range(5):
        api.put("o", {"i": str(i)})
    await until(lambda: len(fast.events) == 5)
    assert len(slow.events) < 5  # the slow handler does not hold the fast one up
    await until(lambda: len(slow.events) == 5)
    assert fast.events == slow.events == [("add", "o", {"i": "0"})] + [
        ("update", "o", {"i": str(i)}) for i in range(1, 5)]


async def test_late_handler_gets_cache_as_adds(api, informer):
    api.put("a", {})
    api.put("b", {})
    informer.start()
    await informer.wait_for_sync(5)
    rec = Recorder()
    reg = informer.add_event_handler(on_add=rec.on_add)  # plain keyword functions work too
    await asyncio.wait_for(reg.wait_for_sync(), 5)
    assert sorted(rec.events) == [("add", "a", {}), ("add", "b", {})]


async def test_sync_function_handlers(api, informer):
    seen = []
    informer.add_event_handler(on_add=lambda o: seen.append(o["metadata"]["name"]))
    informer.start()
    await informer.wait_for_sync(5)
    await until(lambda: api.watches)
    api.put("z", {})
    await until(lambda: seen == ["z"])


async def test_failing_handler_does_not_stop_delivery(api, informer):
    seen = []

    def on_add(obj):
        seen.append(obj["metadata"]["name"])
        raise RuntimeError("boom")

    informer.add_event_handler(on_add=on_add)
    informer.start()
    await informer.wait_for_sync(5)
    await until(lambda: api.watches)
    api.put("a", {})
    api.put("b", {})
    await until(lambda: seen == ["a", "b"])


async def test_resync_redelivers_cache_as_updates(api, client):
    api.put("a", {"v": "1"})
    inf = SharedInformer(client, ALL_CMS, resync_period=0.05)
    rec = Recorder()
    inf.add_event_handler(rec)
    inf.start()
    try:
        await until(lambda: rec.events.count(("update", "a", {"v": "1"})) >= 2)
        assert rec.events[0] == ("add", "a", {"v": "1"})
        assert inf.reflector.lists == 1  # resync is from the cache, not the server
    finally:
        await inf.stop()


async def test_paged_list(api, client):
    for i in range(5):
        api.put(f"o{i}", {})
    inf = SharedInformer(client, ALL_CMS, page_size=2)
    inf.start()
    try:
        await inf.wait_for_sync(5)
        assert len(inf.store) == 5
        pages = [q for m, p, q in api.requests if q.get("watch") is None and m == "GET"]
        assert [q.get("continue") is not None for q in pages] == [False, True, True]
    finally:
        await inf.stop()


async def test_backoff_and_retry_on_server_errors(api, client):
    api.fail_next = [500, 503]
    api.put("a", {})
    inf = SharedInformer(client, ALL_CMS, backoff=Backoff(0.01, 0.05))
    inf.start()
    try:
        assert await inf.wait_for_sync(5)
        assert inf.store.get("a", "default") is not None
        assert api.lists() == 3
    finally:
        await inf.stop()


async def test_factory_shares_informers_and_scopes_namespaces(api, client):
    api.put("a", {}, namespace="ns1")
    api.put("b", {}, namespace="ns2")
    factory = SharedInformerFactory(client, backoff=Backoff(0.01, 0.05))
    everything = factory.informer_for("", "v1", "configmaps")
    assert factory.informer_for("", "v1", "configmaps") is everything
    only_ns1 = factory.informer_for("", "v1", "configmaps", namespace="ns1")
    assert only_ns1 is not everything
    factory.start()
    try:
        assert await factory.wait_for_cache_sync(5)
        assert sorted(everything.store.list_keys()) == ["ns1/a", "ns2/b"]
        assert only_ns1.store.list_keys() == ["ns1/a"]
        assert [o["metadata"]["name"] for o in everything.store.list("ns2")] == ["b"]
        await until(lambda: len(api.watches) == 2)
        api.put("c", {}, namespace="ns2")
        await until(lambda: "ns2/c" in everything.store)
        assert "ns2/c" not in only_ns1.store
    finally:
        await factory.shutdown()
    assert not everything.running


async def test_custom_index(api, client):
    api.put("a", {"owner": "x"})
    api.put("b", {"owner": "y"})
    inf = SharedInformer(client, ALL_CMS, indexers={"owner": lambda o: [o.get("data", {}).get("owner", "")]})
    inf.start()
    try:
        await inf.wait_for_sync(5)
        assert [o["metadata"]["name"] for o in inf.store.by_index("owner", "x")] == ["a"]
        await until(lambda: api.watches)
        api.put("a", {"owner": "y"})
        await until(lambda: inf.store.index_keys("owner", "y") == ["default/a", "default/b"])
    finally:
        await inf.stop()

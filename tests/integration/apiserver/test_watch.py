"""Watch semantics: resume from a resourceVersion, bookmarks, timeouts, initial events, selector transitions."""

from __future__ import annotations

import asyncio
import time

import pytest

from kybernetes.apiserver import watch as watch_mod
from tests.integration.apiserver.conftest import Api, cm_path, configmap

pytestmark = pytest.mark.asyncio(loop_scope="module")


def summary(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


async def test_watch_from_resource_version_sends_exactly_later_events(api: Api, ns: str) -> None:
    a = await api.client.create(cm_path(ns), configmap("a"))
    await api.client.create(cm_path(ns), configmap("b"))
    await api.client.patch(cm_path(ns, "a"), {"data": {"k": "2"}})
    await api.client.delete(cm_path(ns, "b"))
    events = await api.events(cm_path(ns), {"resourceVersion": a["metadata"]["resourceVersion"]}, 4, timeout=0.5)
    assert summary(events) == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(a["metadata"]["resourceVersion"])
    assert all(e["object"]["kind"] == "ConfigMap" and e["object"]["apiVersion"] == "v1" for e in events)


async def test_watch_without_resource_version_starts_with_current_state(api: Api, ns: str) -> None:
    await api.client.create(cm_path(ns), configmap("x"))
    await api.client.create(cm_path(ns), configmap("y"))
    events = await api.events(cm_path(ns), {}, 2, timeout=2)
    assert sorted(summary(events)) == [("ADDED", "x"), ("ADDED", "y")]


async def test_live_events_follow(api: Api, ns: str) -> None:
    start = await api.client.create(cm_path(ns), configmap("first"))

    async def write() -> None:
        await asyncio.sleep(0.1)
        await api.client.create(cm_path(ns), configmap("second"))
        await api.client.update(cm_path(ns, "first"), dict(start, data={"k": "new"}))

    task = asyncio.create_task(write())
    events = await api.events(cm_path(ns), {"resourceVersion": start["metadata"]["resourceVersion"]}, 2)
    await task
    assert summary(events) == [("ADDED", "second"), ("MODIFIED", "first")]
    assert events[1]["object"]["data"] == {"k": "new"}


async def test_watch_single_object_by_name(api: Api, ns: str) -> None:
    start = await api.client.create(cm_path(ns), configmap("one"))
    await api.client.create(cm_path(ns), configmap("other"))
    await api.client.patch(cm_path(ns, "one"), {"data": {"k": "2"}})
    events = await api.events(cm_path(ns), {"resourceVersion": start["metadata"]["resourceVersion"],
                                            "fieldSelector": "metadata.name=one"}, 2, timeout=0.5)
    assert summary(events) == [("MODIFIED", "one")]


async def test_bookmarks(api: Api, ns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch_mod, "BOOKMARK_INTERVAL", 0.2)
    start = await api.client.create(cm_path(ns), configmap("bm"))
    events = await api.events(cm_path(ns), {"resourceVersion": start["metadata"]["resourceVersion"],
                                            "allowWatchBookmarks": "true"}, 2, timeout=3)
    assert [e["type"] for e in events] == ["BOOKMARK", "BOOKMARK"]
    obj = events[0]["object"]
    assert obj["kind"] == "ConfigMap" and obj["apiVersion"] == "v1"
    assert int(obj["metadata"]["resourceVersion"]) >= int(start["metadata"]["resourceVersion"])


async def test_no_bookmarks_unless_asked(api: Api, ns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch_mod, "BOOKMARK_INTERVAL", 0.1)
    start = await api.client.create(cm_path(ns), configmap("nobm"))
    cpu = time.process_time()  # the server runs in this process
    events = await api.events(cm_path(ns), {"resourceVersion": start["metadata"]["resourceVersion"]}, 1, timeout=1.0)
    assert events == []
    assert time.process_time() - cpu < 0.5  # an idle watch past the bookmark interval waits; it once spun


async def test_timeout_seconds_ends_the_stream(api: Api, ns: str) -> None:
    start = await api.client.create(cm_path(ns), configmap("t"))
    t0 = time.monotonic()
    events = await api.events(cm_path(ns), {"resourceVersion": start["metadata"]["resourceVersion"],
                                            "timeoutSeconds": "1"}, 100, timeout=10)
    elapsed = time.monotonic() - t0
    assert events == []
    assert 0.8 <= elapsed < 5


async def test_send_initial_events_then_bookmark(api: Api, ns: str) -> None:
    for n in ("i1", "i2", "i3"):
        await api.client.create(cm_path(ns), configmap(n))
    head = await api.revision()
    events = await api.events(cm_path(ns), {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
                                            "allowWatchBookmarks": "true", "resourceVersion": ""}, 4, timeout=3)
    assert summary(events)[:3] == [("ADDED", "i1"), ("ADDED", "i2"), ("ADDED", "i3")]
    assert events[3]["type"] == "BOOKMARK"
    bm = events[3]["object"]
    assert bm["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(bm["metadata"]["resourceVersion"]) >= head


@pytest.mark.parametrize("params", [
    pytest.param({"sendInitialEvents": "true", "allowWatchBookmarks": "true"}, id="initial-without-match"),
    pytest.param({"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan"}, id="initial-without-bookmarks"),
    pytest.param({"resourceVersionMatch": "NotOlderThan", "resourceVersion": "1"}, id="match-without-initial"),
])
async def test_bad_watch_options_are_422(api: Api, ns: str, params: dict) -> None:
    err = await api.error(api.events(cm_path(ns), params, 1))
    assert err.code == 422 and err.reason == "Invalid"


async def test_label_selector_watch_turns_relabel_into_deleted_and_added(api: Api, ns: str) -> None:
    start = await api.client.create(cm_path(ns), configmap("lbl", labels={"app": "web"}))
    await api.client.patch(cm_path(ns, "lbl"), {"metadata": {"labels": {"app": "db"}}})
    await api.client.patch(cm_path(ns, "lbl"), {"data": {"k": "while-out"}})
    await api.client.patch(cm_path(ns, "lbl"), {"metadata": {"labels": {"app": "web"}}})
    await api.client.patch(cm_path(ns, "lbl"), {"data": {"k": "in"}})
    events = await api.events(cm_path(ns), {"resourceVersion": start["metadata"]["resourceVersion"],
                                            "labelSelector": "app=web"}, 4, timeout=0.5)
    assert summary(events) == [("DELETED", "lbl"), ("ADDED", "lbl"), ("MODIFIED", "lbl")]
    assert events[0]["object"]["metadata"]["labels"] == {"app": "db"}
    assert events[2]["object"]["data"] == {"k": "in"}


async def test_watch_too_large_resource_version_is_504(api: Api, ns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch_mod, "TOO_LARGE_RV_WAIT", 0.3)
    future = str(await api.revision() + 1000)
    err = await api.error(api.events(cm_path(ns), {"resourceVersion": future}, 1, timeout=10))
    assert err.code == 504
    assert err.message.startswith(f"Too large resource version: {future}")


async def test_watch_cluster_wide_sees_every_namespace(api: Api, ns: str) -> None:
    rv = str(await api.revision())
    other = ns + "-b"
    await api.client.create("/api/v1/namespaces", {"metadata": {"name": other}})
    await api.client.create(cm_path(ns), configmap("w1", labels={"cw": ns}))
    await api.client.create(cm_path(other), configmap("w2", labels={"cw": ns}))
    events = await api.events("/api/v1/configmaps", {"resourceVersion": rv, "labelSelector": f"cw={ns}"}, 2)
    assert [(e["object"]["metadata"]["namespace"], e["object"]["metadata"]["name"]) for e in events] == \
        [(ns, "w1"), (other, "w2")]


async def test_legacy_watch_path(api: Api, ns: str) -> None:
    start = await api.client.create(cm_path(ns), configmap("legacy"))
    await api.client.patch(cm_path(ns, "legacy"), {"data": {"k": "2"}})
    events = await api.events(f"/api/v1/watch/namespaces/{ns}/configmaps/legacy",
                              {"resourceVersion": start["metadata"]["resourceVersion"]}, 2, timeout=0.5)
    assert summary(events) == [("MODIFIED", "legacy")]

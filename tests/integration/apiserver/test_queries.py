"""List semantics: label and field selectors, limit/continue paging, resourceVersion and resourceVersionMatch."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.apiserver.conftest import Api, cm_path, configmap, pod

pytestmark = pytest.mark.asyncio(loop_scope="module")

LABELLED = {
    "a": {"env": "prod", "tier": "web"},
    "b": {"env": "dev", "tier": "db"},
    "c": {"env": "qa"},
    "d": {},
}


async def make_labelled(api: Api, ns: str) -> None:
    for name, labels in LABELLED.items():
        await api.client.create(cm_path(ns), configmap(name, labels=labels))


def names(lst: dict) -> list[str]:
    return [o["metadata"]["name"] for o in lst["items"]]


@pytest.mark.parametrize("selector,want", [
    pytest.param("env=prod", ["a"], id="equals"),
    pytest.param("env==prod", ["a"], id="double-equals"),
    pytest.param("env!=prod", ["b", "c", "d"], id="not-equals-includes-missing"),
    pytest.param("env in (prod,dev)", ["a", "b"], id="in"),
    pytest.param("env notin (prod,dev)", ["c", "d"], id="notin-includes-missing"),
    pytest.param("tier", ["a", "b"], id="exists"),
    pytest.param("!tier", ["c", "d"], id="does-not-exist"),
    pytest.param("env in (prod,dev,qa),!tier", ["c"], id="and"),
    pytest.param("", ["a", "b", "c", "d"], id="empty"),
])
async def test_label_selector(api: Api, ns: str, selector: str, want: list[str]) -> None:
    await make_labelled(api, ns)
    assert names(await api.client.list(cm_path(ns), {"labelSelector": selector})) == want


@pytest.mark.parametrize("selector", ["env in prod", "env=(x", "=x", "a b"], ids=str)
async def test_bad_label_selector_is_400(api: Api, ns: str, selector: str) -> None:
    err = await api.error(api.client.list(cm_path(ns), {"labelSelector": selector}))
    assert err.code == 400 and err.reason == "BadRequest"


async def make_pods(api: Api, ns: str) -> None:
    await api.client.create(f"/api/v1/namespaces/{ns}/pods", pod("p1", node="n1"))
    await api.client.create(f"/api/v1/namespaces/{ns}/pods", pod("p2", node="n2"))
    await api.client.create(f"/api/v1/namespaces/{ns}/pods", pod("p3"))
    await api.client.patch(f"/api/v1/namespaces/{ns}/pods/p2/status", {"status": {"phase": "Running"}})


@pytest.mark.parametrize("selector,want", [
    pytest.param("spec.nodeName=n1", ["p1"], id="nodeName"),
    pytest.param("spec.nodeName=", ["p3"], id="unscheduled"),
    pytest.param("spec.nodeName!=", ["p1", "p2"], id="scheduled"),
    pytest.param("status.phase=Running", ["p2"], id="phase"),
    pytest.param("status.phase!=Running,spec.nodeName!=", ["p1"], id="and"),
    pytest.param("metadata.name=p3", ["p3"], id="name"),
    pytest.param("metadata.namespace!=x", ["p1", "p2", "p3"], id="namespace"),
])
async def test_pod_field_selector(api: Api, ns: str, selector: str, want: list[str]) -> None:
    await make_pods(api, ns)
    assert names(await api.client.list(f"/api/v1/namespaces/{ns}/pods", {"fieldSelector": selector})) == want


@pytest.mark.parametrize("path,selector,message", [
    pytest.param("pods", "spec.foo=x", "field label not supported: spec.foo", id="pods"),
    pytest.param("configmaps", "data.k=v",
                 '"data.k" is not a known field selector: only "metadata.name", "metadata.namespace"', id="configmaps"),
])
async def test_unsupported_field_selector_is_400(api: Api, ns: str, path: str, selector: str, message: str) -> None:
    err = await api.error(api.client.list(f"/api/v1/namespaces/{ns}/{path}", {"fieldSelector": selector}))
    assert err.code == 400 and err.reason == "BadRequest"
    assert err.message == message


async def test_field_selector_across_namespaces(api: Api, ns: str) -> None:
    await make_pods(api, ns)
    out = await api.client.list("/api/v1/pods", {"fieldSelector": f"metadata.namespace={ns},spec.nodeName=n2"})
    assert names(out) == ["p2"]


# paging


async def test_paging_is_a_consistent_snapshot(api: Api, ns: str) -> None:
    for i in range(7):
        await api.client.create(cm_path(ns), configmap(f"item-{i}", {"v": "old"}))
    first = await api.client.list(cm_path(ns), {"limit": 3})
    assert names(first) == ["item-0", "item-1", "item-2"]
    assert first["metadata"]["remainingItemCount"] == 4
    token = first["metadata"]["continue"]
    rv = first["metadata"]["resourceVersion"]
    # concurrent writes between pages: none of them shows up in the rest of this list
    await api.client.create(cm_path(ns), configmap("item-9"))
    await api.client.patch(cm_path(ns, "item-4"), {"data": {"v": "new"}})
    await api.client.delete(cm_path(ns, "item-5"))
    second = await api.client.list(cm_path(ns), {"limit": 3, "continue": token})
    assert names(second) == ["item-3", "item-4", "item-5"]
    assert second["items"][1]["data"] == {"v": "old"}
    assert second["metadata"]["resourceVersion"] == rv
    assert second["metadata"]["remainingItemCount"] == 1
    third = await api.client.list(cm_path(ns), {"limit": 3, "continue": second["metadata"]["continue"]})
    assert names(third) == ["item-6"]
    assert "continue" not in third["metadata"]
    assert "remainingItemCount" not in third["metadata"]
    # a fresh list sees the writes
    assert names(await api.client.list(cm_path(ns))) == [f"item-{i}" for i in (0, 1, 2, 3, 4, 6, 9)]


async def test_paging_with_label_selector_fills_pages(api: Api, ns: str) -> None:
    for i in range(6):
        await api.client.create(cm_path(ns), configmap(f"x-{i}", labels={"even": str(i % 2 == 0).lower()}))
    got: list[str] = []
    params = {"limit": 2, "labelSelector": "even=true"}
    while True:
        page = await api.client.list(cm_path(ns), params)
        got += names(page)
        token = page["metadata"].get("continue")
        if not token:
            break
        params = {"limit": 2, "labelSelector": "even=true", "continue": token}
    assert got == ["x-0", "x-2", "x-4"]


async def test_paging_under_concurrent_writers(api: Api, ns: str) -> None:
    for i in range(20):
        await api.client.create(cm_path(ns), configmap(f"c-{i:02d}"))
    stop = asyncio.Event()

    async def writer() -> None:
        n = 0
        while not stop.is_set():
            await api.client.create(cm_path(ns), configmap(f"c-{n:02d}-new"))
            await api.client.patch(cm_path(ns, f"c-{n % 20:02d}"), {"data": {"n": str(n)}})
            n += 1

    task = asyncio.create_task(writer())
    try:
        seen: list[str] = []
        page = await api.client.list(cm_path(ns), {"limit": 4})
        rv = page["metadata"]["resourceVersion"]
        seen += names(page)
        while page["metadata"].get("continue"):
            await asyncio.sleep(0.01)
            page = await api.client.list(cm_path(ns), {"limit": 4, "continue": page["metadata"]["continue"]})
            assert page["metadata"]["resourceVersion"] == rv
            seen += names(page)
    finally:
        stop.set()
        await task
    assert seen == [f"c-{i:02d}" for i in range(20)]


@pytest.mark.parametrize("params,code", [
    pytest.param({"continue": "garbage"}, 400, id="bad-token"),
    pytest.param({"limit": "x"}, 400, id="bad-limit"),
    pytest.param({"resourceVersion": "abc"}, 400, id="bad-rv"),
    pytest.param({"resourceVersionMatch": "Exact"}, 422, id="match-without-rv"),
    pytest.param({"resourceVersion": "1", "resourceVersionMatch": "Sometimes"}, 422, id="bad-match"),
])
async def test_bad_list_options(api: Api, ns: str, params: dict, code: int) -> None:
    err = await api.error(api.client.list(cm_path(ns), params))
    assert err.code == code


# resourceVersion semantics


async def test_resource_version_semantics(api: Api, ns: str) -> None:
    a = await api.client.create(cm_path(ns), configmap("a", {"v": "1"}))
    rv_a = a["metadata"]["resourceVersion"]
    await api.client.patch(cm_path(ns, "a"), {"data": {"v": "2"}})
    await api.client.create(cm_path(ns), configmap("b"))
    head = await api.revision()
    # "" is a consistent read at the head
    latest = await api.client.list(cm_path(ns))
    assert int(latest["metadata"]["resourceVersion"]) == head
    assert [o["data"]["v"] if o["metadata"]["name"] == "a" else "-" for o in latest["items"]] == ["2", "-"]
    # "0" is any state the cache has (here: the current one)
    any_ = await api.client.list(cm_path(ns), {"resourceVersion": "0"})
    assert names(any_) == ["a", "b"]
    # Exact: the state at that revision, with that list resourceVersion
    exact = await api.client.list(cm_path(ns), {"resourceVersion": rv_a, "resourceVersionMatch": "Exact"})
    assert exact["metadata"]["resourceVersion"] == rv_a
    assert names(exact) == ["a"]
    assert exact["items"][0]["data"] == {"v": "1"}
    # NotOlderThan: at least that revision
    newer = await api.client.list(cm_path(ns), {"resourceVersion": rv_a, "resourceVersionMatch": "NotOlderThan"})
    assert int(newer["metadata"]["resourceVersion"]) >= head
    assert names(newer) == ["a", "b"]
    # get with a resourceVersion never serves something older
    got = await api.client.get(cm_path(ns, "a"), {"resourceVersion": rv_a})
    assert int(got["metadata"]["resourceVersion"]) >= int(rv_a)


async def test_list_resource_version_too_large_is_504(api: Api, ns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from kybernetes.apiserver import rest

    monkeypatch.setattr(rest, "FRESH_TIMEOUT", 0.3)
    future = str(await api.revision() + 1000)
    err = await api.error(api.client.list(cm_path(ns), {"resourceVersion": future,
                                                        "resourceVersionMatch": "NotOlderThan"}))
    assert err.code == 504 and err.reason == "Timeout"
    assert err.message.startswith(f"Too large resource version: {future}, current: ")


async def test_exact_paged_list_at_old_revision(api: Api, ns: str) -> None:
    for i in range(4):
        await api.client.create(cm_path(ns), configmap(f"e-{i}"))
    rv = str(await api.revision())
    await api.client.delete(cm_path(ns, "e-0"))
    page = await api.client.list(cm_path(ns), {"resourceVersion": rv, "resourceVersionMatch": "Exact", "limit": 2})
    assert names(page) == ["e-0", "e-1"]
    assert page["metadata"]["resourceVersion"] == rv
    rest_ = await api.client.list(cm_path(ns), {"limit": 2, "continue": page["metadata"]["continue"]})
    assert names(rest_) == ["e-2", "e-3"]


async def test_cluster_wide_list_spans_namespaces(api: Api, ns: str) -> None:
    await api.client.create(cm_path(ns), configmap("wide", labels={"wide": ns}))
    out = await api.client.list("/api/v1/configmaps", {"labelSelector": f"wide={ns}"})
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in out["items"]] == [(ns, "wide")]
    assert out["kind"] == "ConfigMapList" and out["apiVersion"] == "v1"

"""Table and PartialObjectMetadata representations; /metrics, health checks and /version."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from tests.integration.apiserver.conftest import Api, cm_path, configmap, pod

pytestmark = pytest.mark.asyncio(loop_scope="module")

TABLE = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
         "application/json")
META_LIST = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
META = "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io,application/json"


async def test_table_list(api: Api, ns: str) -> None:
    for n in ("a", "b"):
        await api.client.create(f"/api/v1/namespaces/{ns}/pods", pod(n))
    r = await api.raw("GET", f"/api/v1/namespaces/{ns}/pods", accept=TABLE)
    assert r.status == 200
    t = r.json()
    assert t["kind"] == "Table" and t["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in t["columnDefinitions"]][:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert [row["cells"][0] for row in t["rows"]] == ["a", "b"]
    assert t["rows"][0]["cells"][1:4] == ["0/1", "Pending", "0"]
    obj = t["rows"][0]["object"]
    assert obj["kind"] == "PartialObjectMetadata" and obj["metadata"]["name"] == "a"
    assert int(t["metadata"]["resourceVersion"]) >= 1


async def test_table_list_paged_and_include_object(api: Api, ns: str) -> None:
    for n in ("a", "b", "c"):
        await api.client.create(cm_path(ns), configmap(n))
    r = await api.raw("GET", cm_path(ns), accept=TABLE, params={"limit": "2", "includeObject": "Object"})
    t = r.json()
    assert [row["cells"][0] for row in t["rows"]] == ["a", "b"]
    assert t["metadata"]["continue"] and t["metadata"]["remainingItemCount"] == 1
    assert t["rows"][0]["object"]["kind"] == "ConfigMap" and t["rows"][0]["object"]["data"] == {"k": "v"}
    r = await api.raw("GET", cm_path(ns), accept=TABLE, params={"includeObject": "None"})
    assert all("object" not in row or row["object"] is None for row in r.json()["rows"])


async def test_table_get(api: Api, ns: str) -> None:
    await api.client.create(cm_path(ns), configmap("one", {"a": "1", "b": "2"}))
    r = await api.raw("GET", cm_path(ns, "one"), accept=TABLE)
    t = r.json()
    assert t["kind"] == "Table"
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Data", "Age"]
    [row] = t["rows"]
    assert row["cells"][:2] == ["one", 2]


async def test_table_watch(api: Api, ns: str) -> None:
    start = await api.client.create(cm_path(ns), configmap("w"))
    await api.client.patch(cm_path(ns, "w"), {"data": {"x": "y"}})
    session = api.client._get_session()  # noqa: SLF001
    headers = api.client._headers(None, TABLE)  # noqa: SLF001
    url = api.config.server + cm_path(ns)
    params = {"watch": "true", "resourceVersion": start["metadata"]["resourceVersion"], "timeoutSeconds": "1"}
    async with session.get(url, params=params, headers=headers) as resp:
        assert resp.status == 200
        body = await asyncio.wait_for(resp.read(), 5)
    events = [orjson.loads(line) for line in body.splitlines() if line.strip()]
    assert [e["type"] for e in events] == ["MODIFIED"]
    t = events[0]["object"]
    assert t["kind"] == "Table"
    assert t["rows"][0]["cells"][:2] == ["w", 2]


async def test_partial_object_metadata_list(api: Api, ns: str) -> None:
    await api.client.create(cm_path(ns), configmap("m", labels={"x": "y"}))
    r = await api.raw("GET", cm_path(ns), accept=META_LIST)
    body = r.json()
    assert body["kind"] == "PartialObjectMetadataList" and body["apiVersion"] == "meta.k8s.io/v1"
    [item] = body["items"]
    assert item["kind"] == "PartialObjectMetadata" and item["apiVersion"] == "meta.k8s.io/v1"
    assert item["metadata"]["labels"] == {"x": "y"}
    assert "data" not in item
    r = await api.raw("GET", cm_path(ns, "m"), accept=META)
    one = r.json()
    assert one["kind"] == "PartialObjectMetadata" and one["metadata"]["name"] == "m" and "data" not in one


async def test_protobuf_only_accept_is_406(api: Api, ns: str) -> None:
    r = await api.raw("GET", cm_path(ns), accept="application/vnd.kubernetes.protobuf")
    assert r.status == 406
    assert r.json()["reason"] == "NotAcceptable"


async def test_yaml_response(api: Api, ns: str) -> None:
    import yaml

    await api.client.create(cm_path(ns), configmap("y"))
    r = await api.raw("GET", cm_path(ns, "y"), accept="application/yaml")
    assert r.headers["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(r.body)["metadata"]["name"] == "y"


# endpoints


async def test_metrics_count_requests(api: Api, ns: str) -> None:
    await api.client.create(cm_path(ns), configmap("m1"))
    await api.client.list(cm_path(ns))
    await api.client.get(cm_path(ns, "m1"))
    await api.error(api.client.get(cm_path(ns, "nope")))
    r = await api.raw("GET", "/metrics", accept="text/plain")
    assert r.status == 200
    text = r.body.decode()
    lines = [ln for ln in text.splitlines() if ln.startswith("apiserver_request_total{")]

    def count(**labels: str) -> float:
        total = 0.0
        for ln in lines:
            if all(f'{k}="{v}"' in ln for k, v in labels.items()):
                total += float(ln.rsplit(" ", 1)[1])
        return total

    assert count(verb="POST", resource="configmaps", code="201") >= 1
    assert count(verb="LIST", resource="configmaps", code="200") >= 1
    assert count(verb="GET", resource="configmaps", code="200") >= 1
    assert count(verb="GET", resource="configmaps", code="404") >= 1
    assert "# TYPE apiserver_request_total counter" in text


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/healthz/etcd", "/readyz/ping"])
async def test_health(api: Api, path: str) -> None:
    r = await api.raw("GET", path, accept="*/*")
    assert r.status == 200 and r.body == b"ok"


async def test_health_verbose(api: Api) -> None:
    r = await api.raw("GET", "/readyz", accept="*/*", params={"verbose": "1"})
    assert r.status == 200
    assert b"[+]etcd ok" in r.body and r.body.rstrip().endswith(b"readyz check passed")


async def test_version(api: Api) -> None:
    v = await api.client.get("/version")
    assert v["major"] == "1" and v["minor"] == "32"
    assert v["gitVersion"].startswith("v1.32.")
    assert set(v) >= {"gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler", "platform"}


async def test_unknown_resource_is_404_status(api: Api) -> None:
    r = await api.raw("GET", "/api/v1/namespaces/default/widgets")
    assert r.status == 404
    assert r.json()["reason"] == "NotFound"
    assert r.json()["message"] == "the server could not find the requested resource"


async def test_method_not_allowed(api: Api) -> None:
    r = await api.raw("POST", "/api/v1/namespaces/default/configmaps/x", body=b"{}", content_type="application/json")
    assert r.status == 405
    assert r.json()["reason"] == "MethodNotAllowed"


async def test_failing_readiness_check_fails_readyz_only(api: Api) -> None:
    api.server.readiness_checks["example/not-yet"] = lambda: (False, "still starting")
    try:
        r = await api.raw("GET", "/readyz", accept="*/*")
        assert r.status == 500
        assert b"[-]example/not-yet failed: still starting" in r.body
        assert (await api.raw("GET", "/livez", accept="*/*")).status == 200
        assert (await api.raw("GET", "/readyz/example/not-yet", accept="*/*")).status == 500
    finally:
        del api.server.readiness_checks["example/not-yet"]
    assert (await api.raw("GET", "/readyz", accept="*/*")).status == 200

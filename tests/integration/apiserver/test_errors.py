"""Errors come back as metav1.Status with upstream's code, reason, message and details; refused writes write nothing."""

from __future__ import annotations

import orjson
import pytest

from tests.integration.apiserver.conftest import Api, cm_path, configmap

pytestmark = pytest.mark.asyncio(loop_scope="module")


def assert_status(body: dict, code: int, reason: str) -> None:
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert body["code"] == code
    assert body["reason"] == reason


BAD_BODIES = [
    pytest.param(b'{"metadata": {"name": "x"', "application/json", 400, "BadRequest", "json parse error",
                 id="malformed-json"),
    pytest.param(b"metadata:\n  name: [x\n", "application/yaml", 400, "BadRequest", "yaml", id="malformed-yaml"),
    pytest.param(b"[1, 2]", "application/json", 400, "BadRequest", "", id="json-not-an-object"),
    pytest.param(b"name=x", "text/plain", 415, "UnsupportedMediaType", "unknown format", id="unsupported-media-type"),
    pytest.param(b"", "application/json", 400, "BadRequest", "", id="empty-body"),
]


@pytest.mark.parametrize("body,ctype,code,reason,fragment", BAD_BODIES)
async def test_bad_create_bodies_are_refused_with_status(api: Api, ns: str, body: bytes, ctype: str, code: int,
                                                         reason: str, fragment: str) -> None:
    before = await api.revision()
    r = await api.raw("POST", cm_path(ns), body=body, content_type=ctype)
    assert r.status == code
    assert r.headers["Content-Type"].startswith("application/json")
    st = r.json()
    assert_status(st, code, reason)
    assert fragment.lower() in st["message"].lower()
    assert await api.revision() == before


async def test_body_over_3mib_is_413_and_writes_nothing(api: Api, ns: str) -> None:
    before = await api.revision()
    big = orjson.dumps(configmap("big", {"blob": "x" * (3 * 1024 * 1024 + 10)}))
    r = await api.raw("POST", cm_path(ns), body=big, content_type="application/json")
    assert r.status == 413
    assert_status(r.json(), 413, "RequestEntityTooLarge")
    assert await api.revision() == before
    assert (await api.error(api.client.get(cm_path(ns, "big")))).code == 404


async def test_invalid_object_is_422_with_causes(api: Api, ns: str) -> None:
    before = await api.revision()
    err = await api.error(api.client.create(cm_path(ns), configmap("Bad_Name")))
    st = err.status
    assert_status(st, 422, "Invalid")
    assert st["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": ')
    assert st["details"]["name"] == "Bad_Name"
    assert st["details"]["kind"] == "ConfigMap"
    [cause] = st["details"]["causes"]
    assert cause["field"] == "metadata.name"
    assert cause["reason"] == "FieldValueInvalid"
    assert cause["message"].startswith('Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain')
    assert await api.revision() == before


async def test_invalid_deployment_reports_every_cause(api: Api, ns: str) -> None:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": -1, "selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "c"}}, "spec": {"containers": []}}}}
    err = await api.error(api.client.create(f"/apis/apps/v1/namespaces/{ns}/deployments", body))
    assert err.code == 422
    fields = {c["field"] for c in err.status["details"]["causes"]}
    assert {"spec.replicas", "spec.template.metadata.labels", "spec.template.spec.containers"} <= fields
    assert err.status["details"]["group"] == "apps"
    assert err.status["message"].startswith('Deployment.apps "d" is invalid: [')


async def test_not_found_status(api: Api, ns: str) -> None:
    err = await api.error(api.client.get(cm_path(ns, "x")))
    assert_status(err.status, 404, "NotFound")
    assert err.status["message"] == 'configmaps "x" not found'
    assert err.status["details"] == {"name": "x", "kind": "configmaps"}


async def test_not_found_in_group_names_the_group(api: Api, ns: str) -> None:
    err = await api.error(api.client.get(f"/apis/apps/v1/namespaces/{ns}/deployments/nope"))
    assert err.status["message"] == 'deployments.apps "nope" not found'
    assert err.status["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}


async def test_already_exists(api: Api, ns: str) -> None:
    await api.client.create(cm_path(ns), configmap("dup", {"a": "1"}))
    before = await api.revision()
    err = await api.error(api.client.create(cm_path(ns), configmap("dup", {"a": "2"})))
    assert_status(err.status, 409, "AlreadyExists")
    assert err.status["message"] == 'configmaps "dup" already exists'
    assert err.status["details"] == {"name": "dup", "kind": "configmaps"}
    assert await api.revision() == before
    assert (await api.client.get(cm_path(ns, "dup")))["data"] == {"a": "1"}


async def test_stale_resource_version_on_update_is_409(api: Api, ns: str) -> None:
    first = await api.client.create(cm_path(ns), configmap("c", {"a": "1"}))
    second = await api.client.update(cm_path(ns, "c"), dict(first, data={"a": "2"}))
    before = await api.revision()
    err = await api.error(api.client.update(cm_path(ns, "c"), dict(first, data={"a": "3"})))
    assert_status(err.status, 409, "Conflict")
    assert err.status["message"] == ('Operation cannot be fulfilled on configmaps "c": the object has been modified; '
                                     "please apply your changes to the latest version and try again")
    assert await api.revision() == before
    now = await api.client.get(cm_path(ns, "c"))
    assert now["data"] == {"a": "2"}
    assert now["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]


async def test_refused_update_leaves_object_unchanged(api: Api, ns: str) -> None:
    cm = await api.client.create(cm_path(ns), configmap("keep", {"a": "1"}))
    before = await api.revision()
    bad = dict(cm, metadata=dict(cm["metadata"], labels={"bad key!": "v"}), data={"a": "changed"})
    err = await api.error(api.client.update(cm_path(ns, "keep"), bad))
    assert err.code == 422
    assert await api.revision() == before
    assert await api.client.get(cm_path(ns, "keep")) == cm


async def test_list_at_compacted_revision_is_410(api: Api, ns: str) -> None:
    old = await api.client.create(cm_path(ns), configmap("old"))
    for i in range(3):
        await api.client.create(cm_path(ns), configmap(f"later-{i}"))
    rev = await api.revision()
    await api.server.store.compact(rev)
    err = await api.error(api.client.list(cm_path(ns), {"resourceVersion": old["metadata"]["resourceVersion"],
                                                        "resourceVersionMatch": "Exact"}))
    assert_status(err.status, 410, "Expired")
    assert err.status["message"] == "The resourceVersion for the provided list is too old."


async def test_watch_at_compacted_revision_is_410_event(api: Api, ns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    old = await api.client.create(cm_path(ns), configmap("w-old"))
    for i in range(3):
        await api.client.create(cm_path(ns), configmap(f"w-later-{i}"))
    await api.server.store.compact(await api.revision())
    # make the watch cache's window too short to serve the old revision, as after many writes
    for cache in api.server.cache.caches.values():
        monkeypatch.setattr(cache, "window_start", await api.revision())
    events = await api.events(cm_path(ns), {"resourceVersion": old["metadata"]["resourceVersion"]}, 1)
    assert len(events) == 1
    assert events[0]["type"] == "ERROR"
    st = events[0]["object"]
    assert_status(st, 410, "Expired")
    assert st["message"].startswith(f"too old resource version: {old['metadata']['resourceVersion']} (")


@pytest.mark.parametrize("method", ["PATCH", "PUT", "DELETE"])
async def test_write_to_missing_object_is_404(api: Api, ns: str, method: str) -> None:
    body = orjson.dumps(configmap("ghost")) if method != "DELETE" else None
    ctype = {"PATCH": "application/merge-patch+json", "PUT": "application/json"}.get(method)
    r = await api.raw(method, cm_path(ns, "ghost"), body=body, content_type=ctype)
    assert r.status == 404
    assert r.json()["message"] == 'configmaps "ghost" not found'


async def test_unsupported_patch_type_is_415(api: Api, ns: str) -> None:
    await api.client.create(cm_path(ns), configmap("p"))
    r = await api.raw("PATCH", cm_path(ns, "p"), body=b"{}", content_type="application/json")
    assert r.status == 415
    assert_status(r.json(), 415, "UnsupportedMediaType")


async def test_yaml_body_is_accepted(api: Api, ns: str) -> None:
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  k: v\n"
    r = await api.raw("POST", cm_path(ns), body=body, content_type="application/yaml")
    assert r.status == 201
    assert r.json()["data"] == {"k": "v"}


async def test_kind_mismatch_is_400(api: Api, ns: str) -> None:
    body = dict(configmap("m"), kind="Secret")
    err = await api.error(api.client.create(cm_path(ns), body))
    assert err.code == 400 and err.reason == "BadRequest"


async def test_continue_at_compacted_revision_is_410(api: Api, ns: str) -> None:
    for i in range(3):
        await api.client.create(cm_path(ns), configmap(f"page-{i}"))
    page = await api.client.list(cm_path(ns), {"limit": 1})
    await api.client.create(cm_path(ns), configmap("page-x"))
    await api.server.store.compact(await api.revision())
    err = await api.error(api.client.list(cm_path(ns), {"limit": 1, "continue": page["metadata"]["continue"]}))
    assert_status(err.status, 410, "Expired")
    assert err.message.startswith("The provided continue parameter is too old to display a consistent list result.")

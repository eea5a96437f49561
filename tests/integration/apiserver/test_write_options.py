"""Write options: dryRun, fieldValidation, propagationPolicy and delete preconditions."""

from __future__ import annotations

import orjson
import pytest

from tests.integration.apiserver.conftest import Api, cm_path, configmap, deployment

pytestmark = pytest.mark.asyncio(loop_scope="module")

DRY = {"dryRun": "All"}


def deploy_path(ns: str, name: str = "") -> str:
    return f"/apis/apps/v1/namespaces/{ns}/deployments" + (f"/{name}" if name else "")


async def test_dry_run_create_writes_nothing(api: Api, ns: str) -> None:
    before = await api.revision()
    out = await api.client.create(cm_path(ns), configmap("dry"), DRY)
    assert out["metadata"]["uid"] and out["metadata"]["creationTimestamp"]
    assert out["data"] == {"k": "v"}
    assert await api.revision() == before
    assert (await api.error(api.client.get(cm_path(ns, "dry")))).code == 404


@pytest.mark.parametrize("verb", ["update", "merge-patch", "json-patch", "apply", "delete"])
async def test_dry_run_changes_write_nothing(api: Api, ns: str, verb: str) -> None:
    cm = await api.client.create(cm_path(ns), configmap("dry", {"a": "1"}))
    before = await api.revision()
    if verb == "update":
        out = await api.client.update(cm_path(ns, "dry"), dict(cm, data={"a": "2"}), DRY)
    elif verb == "merge-patch":
        out = await api.client.patch(cm_path(ns, "dry"), {"data": {"a": "2"}}, "merge", DRY)
    elif verb == "json-patch":
        out = await api.client.patch(cm_path(ns, "dry"), [{"op": "replace", "path": "/data/a", "value": "2"}], "json",
                                     DRY)
    elif verb == "apply":
        out = await api.client.patch(cm_path(ns, "dry"), {"apiVersion": "v1", "kind": "ConfigMap",
                                                          "metadata": {"name": "dry"}, "data": {"a": "2"}},
                                     "apply", {**DRY, "fieldManager": "test", "force": "true"})
    else:
        out = await api.client.delete(cm_path(ns, "dry"), DRY)
    if verb != "delete":
        assert out["data"] == {"a": "2"}
    assert await api.revision() == before
    assert await api.client.get(cm_path(ns, "dry")) == cm


async def test_dry_run_still_validates(api: Api, ns: str) -> None:
    err = await api.error(api.client.create(cm_path(ns), configmap("Bad!"), DRY))
    assert err.code == 422


async def test_dry_run_service_allocates_nothing(api: Api, ns: str) -> None:
    from tests.integration.apiserver.conftest import service

    used = set(api.server.ips.used)
    out = await api.client.create(f"/api/v1/namespaces/{ns}/services", service("dry", cluster_ip="198.19.77.77"), DRY)
    assert out["spec"]["clusterIP"] == "198.19.77.77"
    assert api.server.ips.used == used
    await api.client.create(f"/api/v1/namespaces/{ns}/services", service("real", cluster_ip="198.19.77.77"))


@pytest.mark.parametrize("value", ["all", "Some"])
async def test_bad_dry_run_value(api: Api, ns: str, value: str) -> None:
    err = await api.error(api.client.create(cm_path(ns), configmap("x"), {"dryRun": value}))
    assert err.code == 422


# fieldValidation


UNKNOWN = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "fv"},
           "spec": {**deployment("fv")["spec"], "foo": 1}}


async def test_field_validation_strict(api: Api, ns: str) -> None:
    before = await api.revision()
    err = await api.error(api.client.create(deploy_path(ns), UNKNOWN, {"fieldValidation": "Strict"}))
    assert err.code == 400 and err.reason == "BadRequest"
    assert err.message == ('Deployment in version "v1" cannot be handled as a Deployment: '
                           'strict decoding error: unknown field "spec.foo"')
    assert await api.revision() == before


async def test_field_validation_strict_duplicate_and_several(api: Api, ns: str) -> None:
    body = dict(UNKNOWN, metadata={"name": "fv", "bogus": True})
    err = await api.error(api.client.create(deploy_path(ns), body, {"fieldValidation": "Strict"}))
    assert 'unknown field "metadata.bogus"' in err.message and 'unknown field "spec.foo"' in err.message


@pytest.mark.parametrize("value", ["Warn", ""])
async def test_field_validation_warn(api: Api, ns: str, value: str) -> None:
    params = {"fieldValidation": value} if value else {}
    r = await api.raw("POST", deploy_path(ns), body=orjson.dumps(UNKNOWN), content_type="application/json",
                      params=params)
    assert r.status == 201
    assert r.headers.getall("Warning") == ['299 - "unknown field \\"spec.foo\\""']
    assert "foo" not in r.json()["spec"]


async def test_field_validation_ignore(api: Api, ns: str) -> None:
    r = await api.raw("POST", deploy_path(ns), body=orjson.dumps(UNKNOWN), content_type="application/json",
                      params={"fieldValidation": "Ignore"})
    assert r.status == 201
    assert "Warning" not in r.headers
    assert "foo" not in r.json()["spec"]


async def test_field_validation_strict_on_patch(api: Api, ns: str) -> None:
    await api.client.create(deploy_path(ns), deployment("fvp"))
    err = await api.error(api.client.patch(deploy_path(ns, "fvp"), {"spec": {"foo": 1}}, "merge",
                                           {"fieldValidation": "Strict"}))
    assert err.code == 400
    assert 'unknown field "spec.foo"' in err.message


async def test_bad_field_validation_value(api: Api, ns: str) -> None:
    err = await api.error(api.client.create(cm_path(ns), configmap("x"), {"fieldValidation": "Loose"}))
    assert err.code == 400


# propagationPolicy


@pytest.mark.parametrize("how,finalizer", [
    pytest.param({"propagationPolicy": "Orphan"}, "orphan", id="orphan"),
    pytest.param({"propagationPolicy": "Foreground"}, "foregroundDeletion", id="foreground"),
    pytest.param({"orphanDependents": "true"}, "orphan", id="orphanDependents"),
])
async def test_propagation_policy_adds_finalizer(api: Api, ns: str, how: dict, finalizer: str) -> None:
    await api.client.create(deploy_path(ns), deployment("prop"))
    out = await api.client.delete(deploy_path(ns, "prop"), how)
    assert out["metadata"]["finalizers"] == [finalizer]
    assert out["metadata"]["deletionTimestamp"]
    got = await api.client.get(deploy_path(ns, "prop"))
    assert got["metadata"]["finalizers"] == [finalizer]


async def test_propagation_policy_in_body(api: Api, ns: str) -> None:
    await api.client.create(deploy_path(ns), deployment("body"))
    out = await api.client.delete(deploy_path(ns, "body"), body={"kind": "DeleteOptions", "apiVersion": "v1",
                                                                 "propagationPolicy": "Foreground"})
    assert out["metadata"]["finalizers"] == ["foregroundDeletion"]


async def test_background_deletes_at_once(api: Api, ns: str) -> None:
    await api.client.create(deploy_path(ns), deployment("bg"))
    await api.client.delete(deploy_path(ns, "bg"), {"propagationPolicy": "Background"})
    assert (await api.error(api.client.get(deploy_path(ns, "bg")))).code == 404


async def test_bad_propagation_policy(api: Api, ns: str) -> None:
    await api.client.create(cm_path(ns), configmap("bp"))
    err = await api.error(api.client.delete(cm_path(ns, "bp"), {"propagationPolicy": "Sideways"}))
    assert err.code == 422


# preconditions


@pytest.mark.parametrize("field,message", [
    pytest.param("uid", "Precondition failed: UID in precondition: wrong, UID in object meta: {uid}", id="uid"),
    pytest.param("resourceVersion",
                 "Precondition failed: ResourceVersion in precondition: wrong, ResourceVersion in object meta: {rv}",
                 id="resourceVersion"),
])
async def test_delete_preconditions(api: Api, ns: str, field: str, message: str) -> None:
    cm = await api.client.create(cm_path(ns), configmap("pre"))
    md = cm["metadata"]
    before = await api.revision()
    err = await api.error(api.client.delete(cm_path(ns, "pre"), body={"preconditions": {field: "wrong"}}))
    assert err.code == 409 and err.reason == "Conflict"
    assert err.message == (f'Operation cannot be fulfilled on configmaps "pre": '
                           + message.format(uid=md["uid"], rv=md["resourceVersion"]))
    assert await api.revision() == before
    await api.client.delete(cm_path(ns, "pre"), body={"preconditions": {field: md[field]}})
    assert (await api.error(api.client.get(cm_path(ns, "pre")))).code == 404

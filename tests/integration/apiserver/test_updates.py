"""Update and patch semantics: concurrency, unconditional PUT, create-on-update, identity checks, deletecollection."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.apiserver.conftest import Api, cm_path, configmap

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_concurrent_patches_all_land(api: Api, ns: str) -> None:
    await api.client.create(cm_path(ns), configmap("many", {}))
    await asyncio.gather(*(api.client.patch(cm_path(ns, "many"), {"data": {f"k{i}": str(i)}}) for i in range(20)))
    got = await api.client.get(cm_path(ns, "many"))
    assert got["data"] == {f"k{i}": str(i) for i in range(20)}


async def test_concurrent_conditional_updates_one_wins(api: Api, ns: str) -> None:
    cm = await api.client.create(cm_path(ns), configmap("cas", {"v": "0"}))
    results = await asyncio.gather(*(api.client.update(cm_path(ns, "cas"), dict(cm, data={"v": str(i)}))
                                     for i in range(1, 6)), return_exceptions=True)
    wins = [r for r in results if isinstance(r, dict)]
    assert len(wins) == 1
    assert all(getattr(r, "code", None) == 409 for r in results if not isinstance(r, dict))
    assert (await api.client.get(cm_path(ns, "cas")))["data"] == wins[0]["data"]


async def test_unconditional_put(api: Api, ns: str) -> None:
    cm = await api.client.create(cm_path(ns), configmap("u", {"v": "0"}))
    await api.client.patch(cm_path(ns, "u"), {"data": {"v": "1"}})
    body = dict(cm, metadata={"name": "u"}, data={"v": "2"})
    out = await api.client.update(cm_path(ns, "u"), body)
    assert out["data"] == {"v": "2"}
    assert out["metadata"]["uid"] == cm["metadata"]["uid"]
    assert out["metadata"]["creationTimestamp"] == cm["metadata"]["creationTimestamp"]


async def test_put_creates_where_upstream_allows_it(api: Api, ns: str) -> None:
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
             "spec": {"holderIdentity": "me"}}
    r = await api.raw("PUT", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/l",
                      body=__import__("orjson").dumps(lease), content_type="application/json")
    assert r.status == 201
    assert r.json()["spec"]["holderIdentity"] == "me"


@pytest.mark.parametrize("method,body", [
    pytest.param("PUT", {"metadata": {"name": "other"}, "data": {}}, id="put-name"),
    pytest.param("PUT", {"metadata": {"name": "ident", "namespace": "elsewhere"}, "data": {}}, id="put-namespace"),
    pytest.param("PATCH", {"metadata": {"name": "other"}}, id="patch-name"),
])
async def test_identity_mismatch_is_400(api: Api, ns: str, method: str, body: dict) -> None:
    await api.client.create(cm_path(ns), configmap("ident"))
    before = await api.revision()
    if method == "PUT":
        err = await api.error(api.client.update(cm_path(ns, "ident"), body))
    else:
        err = await api.error(api.client.patch(cm_path(ns, "ident"), body))
    assert err.code == 400 and err.reason == "BadRequest"
    assert await api.revision() == before


async def test_uid_in_update_must_match(api: Api, ns: str) -> None:
    cm = await api.client.create(cm_path(ns), configmap("uid"))
    body = dict(cm, metadata=dict(cm["metadata"], uid="00000000-0000-0000-0000-000000000000", resourceVersion=""))
    err = await api.error(api.client.update(cm_path(ns, "uid"), body))
    assert err.code == 409
    assert "Precondition failed: UID in precondition" in err.message


async def test_patch_with_stale_resource_version_is_409(api: Api, ns: str) -> None:
    cm = await api.client.create(cm_path(ns), configmap("prv"))
    await api.client.patch(cm_path(ns, "prv"), {"data": {"a": "1"}})
    err = await api.error(api.client.patch(cm_path(ns, "prv"), {"metadata": {"resourceVersion":
                                                                              cm["metadata"]["resourceVersion"]},
                                                                 "data": {"a": "2"}}))
    assert err.code == 409 and err.reason == "Conflict"


async def test_invalid_json_patch_is_rejected(api: Api, ns: str) -> None:
    await api.client.create(cm_path(ns), configmap("jp"))
    before = await api.revision()
    err = await api.error(api.client.patch(cm_path(ns, "jp"), [{"op": "test", "path": "/data/k", "value": "no"}],
                                           "json"))
    assert err.code == 422
    err = await api.error(api.client.patch(cm_path(ns, "jp"), [{"op": "frobnicate", "path": "/data"}], "json"))
    assert err.code in (400, 422)
    assert await api.revision() == before


async def test_server_side_apply_conflict(api: Api, ns: str) -> None:
    await api.client.patch(cm_path(ns, "ssa"), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"},
                                                "data": {"k": "a"}}, "apply", {"fieldManager": "one"})
    err = await api.error(api.client.patch(cm_path(ns, "ssa"), {"apiVersion": "v1", "kind": "ConfigMap",
                                                                 "metadata": {"name": "ssa"}, "data": {"k": "b"}},
                                           "apply", {"fieldManager": "two"}))
    assert err.code == 409 and err.reason == "Conflict"
    assert err.message == 'Apply failed with 1 conflict: conflict with "one": .data.k'
    out = await api.client.patch(cm_path(ns, "ssa"), {"apiVersion": "v1", "kind": "ConfigMap",
                                                       "metadata": {"name": "ssa"}, "data": {"k": "b"}},
                                 "apply", {"fieldManager": "two", "force": "true"})
    assert out["data"] == {"k": "b"}
    managers = {m["manager"] for m in out["metadata"]["managedFields"]}
    assert "two" in managers


async def test_delete_collection_with_selector(api: Api, ns: str) -> None:
    for i in range(4):
        await api.client.create(cm_path(ns), configmap(f"dc-{i}", labels={"drop": str(i % 2 == 0).lower()}))
    out = await api.client.delete(cm_path(ns), {"labelSelector": "drop=true"})
    assert out["kind"] == "ConfigMapList"
    assert sorted(o["metadata"]["name"] for o in out["items"]) == ["dc-0", "dc-2"]
    left = await api.client.list(cm_path(ns))
    assert [o["metadata"]["name"] for o in left["items"]] == ["dc-1", "dc-3"]


async def test_get_resource_version_zero_serves_from_cache(api: Api, ns: str) -> None:
    cm = await api.client.create(cm_path(ns), configmap("rv0"))
    got = await api.client.get(cm_path(ns, "rv0"), {"resourceVersion": "0"})
    assert got == cm

"""CRDs: Established, served resources, validation/defaulting/pruning, status and scale, cleanup."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import pytest_asyncio

from tests.integration.apiserver.conftest import Api, unique

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROUP = "stable.example.com"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "cronSpec": {"type": "string", "pattern": r"^(\S+ ){4}\S+$"},
                "image": {"type": "string", "default": "busybox"},
                "replicas": {"type": "integer", "minimum": 0, "default": 1},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
            "required": ["cronSpec"],
        },
        "status": {
            "type": "object",
            "properties": {"replicas": {"type": "integer"}, "selector": {"type": "string"},
                           "lastRun": {"type": "string"}},
        },
    },
}


def crd(plural: str, kind: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP, "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": kind, "shortNames": [plural[:3]]},
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "schema": {"openAPIV3Schema": SCHEMA},
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                         "statusReplicasPath": ".status.replicas",
                                                         "labelSelectorPath": ".status.selector"}},
                "additionalPrinterColumns": [{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}],
            }],
        },
    }


async def wait_established(api: Api, name: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        obj = await api.client.get(f"{CRDS}/{name}")
        conds = {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}
        if conds.get("Established") == "True":
            return obj
        assert asyncio.get_running_loop().time() < deadline, f"CRD {name} never Established: {obj.get('status')}"
        await asyncio.sleep(0.05)


@pytest.fixture
def kind_names() -> tuple[str, str]:
    n = unique("x").replace("-", "")
    return f"crontabs{n}", f"CronTab{n.capitalize()}"


@pytest_asyncio.fixture(loop_scope="module")
async def crontabs(api: Api, kind_names: tuple[str, str]) -> tuple[str, str]:
    plural, kind = kind_names
    await api.client.create(CRDS, crd(plural, kind))
    await wait_established(api, f"{plural}.{GROUP}")
    return plural, kind


def cr_path(ns: str, plural: str, name: str = "", sub: str = "") -> str:
    return f"/apis/{GROUP}/v1/namespaces/{ns}/{plural}" + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


def cr(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


async def test_crd_becomes_established_and_served(api: Api, kind_names: tuple[str, str]) -> None:
    plural, kind = kind_names
    created = await api.client.create(CRDS, crd(plural, kind))
    assert created["metadata"]["generation"] == 1
    obj = await wait_established(api, f"{plural}.{GROUP}")
    conds = {c["type"]: c for c in obj["status"]["conditions"]}
    assert conds["NamesAccepted"]["status"] == "True"
    assert obj["status"]["acceptedNames"]["kind"] == kind
    assert obj["status"]["storedVersions"] == ["v1"]
    assert "customresourcecleanup.apiextensions.k8s.io" in obj["metadata"]["finalizers"]
    discovery = await api.client.get(f"/apis/{GROUP}/v1")
    served = {r["name"]: r for r in discovery["resources"]}
    assert served[plural]["kind"] == kind and served[plural]["namespaced"] is True
    assert {f"{plural}/status", f"{plural}/scale"} <= set(served)
    listed = await api.client.list(f"/apis/{GROUP}/v1/{plural}")
    assert listed["kind"] == f"{kind}List" and listed["items"] == []


async def test_custom_resource_defaulted_and_pruned(api: Api, ns: str, crontabs: tuple[str, str]) -> None:
    plural, kind = crontabs
    body = cr(kind, "a", {"cronSpec": "* * * * */5", "unknownField": 1, "extra": {"kept": {"deep": True}}})
    body["topLevelJunk"] = "x"
    out = await api.client.create(cr_path(ns, plural), body, {"fieldValidation": "Ignore"})
    assert out["spec"] == {"cronSpec": "* * * * */5", "image": "busybox", "replicas": 1,
                           "extra": {"kept": {"deep": True}}}
    assert "topLevelJunk" not in out
    assert out["metadata"]["generation"] == 1
    assert await api.client.get(cr_path(ns, plural, "a")) == out


async def test_custom_resource_unknown_fields_strict(api: Api, ns: str, crontabs: tuple[str, str]) -> None:
    plural, kind = crontabs
    body = cr(kind, "strict", {"cronSpec": "* * * * *", "unknownField": 1})
    err = await api.error(api.client.create(cr_path(ns, plural), body, {"fieldValidation": "Strict"}))
    assert err.code == 400
    assert 'unknown field "spec.unknownField"' in err.message


@pytest.mark.parametrize("spec,field", [
    pytest.param({"cronSpec": 5}, "spec.cronSpec", id="wrong-type"),
    pytest.param({"cronSpec": "nope"}, "spec.cronSpec", id="pattern"),
    pytest.param({}, "spec.cronSpec", id="required"),
    pytest.param({"cronSpec": "* * * * *", "replicas": -1}, "spec.replicas", id="minimum"),
])
async def test_custom_resource_validated(api: Api, ns: str, crontabs: tuple[str, str], spec: dict,
                                         field: str) -> None:
    plural, kind = crontabs
    before = await api.revision()
    err = await api.error(api.client.create(cr_path(ns, plural), cr(kind, "bad", spec)))
    assert err.code == 422 and err.reason == "Invalid"
    assert err.status["details"]["kind"] == kind and err.status["details"]["group"] == GROUP
    assert field in {c["field"] for c in err.status["details"]["causes"]}
    assert await api.revision() == before


async def test_custom_resource_status_and_scale(api: Api, ns: str, crontabs: tuple[str, str]) -> None:
    plural, kind = crontabs
    obj = await api.client.create(cr_path(ns, plural), cr(kind, "s", {"cronSpec": "* * * * *", "replicas": 2}))
    # main resource ignores status, status ignores spec
    obj = await api.client.update(cr_path(ns, plural, "s"), dict(obj, status={"lastRun": "now"}))
    assert "status" not in obj
    out = await api.client.update(cr_path(ns, plural, "s", "status"),
                                  dict(obj, spec={"cronSpec": "1 1 1 1 1"}, status={"replicas": 2, "selector": "a=b"}))
    assert out["spec"]["cronSpec"] == "* * * * *"
    assert out["status"] == {"replicas": 2, "selector": "a=b"}
    assert out["metadata"]["generation"] == 1
    scale = await api.client.get(cr_path(ns, plural, "s", "scale"))
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 2, "selector": "a=b"}
    scaled = await api.client.patch(cr_path(ns, plural, "s", "scale"), {"spec": {"replicas": 5}})
    assert scaled["spec"]["replicas"] == 5
    got = await api.client.get(cr_path(ns, plural, "s"))
    assert got["spec"]["replicas"] == 5
    assert got["metadata"]["generation"] == 2


async def test_custom_resource_merge_and_json_patch(api: Api, ns: str, crontabs: tuple[str, str]) -> None:
    plural, kind = crontabs
    await api.client.create(cr_path(ns, plural), cr(kind, "p", {"cronSpec": "* * * * *"}))
    out = await api.client.patch(cr_path(ns, plural, "p"), {"spec": {"image": "nginx"}})
    assert out["spec"]["image"] == "nginx"
    out = await api.client.patch(cr_path(ns, plural, "p"), [{"op": "replace", "path": "/spec/replicas", "value": 3}],
                                 "json")
    assert out["spec"]["replicas"] == 3
    err = await api.error(api.client.patch(cr_path(ns, plural, "p"), {"spec": {"image": "x"}}, "strategic"))
    assert err.code == 415


async def test_deleting_the_crd_deletes_its_instances(api: Api, ns: str, crontabs: tuple[str, str]) -> None:
    plural, kind = crontabs
    for n in ("d1", "d2"):
        await api.client.create(cr_path(ns, plural), cr(kind, n, {"cronSpec": "* * * * *"}))
    prefix = f"/registry/{GROUP}/{plural}/"
    assert len((await api.server.store.range(prefix)).kvs) == 2
    await api.client.delete(f"{CRDS}/{plural}.{GROUP}")
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        try:
            await api.client.get(f"{CRDS}/{plural}.{GROUP}")
        except Exception as e:  # noqa: BLE001 - the 404 we are waiting for
            assert getattr(e, "code", None) == 404
            break
        assert asyncio.get_running_loop().time() < deadline, "CRD was never deleted"
        await asyncio.sleep(0.05)
    assert (await api.server.store.range(prefix)).kvs == []
    err = await api.error(api.client.list(cr_path(ns, plural)))
    assert err.code == 404


async def test_crd_invalid_is_422(api: Api) -> None:
    bad = crd("things", "Thing")
    bad["metadata"]["name"] = "wrong.example.com"
    err = await api.error(api.client.create(CRDS, bad))
    assert err.code == 422
    assert err.status["details"]["kind"] == "CustomResourceDefinition"
    assert "metadata.name" in {c["field"] for c in err.status["details"]["causes"]}


async def test_custom_resource_unknown_fields_warn(api: Api, ns: str, crontabs: tuple[str, str]) -> None:
    import orjson

    plural, kind = crontabs
    body = cr(kind, "warn", {"cronSpec": "* * * * *", "unknownField": 1})
    r = await api.raw("POST", cr_path(ns, plural), body=orjson.dumps(body), content_type="application/json")
    assert r.status == 201
    assert r.headers.getall("Warning") == ['299 - "unknown field \\"spec.unknownField\\""']
    assert "unknownField" not in r.json()["spec"]

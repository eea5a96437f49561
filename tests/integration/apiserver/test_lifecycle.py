"""Object life: identity, generateName, generation, status split, finalizers, graceful pod deletion, namespaces."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from tests.integration.apiserver.conftest import Api, cm_path, configmap, deployment, pod, unique

pytestmark = pytest.mark.asyncio(loop_scope="module")

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
UID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def deploy_path(ns: str, name: str = "", sub: str = "") -> str:
    return f"/apis/apps/v1/namespaces/{ns}/deployments" + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


def pod_path(ns: str, name: str = "", sub: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/pods" + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


async def test_create_sets_identity_and_ignores_client_values(api: Api, ns: str) -> None:
    body = configmap("ident", uid="client-uid", resourceVersion="5", creationTimestamp="2000-01-01T00:00:00Z")
    out = await api.client.create(cm_path(ns), body)
    md = out["metadata"]
    assert UID.match(md["uid"]) and md["uid"] != "client-uid"
    assert RFC3339.match(md["creationTimestamp"]) and md["creationTimestamp"] != "2000-01-01T00:00:00Z"
    assert int(md["resourceVersion"]) == await api.revision()
    assert md["namespace"] == ns
    assert await api.client.get(cm_path(ns, "ident")) == out


async def test_generate_name(api: Api, ns: str) -> None:
    a = await api.client.create(cm_path(ns), {"metadata": {"generateName": "gen-"}, "data": {}})
    b = await api.client.create(cm_path(ns), {"metadata": {"generateName": "gen-"}, "data": {}})
    for o in (a, b):
        assert re.match(r"^gen-[a-z0-9]{5}$", o["metadata"]["name"])
        assert o["metadata"]["generateName"] == "gen-"
    assert a["metadata"]["name"] != b["metadata"]["name"]


async def test_missing_name_is_422(api: Api, ns: str) -> None:
    err = await api.error(api.client.create(cm_path(ns), {"metadata": {}, "data": {}}))
    assert err.code == 422
    [cause] = err.status["details"]["causes"]
    assert cause["field"] == "metadata.name"
    assert cause["reason"] == "FieldValueRequired"


GENERATION_CHANGES = [
    pytest.param("merge", "", {"spec": {"replicas": 3}}, 2, id="spec-replicas"),
    pytest.param("merge", "", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}, 2,
                 id="spec-template"),
    pytest.param("merge", "", {"metadata": {"labels": {"a": "b"}}}, 1, id="labels"),
    pytest.param("merge", "", {"metadata": {"annotations": {"a": "b"}}}, 1, id="annotations"),
    pytest.param("merge", "status", {"status": {"replicas": 7, "observedGeneration": 1}}, 1, id="status"),
    pytest.param("merge", "", {"status": {"replicas": 9}}, 1, id="status-through-main-resource"),
]


@pytest.mark.parametrize("ptype,sub,patch,want_generation", GENERATION_CHANGES)
async def test_generation_tracks_spec_changes_only(api: Api, ns: str, ptype: str, sub: str, patch: dict,
                                                   want_generation: int) -> None:
    d = await api.client.create(deploy_path(ns), deployment("gen"))
    assert d["metadata"]["generation"] == 1
    out = await api.client.patch(deploy_path(ns, "gen", sub), patch, ptype)
    assert out["metadata"]["generation"] == want_generation


async def test_status_subresource_ignores_spec_and_main_ignores_status(api: Api, ns: str) -> None:
    d = await api.client.create(deploy_path(ns), deployment("split", replicas=1))
    assert "replicas" not in (d.get("status") or {})
    body = dict(d, spec=dict(d["spec"], replicas=5), status={"replicas": 4, "readyReplicas": 4})
    st = await api.client.update(deploy_path(ns, "split", "status"), body)
    assert st["spec"]["replicas"] == 1
    assert st["status"]["replicas"] == 4
    assert st["metadata"]["generation"] == 1
    body = dict(st, spec=dict(st["spec"], replicas=2), status={"replicas": 0})
    main = await api.client.update(deploy_path(ns, "split"), body)
    assert main["spec"]["replicas"] == 2
    assert main["status"]["replicas"] == 4
    assert main["metadata"]["generation"] == 2


async def test_create_drops_status(api: Api, ns: str) -> None:
    body = dict(deployment("nostatus"), status={"replicas": 3})
    out = await api.client.create(deploy_path(ns), body)
    assert (out.get("status") or {}).get("replicas") is None


async def test_noop_update_keeps_resource_version(api: Api, ns: str) -> None:
    cm = await api.client.create(cm_path(ns), configmap("noop"))
    before = await api.revision()
    out = await api.client.update(cm_path(ns, "noop"), cm)
    assert out["metadata"]["resourceVersion"] == cm["metadata"]["resourceVersion"]
    assert await api.revision() == before


# finalizers


async def test_finalizers_hold_deletion_until_removed(api: Api, ns: str) -> None:
    cm = await api.client.create(cm_path(ns), configmap("fin", finalizers=["example.com/a", "example.com/b"]))
    out = await api.client.delete(cm_path(ns, "fin"))
    assert out["kind"] == "ConfigMap"  # a delete that does not finish answers with the object
    ts = out["metadata"]["deletionTimestamp"]
    assert RFC3339.match(ts)
    assert out["metadata"]["deletionGracePeriodSeconds"] == 0
    got = await api.client.get(cm_path(ns, "fin"))
    assert got["metadata"]["deletionTimestamp"] == ts
    assert got["metadata"]["uid"] == cm["metadata"]["uid"]
    # deleting again changes nothing
    again = await api.client.delete(cm_path(ns, "fin"))
    assert again["metadata"]["resourceVersion"] == got["metadata"]["resourceVersion"]
    # adding a finalizer while deleting is refused
    err = await api.error(api.client.patch(cm_path(ns, "fin"),
                                           {"metadata": {"finalizers": ["example.com/a", "example.com/b", "x/c"]}}))
    assert err.code == 422
    [cause] = err.status["details"]["causes"]
    assert cause["field"] == "metadata.finalizers"
    assert cause["reason"] == "FieldValueForbidden"
    assert cause["message"] == ('Forbidden: no new finalizers can be added if the object is being deleted, '
                                'found new finalizers []string{"x/c"}')
    # other changes are still allowed
    await api.client.patch(cm_path(ns, "fin"), {"metadata": {"finalizers": ["example.com/b"]}, "data": {"z": "1"}})
    assert (await api.client.get(cm_path(ns, "fin")))["data"] == {"k": "v", "z": "1"}
    # removing the last finalizer deletes the object
    await api.client.patch(cm_path(ns, "fin"), [{"op": "remove", "path": "/metadata/finalizers"}], "json")
    assert (await api.error(api.client.get(cm_path(ns, "fin")))).code == 404


async def test_delete_without_finalizers_returns_status(api: Api, ns: str) -> None:
    cm = await api.client.create(cm_path(ns), configmap("plain"))
    out = await api.client.delete(cm_path(ns, "plain"))
    assert out["kind"] == "Status" and out["status"] == "Success"
    assert out["details"] == {"name": "plain", "kind": "configmaps", "uid": cm["metadata"]["uid"]}


async def test_delete_deployment_returns_the_object(api: Api, ns: str) -> None:
    await api.client.create(deploy_path(ns), deployment("gone"))
    out = await api.client.delete(deploy_path(ns, "gone"))
    assert out["kind"] == "Deployment"
    assert (await api.error(api.client.get(deploy_path(ns, "gone")))).code == 404


# pods


async def test_bound_pod_deletion_is_graceful(api: Api, ns: str) -> None:
    await api.client.create(pod_path(ns), pod("bound", node="n1"))
    before = datetime.now(timezone.utc)
    out = await api.client.delete(pod_path(ns, "bound"))
    md = out["metadata"]
    assert md["deletionGracePeriodSeconds"] == 30
    ts = datetime.strptime(md["deletionTimestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert 28 <= (ts - before).total_seconds() <= 32
    assert (await api.client.get(pod_path(ns, "bound")))["metadata"]["deletionTimestamp"] == md["deletionTimestamp"]
    # a shorter grace period shortens it; 0 removes the pod now (kubectl delete --force)
    out = await api.client.delete(pod_path(ns, "bound"), {"gracePeriodSeconds": 5})
    assert out["metadata"]["deletionGracePeriodSeconds"] == 5
    await api.client.delete(pod_path(ns, "bound"), {"gracePeriodSeconds": 0})
    assert (await api.error(api.client.get(pod_path(ns, "bound")))).code == 404


async def test_unbound_pod_is_deleted_at_once(api: Api, ns: str) -> None:
    await api.client.create(pod_path(ns), pod("unbound"))
    out = await api.client.delete(pod_path(ns, "unbound"))
    assert out["kind"] == "Pod"
    assert (await api.error(api.client.get(pod_path(ns, "unbound")))).code == 404


async def test_pod_created_pending_with_defaults(api: Api, ns: str) -> None:
    out = await api.client.create(pod_path(ns), dict(pod("p"), status={"phase": "Running"}))
    assert out["status"]["phase"] == "Pending"
    assert out["status"]["qosClass"] == "BestEffort"
    assert out["spec"]["restartPolicy"] == "Always"
    assert out["spec"]["containers"][0]["imagePullPolicy"] == "Always"


# namespaces


async def test_namespace_delete_terminates_and_refuses_new_content(api: Api) -> None:
    name = unique("term")
    await api.client.create("/api/v1/namespaces", {"metadata": {"name": name}})
    await api.client.create(cm_path(name), configmap("inside"))
    out = await api.client.delete(f"/api/v1/namespaces/{name}")
    assert out["kind"] == "Namespace"
    assert out["status"]["phase"] == "Terminating"
    assert out["metadata"]["deletionTimestamp"]
    assert out["spec"]["finalizers"] == ["kubernetes"]
    got = await api.client.get(f"/api/v1/namespaces/{name}")
    assert got["status"]["phase"] == "Terminating"
    err = await api.error(api.client.create(cm_path(name), configmap("late")))
    assert err.code == 403
    assert err.reason == "Forbidden"
    assert err.message == (f'configmaps "late" is forbidden: unable to create new content in namespace {name} '
                           "because it is being terminated")
    assert err.status["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    # updates of existing content are still allowed
    await api.client.patch(cm_path(name, "inside"), {"data": {"k": "2"}})


async def test_namespace_finalize_completes_deletion(api: Api) -> None:
    name = unique("fin")
    await api.client.create("/api/v1/namespaces", {"metadata": {"name": name}})
    ns_obj = await api.client.delete(f"/api/v1/namespaces/{name}")
    ns_obj["spec"]["finalizers"] = []
    await api.client.update(f"/api/v1/namespaces/{name}/finalize", ns_obj)
    assert (await api.error(api.client.get(f"/api/v1/namespaces/{name}"))).code == 404


async def test_create_in_missing_namespace_is_404(api: Api) -> None:
    err = await api.error(api.client.create(cm_path("no-such-ns"), configmap("x")))
    assert err.code == 404
    assert err.message == 'namespaces "no-such-ns" not found'
    assert err.status["details"] == {"name": "no-such-ns", "kind": "namespaces"}


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
async def test_immortal_namespaces_are_undeletable(api: Api, name: str) -> None:
    before = await api.revision()
    err = await api.error(api.client.delete(f"/api/v1/namespaces/{name}"))
    assert err.code == 403 and err.reason == "Forbidden"
    assert err.message == f'namespaces "{name}" is forbidden: this namespace may not be deleted'
    assert await api.revision() == before
    assert not (await api.client.get(f"/api/v1/namespaces/{name}"))["metadata"].get("deletionTimestamp")


async def test_namespace_status_phase_active_on_create(api: Api) -> None:
    name = unique("act")
    out = await api.client.create("/api/v1/namespaces", {"metadata": {"name": name}})
    assert out["status"]["phase"] == "Active"
    assert out["metadata"]["labels"]["kubernetes.io/metadata.name"] == name


async def test_namespace_status_subresource(api: Api) -> None:
    name = unique("nss")
    await api.client.create("/api/v1/namespaces", {"metadata": {"name": name}})
    got = await api.client.get(f"/api/v1/namespaces/{name}/status")
    assert got["kind"] == "Namespace" and got["metadata"]["name"] == name
    out = await api.client.patch(f"/api/v1/namespaces/{name}/status",
                                 {"status": {"conditions": [{"type": "NamespaceDeletionDiscoveryFailure",
                                                             "status": "False", "reason": "ResourcesDiscovered",
                                                             "message": "ok"}]}})
    assert out["status"]["conditions"][0]["reason"] == "ResourcesDiscovered"

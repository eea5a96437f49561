"""Subresources: deployments/scale (kubectl scale), pods/binding, pods/eviction with disruption budgets."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.apiserver.conftest import Api, deployment, pod

pytestmark = pytest.mark.asyncio(loop_scope="module")


def deploy_path(ns: str, name: str = "", sub: str = "") -> str:
    return f"/apis/apps/v1/namespaces/{ns}/deployments" + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


def pod_path(ns: str, name: str = "", sub: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/pods" + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


async def test_scale_get(api: Api, ns: str) -> None:
    d = await api.client.create(deploy_path(ns), deployment("web", replicas=2))
    await api.client.patch(deploy_path(ns, "web", "status"), {"status": {"replicas": 1}})
    scale = await api.client.get(deploy_path(ns, "web", "scale"))
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["metadata"]["name"] == "web" and scale["metadata"]["namespace"] == ns
    assert scale["metadata"]["uid"] == d["metadata"]["uid"]
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 1, "selector": "app=web"}


@pytest.mark.parametrize("how", ["put", "merge", "json", "strategic"])
async def test_scale_write(api: Api, ns: str, how: str) -> None:
    await api.client.create(deploy_path(ns), deployment("web", replicas=1))
    path = deploy_path(ns, "web", "scale")
    if how == "put":
        scale = await api.client.get(path)
        out = await api.client.update(path, dict(scale, spec={"replicas": 4}))
    elif how == "json":
        out = await api.client.patch(path, [{"op": "replace", "path": "/spec/replicas", "value": 4}], "json")
    else:
        out = await api.client.patch(path, {"spec": {"replicas": 4}}, how)
    assert out["kind"] == "Scale" and out["spec"]["replicas"] == 4
    d = await api.client.get(deploy_path(ns, "web"))
    assert d["spec"]["replicas"] == 4
    assert d["metadata"]["generation"] == 2
    assert out["metadata"]["resourceVersion"] == d["metadata"]["resourceVersion"]


async def test_scale_with_stale_resource_version_is_409(api: Api, ns: str) -> None:
    # kubectl scale --resource-version=N sends the precondition in a merge patch
    d = await api.client.create(deploy_path(ns), deployment("web", replicas=1))
    stale = d["metadata"]["resourceVersion"]
    await api.client.patch(deploy_path(ns, "web"), {"metadata": {"labels": {"x": "y"}}})
    err = await api.error(api.client.patch(deploy_path(ns, "web", "scale"),
                                           {"metadata": {"resourceVersion": stale}, "spec": {"replicas": 3}}))
    assert err.code == 409 and err.reason == "Conflict"
    assert (await api.client.get(deploy_path(ns, "web")))["spec"]["replicas"] == 1


@pytest.mark.parametrize("replicas", [-1, "three"], ids=str)
async def test_scale_invalid_replicas_is_422(api: Api, ns: str, replicas: object) -> None:
    await api.client.create(deploy_path(ns), deployment("web"))
    err = await api.error(api.client.patch(deploy_path(ns, "web", "scale"), {"spec": {"replicas": replicas}}))
    assert err.code == 422
    assert err.status["details"]["causes"][0]["field"] == "spec.replicas"


async def test_scale_of_missing_deployment_is_404(api: Api, ns: str) -> None:
    err = await api.error(api.client.get(deploy_path(ns, "nope", "scale")))
    assert err.code == 404
    assert err.message == 'deployments.apps "nope" not found'


async def test_statefulset_and_replicaset_scale(api: Api, ns: str) -> None:
    rs = deployment("rs")
    rs["kind"] = "ReplicaSet"
    await api.client.create(f"/apis/apps/v1/namespaces/{ns}/replicasets", rs)
    out = await api.client.patch(f"/apis/apps/v1/namespaces/{ns}/replicasets/rs/scale", {"spec": {"replicas": 0}})
    assert out["spec"]["replicas"] == 0
    assert (await api.client.get(f"/apis/apps/v1/namespaces/{ns}/replicasets/rs"))["spec"]["replicas"] == 0


# binding


def binding(name: str, node: str, **md: object) -> dict:
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, **md},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}


async def test_binding_assigns_node_once(api: Api, ns: str) -> None:
    await api.client.create(pod_path(ns), pod("p"))
    out = await api.client.create(pod_path(ns, "p", "binding"), binding("p", "n1"))
    assert out["kind"] == "Status" and out["status"] == "Success"
    p = await api.client.get(pod_path(ns, "p"))
    assert p["spec"]["nodeName"] == "n1"
    [cond] = [c for c in p["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert cond["status"] == "True"
    before = await api.revision()
    err = await api.error(api.client.create(pod_path(ns, "p", "binding"), binding("p", "n2")))
    assert err.code == 409 and err.reason == "Conflict"
    assert err.message == 'Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "n1"'
    assert await api.revision() == before
    assert (await api.client.get(pod_path(ns, "p")))["spec"]["nodeName"] == "n1"


async def test_concurrent_bindings_only_one_wins(api: Api, ns: str) -> None:
    await api.client.create(pod_path(ns), pod("race"))
    results = await asyncio.gather(*(api.client.create(pod_path(ns, "race", "binding"), binding("race", f"n{i}"))
                                     for i in range(5)), return_exceptions=True)
    wins = [r for r in results if isinstance(r, dict)]
    assert len(wins) == 1
    assert all(getattr(r, "code", None) == 409 for r in results if not isinstance(r, dict))


async def test_bindings_collection_and_uid_precondition(api: Api, ns: str) -> None:
    p = await api.client.create(pod_path(ns), pod("b2"))
    err = await api.error(api.client.create(f"/api/v1/namespaces/{ns}/bindings", binding("b2", "n1", uid="wrong")))
    assert err.code == 409
    await api.client.create(f"/api/v1/namespaces/{ns}/bindings", binding("b2", "n1", uid=p["metadata"]["uid"]))
    assert (await api.client.get(pod_path(ns, "b2")))["spec"]["nodeName"] == "n1"


async def test_binding_missing_pod_is_404(api: Api, ns: str) -> None:
    err = await api.error(api.client.create(pod_path(ns, "ghost", "binding"), binding("ghost", "n1")))
    assert err.code == 404
    assert err.message == 'pods "ghost" not found'


async def test_binding_without_target_is_422(api: Api, ns: str) -> None:
    await api.client.create(pod_path(ns), pod("nt"))
    err = await api.error(api.client.create(pod_path(ns, "nt", "binding"),
                                            {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "nt"},
                                             "target": {}}))
    assert err.code == 422


# eviction


def eviction(name: str, ns: str) -> dict:
    return {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}}


async def test_eviction_deletes_the_pod(api: Api, ns: str) -> None:
    await api.client.create(pod_path(ns), pod("ev"))
    out = await api.client.create(pod_path(ns, "ev", "eviction"), eviction("ev", ns))
    assert out["kind"] == "Status" and out["status"] == "Success"
    assert (await api.error(api.client.get(pod_path(ns, "ev")))).code == 404


async def test_eviction_of_bound_pod_is_graceful(api: Api, ns: str) -> None:
    await api.client.create(pod_path(ns), pod("evb", node="n1"))
    await api.client.create(pod_path(ns, "evb", "eviction"), eviction("evb", ns))
    got = await api.client.get(pod_path(ns, "evb"))
    assert got["metadata"]["deletionTimestamp"] and got["metadata"]["deletionGracePeriodSeconds"] == 30


async def test_eviction_blocked_by_disruption_budget(api: Api, ns: str) -> None:
    await api.client.create(pod_path(ns), pod("guarded", node="n1", labels={"app": "db"}))
    await api.client.patch(pod_path(ns, "guarded", "status"), {"status": {"phase": "Running"}})
    pdb = await api.client.create(f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets", {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "db"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}})
    await api.client.patch(f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/db/status", {"status": {
        "observedGeneration": pdb["metadata"]["generation"], "disruptionsAllowed": 0, "currentHealthy": 1,
        "desiredHealthy": 1, "expectedPods": 1}})
    err = await api.error(api.client.create(pod_path(ns, "guarded", "eviction"), eviction("guarded", ns)))
    assert err.code == 429 and err.reason == "TooManyRequests"
    assert err.message == "Cannot evict pod as it would violate the pod's disruption budget."
    assert err.status["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert not (await api.client.get(pod_path(ns, "guarded")))["metadata"].get("deletionTimestamp")


async def test_eviction_of_missing_pod_is_404(api: Api, ns: str) -> None:
    err = await api.error(api.client.create(pod_path(ns, "gone", "eviction"), eviction("gone", ns)))
    assert err.code == 404

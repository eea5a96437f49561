"""ReplicaSet and Deployment controllers against a real apiserver; the test plays the kubelet by patching pod
status (Running, Ready) through the API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kybernetes.api.meta import now_rfc3339
from kybernetes.client import ApiError, RESTClient, load_kubeconfig, resource_path
from kybernetes.controllers.context import ControllerOptions
from kybernetes.controllers.manager import run_controller_manager

NS = "default"
PODS = resource_path("", "v1", "pods", NS)
RSS = resource_path("apps", "v1", "replicasets", NS)
DEPLOYS = resource_path("apps", "v1", "deployments", NS)
REVISION = "deployment.kubernetes.io/revision"


async def wait_for(check: Callable[[], Awaitable[Any]], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last={last!r}")


@pytest.fixture
async def env(apiserver) -> AsyncIterator[RESTClient]:
    """A client, plus a controller manager running the workload controllers in the background."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_controller_manager(
        kubeconfig=apiserver.kubeconfig_path, controllers=["replicaset", "deployment", "replicationcontroller"],
        options=ControllerOptions(), stop=stop))
    client = RESTClient(load_kubeconfig(apiserver.kubeconfig_path))
    try:
        yield client
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await client.close()


def template(labels: dict[str, str], image: str = "nginx:1") -> dict[str, Any]:
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": image}]}}


def replicaset(name: str, replicas: int, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": template(labels)}}


def deployment(name: str, replicas: int, labels: dict[str, str], image: str = "nginx:1",
               **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": template(labels, image), **spec}}


async def list_pods(client: RESTClient, selector: str) -> list[dict[str, Any]]:
    items = (await client.list(PODS, {"labelSelector": selector}))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


async def mark_ready(client: RESTClient, pod: dict[str, Any], node: str = "node-1") -> None:
    """Play the kubelet: bind (nodeName via binding) is skipped; set phase Running and Ready=True."""
    now = now_rfc3339()
    status = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", "status": "True", "lastTransitionTime": now}]}
    try:
        await client.patch(f"{PODS}/{pod['metadata']['name']}/status", {"status": status}, "merge")
    except ApiError as e:
        if not e.not_found:
            raise


async def keep_ready(client: RESTClient, selector: str, stop: asyncio.Event) -> None:
    """A fake kubelet: marks every not-ready pod of the selector Ready until stopped."""
    while not stop.is_set():
        for pod in await list_pods(client, selector):
            conds = (pod.get("status") or {}).get("conditions") or []
            if not any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
                await mark_ready(client, pod)
        await asyncio.sleep(0.1)


def owner_uids(pod: dict[str, Any]) -> list[str]:
    return [r["uid"] for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")]


# -- ReplicaSet ---------------------------------------------------------------------------------------------------

async def test_replicaset_creates_pods_and_replaces_a_deleted_one(env: RESTClient) -> None:
    rs = await env.create(RSS, replicaset("web", 3, {"app": "web"}))
    pods = await wait_for(lambda: _n_pods(env, "app=web", 3), what="3 pods")
    for p in pods:
        ref = p["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"], ref["blockOwnerDeletion"]) == \
            ("ReplicaSet", "web", rs["metadata"]["uid"], True, True)
        assert p["metadata"]["name"].startswith("web-")
    victim = pods[0]["metadata"]["name"]
    await env.delete(f"{PODS}/{victim}")
    after = await wait_for(lambda: _n_pods(env, "app=web", 3, exclude=victim), what="replacement pod")
    assert victim not in {p["metadata"]["name"] for p in after}
    status = await wait_for(lambda: _rs_status(env, "web", replicas=3), what="status.replicas 3")
    assert status["fullyLabeledReplicas"] == 3 and status["observedGeneration"] == 1
    events = (await env.list(resource_path("", "v1", "events", NS)))["items"]
    assert {"SuccessfulCreate", "SuccessfulDelete"} >= {e["reason"] for e in events if e["involvedObject"]["name"] == "web"}
    assert any(e["reason"] == "SuccessfulCreate" for e in events)


async def _n_pods(client: RESTClient, selector: str, n: int, exclude: str = "") -> list[dict[str, Any]] | None:
    pods = await list_pods(client, selector)
    if exclude and any(p["metadata"]["name"] == exclude for p in pods):
        return None
    return pods if len(pods) == n else None


async def _rs_status(client: RESTClient, name: str, **want: int) -> dict[str, Any] | None:
    status = (await client.get(f"{RSS}/{name}")).get("status") or {}
    return status if all(status.get(k, 0) == v for k, v in want.items()) else None


async def test_replicaset_scale_down_deletes_not_ready_pods_first(env: RESTClient) -> None:
    await env.create(RSS, replicaset("api", 4, {"app": "api"}))
    pods = await wait_for(lambda: _n_pods(env, "app=api", 4), what="4 pods")
    ready = sorted(p["metadata"]["name"] for p in pods[:2])
    for p in pods[:2]:
        await mark_ready(env, p)
    await wait_for(lambda: _rs_status(env, "api", readyReplicas=2), what="2 ready")
    await env.patch(f"{RSS}/api", {"spec": {"replicas": 2}}, "merge")
    left = await wait_for(lambda: _n_pods(env, "app=api", 2), what="scale down to 2")
    assert sorted(p["metadata"]["name"] for p in left) == ready
    await env.patch(f"{RSS}/api", {"spec": {"replicas": 5}}, "merge")
    await wait_for(lambda: _n_pods(env, "app=api", 5), what="scale up to 5")


async def test_replicaset_adopts_matching_orphan(env: RESTClient) -> None:
    orphan = await env.create(PODS, {"apiVersion": "v1", "kind": "Pod",
                                     "metadata": {"name": "stray", "labels": {"app": "db"}},
                                     "spec": {"containers": [{"name": "c", "image": "db"}]}})
    rs = await env.create(RSS, replicaset("db", 2, {"app": "db"}))
    pods = await wait_for(lambda: _n_pods(env, "app=db", 2), what="2 pods")
    names = {p["metadata"]["name"] for p in pods}
    assert "stray" in names
    adopted = await env.get(f"{PODS}/stray")
    assert owner_uids(adopted) == [rs["metadata"]["uid"]]
    assert adopted["metadata"]["uid"] == orphan["metadata"]["uid"]
    # relabelled out of the selector: released, and replaced
    await env.patch(f"{PODS}/stray", {"metadata": {"labels": {"app": "other"}}}, "merge")
    await wait_for(lambda: _released(env, "stray"), what="release")
    await wait_for(lambda: _n_pods(env, "app=db", 2), what="replacement")


async def _released(client: RESTClient, name: str) -> bool:
    return not owner_uids(await client.get(f"{PODS}/{name}"))


async def test_replication_controller(env: RESTClient) -> None:
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "old"},
          "spec": {"replicas": 2, "selector": {"app": "old"}, "template": template({"app": "old"})}}
    created = await env.create(resource_path("", "v1", "replicationcontrollers", NS), rc)
    pods = await wait_for(lambda: _n_pods(env, "app=old", 2), what="2 pods")
    assert all(owner_uids(p) == [created["metadata"]["uid"]] for p in pods)
    assert pods[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicationController"


# -- Deployment ---------------------------------------------------------------------------------------------------

async def _deploy(client: RESTClient, name: str) -> dict[str, Any]:
    return await client.get(f"{DEPLOYS}/{name}")


async def _owned_rss(client: RESTClient, d: dict[str, Any]) -> list[dict[str, Any]]:
    items = (await client.list(RSS))["items"]
    return sorted((rs for rs in items if owner_uids(rs) == [d["metadata"]["uid"]]),
                  key=lambda rs: int(rs["metadata"]["annotations"].get(REVISION, "0")))


def cond(d: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (d.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


async def _rollout_done(client: RESTClient, name: str) -> dict[str, Any] | None:
    """What `kubectl rollout status` checks."""
    d = await _deploy(client, name)
    st, want = d.get("status") or {}, d["spec"]["replicas"]
    if st.get("observedGeneration", 0) < d["metadata"]["generation"]:
        return None
    if st.get("updatedReplicas", 0) == want and st.get("replicas", 0) == want and \
            st.get("availableReplicas", 0) == want and cond(d, "Progressing").get("reason") == "NewReplicaSetAvailable":
        return d
    return None


async def test_deployment_rolling_update_and_rollback(env: RESTClient) -> None:
    stop = asyncio.Event()
    kubelet = asyncio.create_task(keep_ready(env, "app=roll", stop))
    try:
        await env.create(DEPLOYS, deployment("roll", 4, {"app": "roll"}, "img:A"))
        d = await wait_for(lambda: _rollout_done(env, "roll"), what="first rollout")
        assert d["metadata"]["annotations"][REVISION] == "1"
        assert cond(d, "Available")["reason"] == "MinimumReplicasAvailable"
        (rs1,) = await _owned_rss(env, d)
        pod_hash = rs1["metadata"]["labels"]["pod-template-hash"]
        assert rs1["metadata"]["name"] == f"roll-{pod_hash}"
        assert rs1["spec"]["selector"]["matchLabels"]["pod-template-hash"] == pod_hash
        assert rs1["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "4"
        assert rs1["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "5"

        await env.patch(f"{DEPLOYS}/roll", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "img:B"}]}}}}, "strategic")
        d = await wait_for(lambda: _rollout_done(env, "roll"), what="rollout to B")
        assert d["metadata"]["annotations"][REVISION] == "2"
        rs1, rs2 = await _owned_rss(env, d)
        assert (rs1["spec"]["replicas"], rs2["spec"]["replicas"]) == (0, 4)
        assert rs2["spec"]["template"]["spec"]["containers"][0]["image"] == "img:B"
        pods = await wait_for(lambda: _n_pods(env, "app=roll", 4), what="only new pods")
        assert all(owner_uids(p) == [rs2["metadata"]["uid"]] for p in pods)
        events = (await env.list(resource_path("", "v1", "events", NS)))["items"]
        msgs = [e["message"] for e in events if e["reason"] == "ScalingReplicaSet"]
        assert f"Scaled up replica set {rs1['metadata']['name']} from 0 to 4" in msgs
        assert any(m.startswith(f"Scaled down replica set {rs1['metadata']['name']}") for m in msgs)

        # `kubectl rollout undo`: the template of revision 1 goes back into the Deployment
        await env.patch(f"{DEPLOYS}/roll", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "img:A"}]}}}}, "strategic")
        d = await wait_for(lambda: _rollout_done(env, "roll"), what="rollback to A")
        assert d["metadata"]["annotations"][REVISION] == "3"
        rss = await _owned_rss(env, d)
        assert len(rss) == 2, "the old ReplicaSet is reused, not a new one created"
        reused = next(rs for rs in rss if rs["metadata"]["uid"] == rs1["metadata"]["uid"])
        assert reused["metadata"]["annotations"][REVISION] == "3"
        assert reused["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
        assert reused["spec"]["replicas"] == 4
    finally:
        stop.set()
        await kubelet


async def test_deployment_recreate(env: RESTClient) -> None:
    stop = asyncio.Event()
    kubelet = asyncio.create_task(keep_ready(env, "app=rec", stop))
    try:
        await env.create(DEPLOYS, deployment("rec", 2, {"app": "rec"}, "img:A", strategy={"type": "Recreate"}))
        await wait_for(lambda: _rollout_done(env, "rec"), what="first rollout")
        await env.patch(f"{DEPLOYS}/rec", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "img:B"}]}}}}, "strategic")
        d = await wait_for(lambda: _rollout_done(env, "rec"), what="recreate to B")
        rs1, rs2 = await _owned_rss(env, d)
        assert (rs1["spec"]["replicas"], rs2["spec"]["replicas"]) == (0, 2)
        events = (await env.list(resource_path("", "v1", "events", NS)))["items"]
        scaling = [e for e in events if e["reason"] == "ScalingReplicaSet"]
        down = next(e for e in scaling if e["message"].startswith(f"Scaled down replica set {rs1['metadata']['name']}"))
        up = next(e for e in scaling if e["message"].startswith(f"Scaled up replica set {rs2['metadata']['name']}"))
        assert int(down["metadata"]["resourceVersion"]) < int(up["metadata"]["resourceVersion"]), \
            "old pods are scaled away before the new ReplicaSet grows"
    finally:
        stop.set()
        await kubelet


async def test_paused_deployment_does_not_roll_but_scales(env: RESTClient) -> None:
    stop = asyncio.Event()
    kubelet = asyncio.create_task(keep_ready(env, "app=pz", stop))
    try:
        await env.create(DEPLOYS, deployment("pz", 2, {"app": "pz"}, "img:A"))
        d = await wait_for(lambda: _rollout_done(env, "pz"), what="first rollout")
        await env.patch(f"{DEPLOYS}/pz", {"spec": {"paused": True}}, "merge")
        await wait_for(lambda: _cond_reason(env, "pz", "Progressing", "DeploymentPaused"), what="paused condition")
        await env.patch(f"{DEPLOYS}/pz", {"spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "c", "image": "img:B"}]}}}}, "strategic")
        await wait_for(lambda: _n_pods(env, "app=pz", 3), what="scaled while paused")
        await asyncio.sleep(1.0)
        rss = await _owned_rss(env, d)
        assert len(rss) == 1, "no new ReplicaSet while paused"
        assert rss[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "img:A"
        await env.patch(f"{DEPLOYS}/pz", {"spec": {"paused": False}}, "merge")
        d = await wait_for(lambda: _rollout_done(env, "pz"), what="rollout after resume")
        assert d["metadata"]["annotations"][REVISION] == "2"
    finally:
        stop.set()
        await kubelet


async def _cond_reason(client: RESTClient, name: str, kind: str, reason: str) -> dict[str, Any] | None:
    d = await _deploy(client, name)
    return d if cond(d, kind).get("reason") == reason else None


async def test_progress_deadline_exceeded(env: RESTClient) -> None:
    await env.create(DEPLOYS, deployment("stuck", 2, {"app": "stuck"}, "img:broken", progressDeadlineSeconds=2))
    d = await wait_for(lambda: _cond_reason(env, "stuck", "Progressing", "ProgressDeadlineExceeded"),
                       timeout=20, what="ProgressDeadlineExceeded")
    c = cond(d, "Progressing")
    assert c["status"] == "False" and "has timed out progressing" in c["message"]
    assert cond(d, "Available")["status"] == "False"
    assert d["status"]["unavailableReplicas"] == 2


# -- the process ----------------------------------------------------------------------------------------------------

async def test_manager_leads_through_lease_and_serves_metrics(apiserver) -> None:
    import aiohttp

    from tests.conftest import free_port
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(run_controller_manager(
        kubeconfig=apiserver.kubeconfig_path, controllers=["replicaset"], leader_elect=True, metrics_port=port,
        stop=stop))
    client = RESTClient(load_kubeconfig(apiserver.kubeconfig_path))
    try:
        lease_path = resource_path("coordination.k8s.io", "v1", "leases", "kube-system", "kube-controller-manager")

        async def holder() -> str:
            try:
                return (await client.get(lease_path))["spec"].get("holderIdentity") or ""
            except ApiError:
                return ""
        assert await wait_for(holder, what="lease holder")
        await client.create(RSS, replicaset("m", 2, {"app": "m"}))
        await wait_for(lambda: _n_pods(client, "app=m", 2), what="pods under leader")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                assert r.status == 200
            async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                text = await r.text()
        assert 'workqueue_adds_total{name="replicaset"}' in text
        assert 'workqueue_depth{name="replicaset"}' in text
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await client.close()

"""--use-service-account-credentials against a real apiserver: the controller-manager's own certificate
(system:kube-controller-manager) creates kube-system ServiceAccounts and TokenRequests, and each controller writes
as its own account, bound by the bootstrap policy to system:controller:<name>; the audit log shows who did what."""

from __future__ import annotations

import asyncio
import glob
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
import pytest_asyncio
import yaml

from kybernetes.apiserver.server import APIServer, APIServerConfig
from kybernetes.client import ApiError, RESTClient, load_kubeconfig, resource_path
from kybernetes.controllers.clientbuilder import sync_root_controller_roles
from kybernetes.controllers.manager import run_controller_manager
from kybernetes.pki import components
from tests.conftest import free_port

NS = "default"
SA = "system:serviceaccount:kube-system:"
POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
          "rules": [{"level": "Metadata"}]}
CONTROLLERS = ["replicaset", "deployment", "serviceaccount"]


async def wait_for(check: Callable[[], Awaitable[Any]], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last={last!r}")


class Env:
    def __init__(self, server: APIServer, admin: RESTClient, log_path: str, kcm_kubeconfig: str) -> None:
        self.server, self.admin, self.log_path, self.kcm_kubeconfig = server, admin, log_path, kcm_kubeconfig

    def audit(self) -> list[dict]:
        files = sorted(glob.glob(self.log_path[:-4] + "-*.log")) + [self.log_path]
        return [orjson.loads(line) for f in files if os.path.exists(f) for line in open(f, "rb")]

    async def pods(self, selector: str) -> list[dict]:
        return (await self.admin.list(resource_path("", "v1", "pods", NS), {"labelSelector": selector}))["items"]


@pytest_asyncio.fixture
async def env(tmp_path) -> AsyncIterator[Env]:
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(POLICY))
    log_path = str(tmp_path / "audit.log")
    cfg = APIServerConfig(data_dir=str(tmp_path / "data"), bind_address="127.0.0.1", secure_port=free_port(),
                          audit_policy_file=str(tmp_path / "policy.yaml"), audit_log_path=log_path)
    server = APIServer(cfg)
    await server.start()
    kcm = components.ensure_component_kubeconfig(cfg.data_dir, f"https://127.0.0.1:{server.port}",
                                                 *components.CONTROLLER_MANAGER)
    admin = RESTClient(load_kubeconfig(server.kubeconfig_path))
    try:
        yield Env(server, admin, log_path, kcm)
    finally:
        await admin.close()
        await server.stop()


def deployment(name: str, replicas: int) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}


async def _running(env: Env, **kw: Any) -> tuple[asyncio.Event, asyncio.Task]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_controller_manager(kubeconfig=env.kcm_kubeconfig, controllers=CONTROLLERS,
                                                      stop=stop, **kw))
    return stop, task


async def test_each_controller_writes_as_its_own_service_account(env: Env) -> None:
    stop, task = await _running(env, use_service_account_credentials=True)
    try:
        await env.admin.create(resource_path("apps", "v1", "deployments", NS), deployment("web", 2))
        pods = await wait_for(lambda: _n(env, "app=web", 2), what="two pods")
        accounts = (await env.admin.list(resource_path("", "v1", "serviceaccounts", "kube-system")))["items"]
        names = {a["metadata"]["name"] for a in accounts}
        assert {"replicaset-controller", "deployment-controller", "service-account-controller"} <= names
        managers = {m["manager"] for m in pods[0]["metadata"]["managedFields"]}
        assert managers == {"kube-controller-manager"}  # the user agent's first word, as upstream

        def by(resource: str, verb: str) -> set[str]:
            return {e["user"].get("username", "") for e in env.audit() if e["verb"] == verb
                    and e.get("objectRef", {}).get("resource") == resource and e["responseStatus"]["code"] < 300}

        await wait_for(lambda: _true(by("pods", "create")), what="pod creations in the audit log")
        assert by("pods", "create") == {SA + "replicaset-controller"}
        assert by("replicasets", "create") == {SA + "deployment-controller"}
        assert {SA + "deployment-controller"} <= by("deployments", "update")  # its status
        tokens = by("serviceaccounts", "create")
        assert "system:kube-controller-manager" in tokens  # the root identity made the accounts and tokens
        pod_create = next(e for e in env.audit() if e["verb"] == "create"
                          and e.get("objectRef", {}).get("resource") == "pods")
        assert pod_create["userAgent"].startswith("kube-controller-manager/")
        assert pod_create["userAgent"].endswith("/" + SA + "replicaset-controller")
        assert pod_create["user"]["groups"] == ["system:serviceaccounts", "system:serviceaccounts:kube-system",
                                                "system:authenticated"]
        refused = [e for e in env.audit() if e["user"].get("username", "").startswith(SA)
                   and e["responseStatus"]["code"] == 403]
        assert refused == []

        # a recreated account invalidates the old token: the next write gets a 401, a new token, and succeeds
        await env.admin.delete(resource_path("", "v1", "serviceaccounts", "kube-system", "replicaset-controller"))
        await env.admin.patch(resource_path("apps", "v1", "deployments", NS, "web"), {"spec": {"replicas": 3}})
        await wait_for(lambda: _n(env, "app=web", 3), what="a third pod after the account was recreated")
        rejected = [e for e in env.audit() if e["responseStatus"]["code"] == 401
                    and e["userAgent"].endswith("/" + SA + "replicaset-controller")]
        assert rejected  # the old token, refused once; the retry with a new one went through
        assert "replicaset-controller" in {a["metadata"]["name"] for a in (await env.admin.list(
            resource_path("", "v1", "serviceaccounts", "kube-system")))["items"]}
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_root_identity_alone_cannot_run_controllers(env: Env) -> None:
    kcm = RESTClient(load_kubeconfig(env.kcm_kubeconfig))
    try:
        with pytest.raises(ApiError) as e:
            await kcm.create(resource_path("", "v1", "pods", NS), {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
                "spec": {"containers": [{"name": "c", "image": "i"}]}})
        assert e.value.code == 403
        assert e.value.message.startswith('pods is forbidden: User "system:kube-controller-manager" cannot create')
    finally:
        await kcm.close()


async def test_without_service_account_credentials_the_root_identity_gets_the_controller_roles(env: Env) -> None:
    await sync_root_controller_roles(env.admin, grant=True)
    stop, task = await _running(env, use_service_account_credentials=False)
    try:
        await env.admin.create(resource_path("apps", "v1", "deployments", NS), deployment("solo", 1))
        await wait_for(lambda: _n(env, "app=solo", 1), what="a pod")
        creators = {e["user"].get("username", "") for e in env.audit() if e["verb"] == "create"
                    and e.get("objectRef", {}).get("resource") == "pods"}
        assert creators == {"system:kube-controller-manager"}
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    await sync_root_controller_roles(env.admin, grant=False)
    with pytest.raises(ApiError) as e:
        await env.admin.get(resource_path("rbac.authorization.k8s.io", "v1", "clusterrolebindings",
                                          name="kybernetes:kube-controller-manager:controllers"))
    assert e.value.not_found


async def _n(env: Env, selector: str, n: int) -> list[dict] | None:
    pods = [p for p in await env.pods(selector) if not p["metadata"].get("deletionTimestamp")]
    return pods if len(pods) == n else None


async def _true(value: Any) -> Any:
    return value

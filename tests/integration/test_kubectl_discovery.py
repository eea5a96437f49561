"""Real kubectl against a minimal server of only the discovery, OpenAPI and /version endpoints."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from kybernetes.api import openapi
from kybernetes.api.registry import Registry, ResourceInfo
from kybernetes.apiserver import discovery

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on the PATH")

CRONTAB_SCHEMA = {
    "type": "object",
    "description": "CronTab runs a command on a schedule.",
    "properties": {
        "spec": {
            "type": "object",
            "description": "Desired schedule of the tab.",
            "properties": {
                "cronSpec": {"type": "string", "description": "When to run, in cron syntax."},
                "replicas": {"type": "integer", "format": "int32", "nullable": True},
                "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
            "required": ["cronSpec"],
        },
        "status": {"type": "object", "properties": {"lastRun": {"type": "string", "format": "date-time"}}},
    },
}


def crontab_info(version: str = "v1") -> ResourceInfo:
    return ResourceInfo("stable.example.com", version, "CronTab", "crontabs", "crontab", True, ("ct",),
                        ("all",), ("scale", "status"), crd=True, extra={"openapi_schema": CRONTAB_SCHEMA})


def build_app(registry: Registry, *, aggregated: bool = True) -> web.Application:
    """The discovery and OpenAPI routes the lead's apiserver serves, over the functions under test."""

    def json(body: dict, content_type: str = "application/json") -> web.Response:
        return web.Response(body=orjson.dumps(body), headers={"Content-Type": content_type})

    def discovery_or(request: web.Request, legacy: bool, plain: dict) -> web.Response:
        version = discovery.negotiate_aggregated(request.headers.get("Accept")) if aggregated else None
        if version is None:
            return json(plain)
        return json(discovery.aggregated_discovery(registry, legacy=legacy, version=version),
                    discovery.aggregated_content_type(version))

    async def version(_: web.Request) -> web.Response:
        # the Python client's VersionInfo model requires every field
        return json({"major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "",
                     "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z", "goVersion": "",
                     "compiler": "", "platform": "linux/amd64"})

    async def api(request: web.Request) -> web.Response:
        return discovery_or(request, True, discovery.api_versions(request.host))

    async def apis(request: web.Request) -> web.Response:
        return discovery_or(request, False, discovery.api_group_list(registry))

    async def core_version(request: web.Request) -> web.Response:
        body = discovery.api_resource_list(registry, "", request.match_info["version"])
        return json(body) if body else web.Response(status=404)

    async def group(request: web.Request) -> web.Response:
        body = discovery.api_group(registry, request.match_info["group"])
        return json(body) if body else web.Response(status=404)

    async def group_version(request: web.Request) -> web.Response:
        body = discovery.api_resource_list(registry, request.match_info["group"], request.match_info["version"])
        return json(body) if body else web.Response(status=404)

    async def v2(request: web.Request) -> web.Response:
        content_type = openapi.openapi_v2_content_type(request.headers.get("Accept"))
        body = openapi.openapi_v2(registry) if content_type == "application/json" \
            else openapi.openapi_v2_protobuf(registry)
        return web.Response(body=body, headers={"Content-Type": content_type,
                                                "ETag": openapi.openapi_v2_etag(registry)})

    async def v3_index(_: web.Request) -> web.Response:
        return json(openapi.openapi_v3_index(registry))

    async def v3_doc(request: web.Request) -> web.Response:
        gv = openapi.parse_v3_path(request.match_info["tail"])
        body = openapi.openapi_v3_group_version(registry, *gv) if gv else None
        if body is None:
            return web.Response(status=404)
        return web.Response(body=body, content_type="application/json",
                            headers={"ETag": f'"{openapi.openapi_v3_hash(registry, *gv)}"'})

    app = web.Application()
    # the Python client asks with a trailing slash ("/api/", "/apis/apps/v1/"), kubectl without
    for path, handler in (("/version", version), ("/api", api), ("/apis", apis), ("/api/{version}", core_version),
                          ("/apis/{group}", group), ("/apis/{group}/{version}", group_version)):
        app.router.add_get(path, handler)
        app.router.add_get(path + "/", handler)
    app.router.add_get("/openapi/v2", v2)
    app.router.add_get("/openapi/v3", v3_index)
    app.router.add_get("/openapi/v3/{tail:.+}", v3_doc)
    return app


class Kubectl:
    """Runs the real kubectl against one server, with its own kubeconfig and discovery cache."""

    def __init__(self, url: str, home: Path) -> None:
        self.home = home
        self.kubeconfig = home / "kubeconfig"
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
            f"clusters:\n- name: test\n  cluster:\n    server: {url}\n"
            "contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n"
            "users:\n- name: test\n  user: {}\n")

    async def __call__(self, *args: str) -> str:
        env = {"PATH": os.environ["PATH"], "HOME": str(self.home), "KUBECONFIG": str(self.kubeconfig)}
        proc = await asyncio.create_subprocess_exec(
            "kubectl", "--cache-dir", str(self.home / "cache"), *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, f"kubectl {' '.join(args)} failed: {err.decode()}"
        return out.decode()


def add_object_echo(app: web.Application, requests: list[tuple[str, str, str]]) -> None:
    """Just enough object REST for `kubectl apply`: objects kept in memory, patches recorded, not applied."""
    objects: dict[str, dict] = {}

    async def handle(request: web.Request) -> web.Response:
        content_type = request.headers.get("Content-Type", "")
        requests.append((request.method, request.path, content_type.split(";")[0]))
        if request.method == "GET":
            if request.path in objects:
                return web.json_response(objects[request.path])
            return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                      "reason": "NotFound", "code": 404}, status=404)
        if request.method == "POST":
            obj = orjson.loads(await request.read())
            obj["metadata"]["resourceVersion"] = "1"
            objects[f"{request.path}/{obj['metadata']['name']}"] = obj
            return web.json_response(obj, status=201)
        if request.method == "PATCH":
            await request.read()
            return web.json_response(objects.get(request.path, {}))
        return web.Response(status=405)

    app.router.add_route("*", "/{tail:(api|apis)/.+/namespaces/.+}", handle)


async def start(registry: Registry, tmp_path: Path, *, aggregated: bool = True,
                requests: list | None = None) -> tuple[web.AppRunner, Kubectl]:
    app = build_app(registry, aggregated=aggregated)
    if requests is not None:
        add_object_echo(app, requests)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, Kubectl(f"http://127.0.0.1:{port}", tmp_path)


@pytest.fixture
async def kubectl(tmp_path: Path):
    registry = Registry()
    registry.register(crontab_info())
    runner, kubectl = await start(registry, tmp_path)
    yield kubectl
    await runner.cleanup()


def rows(output: str) -> dict[str, list[str]]:
    """Table output keyed by its first column."""
    return {line.split()[0]: line.split() for line in output.splitlines()[1:] if line.strip()}


@pytest.mark.parametrize("aggregated", [True, False], ids=["aggregated", "legacy"])
async def test_api_resources(tmp_path: Path, aggregated: bool) -> None:
    registry = Registry()
    registry.register(crontab_info())
    runner, kubectl = await start(registry, tmp_path, aggregated=aggregated)
    try:
        table = rows(await kubectl("api-resources"))
    finally:
        await runner.cleanup()
    assert table["pods"] == ["pods", "po", "v1", "true", "Pod"]
    assert table["namespaces"] == ["namespaces", "ns", "v1", "false", "Namespace"]
    assert table["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert table["crontabs"] == ["crontabs", "ct", "stable.example.com/v1", "true", "CronTab"]
    assert table["customresourcedefinitions"][:3] == ["customresourcedefinitions", "crd,crds",
                                                      "apiextensions.k8s.io/v1"]
    assert "pods/status" not in table


async def test_api_resources_wide_for_one_group(kubectl: Kubectl) -> None:
    table = rows(await kubectl("api-resources", "--api-group=apps", "-o", "wide"))
    assert set(table) == {"controllerrevisions", "daemonsets", "deployments", "replicasets", "statefulsets"}
    assert table["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment",
                                    "create,delete,deletecollection,get,list,patch,update,watch", "all"]


async def test_api_resources_by_category(kubectl: Kubectl) -> None:
    names = set((await kubectl("api-resources", "--categories=all", "-o", "name")).split())
    assert {"pods", "services", "deployments.apps", "jobs.batch", "crontabs.stable.example.com"} <= names
    assert "configmaps" not in names


async def test_python_client_discovery(kubectl: Kubectl) -> None:
    from kubernetes import client, config, dynamic

    def discover() -> tuple:
        api = config.new_client_from_config(str(kubectl.kubeconfig))
        dyn = dynamic.DynamicClient(api)
        deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
        crontabs = dyn.resources.get(api_version="stable.example.com/v1", kind="CronTab")
        core = client.CoreV1Api(api).get_api_resources()
        return deployments, crontabs, core, client.VersionApi(api).get_code()

    deployments, crontabs, core, version = await asyncio.to_thread(discover)
    assert deployments.name == "deployments" and deployments.namespaced
    assert set(deployments.subresources) == {"scale", "status"}
    assert crontabs.short_names == ["ct"]
    eviction = next(r for r in core.resources if r.name == "pods/eviction")
    assert (eviction.kind, eviction.group, eviction.version, eviction.verbs) == ("Eviction", "policy", "v1",
                                                                                 ["create"])
    assert version.git_version == "v1.32.0"


async def test_explain_pod_containers(kubectl: Kubectl) -> None:
    out = await kubectl("explain", "pod.spec.containers")
    assert "KIND:       Pod" in out
    assert "VERSION:    v1" in out
    assert "FIELD: containers <[]Container>" in out
    assert "List of containers belonging to the pod." in out
    assert "image\t<string>" in out
    assert "name\t<string> -required-" in out
    assert "ports\t<[]ContainerPort>" in out
    assert "resources\t<ResourceRequirements>" in out


async def test_explain_deployment_strategy_recursive(kubectl: Kubectl) -> None:
    out = await kubectl("explain", "deployment.spec.strategy", "--recursive")
    assert "GROUP:      apps" in out
    assert "KIND:       Deployment" in out
    assert "FIELD: strategy <DeploymentStrategy>" in out
    assert "maxSurge\t<IntOrString>" in out
    assert "maxUnavailable\t<IntOrString>" in out
    assert "type\t<string>" in out


async def test_explain_custom_resource(kubectl: Kubectl) -> None:
    out = await kubectl("explain", "crontabs.spec")
    assert "GROUP:      stable.example.com" in out
    assert "KIND:       CronTab" in out
    assert "Desired schedule of the tab." in out
    assert "cronSpec\t<string> -required-" in out
    assert "When to run, in cron syntax." in out
    top = await kubectl("explain", "ct")
    assert "metadata\t<ObjectMeta>" in top
    assert "spec\t<Object>" in top


async def test_explain_openapi_v2(kubectl: Kubectl) -> None:
    out = await kubectl("explain", "pods.spec.containers.ports", "--output=plaintext-openapiv2")
    assert "RESOURCE: ports <[]Object>" in out
    assert "containerPort\t<integer> -required-" in out


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: IMAGE}]
"""
CRONTAB = """apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: tab, namespace: default}
spec: {cronSpec: "IMAGE"}
"""


@pytest.mark.parametrize(("manifest", "path", "patch_type"), [
    (DEPLOYMENT, "/apis/apps/v1/namespaces/default/deployments/web", "application/strategic-merge-patch+json"),
    (CRONTAB, "/apis/stable.example.com/v1/namespaces/default/crontabs/tab", "application/merge-patch+json"),
], ids=["builtin-strategic", "crd-merge"])
async def test_client_side_apply_picks_patch_type_from_openapi(tmp_path: Path, manifest: str, path: str,
                                                               patch_type: str) -> None:
    registry = Registry()
    registry.register(crontab_info())
    requests: list[tuple[str, str, str]] = []
    runner, kubectl = await start(registry, tmp_path, requests=requests)
    try:
        for image in ("one", "two"):
            (tmp_path / "manifest.yaml").write_text(manifest.replace("IMAGE", image))
            await kubectl("apply", "-f", str(tmp_path / "manifest.yaml"))
        await kubectl("apply", "--server-side", "-f", str(tmp_path / "manifest.yaml"))
    finally:
        await runner.cleanup()
    assert ("POST", path.rsplit("/", 1)[0], "application/json") in requests
    patches = [r for r in requests if r[0] == "PATCH"]
    assert patches[0] == ("PATCH", path, patch_type)
    assert ("PATCH", path, "application/apply-patch+yaml") in patches[1:]

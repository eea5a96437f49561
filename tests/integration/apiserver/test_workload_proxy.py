"""pods/proxy and services/proxy: the apiserver forwards HTTP to a pod's IP or to a ready Service endpoint."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import orjson
import pytest
import pytest_asyncio
from aiohttp import web

from tests.conftest import free_port
from tests.integration.apiserver.conftest import pod

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module")
async def backend():
    """An HTTP server on loopback that echoes what reached it, and a WebSocket echo at /ws."""
    seen: list[dict] = []

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append({"auth": request.headers.get("Authorization")})
        return web.json_response({"method": request.method, "path": request.path, "query": request.query_string,
                                  "body": body.decode()})

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            await sock.send_str("echo:" + msg.data)
        return sock

    app = web.Application()
    app.router.add_get("/ws", ws)
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port, seen
    finally:
        await runner.cleanup()


async def _running_pod(api, ns: str, name: str, port: int) -> None:
    manifest = pod(name, node="n1", labels={"app": "echo"})
    manifest["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": port}]
    await api.client.create(f"/api/v1/namespaces/{ns}/pods", manifest)
    await api.client.patch(f"/api/v1/namespaces/{ns}/pods/{name}/status",
                           {"status": {"phase": "Running", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}},
                           )


async def _service(api, ns: str, port: int, *, ready: bool = True) -> None:
    await api.client.create(f"/api/v1/namespaces/{ns}/services", {
        "metadata": {"name": "echo"},
        "spec": {"selector": {"app": "echo"}, "ports": [{"name": "web", "port": 80, "targetPort": port}]}})
    key = "addresses" if ready else "notReadyAddresses"
    await api.client.create(f"/api/v1/namespaces/{ns}/endpoints", {
        "metadata": {"name": "echo"},
        "subsets": [{key: [{"ip": "127.0.0.1"}], "ports": [{"name": "web", "port": port}]}]})


async def test_pod_proxy_forwards_path_query_and_body(api, ns, backend):
    port, seen = backend
    await _running_pod(api, ns, "echo", port)
    got = await api.raw("GET", f"/api/v1/namespaces/{ns}/pods/echo/proxy/some/path", params={"x": "1"})
    assert got.status == 200, got.body
    assert got.json() == {"method": "GET", "path": "/some/path", "query": "x=1", "body": ""}
    assert seen[-1]["auth"] is None  # the caller's credentials stay at the apiserver
    posted = await api.raw("POST", f"/api/v1/namespaces/{ns}/pods/http:echo:{port}/proxy/submit",
                           body=b"payload", content_type="text/plain")
    assert posted.json()["body"] == "payload" and posted.json()["method"] == "POST"


async def test_service_proxy_by_port_name_and_number(api, ns, backend):
    port, _ = backend
    await _service(api, ns, port)
    for ident in ("echo:web", "echo:80", "http:echo:web"):
        got = await api.raw("GET", f"/api/v1/namespaces/{ns}/services/{ident}/proxy/healthz")
        assert got.status == 200, (ident, got.body)
        assert got.json()["path"] == "/healthz"


async def test_service_proxy_websocket(api, ns, backend):
    port, _ = backend
    await _service(api, ns, port)
    session = api.client._get_session()  # noqa: SLF001
    url = api.config.server + f"/api/v1/namespaces/{ns}/services/echo:web/proxy/ws"
    async with session.ws_connect(url, headers=api.client._headers(None, "*/*")) as sock:  # noqa: SLF001
        await sock.send_str("hi")
        assert (await sock.receive(timeout=10)).data == "echo:hi"


async def test_service_without_ready_endpoints_is_unavailable(api, ns, backend):
    port, _ = backend
    await _service(api, ns, port, ready=False)
    got = await api.raw("GET", f"/api/v1/namespaces/{ns}/services/echo/proxy/")
    assert got.status == 503
    assert got.json()["reason"] == "ServiceUnavailable"
    assert got.json()["message"] == 'no endpoints available for service "echo"'
    missing = await api.raw("GET", f"/api/v1/namespaces/{ns}/services/echo:8443/proxy/")
    assert missing.status == 503 and missing.json()["message"] == 'no service port 8443 found for service "echo"'


async def test_pod_proxy_to_a_closed_port_is_unavailable(api, ns):
    await _running_pod(api, ns, "closed", free_port())
    got = await api.raw("GET", f"/api/v1/namespaces/{ns}/pods/closed/proxy/")
    assert got.status == 503
    assert got.json()["message"].startswith("error trying to reach pod closed:")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on the PATH")
async def test_kubectl_get_raw_and_kubectl_proxy(api, ns, backend, server):
    port, _ = backend
    await _service(api, ns, port)
    kubectl = ["kubectl", "--kubeconfig", server.kubeconfig_path]
    raw = await asyncio.to_thread(subprocess.run, kubectl + ["get", "--raw",
                                  f"/api/v1/namespaces/{ns}/services/echo:web/proxy/via-kubectl?a=b"],
                                  capture_output=True, text=True, timeout=30)
    assert raw.returncode == 0, raw.stderr
    assert orjson.loads(raw.stdout)["path"] == "/via-kubectl"
    local = free_port()
    proc = subprocess.Popen(kubectl + ["proxy", f"--port={local}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{local}/api/v1/namespaces/{ns}/services/echo:web/proxy/through-kubectl-proxy"

        def fetch() -> dict:
            for _ in range(100):
                try:
                    with urllib.request.urlopen(url, timeout=10) as r:
                        return orjson.loads(r.read())
                except OSError:
                    time.sleep(0.1)
            raise AssertionError("kubectl proxy never answered")

        assert (await asyncio.to_thread(fetch))["path"] == "/through-kubectl-proxy"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


async def test_proxy_needs_rbac_on_the_subresource(api, ns, backend):
    """Proxying is authorized as the services/proxy subresource: a viewer of Services can't use it."""
    port, _ = backend
    await _service(api, ns, port)
    await api.client.create(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", {
        "metadata": {"name": "viewer"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                                    "name": "view"},
        "subjects": [{"kind": "User", "name": "viewer", "apiGroup": "rbac.authorization.k8s.io"}]})
    session = api.client._get_session()  # noqa: SLF001
    headers = {**api.client._headers(None, "application/json"), "Impersonate-User": "viewer"}  # noqa: SLF001
    base = api.config.server + f"/api/v1/namespaces/{ns}/services/echo"
    async with session.get(base, headers=headers) as resp:
        assert resp.status == 200
    async with session.get(base + ":web/proxy/", headers=headers) as resp:
        assert resp.status == 403
        assert 'cannot get resource "services/proxy"' in (await resp.json())["message"]

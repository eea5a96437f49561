"""The kubelet's HTTPS server (10250): health, pods, container logs, exec/attach/port-forward, stats, metrics.

Clients authenticate with a certificate of the cluster CA or a bearer token (checked by a TokenReview against the
apiserver) and each request is authorized by a SubjectAccessReview for nodes/<subresource> (kybernetes.kubelet.server
.auth, upstream's Webhook mode): 401 without valid credentials, 403 when the apiserver says no. /healthz needs no
credentials.
Routes and query parameters are upstream's (pkg/kubelet/server/server.go).
"""

from __future__ import annotations

import inspect
import logging
import ssl
import time
from typing import Any, Awaitable, Callable, Protocol

import orjson
from aiohttp import web

from kybernetes.kubelet.runtime.interface import (
    LABEL_POD_UID,
    ContainerState,
    PodSandboxFilter,
    PodSandboxState,
    RuntimeServiceError,
)
from kybernetes.kubelet.server import portforward, streaming
from kybernetes.kubelet.server.auth import AuthOptions, KubeletAuth
from kybernetes.kubelet.server.logs import InvalidLogOptions, parse_log_options, stream_logs
from kybernetes.kubelet.server.metrics import CONTENT_TYPE, ServerMetrics
from kybernetes.kubelet.server.stats import SummaryProvider

log = logging.getLogger(__name__)

LONG_RUNNING = ("exec", "attach", "portForward")


class KubeletHost(Protocol):
    """What the server needs from the kubelet. Methods may be plain or async.

    Optional: `node_name` (str), `pods()` (the node's pods, for /pods), `container_id_async` (preferred over
    container_id), `sandbox_id(pod_uid)` (else the runtime's READY sandbox labelled with the pod's uid).
    """

    runtime: Any

    def pod_for(self, namespace: str, name: str) -> dict | None | Awaitable[dict | None]: ...

    def container_id(self, pod_uid: str, container_name: str,
                     previous: bool = False) -> str | None | Awaitable[str | None]: ...


async def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    result = fn(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


def status_response(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    return web.Response(status=code, body=orjson.dumps(body), content_type="application/json")


class HTTPStatus(Exception):
    """An expected failure answered as a Status."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def bad_request(message: str) -> HTTPStatus:
    return HTTPStatus(400, "BadRequest", message)


def _flag(query: Any, *names: str) -> bool:
    return any((query.get(n) or "").lower() in ("1", "true") for n in names)


class KubeletServer:
    """Handlers over one kubelet."""

    def __init__(self, kubelet: KubeletHost, auth: KubeletAuth | None = None) -> None:
        self.kubelet = kubelet
        self.metrics = ServerMetrics()
        self.summary = SummaryProvider(getattr(kubelet, "node_name", "") or "")
        self.auth = auth or KubeletAuth(node_name=getattr(kubelet, "node_name", "") or "",
                                        client=getattr(kubelet, "client", None),
                                        options=AuthOptions.from_kubelet_options(getattr(kubelet, "options", None)))

    # --------------------------------------------------------------------------------------- plumbing

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/healthz", self.healthz)
        r.add_get("/pods", self.pods)
        r.add_get("/containerLogs/{namespace}/{pod}/{container}", self.container_logs)
        for verb in ("exec", "attach"):
            handler = self.exec if verb == "exec" else self.attach
            r.add_route("GET", f"/{verb}/{{namespace}}/{{pod}}/{{container}}", handler)
            r.add_route("POST", f"/{verb}/{{namespace}}/{{pod}}/{{container}}", handler)
            r.add_route("GET", f"/{verb}/{{namespace}}/{{pod}}/{{uid}}/{{container}}", handler)
            r.add_route("POST", f"/{verb}/{{namespace}}/{{pod}}/{{uid}}/{{container}}", handler)
        r.add_route("GET", "/portForward/{namespace}/{pod}", self.port_forward)
        r.add_route("POST", "/portForward/{namespace}/{pod}", self.port_forward)
        r.add_route("GET", "/portForward/{namespace}/{pod}/{uid}", self.port_forward)
        r.add_route("POST", "/portForward/{namespace}/{pod}/{uid}", self.port_forward)
        r.add_post("/run/{namespace}/{pod}/{container}", self.run)
        r.add_get("/stats/summary", self.stats_summary)
        r.add_post("/stats/summary", self.stats_summary)
        r.add_get("/metrics", self.metrics_handler)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        start = time.perf_counter()
        top = request.path.strip("/").split("/", 1)[0]
        try:
            if request.path != "/healthz":
                user = await self.auth.authenticate(request.transport, request.headers.get("Authorization", ""))
                if user is None:
                    return web.Response(status=401, text="Unauthorized")
                code, message = await self.auth.authorize(user, request.method, request.path)
                if code:
                    return web.Response(status=code, text=message)
            return await handler(request)
        except HTTPStatus as e:
            return status_response(e.code, e.reason, e.message)
        except RuntimeServiceError as e:
            return status_response(500, "InternalError", str(e))
        finally:
            long_running = top in LONG_RUNNING or (top == "containerLogs" and _flag(request.query, "follow"))
            self.metrics.observe(request.method, top, long_running, time.perf_counter() - start)

    # --------------------------------------------------------------------------------------- lookups

    async def _pod(self, namespace: str, name: str) -> dict:
        pod = await _call(self.kubelet.pod_for, namespace, name)
        if pod is None:
            raise HTTPStatus(404, "NotFound", f'pods "{name}" not found')
        return pod

    @staticmethod
    def _check_container(pod: dict, container: str) -> None:
        spec = pod.get("spec") or {}
        names = {c.get("name") for key in ("containers", "initContainers", "ephemeralContainers")
                 for c in spec.get(key) or []}
        if container not in names:
            raise bad_request(f"container {container} is not valid for pod {pod['metadata']['name']}")

    @staticmethod
    def _waiting_reason(pod: dict, container: str) -> str:
        status = pod.get("status") or {}
        for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
            for cs in status.get(key) or []:
                if cs.get("name") == container:
                    return ((cs.get("state") or {}).get("waiting") or {}).get("reason") or ""
        return "ContainerCreating"

    async def _container(self, request: web.Request, *, previous: bool = False) -> tuple[dict, str, str]:
        """(pod, container name, container id) for the request's path; Status errors as upstream words them."""
        m = request.match_info
        pod = await self._pod(m["namespace"], m["pod"])
        name = m["container"]
        self._check_container(pod, name)
        lookup = getattr(self.kubelet, "container_id_async", None) or self.kubelet.container_id
        cid = await _call(lookup, pod["metadata"]["uid"], name, previous)
        pod_name = pod["metadata"]["name"]
        if not cid:
            if previous:
                raise bad_request(f'previous terminated container "{name}" in pod "{pod_name}" not found')
            reason = self._waiting_reason(pod, name) or "ContainerCreating"
            raise bad_request(f'container "{name}" in pod "{pod_name}" is waiting to start: {reason}')
        return pod, name, cid

    async def _running_container(self, request: web.Request) -> tuple[dict, str, str]:
        pod, name, cid = await self._container(request)
        status = await self.kubelet.runtime.container_status(cid)
        if status.state != ContainerState.CONTAINER_RUNNING:
            raise bad_request(f'container "{name}" in pod "{pod["metadata"]["name"]}" is not running')
        return pod, name, cid

    # --------------------------------------------------------------------------------------- handlers

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def pods(self, request: web.Request) -> web.Response:
        lister = getattr(self.kubelet, "pods", None)
        items = list(await _call(lister)) if callable(lister) else []
        return web.json_response({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items},
                                 dumps=lambda o: orjson.dumps(o).decode())

    async def container_logs(self, request: web.Request) -> web.StreamResponse:
        try:
            opts = parse_log_options(request.query)
        except InvalidLogOptions as e:
            raise bad_request(str(e)) from None
        _, _, cid = await self._container(request, previous=opts.previous)
        runtime = self.kubelet.runtime
        status = await runtime.container_status(cid)

        async def running() -> bool:
            try:
                return (await runtime.container_status(cid)).state == ContainerState.CONTAINER_RUNNING
            except RuntimeServiceError:
                return False

        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        try:
            async for chunk in stream_logs(status.log_path, opts, running):
                await resp.write(chunk)
        except (ConnectionError, RuntimeError):
            return resp
        await resp.write_eof()
        return resp

    @staticmethod
    def _require_websocket(request: web.Request, what: str) -> None:
        if not streaming.is_websocket(request):
            raise bad_request(f"{what} needs a WebSocket upgrade ({streaming.V5}); SPDY is not served for {what}")
        if not set(streaming.requested_protocols(request)) & set(streaming.CHANNEL_PROTOCOLS):
            raise bad_request(f"no supported streaming protocol requested; supported: {', '.join(streaming.CHANNEL_PROTOCOLS)}")

    async def exec(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        command = q.getall("command", [])
        if not command:
            raise bad_request("you must specify at least one command for the container")
        stdin, stdout = _flag(q, "input", "stdin"), _flag(q, "output", "stdout")
        tty = _flag(q, "tty")
        stderr = _flag(q, "error", "stderr") and not tty
        if not (stdin or stdout or stderr):
            raise bad_request("you must specify at least 1 of stdin, stdout, stderr")
        _, _, cid = await self._running_container(request)
        self._require_websocket(request, "exec")
        runtime = self.kubelet.runtime
        sized = tty and "terminal_size" in inspect.signature(runtime.exec).parameters

        async def open_session(size: tuple[int, int] | None) -> Any:
            if sized and size:  # a runtime that can size the terminal before the process starts
                return await runtime.exec(cid, list(command), tty=tty, stdin=stdin, terminal_size=size)
            return await runtime.exec(cid, list(command), tty=tty, stdin=stdin)

        return await streaming.serve_remotecommand(
            request, open_session,
            stdin=stdin, stdout=stdout, stderr=stderr, tty=tty, command=list(command))

    async def attach(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        stdin, stdout = _flag(q, "input", "stdin"), _flag(q, "output", "stdout")
        tty = _flag(q, "tty")
        stderr = _flag(q, "error", "stderr") and not tty
        if not (stdin or stdout or stderr):
            raise bad_request("you must specify at least 1 of stdin, stdout, stderr")
        _, _, cid = await self._running_container(request)
        self._require_websocket(request, "attach")
        runtime = self.kubelet.runtime
        return await streaming.serve_remotecommand(
            request, lambda size: runtime.attach(cid, stdin=stdin, tty=tty),
            stdin=stdin, stdout=stdout, stderr=stderr, tty=tty, command=None)

    async def _sandbox_id(self, pod: dict) -> str:
        uid = pod["metadata"]["uid"]
        finder = getattr(self.kubelet, "sandbox_id", None)
        if callable(finder):
            sid = await _call(finder, uid)
        else:
            boxes = await self.kubelet.runtime.list_pod_sandbox(PodSandboxFilter(
                state=PodSandboxState.SANDBOX_READY, label_selector={LABEL_POD_UID: uid}))
            sid = max(boxes, key=lambda b: b.created_at).id if boxes else None
        if not sid:
            raise bad_request(f'pod "{pod["metadata"]["name"]}" has no running sandbox')
        return sid

    async def port_forward(self, request: web.Request) -> web.StreamResponse:
        m = request.match_info
        pod = await self._pod(m["namespace"], m["pod"])
        sid = await self._sandbox_id(pod)
        runtime = self.kubelet.runtime
        describe = f"{pod['metadata']['name']}_{pod['metadata'].get('namespace', '')}, uid {pod['metadata']['uid']}"

        async def dial(port: int):  # type: ignore[no-untyped-def]
            return await runtime.port_forward(sid, port)

        if streaming.is_websocket(request):
            if portforward.WEBSOCKET_PROTOCOL not in streaming.requested_protocols(request):
                raise bad_request(f"port-forward over WebSocket needs the {portforward.WEBSOCKET_PROTOCOL} protocol")
            return await streaming.serve_portforward_websocket(request, dial, describe)
        if request.headers.get("Upgrade", "").lower().startswith("spdy/3.1"):
            if portforward.PROTOCOL_V1 not in streaming.spdy_protocols(request):
                raise bad_request(f"port-forward needs X-Stream-Protocol-Version {portforward.PROTOCOL_V1}")
            return await streaming.serve_portforward_spdy(request, dial, describe)
        raise bad_request("port-forward needs an upgrade to WebSocket or SPDY/3.1")

    async def run(self, request: web.Request) -> web.Response:
        form = await request.post() if request.can_read_body else {}
        cmd = (request.query.get("cmd") or str(form.get("cmd") or "")).split()
        if not cmd:
            raise bad_request("you must specify a command (cmd)")
        _, _, cid = await self._running_container(request)
        result = await self.kubelet.runtime.exec_sync(cid, cmd)
        return web.Response(body=result.stdout + result.stderr, content_type="text/plain")

    async def stats_summary(self, request: web.Request) -> web.Response:
        summary = await self.summary.summary(self.kubelet.runtime)
        return web.Response(body=orjson.dumps(summary), content_type="application/json")

    async def metrics_handler(self, request: web.Request) -> web.Response:
        try:
            containers = await self.kubelet.runtime.list_containers()
            running = [c for c in containers if c.state == ContainerState.CONTAINER_RUNNING]
            self.metrics.running_pods.set(len({c.labels.get(LABEL_POD_UID) for c in running}))
            for state in ContainerState:
                self.metrics.running_containers.labels(state.value.removeprefix("CONTAINER_").lower()).set(
                    sum(1 for c in containers if c.state == state))
        except RuntimeServiceError:
            pass
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


def server_ssl_context(cert_file: str, key_file: str, client_ca_file: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    ctx.load_verify_locations(client_ca_file)
    ctx.verify_mode = ssl.CERT_OPTIONAL  # /healthz is open; the rest checks for a verified certificate
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def start_server(kubelet: KubeletHost, port: int, *, cert_file: str, key_file: str, client_ca_file: str,
                       host: str = "0.0.0.0", auth: KubeletAuth | None = None) -> web.AppRunner:
    """Serve the kubelet API over HTTPS on host:port (0: any free port; see runner.addresses). `auth` defaults
    to one built from the kubelet's client, node_name and options (KubeletOptions' authentication fields)."""
    server = KubeletServer(kubelet, auth)
    runner = web.AppRunner(server.app(), handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=server_ssl_context(cert_file, key_file, client_ca_file),
                       reuse_address=True)
    await site.start()
    log.info("kubelet server listening on https://%s:%d", host, port)
    return runner

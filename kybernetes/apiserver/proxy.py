"""Proxying pods/log, exec, attach, portforward and nodes/proxy to kubelets; pods/proxy and services/proxy.

The pod's node comes from spec.nodeName; the kubelet's address from the Node's status.addresses (InternalIP
first) and its port from status.daemonEndpoints.kubeletEndpoint.Port (10250 by default). The apiserver
authenticates with its kubelet client certificate (CN kube-apiserver-kubelet-client, which kubelets authorize
through the system:kubelet-api-admin ClusterRole) and
verifies the kubelet's serving certificate against the cluster CA (not its host name, as nodes are reached by
address). Logs and plain node proxy requests are streamed chunk by chunk; upgrade requests (WebSocket, SPDY)
are forwarded with their headers and, once the kubelet answers 101, the two connections are spliced byte for
byte until either side closes, as upstream's UpgradeAwareHandler does. pods/proxy and services/proxy go the
same way to the pod's IP or a ready endpoint of the Service (kybernetes.apiserver.locations), over plain HTTP
or unverified HTTPS as upstream, without the caller's credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson
from aiohttp import web

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.locations import pod_location, service_location, split_scheme_name_port
from kybernetes.apiserver.requestinfo import RequestInfo
from kybernetes.kubelet.server.hijack import hijack

if TYPE_CHECKING:
    from kybernetes.apiserver.server import APIServer

DEFAULT_KUBELET_PORT = 10250
ADDRESS_PREFERENCE = ("InternalIP", "Hostname", "InternalDNS", "ExternalIP", "ExternalDNS")
MAX_HEAD = 64 * 1024
MAX_ERROR_BODY = 64 * 1024
CHUNK = 64 * 1024
# Request headers not passed on to the kubelet: hop-by-hop ones we set ourselves and the caller's credentials.
DROPPED_REQUEST_HEADERS = {"host", "authorization", "proxy-authorization", "proxy-connection", "keep-alive",
                           "transfer-encoding", "te", "content-length"}
DROPPED_RESPONSE_HEADERS = {"content-length", "transfer-encoding", "connection", "keep-alive", "date", "server"}
LOG_PARAMS = ("follow", "previous", "timestamps", "tailLines", "sinceSeconds", "sinceTime", "limitBytes")
STREAM_PARAMS = {"stdin": "input", "stdout": "output", "stderr": "error", "tty": "tty"}


def _dropped_header(name: str) -> bool:
    n = name.lower()
    return n in DROPPED_REQUEST_HEADERS or n.startswith(("impersonate-", "x-remote-"))


def is_upgrade(request: web.BaseRequest) -> bool:
    connection = request.headers.get("Connection", "").lower()
    return "upgrade" in [t.strip() for t in connection.split(",")] and bool(request.headers.get("Upgrade"))


def node_address(node: dict[str, Any]) -> tuple[str, int]:
    """(address, kubelet port) of a Node, or a 503-ish Status when it has no usable address."""
    status = node.get("status") or {}
    addresses = status.get("addresses") or []
    for kind in ADDRESS_PREFERENCE:
        for a in addresses:
            if a.get("type") == kind and a.get("address"):
                port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
                return a["address"], int(port or DEFAULT_KUBELET_PORT)
    raise errors.StatusError(503, "ServiceUnavailable",
                             f"no preferred addresses found; known addresses: {[a.get('address') for a in addresses]}")


def container_names(pod: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    spec = pod.get("spec") or {}
    return tuple([c.get("name", "") for c in spec.get(k) or []]  # type: ignore[return-value]
                 for k in ("containers", "initContainers", "ephemeralContainers"))


def resolve_container(pod: dict[str, Any], name: str) -> str:
    """The container a request is for, with upstream's errors for a missing or unknown name."""
    containers, init, ephemeral = container_names(pod)
    pod_name = pod["metadata"]["name"]
    if not name:
        if len(containers) == 1:
            return containers[0]
        message = f"a container name must be specified for pod {pod_name}, choose one of: [{' '.join(containers)}]"
        if init:
            message += f" or one of the init containers: [{' '.join(init)}]"
        if ephemeral:
            message += f" or one of the ephemeral containers: [{' '.join(ephemeral)}]"
        raise errors.bad_request(message)
    if name not in containers + init + ephemeral:
        raise errors.bad_request(f"container {name} is not valid for pod {pod_name}")
    return name


def _error_from_body(code: int, body: bytes) -> errors.StatusError:
    """A kubelet's non-success answer as a Status: its own Status when it sent one, else its text."""
    message = body.decode(errors="replace").strip()
    reason = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}.get(code, "InternalError")
    with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
        doc = orjson.loads(body)
        if isinstance(doc, dict) and doc.get("kind") == "Status":
            message = doc.get("message") or message
            reason = doc.get("reason") or reason
    return errors.StatusError(code, reason, message or f"the kubelet answered {code}")


class KubeletProxy:
    """The apiserver's client side towards kubelets."""

    def __init__(self, server: APIServer) -> None:
        self.server = server
        self._ssl: ssl.SSLContext | None = None

    # --------------------------------------------------------------------------------- credentials

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            from kybernetes.pki.bootstrap import PKIPaths
            from kybernetes.pki.kubelet import ensure_apiserver_kubelet_client

            data_dir = self.server.config.data_dir
            ca_file = PKIPaths.under(data_dir).ca_crt
            if not os.path.exists(ca_file):
                ca_file = self.server.config.client_ca_file
            try:
                crt, key = ensure_apiserver_kubelet_client(data_dir)
            except (OSError, ValueError) as e:
                raise errors.StatusError(503, "ServiceUnavailable", f"no kubelet client credentials: {e}") from e
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file or None)
            ctx.check_hostname = False
            ctx.load_cert_chain(crt, key)
            ctx.set_alpn_protocols(["http/1.1"])
            self._ssl = ctx
        return self._ssl

    # --------------------------------------------------------------------------------- entry point

    async def serve(self, request: web.Request, ri: RequestInfo, info: ResourceInfo) -> web.StreamResponse:
        """Handle pods/{log,exec,attach,portforward} and nodes/proxy."""
        if (info.group, info.plural) == ("", "nodes"):
            return await self._node_proxy(request, ri, info)
        if ri.subresource == "proxy":
            return await self._workload_proxy(request, ri, info)
        pod = await self.server.rest.get(info, ri.namespace, ri.name)
        sub, q = ri.subresource, request.query
        node_name = (pod.get("spec") or {}).get("nodeName") or ""
        ns, name = quote(ri.namespace, safe=""), quote(ri.name, safe="")
        if sub == "log":
            container = resolve_container(pod, q.get("container", ""))
            if not node_name:
                return web.Response(body=b"", content_type="text/plain")  # upstream: no host, no logs
            params = [(k, q[k]) for k in LOG_PARAMS if k in q]
            path = f"/containerLogs/{ns}/{name}/{quote(container, safe='')}"
            return await self._stream(request, await self._node_target(node_name), path, params, is_log=True)
        if not node_name:
            raise errors.bad_request(f"pod {ri.name} does not have a host assigned")
        target = await self._node_target(node_name)
        if sub in ("exec", "attach"):
            container = resolve_container(pod, q.get("container", ""))
            params = [(STREAM_PARAMS[k], "1") for k in STREAM_PARAMS if q.get(k, "").lower() in ("1", "true")]
            if sub == "exec":
                params = [("command", c) for c in q.getall("command", [])] + params
            path = f"/{sub}/{ns}/{name}/{quote(container, safe='')}"
        elif sub == "portforward":
            path, params = f"/portForward/{ns}/{name}", [("port", p) for p in q.getall("ports", [])]
        else:
            raise errors.method_not_allowed()
        if not is_upgrade(request):
            raise errors.bad_request(f"{sub} needs an upgrade to a streaming protocol (WebSocket or SPDY)")
        return await self._upgrade(request, target, path, params)

    async def _node_target(self, node_name: str) -> tuple[str, int]:
        nodes = self.server.registry.get("", "v1", "nodes")
        node = await self.server.rest.get(nodes, "", node_name)
        return node_address(node)

    async def _node_proxy(self, request: web.Request, ri: RequestInfo, info: ResourceInfo) -> web.StreamResponse:
        name, _, port = ri.name.partition(":")
        node = await self.server.rest.get(info, "", name)
        host, kubelet_port = node_address(node)
        target = (host, int(port) if port.isdigit() else kubelet_port)
        return await self._forward(request, ri, target, tls=True, backend="backend")

    async def _workload_proxy(self, request: web.Request, ri: RequestInfo,
                              info: ResourceInfo) -> web.StreamResponse:
        """pods/proxy and services/proxy: HTTP(S) to the pod's IP, or to a random ready endpoint of the Service."""
        scheme, name, port = split_scheme_name_port(ri.name)
        obj = await self.server.rest.get(info, ri.namespace, name)
        if info.plural == "pods":
            location = pod_location(obj, scheme, port)
        else:
            endpoints_info = self.server.registry.get("", "v1", "endpoints")
            try:
                endpoints = await self.server.rest.get(endpoints_info, ri.namespace, name)
            except errors.StatusError as e:
                if e.code != 404:
                    raise
                endpoints = None
            location = service_location(obj, endpoints, scheme, port)
        tls: ssl.SSLContext | bool = False
        if location.scheme == "https":  # upstream does not verify pods' certificates either
            tls = ssl.create_default_context()
            tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
        backend = f"{'pod' if info.plural == 'pods' else 'service'} {name}"
        return await self._forward(request, ri, (location.host, location.port), tls=tls, backend=backend)

    async def _forward(self, request: web.Request, ri: RequestInfo, target: tuple[str, int], *,
                       tls: ssl.SSLContext | bool, backend: str) -> web.StreamResponse:
        """Send the part of the path after .../{name}/proxy, with the query, to the target."""
        marker = f"/{ri.resource}/{ri.name}/proxy"
        raw = request.rel_url.raw_path
        rest = raw.split(marker, 1)[1] if marker in raw else ""
        path = rest if rest.startswith("/") else "/" + rest
        params = list(request.query.items())
        if is_upgrade(request):
            return await self._upgrade(request, target, path, params, tls=tls, backend=backend)
        return await self._stream(request, target, path, params, is_log=False, tls=tls, backend=backend)

    # --------------------------------------------------------------------------------- plain requests

    async def _stream(self, request: web.Request, target: tuple[str, int], path: str,
                      params: list[tuple[str, str]], *, is_log: bool, tls: ssl.SSLContext | None | bool = True,
                      backend: str = "backend") -> web.StreamResponse:
        host, port = target
        ctx = self.ssl_context() if tls is True else (tls or None)
        scheme = "https" if ctx is not None else "http"
        url = f"{scheme}://{_host(host)}:{port}{path}" + (f"?{urlencode(params)}" if params else "")
        headers = {k: v for k, v in request.headers.items() if not _dropped_header(k) and k.lower() not in
                   ("connection", "upgrade", "accept-encoding")}
        body = await request.read() if request.can_read_body else None
        timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_read=None)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx if ctx is not None else False),
                                         timeout=timeout, auto_decompress=False) as session:
            try:
                upstream = await session.request(request.method, aiohttp.client.URL(url, encoded=True),
                                                 headers=headers, data=body, allow_redirects=False)
            except (aiohttp.ClientError, OSError) as e:
                raise _dial_error(backend, e) from e
            async with upstream:
                if is_log and upstream.status != 200:
                    raise _error_from_body(upstream.status, await upstream.content.read(MAX_ERROR_BODY))
                resp = web.StreamResponse(status=upstream.status, reason=upstream.reason)
                for k, v in upstream.headers.items():
                    if k.lower() not in DROPPED_RESPONSE_HEADERS:
                        resp.headers.add(k, v)
                await resp.prepare(request)
                try:
                    async for chunk in upstream.content.iter_any():
                        await resp.write(chunk)
                except (ConnectionError, aiohttp.ClientPayloadError):
                    return resp
                await resp.write_eof()
                return resp

    # --------------------------------------------------------------------------------- upgrades

    async def _upgrade(self, request: web.Request, target: tuple[str, int], path: str,
                       params: list[tuple[str, str]], *, tls: ssl.SSLContext | None | bool = True,
                       backend: str = "backend") -> web.StreamResponse:
        host, port = target
        ctx = self.ssl_context() if tls is True else (tls or None)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                host, port, ssl=ctx, server_hostname=host if ctx is not None else None, limit=MAX_HEAD), timeout=10)
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as e:
            raise _dial_error(backend, e) from e
        try:
            target_path = path + (f"?{urlencode(params)}" if params else "")
            head = [f"{request.method} {target_path} HTTP/1.1", f"Host: {_host(host)}:{port}"]
            head += [f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in request.raw_headers
                     if not _dropped_header(k.decode("latin-1"))]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            await writer.drain()
            status, reason, headers = await _read_response_head(reader)
        except Exception:
            writer.close()
            raise
        if status != 101:
            body = await _read_body(reader, headers)
            writer.close()
            resp = web.Response(status=status, reason=reason, body=body)
            for k, v in headers:
                if k.lower() not in DROPPED_RESPONSE_HEADERS:
                    resp.headers.add(k, v)
            return resp
        resp = web.StreamResponse(status=101, reason=reason or "Switching Protocols")
        for k, v in headers:
            if k.lower() not in ("date", "server", "content-length", "transfer-encoding"):
                resp.headers.add(k, v)
        client = await hijack(request, resp)
        await splice(client, reader, writer)
        return resp


async def splice(client: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes both ways between the hijacked client connection and the kubelet until either side ends."""

    async def down() -> None:
        while data := await reader.read(CHUNK):
            client.write(data)
            await client.drain()

    async def up() -> None:
        while data := await client.reader.read(CHUNK):
            writer.write(data)
            await writer.drain()

    tasks = [asyncio.ensure_future(down()), asyncio.ensure_future(up())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        client.close()
        writer.close()


def _dial_error(backend: str, e: BaseException) -> errors.StatusError:
    """Upstream's answers when the far end can't be reached: 500 for kubelets, 503 for pods and services."""
    if backend == "backend":
        return errors.StatusError(500, "InternalError", f"error dialing backend: {e}")
    return errors.StatusError(503, "ServiceUnavailable", f"error trying to reach {backend}: {e}")


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _read_response_head(reader: asyncio.StreamReader) -> tuple[int, str, list[tuple[str, str]]]:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
        raise errors.StatusError(500, "InternalError", f"error reading the kubelet's response: {e}") from e
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise errors.StatusError(500, "InternalError", f"malformed response from the kubelet: {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]]) -> bytes:
    length = next((v for k, v in headers if k.lower() == "content-length"), None)
    try:
        if length is not None and length.isdigit():
            return await asyncio.wait_for(reader.readexactly(min(int(length), MAX_ERROR_BODY)), 10)
        return await asyncio.wait_for(reader.read(MAX_ERROR_BODY), 10)
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
        return b""

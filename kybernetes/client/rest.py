"""Async REST client for the apiserver on aiohttp: verbs, watch streams, and `ApiError` for non-2xx answers."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from kybernetes.client.config import ClientConfig
from kybernetes.client.loadbalancer import (DEFAULT_CONNECT_TIMEOUT, DISCONNECT_ERRORS, IDEMPOTENT_METHODS,
                                            LoadBalancer, servers_from_endpoints)

log = logging.getLogger(__name__)

PATCH_CONTENT_TYPES = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}

MAX_IN_FLIGHT = 16  # requests (not watches) of one client at once; more wait for a slot
DEFAULT_TIMEOUT = 60.0


class ApiError(Exception):
    """A non-2xx answer from the apiserver; `status` is the metav1.Status body (synthesised if absent)."""

    def __init__(self, code: int, status: dict[str, Any]) -> None:
        self.code = code
        self.status = status
        self.reason: str = status.get("reason", "") or ""
        self.message: str = status.get("message", "") or ""
        super().__init__(f"{code} {self.reason}: {self.message}")

    @classmethod
    def from_body(cls, code: int, body: bytes) -> ApiError:
        try:
            status = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            status = None
        if not isinstance(status, dict) or status.get("kind") != "Status":
            status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": body.decode(errors="replace").strip() or f"HTTP {code}",
                      "reason": _REASONS.get(code, "Unknown"), "code": code}
        return cls(int(status.get("code") or code), status)

    @property
    def not_found(self) -> bool:
        return self.code == 404

    @property
    def conflict(self) -> bool:
        return self.code == 409

    @property
    def gone(self) -> bool:
        """410: the requested resourceVersion has been compacted ('Expired' or 'Gone')."""
        return self.code == 410


_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
            406: "NotAcceptable", 409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType",
            422: "Invalid", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
            504: "Timeout"}


def resource_path(group: str, version: str, plural: str, namespace: str | None = None, name: str | None = None,
                  subresource: str | None = None) -> str:
    """'/api/v1/namespaces/ns/pods/name/status' and friends; group '' is the core group."""
    parts = ["/api", version] if group in ("", "core") else ["/apis", group, version]
    if namespace:
        parts += ["namespaces", quote(namespace, safe="")]
    parts.append(plural)
    if name:
        parts.append(quote(name, safe=":@"))
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


def _params(params: dict[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (params or {}).items():
        if v is None:
            continue
        out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


KUBERNETES_ENDPOINTS = "/api/v1/namespaces/default/endpoints"


class RESTClient:
    """One connection pool to the apiserver (or, with several servers or discovery in the config, to the one a
    LoadBalancer picks). Use as `async with RESTClient(config) as c:` or call close()."""

    def __init__(self, config: ClientConfig, *, timeout: float = DEFAULT_TIMEOUT,
                 max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.config = config
        self.timeout = timeout
        self.max_in_flight = max_in_flight
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self._ssl = config.ssl_context()
        self._session: aiohttp.ClientSession | None = None
        # None for one server without discovery: requests go straight to config.server, as they always did
        self._lb = LoadBalancer(config.all_servers(), refresh_interval=config.discovery_interval) \
            if config.load_balanced else None
        self._discovery: asyncio.Task[None] | None = None
        self._discover_by_list = False

    async def __aenter__(self) -> RESTClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._discovery is not None:
            self._discovery.cancel()
            await asyncio.gather(self._discovery, return_exceptions=True)
            self._discovery = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else False, limit=0)
            self._session = aiohttp.ClientSession(connector=connector, json_serialize=lambda o: orjson.dumps(o).decode())
        return self._session

    def _in_flight(self) -> asyncio.Semaphore:
        """This client's slots for requests (watches aside): a burst of calls reuses a few kept-alive connections
        instead of opening (and TLS-handshaking) one per call, as HTTP/2 multiplexing does for client-go."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.max_in_flight))
        return self._slots[1]

    def _headers(self, content_type: str | None = None, accept: str = "application/json") -> dict[str, str]:
        h = {"Accept": accept, "User-Agent": self.config.user_agent}
        token = self.config.bearer_token()
        if token:
            h["Authorization"] = f"Bearer {token}"
        elif self.config.username is not None:
            cred = f"{self.config.username}:{self.config.password or ''}".encode()
            h["Authorization"] = "Basic " + base64.b64encode(cred).decode()
        if content_type:
            h["Content-Type"] = content_type
        return h

    def _request_kwargs(self) -> dict[str, Any]:
        return {"server_hostname": self.config.tls_server_name} if self.config.tls_server_name else {}

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      body: Any = None, content_type: str = "application/json") -> dict[str, Any]:
        """Send one request; return the decoded JSON body, raise ApiError for non-2xx answers."""
        if body is None or isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = orjson.dumps(body)
        source = self.config.token_source
        for attempt in (1, 2):
            if source is not None:
                await source.ensure_fresh()
            async with self._in_flight():
                status, raw = await self._send(method, path, params=_params(params), data=data,
                                               headers=self._headers(content_type if data is not None else None))
            if status == 401 and source is not None and attempt == 1:
                source.invalidate()  # a rejected token (its service account recreated, say): fetch one, retry once
                continue
            break
        if status >= 300:
            raise ApiError.from_body(status, raw)
        if not raw:
            return {}
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return {"raw": raw.decode(errors="replace")}

    async def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.request("GET", path, params=params)

    async def list(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A list (kind ...List) with metadata.resourceVersion; pass limit/continue in params to page."""
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.request("POST", path, params=params, body=body)

    async def update(self, path: str, body: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.request("PUT", path, params=params, body=body)

    async def patch(self, path: str, body: Any, patch_type: str = "merge",
                    params: dict[str, Any] | None = None) -> dict[str, Any]:
        """patch_type: 'json', 'merge', 'strategic', 'apply' (needs params fieldManager) or a content type."""
        content_type = PATCH_CONTENT_TYPES.get(patch_type, patch_type)
        if content_type == PATCH_CONTENT_TYPES["apply"] and not isinstance(body, (bytes, str)):
            body = orjson.dumps(body)  # JSON is valid YAML
        return await self.request("PATCH", path, params=params, body=body, content_type=content_type)

    async def delete(self, path: str, params: dict[str, Any] | None = None,
                     body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Delete; `body` may be DeleteOptions (propagationPolicy, preconditions, gracePeriodSeconds)."""
        return await self.request("DELETE", path, params=params, body=body)

    async def watch(self, path: str, params: dict[str, Any] | None = None) -> AsyncIterator[dict[str, Any]]:
        """Yield watch events {"type", "object"} until the server closes the stream.

        ERROR events (e.g. 410 Expired) are yielded like any other; a non-2xx answer raises ApiError.
        """
        q = dict(params or {})
        q["watch"] = "true"
        timeout_s = q.get("timeoutSeconds")
        read_timeout = float(timeout_s) + 30.0 if timeout_s is not None else None
        source = self.config.token_source
        if source is not None:
            await source.ensure_fresh()
        server, resp = await self._open_watch(path, params=_params(q), headers=self._headers(),
                                              timeout=aiohttp.ClientTimeout(total=None, connect=self.timeout,
                                                                            sock_read=read_timeout))
        async with resp:
            if resp.status >= 300:
                if resp.status == 401 and source is not None:
                    source.invalidate()
                raise ApiError.from_body(resp.status, await resp.read())
            buf = bytearray()
            async for chunk in self._chunks(server, resp):
                start = 0
                buf += chunk
                while (nl := buf.find(b"\n", start)) >= 0:
                    line = bytes(buf[start:nl]).strip()
                    start = nl + 1
                    if line:
                        yield orjson.loads(line)
                del buf[:start]
            if bytes(buf).strip():
                yield orjson.loads(bytes(buf))

    # --- the connection layer: which apiserver a request goes to ------------------------------------------------
    async def _send(self, method: str, path: str, **kwargs: Any) -> tuple[int, bytes]:
        """One request/response exchange: (status, body), failing over between apiservers when balanced."""
        if self._lb is None:
            return await self._exchange(self.config.server, method, path, kwargs)
        self._start_discovery()
        return await self._lb.call(lambda server: self._exchange(server, method, path, kwargs),
                                   idempotent=method in IDEMPOTENT_METHODS)

    async def _exchange(self, server: str, method: str, path: str, kwargs: dict[str, Any]) -> tuple[int, bytes]:
        timeout = aiohttp.ClientTimeout(total=self.timeout) if self._lb is None else \
            aiohttp.ClientTimeout(total=self.timeout, sock_connect=DEFAULT_CONNECT_TIMEOUT)
        async with self._get_session().request(method, server + path, timeout=timeout, **kwargs,
                                               **self._request_kwargs()) as resp:
            return resp.status, await resp.read()

    async def _open_watch(self, path: str, *, timeout: aiohttp.ClientTimeout,
                          **kwargs: Any) -> tuple[str, aiohttp.ClientResponse]:
        """The response of a watch request, its headers read; with several apiservers, from the first that answers."""
        session = self._get_session()
        if self._lb is None:
            return self.config.server, await session.get(self.config.server + path, timeout=timeout, **kwargs,
                                                          **self._request_kwargs())
        self._start_discovery()
        timeout = aiohttp.ClientTimeout(total=timeout.total, connect=timeout.connect, sock_read=timeout.sock_read,
                                        sock_connect=DEFAULT_CONNECT_TIMEOUT)

        async def open_on(server: str) -> tuple[str, aiohttp.ClientResponse]:
            return server, await session.get(server + path, timeout=timeout, **kwargs, **self._request_kwargs())
        return await self._lb.call(open_on, idempotent=True)

    def _chunks(self, server: str, resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        if self._lb is None:
            return resp.content.iter_any()
        return self._balanced_chunks(server, resp)

    async def _balanced_chunks(self, server: str, resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        """The stream's chunks; a stream cut off marks its server failed, so the re-watch goes elsewhere."""
        assert self._lb is not None
        try:
            async for chunk in resp.content.iter_any():
                yield chunk
        except DISCONNECT_ERRORS as e:
            self._lb.mark_failed(server, e)
            raise

    def _start_discovery(self) -> None:
        if self.config.discover_servers and self._discovery is None and self._lb is not None:
            self._discovery = asyncio.get_running_loop().create_task(self._lb.refresh_forever(self._discover),
                                                                      name="apiserver discovery")

    async def _discover(self) -> list[str] | None:
        """The live apiservers from the `kubernetes` Endpoints (get, or list where only that is allowed, as for
        kube-proxy); None when this client may read neither."""
        scheme = self.config.server.partition("://")[0] or "https"
        if not self._discover_by_list:
            try:
                return servers_from_endpoints(await self.get(f"{KUBERNETES_ENDPOINTS}/kubernetes"), scheme)
            except ApiError as e:
                if e.code != 403:
                    raise
                self._discover_by_list = True
        try:
            listing = await self.list(KUBERNETES_ENDPOINTS, {"fieldSelector": "metadata.name=kubernetes"})
        except ApiError as e:
            if e.code != 403:
                raise
            log.info("may not read the kubernetes endpoints: apiservers are not discovered (%s)", e)
            return None
        items = listing.get("items") or []
        return servers_from_endpoints(items[0], scheme) if items else []

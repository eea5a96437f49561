"""A tiny HTTPS apiserver stand-in for client tests: ConfigMaps with resourceVersions, list (paged) and watch.

It authenticates by client certificate or bearer token, keeps an event log it can compact (watching from a
compacted resourceVersion gets 410, as an ERROR event or, optionally, as an HTTP answer), sends bookmarks on
request, and can cut every open watch.
"""

from __future__ import annotations

import asyncio
import copy
import ssl
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from kybernetes.pki import PKIPaths

TOKEN = "s3cret-token"
Obj = dict[str, Any]


def status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    return web.Response(status=code, body=orjson.dumps(body), content_type="application/json")


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


@dataclass
class Watch:
    namespace: str | None
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)
    closed: bool = False


class FakeApiserver:
    def __init__(self, pki: PKIPaths) -> None:
        self.pki = pki
        self.rv = 100
        self.objects: dict[str, Obj] = {}
        self.log: list[tuple[int, str, Obj]] = []
        self.compacted = 0
        self.watches: list[Watch] = []
        self.gone_as_http = False  # answer a stale watch with HTTP 410 instead of an ERROR event
        self.fail_next: list[int] = []  # status codes to answer the next list/watch requests with
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.leases: dict[str, Obj] = {}
        self.delay = 0.0  # seconds every request is held before it is answered
        self.in_flight = 0
        self.max_in_flight = 0
        self.peers: set[tuple[str, int]] = set()  # client connections seen (address, port)
        self.port = 0
        self._runner: web.AppRunner | None = None

    # -- state changes (also used by tests directly) ---------------------------------------------------------

    def _record(self, etype: str, obj: Obj) -> Obj:
        self.rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        key = f'{obj["metadata"]["namespace"]}/{obj["metadata"]["name"]}'
        if etype == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        self.log.append((self.rv, etype, obj))
        for w in self.watches:
            if w.namespace in (None, obj["metadata"]["namespace"]):
                w.queue.put_nowait({"type": etype, "object": obj})
        return obj

    def put(self, name: str, data: dict[str, str], namespace: str = "default") -> Obj:
        key = f"{namespace}/{name}"
        if key in self.objects:
            obj = copy.deepcopy(self.objects[key])
            obj["data"] = data
            return self._record("MODIFIED", obj)
        obj = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"}, "data": data}
        return self._record("ADDED", obj)

    def remove(self, name: str, namespace: str = "default") -> Obj:
        return self._record("DELETED", self.objects[f"{namespace}/{name}"])

    def compact(self) -> None:
        self.compacted = self.rv
        self.log = []

    def bookmark(self) -> None:
        for w in self.watches:
            w.queue.put_nowait({"type": "BOOKMARK", "object": {"kind": "ConfigMap", "apiVersion": "v1",
                                                                "metadata": {"resourceVersion": str(self.rv)}}})

    def drop_watches(self) -> None:
        for w in self.watches:
            w.closed = True
            w.queue.put_nowait(None)
        self.watches = []

    # -- HTTP ------------------------------------------------------------------------------------------------

    def _authenticated(self, request: web.Request) -> bool:
        if request.headers.get("Authorization") == f"Bearer {TOKEN}":
            return True
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        return bool(peer)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path, dict(request.query)))
        if request.transport is not None:
            self.peers.add(request.transport.get_extra_info("peername")[:2])
        if not self._authenticated(request):
            return status(401, "Unauthorized", "Unauthorized")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            return await handler(request)
        finally:
            self.in_flight -= 1

    async def collection(self, request: web.Request) -> web.StreamResponse:
        ns = request.match_info.get("ns")
        if request.method == "POST":
            body = orjson.loads(await request.read())
            body.setdefault("metadata", {})["namespace"] = ns
            if f'{ns}/{body["metadata"]["name"]}' in self.objects:
                return status(409, "AlreadyExists", f'configmaps "{body["metadata"]["name"]}" already exists')
            return web.json_response(self._record("ADDED", body), status=201, dumps=lambda o: orjson.dumps(o).decode())
        if self.fail_next:
            code = self.fail_next.pop(0)
            return status(code, "InternalError", "injected failure")
        if request.query.get("watch") in ("true", "1"):
            return await self._watch(request, ns)
        return self._list(request, ns)

    def _list(self, request: web.Request, ns: str | None) -> web.Response:
        items = sorted((o for o in self.objects.values() if ns in (None, o["metadata"]["namespace"])),
                       key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
        items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items]
        start, rv = 0, self.rv
        if request.query.get("continue"):
            rv_s, _, start_s = request.query["continue"].partition(":")
            if int(rv_s) < self.compacted:
                return status(410, "Expired", "The provided continue parameter is too old")
            start = int(start_s)
        limit = int(request.query.get("limit") or 0)
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        page = items[start:start + limit] if limit else items[start:]
        if limit and start + limit < len(items):
            meta["continue"] = f"{rv}:{start + limit}"
        body = {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": meta, "items": page}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def _watch(self, request: web.Request, ns: str | None) -> web.StreamResponse:
        since = int(request.query.get("resourceVersion") or self.rv)
        stale = since < self.compacted
        if stale and self.gone_as_http:
            return status(410, "Expired", f"too old resource version: {since} ({self.compacted})")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        if stale:
            err = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Expired",
                   "message": f"too old resource version: {since} ({self.compacted})", "code": 410}
            await resp.write(orjson.dumps({"type": "ERROR", "object": err}) + b"\n")
            return resp
        w = Watch(ns)
        for rv, etype, obj in self.log:
            if rv > since and ns in (None, obj["metadata"]["namespace"]):
                w.queue.put_nowait({"type": etype, "object": obj})
        if request.query.get("allowWatchBookmarks") not in ("true", "1"):
            w.queue = _NoBookmarks(w.queue)  # type: ignore[assignment]
        self.watches.append(w)
        try:
            while True:
                event = await w.queue.get()
                if w.closed or event is None:
                    break
                await resp.write(orjson.dumps(event) + b"\n")
        finally:
            if w in self.watches:
                self.watches.remove(w)
        return resp

    async def item(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        key = f"{ns}/{name}"
        current = self.objects.get(key)
        if current is None:
            return status(404, "NotFound", f'configmaps "{name}" not found')
        dumps = lambda o: orjson.dumps(o).decode()  # noqa: E731
        if request.method == "GET":
            return web.json_response(current, dumps=dumps)
        if request.method == "DELETE":
            return web.json_response(self.remove(name, ns), dumps=dumps)
        body = orjson.loads(await request.read())
        if request.method == "PUT":
            sent_rv = body.get("metadata", {}).get("resourceVersion")
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                return status(409, "Conflict", f'Operation cannot be fulfilled on configmaps "{name}": '
                                               "the object has been modified")
            return web.json_response(self._record("MODIFIED", body), dumps=dumps)
        if request.headers.get("Content-Type") != "application/merge-patch+json":
            return status(415, "UnsupportedMediaType", "only merge patch")
        return web.json_response(self._record("MODIFIED", merge_patch(current, body)), dumps=dumps)

    async def lease(self, request: web.Request) -> web.Response:
        """Leases: just GET, POST and PUT with optimistic concurrency, enough for leader election."""
        ns, name = request.match_info["ns"], request.match_info.get("name")
        dumps = lambda o: orjson.dumps(o).decode()  # noqa: E731
        if request.method == "POST":
            body = orjson.loads(await request.read())
            key = f'{ns}/{body["metadata"]["name"]}'
            if key in self.leases:
                return status(409, "AlreadyExists", "leases already exists")
            self.rv += 1
            body["metadata"].update(namespace=ns, resourceVersion=str(self.rv))
            self.leases[key] = body
            return web.json_response(body, status=201, dumps=dumps)
        key = f"{ns}/{name}"
        if key not in self.leases:
            return status(404, "NotFound", f'leases.coordination.k8s.io "{name}" not found')
        if request.method == "GET":
            return web.json_response(self.leases[key], dumps=dumps)
        body = orjson.loads(await request.read())
        if body["metadata"].get("resourceVersion") != self.leases[key]["metadata"]["resourceVersion"]:
            return status(409, "Conflict", "the object has been modified")
        self.rv += 1
        body["metadata"]["resourceVersion"] = str(self.rv)
        self.leases[key] = body
        return web.json_response(body, dumps=dumps)

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.pki.apiserver_crt, self.pki.apiserver_key)
        ctx.load_verify_locations(self.pki.ca_crt)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", "/api/v1/configmaps", self.collection)
        app.router.add_route("*", "/api/v1/namespaces/{ns}/configmaps", self.collection)
        app.router.add_route("*", "/api/v1/namespaces/{ns}/configmaps/{name}", self.item)
        app.router.add_route("*", "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", self.lease)
        app.router.add_route("*", "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}", self.lease)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context())
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self.drop_watches()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def lists(self) -> int:
        return sum(1 for m, p, q in self.requests if m == "GET" and p.endswith("configmaps")
                   and q.get("watch") not in ("true", "1"))


class _NoBookmarks:
    """Queue wrapper dropping BOOKMARK events for watches that did not ask for them."""

    def __init__(self, q: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._q = q

    def put_nowait(self, e: dict[str, Any] | None) -> None:
        if e is None or e["type"] != "BOOKMARK":
            self._q.put_nowait(e)

    async def get(self) -> dict[str, Any] | None:
        return await self._q.get()

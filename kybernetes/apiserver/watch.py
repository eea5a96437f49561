"""Serve watch requests: initial events, resume from a resourceVersion, bookmarks, timeouts, fan-out from the cache."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

import orjson
from aiohttp import web

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver import negotiation as neg
from kybernetes.apiserver.filters import build_filter
from kybernetes.apiserver.requestinfo import RequestInfo
from kybernetes.apiserver.rest import parse_resource_version, too_large_resource_version
from kybernetes.apiserver.watchcache import WatchEvent, WatcherClosed, filter_event
from kybernetes.storage.interface import CompactedError

if TYPE_CHECKING:
    from kybernetes.apiserver.server import APIServer

log = logging.getLogger(__name__)

BOOKMARK_INTERVAL = 60.0
MIN_REQUEST_TIMEOUT = 1800
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
TOO_LARGE_RV_WAIT = 3.0  # how long a watch waits for the cache to reach a future resourceVersion


def _flag(value: str | None) -> bool:
    return value in ("true", "1", "True")


class WatchServer:
    """One streaming response per watch request."""

    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.active = 0

    def _encoder(self, info: ResourceInfo, accept: neg.Accept, include_object: str) -> tuple[Any, Callable[[WatchEvent], bytes]]:
        if accept.as_kind == "Table":
            from kybernetes.api.tables import build_table

            def encode(ev: WatchEvent) -> bytes:
                obj = self.server.rest.present(info, ev.obj)
                table = build_table(info, [obj], include_object=include_object,
                                    resource_version=obj["metadata"].get("resourceVersion", ""))
                return b'{"type":"' + ev.type.encode() + b'","object":' + orjson.dumps(table) + b"}\n"

            return ("Table", accept.version, include_object, info.group_version), encode
        if accept.as_kind in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            version = accept.version

            def encode_meta(ev: WatchEvent) -> bytes:
                obj = {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}",
                       "metadata": ev.obj.get("metadata", {})}
                return b'{"type":"' + ev.type.encode() + b'","object":' + orjson.dumps(obj) + b"}\n"

            return ("Meta", version), encode_meta
        gv = info.group_version

        present = self.server.rest.present

        def encode_json(ev: WatchEvent) -> bytes:
            obj = present(info, ev.obj)
            return b'{"type":"' + ev.type.encode() + b'","object":' + orjson.dumps(obj) + b"}\n"

        return ("json", gv), encode_json

    def _bookmark(self, info: ResourceInfo, revision: int, initial_end: bool = False) -> bytes:
        md: dict[str, Any] = {"resourceVersion": str(revision)}
        if initial_end:
            md["annotations"] = {INITIAL_EVENTS_END: "true"}
        obj = {"kind": info.kind, "apiVersion": info.group_version, "metadata": md}
        return orjson.dumps({"type": "BOOKMARK", "object": obj}) + b"\n"

    async def serve(self, request: web.Request, ri: RequestInfo, info: ResourceInfo, accept: neg.Accept) -> web.StreamResponse:
        q = request.query
        rv = q.get("resourceVersion", "")
        rvm = q.get("resourceVersionMatch", "")
        send_initial_param = q.get("sendInitialEvents")
        allow_bookmarks = _flag(q.get("allowWatchBookmarks"))
        if send_initial_param is not None:
            if rvm != "NotOlderThan":
                raise errors.invalid_object("meta.k8s.io", "ListOptions", "", [errors.forbidden(
                    "resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")])
            if not allow_bookmarks and _flag(send_initial_param):
                raise errors.invalid_object("meta.k8s.io", "ListOptions", "", [errors.forbidden(
                    "allowWatchBookmarks", "sendInitialEvents requires setting allowWatchBookmarks to true")])
        elif rvm:
            raise errors.invalid_object("meta.k8s.io", "ListOptions", "", [errors.forbidden(
                "resourceVersionMatch", "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")])
        timeout_s = q.get("timeoutSeconds")
        try:
            timeout = float(timeout_s) if timeout_s else float(random.randint(MIN_REQUEST_TIMEOUT, 2 * MIN_REQUEST_TIMEOUT))
        except ValueError:
            raise errors.bad_request(f"invalid timeoutSeconds {timeout_s!r}") from None
        namespace = ri.namespace if info.namespaced else ""
        field_selector = q.get("fieldSelector", "")
        if ri.name:
            field_selector = ",".join(x for x in (field_selector, f"metadata.name={ri.name}") if x)
        matches = build_filter(info, q.get("labelSelector", ""), field_selector)
        match_all = matches or (lambda _o: True)
        prefix = info.list_prefix(namespace)
        cache = self.server.cache
        if send_initial_param is not None:
            send_initial = _flag(send_initial_param)
        else:
            send_initial = rv in ("", "0")
        start_rev = 0 if rv in ("", "0") else parse_resource_version(rv)
        if rv == "":
            await cache.wait_fresh()
        elif start_rev:
            if not await cache.wait_for_revision(start_rev, TOO_LARGE_RV_WAIT):
                raise too_large_resource_version(start_rev, cache.revision)
        # register and snapshot with no await in between: live events are exactly those after the snapshot
        watcher = cache.watch(prefix, match_all)
        rcache = cache.cache_for(info.storage_prefix)
        backlog: list[WatchEvent] | None
        snapshot_rev = cache.revision
        if send_initial:
            backlog = [WatchEvent("ADDED", o["metadata"].get("name", ""), o, None, int(o["metadata"]["resourceVersion"]))
                       for o in rcache.list(prefix, matches)]
        else:
            history = rcache.events_after(start_rev)
            if history is None:
                backlog = None
            else:
                backlog = []
                for ev in history:
                    seen = filter_event(ev, match_all) if ev.key.startswith(prefix) else None
                    if seen is not None:
                        backlog.append(seen)
        storage_stream: AsyncIterator[WatchEvent] | None = None
        if backlog is None:
            cache.unwatch(watcher)
            storage_stream = cache.storage_watch(prefix, start_rev)
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                            "Cache-Control": "no-cache, private"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        include_object = q.get("includeObject", "Metadata")
        cache_key, encode = self._encoder(info, accept, include_object)
        self.active += 1
        self.server.metrics.watchers_changed(info, +1)
        deadline = time.monotonic() + timeout
        try:
            if storage_stream is not None:
                await self._stream_from_storage(response, storage_stream, match_all, cache_key, encode, deadline)
                return response
            out = [ev.encoded(cache_key, lambda ev=ev: encode(ev)) for ev in backlog]
            if send_initial and allow_bookmarks and send_initial_param is not None:
                out.append(self._bookmark(info, snapshot_rev, initial_end=True))
            if out:
                await response.write(b"".join(out))
            next_bookmark = time.monotonic() + BOOKMARK_INTERVAL * random.uniform(0.8, 1.0)
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                wait = (min(deadline, next_bookmark) if allow_bookmarks else deadline) - now
                try:
                    batch = await watcher.next_batch(timeout=max(wait, 0.0))
                except WatcherClosed:
                    break
                if batch:
                    await response.write(b"".join(ev.encoded(cache_key, lambda ev=ev: encode(ev)) for ev in batch))
                elif allow_bookmarks and time.monotonic() >= next_bookmark:
                    await response.write(self._bookmark(info, cache.revision))
                    next_bookmark = time.monotonic() + BOOKMARK_INTERVAL
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            cache.unwatch(watcher)
            self.active -= 1
            self.server.metrics.watchers_changed(info, -1)
        return response

    async def _stream_from_storage(self, response: web.StreamResponse, stream: AsyncIterator[WatchEvent],
                                   matches: Callable[[dict[str, Any]], bool], cache_key: Any,
                                   encode: Callable[[WatchEvent], bytes], deadline: float) -> None:
        it = stream.__aiter__()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                ev = await asyncio.wait_for(it.__anext__(), remaining)
            except (asyncio.TimeoutError, StopAsyncIteration):
                return
            except CompactedError as e:
                err = errors.gone(f"too old resource version: {e.requested} ({e.compacted})")
                await response.write(orjson.dumps({"type": "ERROR", "object": err.status()}) + b"\n")
                return
            seen = filter_event(ev, matches)
            if seen is not None:
                await response.write(encode(seen))

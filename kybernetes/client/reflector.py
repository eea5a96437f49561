"""Reflector: list a resource, then watch it from the list's resourceVersion, feeding every change to a sink.

Re-lists when the watch's resourceVersion is too old (410 Gone/Expired), follows bookmarks, resumes a
closed watch from the last seen resourceVersion, and backs off (jittered, exponential) on errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any, Protocol

import aiohttp

from kybernetes.client.rest import ApiError, RESTClient

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class ReflectorSink(Protocol):
    """Where a Reflector delivers state: a whole list (replace) or one watch event (apply)."""

    def replace(self, objs: list[Obj], resource_version: str) -> None: ...

    def apply(self, event_type: str, obj: Obj) -> None: ...


class Backoff:
    """Exponential delays with jitter: initial, doubling, capped; `reset` after a success."""

    def __init__(self, initial: float = 0.8, maximum: float = 30.0, jitter: float = 0.5) -> None:
        self.initial, self.maximum, self.jitter = initial, maximum, jitter
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay * (1 + random.uniform(0, self.jitter))

    def reset(self) -> None:
        self._next = self.initial


class Reflector:
    """Keeps `sink` in step with the collection at `path` (e.g. '/api/v1/pods') until cancelled."""

    def __init__(self, client: RESTClient, path: str, sink: ReflectorSink, *, label_selector: str | None = None,
                 field_selector: str | None = None, page_size: int = 500, watch_timeout: float = 300.0,
                 backoff: Backoff | None = None, name: str | None = None) -> None:
        self.client = client
        self.path = path
        self.sink = sink
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.backoff = backoff or Backoff()
        self.name = name or path
        self.last_sync_resource_version = ""
        self.lists = 0  # how many full lists were made (for metrics and tests)
        self._just_listed = False  # no watch event seen since the last list: a 410 now must back off

    def _selectors(self) -> dict[str, Any]:
        return {"labelSelector": self.label_selector, "fieldSelector": self.field_selector}

    async def run(self) -> None:
        """List and watch forever; only cancellation ends it."""
        need_list = True
        while True:
            try:
                if need_list:
                    await self.list()
                    need_list = False
                await self.watch()
                self.backoff.reset()
            except ApiError as e:
                if e.gone:
                    log.info("%s: resourceVersion %s is too old, re-listing", self.name,
                             self.last_sync_resource_version)
                    need_list = True
                    if not self._just_listed:
                        continue  # a 410 after a working watch re-lists at once
                else:
                    log.warning("%s: %s", self.name, e)
                await asyncio.sleep(self.backoff.next())
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as e:
                log.warning("%s: %s: %s", self.name, type(e).__name__, e)
                await asyncio.sleep(self.backoff.next())

    async def list(self) -> None:
        """One full (paged) list, then replace the sink's state with it."""
        self._just_listed = True
        items: list[Obj] = []
        params: dict[str, Any] = {**self._selectors(), "limit": self.page_size or None}
        while True:
            try:
                page = await self.client.list(self.path, params)
            except ApiError as e:
                if e.gone and params.get("continue"):
                    # the continue token expired mid-way: start over without paging
                    items, params = [], self._selectors()
                    continue
                raise
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            if meta.get("continue"):
                params["continue"] = meta["continue"]
                continue
            rv = meta.get("resourceVersion", "")
            break
        kind = (page.get("kind") or "").removesuffix("List")
        api_version = page.get("apiVersion")
        for item in items:  # list items may omit kind/apiVersion, watch objects carry them; make them alike
            if kind and "kind" not in item:
                item["kind"] = kind
            if api_version and "apiVersion" not in item:
                item["apiVersion"] = api_version
        self.sink.replace(items, rv)
        self.last_sync_resource_version = rv
        self.lists += 1

    async def watch(self) -> None:
        """Watch from the last synced resourceVersion until the server ends the stream; raises on ERROR."""
        params = {**self._selectors(), "resourceVersion": self.last_sync_resource_version,
                  "allowWatchBookmarks": True,
                  "timeoutSeconds": int(self.watch_timeout * (1 + random.random()))}
        async with contextlib.aclosing(self.client.watch(self.path, params)) as events:
            async for event in events:
                self._just_listed = False
                etype, obj = event.get("type"), event.get("object") or {}
                if etype == "ERROR":
                    raise ApiError(int(obj.get("code") or 500), obj)
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                if etype in ("ADDED", "MODIFIED", "DELETED"):
                    self.sink.apply(etype, obj)
                elif etype != "BOOKMARK":
                    log.warning("%s: unknown watch event type %r", self.name, etype)
                    continue
                if rv:
                    self.last_sync_resource_version = rv
                self.backoff.reset()

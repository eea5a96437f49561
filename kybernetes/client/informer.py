"""Shared informers: one Reflector and one local cache per resource, fanning changes out to many handlers.

Each handler has its own ordered notification queue and task, so a slow handler delays only itself. Handlers
may be plain or async functions; they must not mutate the objects they get, and must accept that the cache
may already be newer than the event they are handling. On a re-list, objects that vanished are reported to
on_delete with their last known state, and every surviving object to on_update (as client-go does).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kybernetes.client.cache import IndexFunc, Indexer, meta_namespace_key
from kybernetes.client.reflector import Backoff, Reflector
from kybernetes.client.rest import RESTClient, resource_path

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Handler = Callable[..., Awaitable[None] | None]


@dataclass
class ResourceEventHandlerFuncs:
    """on_add(obj), on_update(old, new), on_delete(obj); any may be None; plain or async functions."""

    on_add: Handler | None = None
    on_update: Handler | None = None
    on_delete: Handler | None = None


_SYNCED = ("synced",)


class HandlerRegistration:
    """One handler attached to an informer, with its own queue; `has_synced` once it saw the initial list."""

    def __init__(self, informer: SharedInformer, handler: Any, resync_period: float) -> None:
        self.informer = informer
        self.handler = handler
        self.resync_period = resync_period
        self._queue: asyncio.Queue[tuple[Any, ...]] | None = None
        self._pending: list[tuple[Any, ...]] = []  # notifications before the loop runs
        self._synced = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def has_synced(self) -> bool:
        """True once this handler has processed every object of the informer's initial list."""
        return self._synced.is_set()

    async def wait_for_sync(self) -> None:
        await self._synced.wait()

    def _notify(self, *n: Any) -> None:
        if self._queue is None:
            self._pending.append(n)
        else:
            self._queue.put_nowait(n)

    def _start(self) -> None:
        if self._tasks:
            return
        self._queue = asyncio.Queue()
        for n in self._pending:
            self._queue.put_nowait(n)
        self._pending.clear()
        self._tasks.append(asyncio.create_task(self._run(), name=f"informer-handler {self.informer.path}"))
        if self.resync_period > 0:
            self._tasks.append(asyncio.create_task(self._resync(), name=f"informer-resync {self.informer.path}"))

    async def _stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass
        if self._queue is not None:  # keep undelivered notifications for a restart
            while not self._queue.empty():
                self._pending.append(self._queue.get_nowait())
            self._queue = None

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync_period)
            if self.informer.has_synced():  # client-go's resync: re-deliver the cache as updates
                for obj in self.informer.store.list():
                    self._notify("update", obj, obj)

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            n = await self._queue.get()
            if n[0] == "synced":
                self._synced.set()
                continue
            fn = getattr(self.handler, "on_" + n[0], None)
            if fn is None:
                continue
            try:
                result = fn(*n[1:])
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: handler %s failed on %s", self.informer.path, fn, n[0])


class SharedInformer:
    """List+watch of one collection path into an Indexer, dispatching to handlers. `start()` it in a loop."""

    def __init__(self, client: RESTClient, path: str, *, resync_period: float = 0.0,
                 indexers: dict[str, IndexFunc] | None = None, label_selector: str | None = None,
                 field_selector: str | None = None, backoff: Backoff | None = None,
                 watch_timeout: float = 300.0, page_size: int = 500) -> None:
        self.client = client
        self.path = path
        self.resync_period = resync_period
        self.store = Indexer(indexers)
        self.reflector = Reflector(client, path, self, label_selector=label_selector,
                                   field_selector=field_selector, backoff=backoff, watch_timeout=watch_timeout,
                                   page_size=page_size)
        self._handlers: list[HandlerRegistration] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- handlers --------------------------------------------------------------------------------------------

    def add_event_handler(self, handler: Any = None, *, on_add: Handler | None = None,
                          on_update: Handler | None = None, on_delete: Handler | None = None,
                          resync_period: float | None = None) -> HandlerRegistration:
        """Attach a handler (an object with on_add/on_update/on_delete, or the functions as keywords).

        Added after the initial list, it first gets on_add for every cached object.
        """
        if handler is None:
            handler = ResourceEventHandlerFuncs(on_add, on_update, on_delete)
        reg = HandlerRegistration(self, handler, self.resync_period if resync_period is None else resync_period)
        self._handlers.append(reg)
        if self._synced.is_set():
            for obj in self.store.list():
                reg._notify("add", obj)
            reg._notify(*_SYNCED)
        if self._task is not None:
            reg._start()
        return reg

    async def remove_event_handler(self, reg: HandlerRegistration) -> None:
        self._handlers.remove(reg)
        await reg._stop()

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        self.store.add_indexers(indexers)

    # -- ReflectorSink ---------------------------------------------------------------------------------------

    def replace(self, objs: list[Obj], resource_version: str) -> None:
        old = self.store.replace(objs)
        for obj in objs:
            prev = old.pop(meta_namespace_key(obj), None)
            for reg in self._handlers:
                if prev is None:
                    reg._notify("add", obj)
                else:
                    reg._notify("update", prev, obj)
        for gone in old.values():
            for reg in self._handlers:
                reg._notify("delete", gone)
        if not self._synced.is_set():
            self._synced.set()
            for reg in self._handlers:
                reg._notify(*_SYNCED)

    def apply(self, event_type: str, obj: Obj) -> None:
        if event_type == "DELETED":
            self.store.delete(obj)
            for reg in self._handlers:
                reg._notify("delete", obj)
            return
        prev = self.store.upsert(obj)
        for reg in self._handlers:
            if prev is None:
                reg._notify("add", obj)
            else:
                reg._notify("update", prev, obj)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def has_synced(self) -> bool:
        """True once the first list is in the cache (handlers may still be working through it)."""
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Wait for the first list; False on timeout."""
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def start(self) -> asyncio.Task[None]:
        """Run the reflector and handlers in background tasks (idempotent)."""
        if self._task is None:
            for reg in self._handlers:
                reg._start()
            self._task = asyncio.create_task(self.reflector.run(), name=f"reflector {self.path}")
            self._task.add_done_callback(self._reflector_done)
        return self._task

    def _reflector_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: reflector died", self.path, exc_info=task.exception())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        for reg in self._handlers:
            await reg._stop()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()


Informer = SharedInformer


class SharedInformerFactory:
    """One SharedInformer per (resource, namespace, selectors) per process; start them all at once."""

    def __init__(self, client: RESTClient, *, resync_period: float = 0.0, namespace: str | None = None,
                 backoff: Backoff | None = None) -> None:
        self.client = client
        self.resync_period = resync_period
        self.namespace = namespace
        self.backoff = backoff
        self._informers: dict[tuple[str, str | None, str | None], SharedInformer] = {}

    def informer_for(self, group: str, version: str, plural: str, *, namespace: str | None = None,
                     label_selector: str | None = None, field_selector: str | None = None,
                     resync_period: float | None = None) -> SharedInformer:
        """The shared informer for this resource (created on first use; started by `start`)."""
        path = resource_path(group, version, plural, namespace or self.namespace)
        key = (path, label_selector, field_selector)
        informer = self._informers.get(key)
        if informer is None:
            informer = SharedInformer(self.client, path, label_selector=label_selector,
                                      field_selector=field_selector, backoff=self.backoff,
                                      resync_period=self.resync_period if resync_period is None else resync_period)
            self._informers[key] = informer
        return informer

    def informers(self) -> list[SharedInformer]:
        return list(self._informers.values())

    def start(self) -> None:
        """Start every informer created so far that is not running yet."""
        for informer in self._informers.values():
            informer.start()

    async def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        """Wait until every informer has its first list; False if `timeout` passes first."""
        results = await asyncio.gather(*(i.wait_for_sync(timeout) for i in self._informers.values()))
        return all(results)

    async def shutdown(self) -> None:
        for informer in self._informers.values():
            await informer.stop()

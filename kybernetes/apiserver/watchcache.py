"""The watch cache: one storage watch feeds an in-memory copy of every resource and all API watchers."""

from __future__ import annotations

import asyncio
import bisect
import collections
import heapq
import logging
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

import orjson

from kybernetes.storage.interface import CompactedError, Event, KeyValue, Store

log = logging.getLogger(__name__)

REGISTRY_PREFIX = "/registry/"
DEFAULT_EVENT_WINDOW = 20_000  # events kept per resource for resuming watches
WATCHER_QUEUE_LIMIT = 50_000  # a watcher further behind than this is closed (it re-lists)

Filter = Callable[[dict[str, Any]], bool]


def resource_prefix(key: str) -> str:
    """'/registry/apps/deployments/ns/name' -> '/registry/apps/deployments/'."""
    parts = key.split("/", 4)
    return "/".join(parts[:4]) + "/"


def decode(kv: KeyValue, revision: int | None = None) -> dict[str, Any]:
    """A stored value as an API object, its resourceVersion set from the revision."""
    obj = orjson.loads(kv.value)
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = obj["metadata"] = {}
    md["resourceVersion"] = str(revision if revision is not None else kv.mod_revision)
    return obj


@dataclass(slots=True)
class WatchEvent:
    """An API watch event: ADDED, MODIFIED, DELETED, with the object and the one before it."""

    type: str
    key: str
    obj: dict[str, Any]
    prev: dict[str, Any] | None
    revision: int
    _encoded: dict[Any, bytes] = field(default_factory=dict)

    def encoded(self, cache_key: Any, encode: Callable[[], bytes]) -> bytes:
        """Bytes for this event in one wire format, computed once and shared by every watcher."""
        out = self._encoded.get(cache_key)
        if out is None:
            out = self._encoded[cache_key] = encode()
        return out


def filter_event(ev: WatchEvent, matches: Filter) -> WatchEvent | None:
    """ev as a watcher with this filter sees it: objects entering the selection are ADDED, leaving it DELETED."""
    cur = matches(ev.obj)
    if ev.type == "MODIFIED":
        was = ev.prev is not None and matches(ev.prev)
        if cur and not was:
            return WatchEvent("ADDED", ev.key, ev.obj, ev.prev, ev.revision)
        if was and not cur:
            return WatchEvent("DELETED", ev.key, ev.obj, ev.prev, ev.revision)
        return ev if cur else None
    return ev if cur else None


class WatcherClosed(Exception):
    """The watcher fell too far behind, or the cache stopped; the client must re-watch or re-list."""


class CacheWatcher:
    """One API watch served from the cache: a queue of events filtered for this client."""

    def __init__(self, prefix: str, matches: Filter, limit: int = WATCHER_QUEUE_LIMIT) -> None:
        self.prefix = prefix
        self.matches = matches
        self.queue: collections.deque[WatchEvent] = collections.deque()
        self.limit = limit
        self.closed = False
        self.overflowed = False
        self._wakeup = asyncio.Event()

    def offer(self, ev: WatchEvent) -> None:
        """Deliver ev, converted for this watcher's filter."""
        if self.closed or not ev.key.startswith(self.prefix):
            return
        filtered = filter_event(ev, self.matches)
        if filtered is None:
            return
        ev = filtered
        if len(self.queue) >= self.limit:
            self.overflowed = True
            self.close()
            return
        self.queue.append(ev)
        self._wakeup.set()

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()

    async def next_batch(self, timeout: float | None = None) -> list[WatchEvent]:
        """Queued events (maybe none after timeout); raises WatcherClosed once closed and drained."""
        if not self.queue and not self.closed:
            self._wakeup.clear()
            try:
                # asyncio.timeout schedules one timer; wait_for would also create a task per wake-up
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()
            except TimeoutError:
                return []
        if self.queue:
            batch = list(self.queue)
            self.queue.clear()
            return batch
        raise WatcherClosed("watcher closed" if not self.overflowed else "watcher fell behind")


class ResourceCache:
    """The current objects of one resource (one storage prefix) and a window of its recent events."""

    def __init__(self, prefix: str, window_start: int, window: int = DEFAULT_EVENT_WINDOW) -> None:
        self.prefix = prefix
        self.objects: dict[str, dict[str, Any]] = {}
        self.events: collections.deque[WatchEvent] = collections.deque()
        self.window = window
        # every event of this resource with revision > window_start is in self.events
        self.window_start = window_start
        self.watchers: set[CacheWatcher] = set()
        self._sorted: list[str] | None = None

    def apply(self, ev: WatchEvent) -> None:
        if ev.type == "DELETED":
            if self.objects.pop(ev.key, None) is not None:
                self._sorted = None
        else:
            if ev.key not in self.objects:
                self._sorted = None
            self.objects[ev.key] = ev.obj
        self.events.append(ev)
        if len(self.events) > self.window:
            dropped = self.events.popleft()
            self.window_start = dropped.revision
        for w in list(self.watchers):
            w.offer(ev)
            if w.closed:
                self.watchers.discard(w)

    def list(self, prefix: str, matches: Filter | None = None) -> list[dict[str, Any]]:
        """Objects under prefix in key order (storage order), filtered."""
        return [o for _, o in self.list_keyed(prefix, matches)]

    def sorted_keys(self) -> list[str]:
        """Every key in order; rebuilt only after keys were added or removed."""
        if self._sorted is None:
            self._sorted = sorted(self.objects)
        return self._sorted

    def key_range(self, prefix: str, start: str | None = None) -> tuple[int, int]:
        """Indexes [lo, hi) in sorted_keys() of the keys under prefix (prefix ends in '/'), from start on."""
        keys = self.sorted_keys()
        lo = bisect.bisect_left(keys, max(prefix, start) if start else prefix)
        hi = bisect.bisect_left(keys, prefix[:-1] + "0")  # '0' sorts right after '/'
        return lo, max(lo, hi)

    def list_keyed(self, prefix: str, matches: Filter | None = None,
                   start: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(key, object) pairs under prefix in key order, from start on, filtered."""
        objects = self.objects
        lo, hi = self.key_range(prefix, start)
        keys = self.sorted_keys()[lo:hi]
        if matches is None:
            return [(k, objects[k]) for k in keys]
        return [(k, objects[k]) for k in keys if matches(objects[k])]

    def events_after(self, revision: int) -> list[WatchEvent] | None:
        """Events with revision > revision, or None if the window no longer covers it."""
        if revision < self.window_start:
            return None
        # events are in revision order; skip the old ones
        idx = 0
        evs = self.events
        lo, hi = 0, len(evs)
        while lo < hi:
            mid = (lo + hi) // 2
            if evs[mid].revision <= revision:
                lo = mid + 1
            else:
                hi = mid
        idx = lo
        return list(evs)[idx:] if idx < len(evs) else []


class WatchCache:
    """Feeds ResourceCaches from one storage watch of /registry/, and serves fresh reads and watches.

    Every key lives under /registry/, so the one watch sees every revision: once it has processed
    revision R, the cache holds the state of the store at R for every resource.
    """

    def __init__(self, store: Store, *, window: int = DEFAULT_EVENT_WINDOW) -> None:
        self.store = store
        self.window = window
        self.revision = 0
        self.caches: dict[str, ResourceCache] = {}
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = 0
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._start_revision = 0
        # key -> (stored bytes, the object they encode) for writes in flight whose object the cache may keep
        self._written: dict[str, tuple[bytes, dict[str, Any]]] = {}

    async def start(self) -> None:
        await self._load()
        self._task = asyncio.create_task(self._run(), name="watchcache")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        for cache in self.caches.values():
            for w in cache.watchers:
                w.close()

    async def _load(self) -> None:
        result = await self.store.range(REGISTRY_PREFIX)
        self.revision = self._start_revision = result.revision
        self.caches = {}
        for kv in result.kvs:
            cache = self.cache_for(resource_prefix(kv.key))
            cache.objects[kv.key] = decode(kv)
        self._ready.set()

    def cache_for(self, prefix: str) -> ResourceCache:
        cache = self.caches.get(prefix)
        if cache is None:
            cache = self.caches[prefix] = ResourceCache(prefix, self._start_revision, self.window)
        return cache

    async def _run(self) -> None:
        while True:
            try:
                async for batch in self.store.watch(REGISTRY_PREFIX, start_revision=self.revision):
                    self._process(batch)
            except asyncio.CancelledError:
                raise
            except CompactedError:
                log.warning("watch cache fell behind compaction; reloading")
                await self._reload()
            except Exception:
                log.exception("watch cache storage watch failed; restarting it")
                await asyncio.sleep(0.5)

    async def _reload(self) -> None:
        for cache in self.caches.values():
            for w in cache.watchers:
                w.close()
        await self._load()

    def expect_write(self, key: str, value: bytes, obj: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        """Announce a write of value, the encoding of obj (a dict with a metadata dict, JSON values only), to key.

        When the cache sees that write it keeps obj itself (its resourceVersion set) instead of decoding value:
        from then on obj is shared, and nobody may change it. Pass the result to forget_write once the write is
        done (or failed).
        """
        entry = (value, obj)
        self._written[key] = entry
        return entry

    def forget_write(self, key: str, entry: tuple[bytes, dict[str, Any]]) -> None:
        if self._written.get(key) is entry:
            del self._written[key]

    def _decoded(self, kv: KeyValue) -> dict[str, Any]:
        """The object a PUT stored: the writer's own when it announced exactly these bytes, else decoded."""
        entry = self._written.get(kv.key)
        if entry is not None and entry[0] == kv.value:
            del self._written[kv.key]
            obj = entry[1]
            obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
            return obj
        return decode(kv)

    def _process(self, batch: list[Event]) -> None:
        for sev in batch:
            key = sev.kv.key
            cache = self.cache_for(resource_prefix(key))
            prev = cache.objects.get(key)
            if sev.type == "DELETE":
                base = sev.prev_kv if sev.prev_kv is not None else None
                if base is not None and prev is not None and \
                        prev["metadata"].get("resourceVersion") == str(base.mod_revision):
                    # the deleted value is the one the cache holds: a copy with the deletion's resourceVersion
                    obj = dict(prev)
                    obj["metadata"] = dict(prev["metadata"], resourceVersion=str(sev.kv.mod_revision))
                elif base is not None:
                    obj = decode(base, sev.kv.mod_revision)
                else:
                    obj = dict(prev) if prev else None
                if obj is None:
                    continue
                ev = WatchEvent("DELETED", key, obj, prev, sev.kv.mod_revision)
            else:
                obj = self._decoded(sev.kv)
                ev = WatchEvent("ADDED" if prev is None else "MODIFIED", key, obj, prev, sev.kv.mod_revision)
            cache.apply(ev)
            if sev.kv.mod_revision > self.revision:
                self.revision = sev.kv.mod_revision
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._waiters[0][0] <= self.revision:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)

    async def wait_for_revision(self, revision: int, timeout: float = 3.0) -> bool:
        """Wait until the cache has processed revision; False on timeout."""
        if self.revision >= revision:
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._waiters, (revision, self._seq, fut))
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def wait_fresh(self, timeout: float = 3.0) -> bool:
        """Wait until the cache holds the store's current state (a consistent read from cache)."""
        return await self.wait_for_revision(await self.store.current_revision(), timeout)

    def watch(self, prefix: str, matches: Filter) -> CacheWatcher:
        """A live watcher of events under prefix from now on (the caller replays history first)."""
        cache = self.cache_for(resource_prefix(prefix + "x"))
        w = CacheWatcher(prefix, matches)
        cache.watchers.add(w)
        return w

    def unwatch(self, w: CacheWatcher) -> None:
        cache = self.caches.get(resource_prefix(w.prefix + "x"))
        if cache:
            cache.watchers.discard(w)
        w.close()

    def watcher_count(self) -> int:
        return sum(len(c.watchers) for c in self.caches.values())

    async def storage_watch(self, prefix: str, revision: int) -> AsyncIterator[WatchEvent]:
        """Events after revision read straight from storage, for watches older than the cache window."""
        async for batch in self.store.watch(prefix, start_revision=revision):
            for sev in batch:
                key = sev.kv.key
                if sev.type == "DELETE":
                    base = sev.prev_kv
                    if base is None:
                        continue
                    yield WatchEvent("DELETED", key, decode(base, sev.kv.mod_revision), None, sev.kv.mod_revision)
                else:
                    obj = decode(sev.kv)
                    prev = decode(sev.prev_kv) if sev.prev_kv is not None else None
                    kind = "ADDED" if sev.is_create else "MODIFIED"
                    yield WatchEvent(kind, key, obj, prev, sev.kv.mod_revision)

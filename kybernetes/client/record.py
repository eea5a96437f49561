"""Event recording as client-go's tools/record: an EventCorrelator (dedup, aggregation, spam filter) and a
broadcaster that writes core/v1 Events in the background so callers never wait on the apiserver.

Correlation, as upstream's EventCorrelator:
- aggregation: events that differ only in their message (same source, object, type, reason) are counted per
  aggregate key; from the `max_events`-th distinct message within `max_interval` seconds on, they collapse
  into one event whose message starts with "(combined from similar events): ".
- de-duplication: an event identical to one already written (same key, message included) is not created
  again: the existing Event is PATCHed with count+1, the new lastTimestamp and message.
- spam filter: a token bucket per source+object (`spam_burst` events, refilled at `spam_qps`); events past
  it are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import aiohttp

from kybernetes.client.rest import ApiError, RESTClient, resource_path

log = logging.getLogger(__name__)

Obj = dict[str, Any]

MAX_LRU_CACHE_ENTRIES = 4096
DEFAULT_AGGREGATE_MAX_EVENTS = 10
DEFAULT_AGGREGATE_INTERVAL = 600.0
DEFAULT_SPAM_BURST = 25
DEFAULT_SPAM_QPS = 1.0 / 300.0
MAX_QUEUED_EVENTS = 1000
MAX_TRIES = 3
COMBINED_PREFIX = "(combined from similar events): "


def _fmt_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _LRU(OrderedDict[str, Any]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_item(self, key: str) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


def _object_key(event: Obj) -> list[str]:
    src, io = event.get("source") or {}, event.get("involvedObject") or {}
    return [src.get("component", ""), src.get("host", ""), io.get("kind", ""), io.get("namespace", ""),
            io.get("name", ""), io.get("uid", ""), io.get("apiVersion", "")]


def event_aggregate_key(event: Obj) -> tuple[str, str]:
    """(aggregate key: everything but the message, local key: the message), as upstream's default."""
    return "\x00".join(_object_key(event) + [event.get("type", ""), event.get("reason", "")]), \
        event.get("message", "")


def event_key(event: Obj) -> str:
    """The identity of an event for de-duplication: object, source, type, reason and message."""
    return "\x00".join(_object_key(event) + [event.get("type", ""), event.get("reason", ""),
                                             event.get("message", "")])


def spam_key(event: Obj) -> str:
    return "\x00".join(_object_key(event))


@dataclass
class _AggregateRecord:
    local_keys: set[str]
    last: float


@dataclass
class _Observation:
    count: int
    first_timestamp: str
    name: str
    resource_version: str


class _TokenBucket:
    def __init__(self, qps: float, burst: int, now: float) -> None:
        self.qps, self.burst = qps, burst
        self.tokens = float(burst)
        self.last = now

    def try_take(self, now: float) -> bool:
        self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.qps)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class CorrelateResult:
    """The event to write; `patch` set means PATCH the existing Event `event.metadata.name`; `skip` drops it."""

    event: Obj
    patch: Obj | None = None
    skip: bool = False


class EventCorrelator:
    """Pure, clock-driven correlation state (no I/O); `clock` is wall time in epoch seconds."""

    def __init__(self, *, clock: Callable[[], float] = time.time, max_events: int = DEFAULT_AGGREGATE_MAX_EVENTS,
                 max_interval: float = DEFAULT_AGGREGATE_INTERVAL, spam_qps: float = DEFAULT_SPAM_QPS,
                 spam_burst: int = DEFAULT_SPAM_BURST, cache_size: int = MAX_LRU_CACHE_ENTRIES) -> None:
        self.clock = clock
        self.max_events, self.max_interval = max_events, max_interval
        self.spam_qps, self.spam_burst = spam_qps, spam_burst
        self._aggregate = _LRU(cache_size)
        self._observed = _LRU(cache_size)
        self._spam = _LRU(cache_size)

    def correlate(self, event: Obj) -> CorrelateResult:
        now = self.clock()
        aggregated, cache_key = self._aggregate_event(event, now)
        observed, patch = self._observe(aggregated, cache_key)
        if self._filtered(observed, now):
            return CorrelateResult(observed, None, skip=True)
        return CorrelateResult(observed, patch)

    def _aggregate_event(self, event: Obj, now: float) -> tuple[Obj, str]:
        agg_key, local_key = event_aggregate_key(event)
        record = self._aggregate.get_item(agg_key)
        if record is None or now - record.last > self.max_interval:
            record = _AggregateRecord(set(), now)
        record.local_keys.add(local_key)
        record.last = now
        self._aggregate.put(agg_key, record)
        if len(record.local_keys) < self.max_events:
            return event, event_key(event)
        record.local_keys.pop()  # do not let the set grow past max_events
        stamp = _fmt_time(now)
        combined = {**event, "metadata": {"name": _event_name(event, now),
                                          "namespace": event["metadata"]["namespace"]},
                    "count": 1, "firstTimestamp": stamp, "lastTimestamp": stamp,
                    "message": COMBINED_PREFIX + event.get("message", "")}
        return combined, agg_key

    def _observe(self, event: Obj, key: str) -> tuple[Obj, Obj | None]:
        last: _Observation | None = self._observed.get_item(key)
        patch = None
        if last is not None and last.count > 0:
            event = {**event, "metadata": {**event["metadata"], "name": last.name,
                                           "resourceVersion": last.resource_version},
                     "firstTimestamp": last.first_timestamp, "count": last.count + 1}
            patch = {"count": event["count"], "lastTimestamp": event["lastTimestamp"], "message": event["message"]}
        self._observed.put(key, _Observation(event.get("count", 1), event.get("firstTimestamp", ""),
                                             event["metadata"]["name"], event["metadata"].get("resourceVersion", "")))
        return event, patch

    def _filtered(self, event: Obj, now: float) -> bool:
        key = spam_key(event)
        bucket = self._spam.get_item(key)
        if bucket is None:
            bucket = _TokenBucket(self.spam_qps, self.spam_burst, now)
        self._spam.put(key, bucket)
        return not bucket.try_take(now)

    def update_state(self, event: Obj) -> None:
        """Remember what the apiserver stored (name, resourceVersion, count) under the event's dedup key."""
        md = event.get("metadata") or {}
        obs = _Observation(int(event.get("count") or 1), event.get("firstTimestamp") or "", md.get("name", ""),
                           md.get("resourceVersion", ""))
        agg_key, _ = event_aggregate_key(event)
        key = agg_key if (event.get("message") or "").startswith(COMBINED_PREFIX) else event_key(event)
        self._observed.put(key, obs)


def _event_name(event: Obj, now: float) -> str:
    return f"{(event.get('involvedObject') or {}).get('name', 'event')}.{int(now * 1e9):x}"


def object_reference(obj: Obj) -> Obj:
    """The involvedObject of an event about `obj`."""
    md = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""), "name": md.get("name", ""),
           "uid": md.get("uid", ""), "resourceVersion": md.get("resourceVersion", "")}
    if md.get("namespace"):
        ref["namespace"] = md["namespace"]
    return {k: v for k, v in ref.items() if v}


class EventRecorder:
    """Records events from one component; `event()` only queues them on its broadcaster."""

    def __init__(self, broadcaster: EventBroadcaster, component: str, host: str = "") -> None:
        self.broadcaster = broadcaster
        self.source = {"component": component, **({"host": host} if host else {})}

    def event(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        try:
            now = self.broadcaster.correlator.clock()
            ref = object_reference(obj)
            stamp = _fmt_time(now)
            ev = {"apiVersion": "v1", "kind": "Event",
                  "metadata": {"name": _event_name({"involvedObject": ref}, now),
                               "namespace": ref.get("namespace") or "default"},
                  "involvedObject": ref, "reason": reason, "message": message, "source": dict(self.source),
                  "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "type": event_type,
                  "reportingComponent": self.source["component"], "reportingInstance": self.source.get("host", "")}
            self.broadcaster.enqueue(ev)
        except Exception:  # noqa: BLE001 - events are best effort, never the caller's problem
            log.exception("dropping event %s %s", reason, message)

    def eventf(self, obj: Obj, event_type: str, reason: str, fmt: str, *args: Any) -> None:
        self.event(obj, event_type, reason, fmt % args if args else fmt)


class EventBroadcaster:
    """Correlates queued events and writes them with one background task. Call it to get a recorder."""

    def __init__(self, client: RESTClient | None, *, host: str = "", correlator: EventCorrelator | None = None,
                 max_queued: int = MAX_QUEUED_EVENTS, retry_delay: float = 1.0, qps: float = 0.0,
                 burst: int = 0) -> None:
        """`qps`/`burst`: at most `burst` writes at once, then `qps` a second (upstream kubelet eventRecordQPS
        and eventBurst); 0 qps: no limit."""
        self.client = client
        self._limit = _TokenBucket(qps, max(1, burst), time.monotonic()) if qps > 0 else None
        self.host = host if host else socket.gethostname()
        self.correlator = correlator or EventCorrelator()
        self.retry_delay = retry_delay
        self._max_queued = max_queued
        self._queue: asyncio.Queue[Obj] | None = None
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.written: list[Obj] = []  # only kept when client is None (tests)

    def __call__(self, component: str) -> EventRecorder:
        return self.new_recorder(component)

    def new_recorder(self, component: str) -> EventRecorder:
        return EventRecorder(self, component, self.host)

    def enqueue(self, event: Obj) -> None:
        """Queue one event; dropped when no loop runs or the queue is full (as upstream's DropIfChannelFull)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.dropped += 1
            return
        if self._queue is None:
            self._queue = asyncio.Queue(self._max_queued)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="event-broadcaster")
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    async def flush(self) -> None:
        """Wait until every queued event has been handled (tests)."""
        if self._queue is not None:
            await self._queue.join()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            try:
                result = self.correlator.correlate(event)
                if not result.skip:
                    if self._limit is not None:
                        await self._wait_token(self._limit)
                    await self._write(result)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("event broadcaster failed")
            finally:
                self._queue.task_done()

    @staticmethod
    async def _wait_token(bucket: _TokenBucket) -> None:
        while not bucket.try_take(time.monotonic()):
            await asyncio.sleep((1.0 - bucket.tokens) / bucket.qps)

    async def _write(self, result: CorrelateResult) -> None:
        event = result.event
        if self.client is None:
            self.written.append({**event, "_patch": result.patch})
            self.correlator.update_state(event)
            return
        ns, name = event["metadata"]["namespace"], event["metadata"]["name"]
        path = resource_path("", "v1", "events", ns)
        for attempt in range(MAX_TRIES):
            try:
                stored = None
                if result.patch is not None:
                    try:
                        stored = await self.client.patch(f"{path}/{name}", result.patch, "strategic")
                    except ApiError as e:
                        if not e.not_found:
                            raise
                if stored is None:
                    body = {**event, "metadata": {"name": name, "namespace": ns}}
                    stored = await self.client.create(path, body)
                self.correlator.update_state(stored)
                return
            except ApiError as e:
                if e.code in (409, 403, 404, 422, 400):  # exists, forbidden, namespace gone, invalid: give up
                    log.debug("event %s/%s not written: %s", ns, name, e)
                    return
                log.info("writing event %s/%s (attempt %d): %s", ns, name, attempt + 1, e)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                log.info("writing event %s/%s (attempt %d): %s", ns, name, attempt + 1, e)
            await asyncio.sleep(self.retry_delay)


def recorder_factory(client: RESTClient | None, *, host: str = "") -> EventBroadcaster:
    """The `recorder_factory` of a ControllerContext: `factory(component)` returns an EventRecorder."""
    return EventBroadcaster(client, host=host)

"""Prometheus metrics of the apiserver: requests by verb and resource, latencies, watchers, storage."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from kybernetes.api.registry import ResourceInfo
from kybernetes.storage.interface import Store
from kybernetes.version import register_build_info

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10,
                    15, 20, 30, 45, 60)


# upstream labels requests with the HTTP method (GET of a collection is LIST), not the API verb
_HTTP_VERBS = {"CREATE": "POST", "UPDATE": "PUT", "DELETECOLLECTION": "DELETE"}


class APIServerMetrics:
    """One registry per apiserver, so several servers in one process (tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        register_build_info(self.registry)
        labels = ("verb", "group", "version", "resource", "subresource", "scope", "component", "code")
        self.requests = Counter("apiserver_request_total", "Counter of apiserver requests broken out for each "
                                "verb, group, version, resource, scope, component, and HTTP response code.",
                                labels, registry=self.registry)
        self.latency = Histogram("apiserver_request_duration_seconds", "Response latency distribution in seconds "
                                 "for each verb, group, version, resource, subresource, scope and component.",
                                 ("verb", "group", "version", "resource", "subresource", "scope", "component"),
                                 buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.watchers = Gauge("apiserver_registered_watchers", "Number of currently registered watchers for a "
                              "given resource", ("group", "version", "kind"), registry=self.registry)
        self.watch_events = Counter("apiserver_watch_events_total", "Number of events sent in watch clients",
                                    ("group", "version", "kind"), registry=self.registry)
        self.longrunning = Gauge("apiserver_longrunning_requests", "Gauge of all active long-running apiserver "
                                 "requests", ("verb", "resource"), registry=self.registry)
        self.storage_latency = Histogram("etcd_request_duration_seconds", "Storage request latency in seconds for "
                                         "each operation and object type.", ("operation", "type"),
                                         buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                  1, 2.5, 5), registry=self.registry)
        self._children: dict[tuple, tuple] = {}
        self.storage_objects = Gauge("apiserver_storage_objects", "Number of stored objects at the time of last "
                                     "check split by kind.", ("resource",), registry=self.registry)

    def observe_request(self, *, verb: str, info: ResourceInfo | None, resource: str, subresource: str,
                        scope: str, code: int, seconds: float) -> None:
        group = info.group if info else ""
        version = info.version if info else ""
        verb = _HTTP_VERBS.get(verb, verb)
        key = (verb, group, version, resource, subresource, scope, code)
        children = self._children.get(key)
        if children is None:
            # resolving labelled children is most of the cost of an observation: do it once per label set
            children = self._children[key] = (
                self.requests.labels(verb, group, version, resource, subresource, scope, "apiserver", str(code)),
                self.latency.labels(verb, group, version, resource, subresource, scope, "apiserver"))
        children[0].inc()
        children[1].observe(seconds)

    def watchers_changed(self, info: ResourceInfo, delta: int) -> None:
        self.watchers.labels(info.group, info.version, info.kind).inc(delta)
        self.longrunning.labels("WATCH", info.plural).inc(delta)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _storage_type(key: str) -> str:
    parts = key.split("/")
    return parts[3] if len(parts) > 3 else key


class InstrumentedStore:
    """Wraps a Store, timing every call into etcd_request_duration_seconds."""

    def __init__(self, inner: Store, metrics: APIServerMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def _timed(self, op: str, key: str, coro: Any) -> Any:
        start = time.perf_counter()
        try:
            return await coro
        finally:
            self.metrics.storage_latency.labels(op, _storage_type(key)).observe(time.perf_counter() - start)

    async def get(self, key: str, **kw: Any) -> Any:
        return await self._timed("get", key, self.inner.get(key, **kw))

    async def range(self, prefix: str, **kw: Any) -> Any:
        return await self._timed("list", prefix, self.inner.range(prefix, **kw))

    async def create(self, key: str, value: bytes) -> Any:
        return await self._timed("create", key, self.inner.create(key, value))

    async def update(self, key: str, value: bytes, **kw: Any) -> Any:
        return await self._timed("update", key, self.inner.update(key, value, **kw))

    async def delete(self, key: str, **kw: Any) -> Any:
        return await self._timed("delete", key, self.inner.delete(key, **kw))

    def watch(self, prefix: str, **kw: Any) -> Any:
        return self.inner.watch(prefix, **kw)

"""The kubelet server's own Prometheus registry and the metrics /metrics exposes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kybernetes.version import register_build_info

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServerMetrics:
    """HTTP request counts and latency by path, and the running pods/containers gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        register_build_info(self.registry)
        self.requests = Counter("kubelet_http_requests", "Number of the http requests received since the server "
                                "started", ("method", "path", "server_type", "long_running"), registry=self.registry)
        self.duration = Histogram("kubelet_http_requests_duration_seconds", "Duration in seconds to serve http "
                                  "requests", ("method", "path", "server_type", "long_running"),
                                  registry=self.registry)
        self.running_pods = Gauge("kubelet_running_pods", "Number of pods that have a running pod sandbox",
                                  registry=self.registry)
        self.running_containers = Gauge("kubelet_running_containers", "Number of containers currently running",
                                        ("container_state",), registry=self.registry)

    def observe(self, method: str, path: str, long_running: bool, seconds: float) -> None:
        labels = (method, path, "readwrite", str(long_running).lower())
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

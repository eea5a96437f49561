"""The scheduler's Prometheus metrics on their own CollectorRegistry (upstream names)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from kybernetes.version import register_build_info

_BUCKETS = tuple(0.001 * 2 ** i for i in range(15))  # 1 ms .. 16 s, as upstream's exponential buckets


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        register_build_info(self.registry)
        self.schedule_attempts = Counter(
            "scheduler_schedule_attempts", "Number of attempts to schedule pods, by the result.",
            ["result", "profile"], registry=self.registry)
        self.attempt_duration = Histogram(
            "scheduler_scheduling_attempt_duration_seconds",
            "Scheduling attempt latency in seconds (scheduling algorithm + binding)", ["result", "profile"],
            buckets=_BUCKETS, registry=self.registry)
        self.e2e_duration = Histogram(
            "scheduler_e2e_scheduling_duration_seconds",
            "E2e scheduling latency in seconds (from the first attempt to the pod bound)", ["result", "profile"],
            buckets=_BUCKETS, registry=self.registry)
        self.pending_pods = Gauge("scheduler_pending_pods", "Number of pending pods, by the queue type.", ["queue"],
                                  registry=self.registry)

    def watch_queue(self, sizes: Callable[[], dict[str, int]]) -> None:
        for q in ("active", "backoff", "unschedulable", "gated"):
            self.pending_pods.labels(queue=q).set_function(lambda q=q: sizes().get(q, 0))

    def observe_attempt(self, result: str, profile: str, seconds: float) -> None:
        self.schedule_attempts.labels(result=result, profile=profile).inc()
        self.attempt_duration.labels(result=result, profile=profile).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

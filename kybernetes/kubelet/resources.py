"""Container resources for the runtime: CPU and memory limits/requests to CFS quota, shares and memory limit,
as upstream's kuberuntime (MilliCPUToQuota, MilliCPUToShares)."""

from __future__ import annotations

from typing import Any

from kybernetes.api.validation.quantity import parse_quantity
from kybernetes.kubelet.runtime.interface import LinuxContainerResources

QUOTA_PERIOD = 100_000  # µs
MIN_SHARES, MAX_SHARES, SHARES_PER_CPU = 2, 262144, 1024


def milli_cpu(value: Any) -> int:
    return int(parse_quantity(value) * 1000)


def container_resources(container: dict[str, Any]) -> LinuxContainerResources:
    res = container.get("resources") or {}
    limits, requests = res.get("limits") or {}, res.get("requests") or {}
    out = LinuxContainerResources()
    cpu_request = requests.get("cpu", limits.get("cpu"))
    if cpu_request is not None:
        shares = milli_cpu(cpu_request) * SHARES_PER_CPU // 1000
        out.cpu_shares = min(max(shares, MIN_SHARES), MAX_SHARES)
    else:
        out.cpu_shares = MIN_SHARES
    if limits.get("cpu") is not None:
        out.cpu_period = QUOTA_PERIOD
        out.cpu_quota = max(milli_cpu(limits["cpu"]) * QUOTA_PERIOD // 1000, 1000)
    if limits.get("memory") is not None:
        out.memory_limit_in_bytes = int(parse_quantity(limits["memory"]))
    return out


def pod_requests(pod: dict[str, Any], resource: str) -> float:
    """The pod's request of `resource` (sum over app containers; init containers' max if larger)."""
    spec = pod.get("spec") or {}

    def req(c: dict[str, Any]) -> float:
        r = ((c.get("resources") or {}).get("requests") or {}).get(resource)
        return float(parse_quantity(r)) if r is not None else 0.0

    total = sum(req(c) for c in spec.get("containers") or [])
    init = max((req(c) for c in spec.get("initContainers") or []), default=0.0)
    return max(total, init)

"""Node-pressure eviction on the hard thresholds (upstream pkg/kubelet/eviction): memory.available and
nodefs.available observed every monitoring period; under pressure the node condition turns True and one pod
per period is evicted, chosen in upstream's order: pods whose usage exceeds their requests first, then lower
priority, then larger usage above requests. imagefs is not observed (the process runtime has no images)."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kybernetes.api.validation.quantity import parse_quantity
from kybernetes.kubelet.nodestatus import meminfo
from kybernetes.kubelet.resources import pod_requests

log = logging.getLogger(__name__)
Obj = dict[str, Any]

SIGNAL_RESOURCE = {"memory.available": "memory", "nodefs.available": "ephemeral-storage"}
SIGNAL_CONDITION = {"memory.available": "MemoryPressure", "nodefs.available": "DiskPressure"}


@dataclass
class Observation:
    available: float
    capacity: float


def observe(root_dir: str) -> dict[str, Observation]:
    mem = meminfo()
    st = os.statvfs(root_dir)
    return {"memory.available": Observation(mem.get("MemAvailable", 0), mem.get("MemTotal", 0)),
            "nodefs.available": Observation(st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize)}


def threshold_bytes(value: str, capacity: float) -> float:
    if value.endswith("%"):
        return capacity * float(value[:-1]) / 100
    return float(parse_quantity(value))


def signals_under_pressure(thresholds: dict[str, str], observations: dict[str, Observation]) -> list[str]:
    out = []
    for sig, value in thresholds.items():
        obs = observations.get(sig)
        if obs is not None and obs.available < threshold_bytes(value, obs.capacity):
            out.append(sig)
    return out


def rank_for_eviction(pods: list[Obj], usage: Callable[[Obj], float], resource: str) -> list[Obj]:
    """Upstream's rankMemoryPressure/rankDiskPressure: exceeds requests, then priority, then usage - requests."""
    def key(pod: Obj) -> tuple[int, int, float]:
        used = usage(pod)
        above = used - pod_requests(pod, resource)
        priority = int((pod.get("spec") or {}).get("priority") or 0)
        return (0 if above > 0 else 1, priority, -above)
    return sorted(pods, key=key)


def eviction_message(resource: str, threshold: str, pod: Obj, usage: float) -> str:
    """The status message of an evicted pod (upstream evictionMessage)."""
    msg = f"The node was low on resource: {resource}. Threshold quantity: {threshold}, available: "
    msg += "unknown. "
    containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    if containers:
        msg += f"Container {containers[0]} was using {int(usage) // 1024}Ki, request is " \
               f"{int(pod_requests(pod, resource)) // 1024}Ki, has larger consumption of {resource}. "
    return msg.strip()


class EvictionManager:
    """Watches the signals; `pressure()` answers the node conditions; evicts through `evict(pod, message)`."""

    def __init__(self, *, root_dir: str, thresholds: dict[str, str], pods: Callable[[], list[Obj]],
                 usage: Callable[[Obj, str], Awaitable[float]], evict: Callable[[Obj, str], Awaitable[None]],
                 observer: Callable[[str], dict[str, Observation]] = observe) -> None:
        self.root_dir = root_dir
        self.thresholds = {k: v for k, v in thresholds.items() if k in SIGNAL_RESOURCE}
        self.pods = pods
        self.usage = usage
        self.evict = evict
        self.observer = observer
        self._pressure: set[str] = set()

    def pressure(self) -> dict[str, bool]:
        return {SIGNAL_CONDITION[s]: s in self._pressure for s in SIGNAL_CONDITION}

    async def synchronize(self) -> Obj | None:
        """One monitoring pass; returns the pod evicted, if any."""
        observations = self.observer(self.root_dir)
        under = signals_under_pressure(self.thresholds, observations)
        self._pressure = set(under)
        if not under:
            return None
        sig = under[0]
        resource = SIGNAL_RESOURCE[sig]
        active = [p for p in self.pods() if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                  and not (p.get("metadata") or {}).get("deletionTimestamp")]
        if not active:
            return None
        usages = {p["metadata"]["uid"]: await self.usage(p, resource) for p in active}
        ranked = rank_for_eviction(active, lambda p: usages[p["metadata"]["uid"]], resource)
        victim = ranked[0]
        await self.evict(victim, eviction_message(resource, self.thresholds[sig], victim,
                                                  usages[victim["metadata"]["uid"]]))
        return victim

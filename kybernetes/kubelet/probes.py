"""Liveness, readiness and startup probes: one asyncio worker per probe of a running container, as upstream's
prober manager. Results cross their success/failure thresholds before they change; a change wakes the pod's
worker (`on_change(pod_uid)`), which restarts a container that failed liveness/startup and reports readiness.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kybernetes.kubelet.handlers import run_action
from kybernetes.kubelet.runtime.interface import ContainerRuntime

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class ProbeType(str, enum.Enum):
    LIVENESS = "Liveness"
    READINESS = "Readiness"
    STARTUP = "Startup"

    @property
    def field(self) -> str:
        return self.value.lower() + "Probe"


INITIAL_RESULT = {ProbeType.LIVENESS: True, ProbeType.READINESS: False, ProbeType.STARTUP: None}


@dataclass
class ResultTracker:
    """Consecutive results must reach successThreshold/failureThreshold before the reported result flips."""

    success_threshold: int = 1
    failure_threshold: int = 3
    result: bool | None = None
    last: bool | None = None
    run: int = 0

    def observe(self, ok: bool) -> bool:
        """Record one probe result; True when the reported result changed."""
        if self.last == ok:
            self.run += 1
        else:
            self.last, self.run = ok, 1
        if (not ok and self.run < self.failure_threshold) or (ok and self.run < self.success_threshold):
            return False
        if self.result == ok:
            return False
        self.result = ok
        return True


def probe_settings(probe: Obj) -> tuple[float, float, float, int, int]:
    """(initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold, failureThreshold), defaulted."""
    return (float(probe.get("initialDelaySeconds") or 0), float(probe.get("periodSeconds") or 10),
            float(probe.get("timeoutSeconds") or 1), int(probe.get("successThreshold") or 1),
            int(probe.get("failureThreshold") or 3))


@dataclass
class ProbeWorker:
    manager: ProbeManager
    pod_uid: str
    container_name: str
    container_id: str
    started_at: float  # epoch seconds the container started
    type: ProbeType
    probe: Obj
    tracker: ResultTracker = field(default_factory=ResultTracker)
    on_hold: bool = False
    task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        _, period, _, _, _ = probe_settings(self.probe)
        while True:
            try:
                if not await self.once():
                    return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a probe bug must not kill the worker
                log.exception("probe %s of %s/%s", self.type.value, self.pod_uid, self.container_name)
            await asyncio.sleep(period)

    async def once(self) -> bool:
        """Run the probe once if it is due; False when the worker is done."""
        delay, _, timeout, _, _ = probe_settings(self.probe)
        if self.type == ProbeType.STARTUP and self.tracker.result is True:
            return False
        if self.type != ProbeType.STARTUP and not self.manager.is_started(self.pod_uid, self.container_name,
                                                                           self.container_id):
            return True
        if self.on_hold or time.time() - self.started_at < delay:
            return True
        pod = self.manager.get_pod(self.pod_uid)
        if pod is None:
            return False
        container = next((c for c in _all_containers(pod) if c["name"] == self.container_name), None)
        if container is None:
            return False
        result = await run_action(self.probe, runtime=self.manager.runtime, pod=pod, container=container,
                                  container_id=self.container_id, timeout=timeout)
        if not result.ok:
            self.manager.event(pod, "Warning", "Unhealthy", f"{self.type.value} probe failed: {result.message}")
        if self.tracker.observe(result.ok):
            self.manager.on_change(self.pod_uid)
        if self.tracker.result is False and self.type != ProbeType.READINESS:
            self.on_hold = True  # until the container is restarted (a new worker)
        return True


def _all_containers(pod: Obj) -> list[Obj]:
    spec = pod.get("spec") or {}
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


class ProbeManager:
    """Holds the probe workers of every running container and answers started/ready/liveness questions."""

    def __init__(self, runtime: ContainerRuntime, *, get_pod: Callable[[str], Obj | None],
                 on_change: Callable[[str], None], event: Callable[[Obj, str, str, str], None]) -> None:
        self.runtime = runtime
        self.get_pod = get_pod
        self.on_change = on_change
        self.event = event
        self._workers: dict[tuple[str, str, ProbeType], ProbeWorker] = {}

    def ensure(self, pod_uid: str, container: Obj, container_id: str, started_at: float) -> None:
        """Probe workers for this running container (replacing those of an earlier container of the name)."""
        for ptype in ProbeType:
            probe = container.get(ptype.field)
            key = (pod_uid, container["name"], ptype)
            worker = self._workers.get(key)
            if worker is not None and worker.container_id == container_id:
                continue
            self._stop(key)
            if not probe:
                continue
            _, _, _, success, failure = probe_settings(probe)
            if ptype != ProbeType.READINESS:
                success = 1
            worker = ProbeWorker(self, pod_uid, container["name"], container_id, started_at, ptype, probe,
                                 ResultTracker(success, failure, INITIAL_RESULT[ptype]))
            worker.task = asyncio.create_task(worker.run(), name=f"probe {ptype.value} {pod_uid}/{container['name']}")
            self._workers[key] = worker

    def _stop(self, key: tuple[str, str, ProbeType]) -> None:
        worker = self._workers.pop(key, None)
        if worker is not None and worker.task is not None:
            worker.task.cancel()

    def remove_container(self, pod_uid: str, name: str) -> None:
        for ptype in ProbeType:
            self._stop((pod_uid, name, ptype))

    def remove_pod(self, pod_uid: str) -> None:
        for key in [k for k in self._workers if k[0] == pod_uid]:
            self._stop(key)

    def stop_all(self) -> None:
        for key in list(self._workers):
            self._stop(key)

    def _result(self, pod_uid: str, name: str, container_id: str, ptype: ProbeType) -> tuple[bool, bool | None]:
        """(has a worker for this container, its result)."""
        worker = self._workers.get((pod_uid, name, ptype))
        if worker is None or worker.container_id != container_id:
            return False, None
        return True, worker.tracker.result

    def is_started(self, pod_uid: str, name: str, container_id: str) -> bool:
        has, result = self._result(pod_uid, name, container_id, ProbeType.STARTUP)
        return not has or result is True

    def is_ready(self, pod_uid: str, name: str, container_id: str) -> bool:
        has, result = self._result(pod_uid, name, container_id, ProbeType.READINESS)
        return not has or result is True

    def failed(self, pod_uid: str, name: str, container_id: str) -> ProbeType | None:
        """LIVENESS or STARTUP when that probe failed for this container (it must be restarted)."""
        for ptype in (ProbeType.STARTUP, ProbeType.LIVENESS):
            has, result = self._result(pod_uid, name, container_id, ptype)
            if has and result is False:
                return ptype
        return None

    def probe_of(self, pod_uid: str, name: str, ptype: ProbeType) -> Obj | None:
        worker = self._workers.get((pod_uid, name, ptype))
        return worker.probe if worker else None

"""SchedulingGates: the PreEnqueue plugin keeping pods with spec.schedulingGates out of the active queue."""

from __future__ import annotations

from typing import Any

from kybernetes.scheduler.framework.interface import SUCCESS, ClusterEvent, Code, Handle, Pod, Status

NAME = "SchedulingGates"


class SchedulingGates:
    name = NAME

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Pod", "UpdatePodSchedulingGatesEliminated")]

    def pre_enqueue(self, pod: Pod) -> Status:
        gates = (pod.get("spec") or {}).get("schedulingGates") or []
        if not gates:
            return SUCCESS
        names = [g.get("name", "") for g in gates]
        return Status(Code.PENDING, [f"waiting for scheduling gates: [{' '.join(names)}]"])


def new(args: dict[str, Any], handle: Handle | None) -> SchedulingGates:
    return SchedulingGates()

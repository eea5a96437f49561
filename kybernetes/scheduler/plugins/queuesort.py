"""PrioritySort: the QueueSort plugin ordering the active queue by pod priority, then by queue timestamp."""

from __future__ import annotations

from typing import Any

from kybernetes.scheduler.framework.interface import Handle, QueuedPodInfo
from kybernetes.scheduler.framework.types import pod_priority

NAME = "PrioritySort"


class PrioritySort:
    name = NAME

    def less(self, a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
        """Higher priority first; equal priorities in the order they were queued."""
        pa, pb = pod_priority(a.pod), pod_priority(b.pod)
        return pa > pb or (pa == pb and a.timestamp < b.timestamp)


def new(args: dict[str, Any], handle: Handle | None) -> PrioritySort:
    return PrioritySort()

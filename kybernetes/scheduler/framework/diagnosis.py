"""Why a pod fits no node: per-node filter statuses and upstream's FitError message ("0/3 nodes are available: ...")."""

from __future__ import annotations

from dataclasses import dataclass, field

from kybernetes.scheduler.framework.interface import Status

NO_NODE_AVAILABLE_MSG = "0/{} nodes are available"


@dataclass
class Diagnosis:
    """What the filters said: statuses of rejected nodes, plugins that rejected, and phase messages."""

    node_to_status: dict[str, Status] = field(default_factory=dict)
    absent_nodes_status: Status | None = None  # nodes left out by PreFilter results
    unschedulable_plugins: set[str] = field(default_factory=set)
    pending_plugins: set[str] = field(default_factory=set)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""


@dataclass
class FitError(Exception):
    """No node fits the pod; str() is the message of the FailedScheduling event and PodScheduled condition."""

    pod_key: str
    num_all_nodes: int
    diagnosis: Diagnosis

    def reasons_histogram(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for status in self.diagnosis.node_to_status.values():
            for reason in status.reasons:
                counts[reason] = counts.get(reason, 0) + 1
        absent = self.diagnosis.absent_nodes_status
        if absent is not None:
            n = self.num_all_nodes - len(self.diagnosis.node_to_status)
            if n > 0:
                for reason in absent.reasons:
                    counts[reason] = counts.get(reason, 0) + n
        return counts

    def __str__(self) -> str:
        msg = NO_NODE_AVAILABLE_MSG.format(self.num_all_nodes) + ":"
        if self.diagnosis.pre_filter_msg:
            msg += f" {self.diagnosis.pre_filter_msg}."
        else:
            parts = sorted(f"{n} {reason}" for reason, n in self.reasons_histogram().items())
            if parts:
                msg += f" {', '.join(parts)}."
        if self.diagnosis.post_filter_msg:
            msg += f" {self.diagnosis.post_filter_msg}."
        return msg

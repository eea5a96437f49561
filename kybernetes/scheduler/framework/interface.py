"""The scheduling framework's contracts: Status, CycleState, NodeInfo, and one protocol per extension point.

Modelled on kube-scheduler's framework package. Plugins return a Status for expected outcomes (a pod that
does not fit is Unschedulable, not an exception); exceptions are bugs or I/O failures. Data passes between
the phases of one scheduling cycle only through CycleState.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Pod = dict[str, Any]
Node = dict[str, Any]

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0
MAX_TOTAL_SCORE = 2**63 - 1


class Code(enum.IntEnum):
    """Status codes, as upstream's framework.Code."""

    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3  # preemption cannot help
    WAIT = 4  # Permit: wait
    SKIP = 5  # PreFilter/PreScore: this plugin has nothing to do for the pod
    PENDING = 6  # PreEnqueue / waiting for something external


@dataclass(eq=False)
class Status:
    """The outcome of a plugin call; None reasons and SUCCESS code mean success. Compared by identity (statuses
    are checked by code; identity makes `statuses.count(SUCCESS)` a cheap all-passed test)."""

    code: Code = Code.SUCCESS
    reasons: list[str] = field(default_factory=list)
    plugin: str = ""  # the plugin that failed, filled by the framework

    @classmethod
    def success(cls) -> Status:
        return cls()

    @classmethod
    def unschedulable(cls, *reasons: str, resolvable: bool = True) -> Status:
        return cls(Code.UNSCHEDULABLE if resolvable else Code.UNSCHEDULABLE_AND_UNRESOLVABLE, list(reasons))

    @classmethod
    def error(cls, reason: str) -> Status:
        return cls(Code.ERROR, [reason])

    @classmethod
    def skip(cls) -> Status:
        return cls(Code.SKIP)

    def is_success(self) -> bool:
        return self.code == Code.SUCCESS

    def is_skip(self) -> bool:
        return self.code == Code.SKIP

    def is_rejected(self) -> bool:
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE, Code.PENDING)

    def message(self) -> str:
        return ", ".join(self.reasons)


SUCCESS = Status()


class CycleState:
    """Per-cycle scratch space shared by the plugins of one pod's scheduling cycle, keyed by plugin-chosen keys.

    Values stored here that later phases may mutate must offer .clone() (used when preemption simulates
    removing pods on a node).
    """

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self.skip_filter_plugins: set[str] = set()
        self.skip_score_plugins: set[str] = set()

    def read(self, key: str) -> Any:
        """The value under key; KeyError if absent (a plugin whose PreFilter did not run)."""
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def write(self, key: str, value: Any) -> None:
        self._data[key] = value

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def clone(self) -> CycleState:
        c = CycleState()
        c._data = {k: (v.clone() if hasattr(v, "clone") else v) for k, v in self._data.items()}
        c.skip_filter_plugins = set(self.skip_filter_plugins)
        c.skip_score_plugins = set(self.skip_score_plugins)
        return c


@dataclass
class Resource:
    """Resource amounts in base units: milli-CPU, bytes, counts; scalar = extended resources by name."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    allowed_pod_number: int = 0
    scalar: dict[str, int] = field(default_factory=dict)

    def add(self, other: Resource) -> None:
        self.milli_cpu += other.milli_cpu
        self.memory += other.memory
        self.ephemeral_storage += other.ephemeral_storage
        self.allowed_pod_number += other.allowed_pod_number
        for k, v in other.scalar.items():
            self.scalar[k] = self.scalar.get(k, 0) + v

    def sub(self, other: Resource) -> None:
        self.milli_cpu -= other.milli_cpu
        self.memory -= other.memory
        self.ephemeral_storage -= other.ephemeral_storage
        self.allowed_pod_number -= other.allowed_pod_number
        for k, v in other.scalar.items():
            self.scalar[k] = self.scalar.get(k, 0) - v

    def clone(self) -> Resource:
        return Resource(self.milli_cpu, self.memory, self.ephemeral_storage, self.allowed_pod_number, dict(self.scalar))


@dataclass
class PodInfo:
    """A pod with what plugins ask of it often, computed once (requests, affinity terms parsed lazily by plugins)."""

    pod: Pod
    requests: Resource = field(default_factory=Resource)  # as NodeResourcesFit counts them (init, sidecars, overhead)
    non_zero_requests: Resource = field(default_factory=Resource)  # with upstream's defaults for scoring (100m, 200Mi)
    cache: dict[str, Any] = field(default_factory=dict)  # plugin-private derived data about this pod

    @property
    def key(self) -> str:
        md = self.pod.get("metadata") or {}
        return f"{md.get('namespace', '')}/{md.get('name', '')}"

    @property
    def uid(self) -> str:
        return (self.pod.get("metadata") or {}).get("uid", "")


@dataclass(slots=True)
class NodeInfo:
    """A node and everything placed on it, as the scheduler cache (including assumed pods) sees it. Slotted: the
    scheduling cycle reads a few fields of hundreds of NodeInfos per pod."""

    node: Node | None = None
    pods: list[PodInfo] = field(default_factory=list)
    pods_with_affinity: list[PodInfo] = field(default_factory=list)
    pods_with_required_anti_affinity: list[PodInfo] = field(default_factory=list)
    used_ports: set[tuple[str, str, int]] = field(default_factory=set)  # (hostIP, protocol, hostPort)
    requested: Resource = field(default_factory=Resource)
    non_zero_requested: Resource = field(default_factory=Resource)
    allocatable: Resource = field(default_factory=Resource)
    image_states: dict[str, tuple[int, int]] = field(default_factory=dict)  # image -> (size bytes, num nodes having it)
    generation: int = 0
    taints: list[dict[str, Any]] = field(default_factory=list)  # node.spec.taints, kept with the node (set_node)
    unschedulable: bool = False  # node.spec.unschedulable, kept with the node (set_node)
    labels: dict[str, str] = field(default_factory=dict)  # node.metadata.labels, kept with the node (set_node)
    _name_of: Any = field(default=None, repr=False, compare=False)  # the node object _name was read from
    _name: str = field(default="", repr=False, compare=False)

    @property
    def name(self) -> str:
        node = self.node
        if node is not self._name_of:
            self._name_of = node
            self._name = ((node or {}).get("metadata") or {}).get("name", "")
        return self._name

    def clone(self) -> NodeInfo:
        return NodeInfo(self.node, list(self.pods), list(self.pods_with_affinity),
                        list(self.pods_with_required_anti_affinity), set(self.used_ports), self.requested.clone(),
                        self.non_zero_requested.clone(), self.allocatable.clone(), dict(self.image_states),
                        self.generation, self.taints, self.unschedulable,
                        self.labels)


class NodeInfoLister(Protocol):
    """A snapshot of every node's NodeInfo, taken at the start of a scheduling cycle."""

    def list(self) -> list[NodeInfo]: ...

    def get(self, node_name: str) -> NodeInfo | None: ...

    def have_pods_with_affinity_list(self) -> list[NodeInfo]: ...

    def have_pods_with_required_anti_affinity_list(self) -> list[NodeInfo]: ...


class Handle(Protocol):
    """What the framework gives plugins: the snapshot, listers of the informer caches, the client, events."""

    def snapshot(self) -> NodeInfoLister: ...

    def lister(self, group: str, version: str, plural: str) -> Any:
        """The informer cache (kybernetes.client.Indexer) of a resource the scheduler watches."""
        ...

    @property
    def client(self) -> Any:
        """The kybernetes.client.RESTClient (for binders and preemption)."""
        ...

    # Added with the runtime (frameworkImpl implements all of these); plugins may rely on them.

    def run_filter_plugins(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        """The first failing filter's status on node (with .plugin set), or success."""
        ...

    def run_filter_plugins_with_nominated_pods(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        """Filters as if pods nominated to node with priority >= pod's were already running there."""
        ...

    def run_pre_filter_extension_add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo,
                                         node: NodeInfo) -> Status: ...

    def run_pre_filter_extension_remove_pod(self, state: CycleState, pod: PodInfo, to_remove: PodInfo,
                                            node: NodeInfo) -> Status: ...

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]: ...

    def reject_waiting_pod(self, uid: str) -> bool:
        """Reject a pod waiting at Permit; False if no such pod waits."""
        ...

    def event(self, obj: Pod, event_type: str, reason: str, action: str, message: str) -> None:
        """Record an Event about obj in the background (e.g. Preempted on victims)."""
        ...

    def activate(self, pods: list[Pod]) -> None:
        """Move these pods to activeQ if they wait in backoffQ or among the unschedulable pods."""
        ...


@runtime_checkable
class Plugin(Protocol):
    name: str


class PreEnqueuePlugin(Plugin, Protocol):
    def pre_enqueue(self, pod: Pod) -> Status: ...


class QueueSortPlugin(Plugin, Protocol):
    def less(self, a: QueuedPodInfo, b: QueuedPodInfo) -> bool: ...


class PreFilterPlugin(Plugin, Protocol):
    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> tuple[set[str] | None, Status]:
        """Returns (node names to consider or None for all, status). Skip status: Filter is not needed."""
        ...

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        """Optional add/remove-pod hooks for preemption's what-if evaluation; None when not needed."""
        ...


class PreFilterExtensions(Protocol):
    def add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo) -> Status: ...

    def remove_pod(self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo) -> Status: ...


class FilterPlugin(Plugin, Protocol):
    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        """Must be side-effect free and cheap: it runs for many nodes per pod."""
        ...


class BatchFilterPlugin(FilterPlugin, Protocol):
    """Optional fast path: filter many nodes in one call (Python pays per call). Must give exactly the statuses
    filter() would give for each node, in order; the framework still stops at numFeasibleNodesToFind."""

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[Status]: ...


class PostFilterPlugin(Plugin, Protocol):
    async def post_filter(self, state: CycleState, pod: PodInfo,
                          filtered_statuses: dict[str, Status]) -> tuple[str | None, Status]:
        """Returns (nominated node name or None, status); preemption lives here."""
        ...


class PreScorePlugin(Plugin, Protocol):
    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status: ...


class ScorePlugin(Plugin, Protocol):
    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]: ...

    def score_extensions(self) -> ScoreExtensions | None: ...


class BatchScorePlugin(ScorePlugin, Protocol):
    """Optional fast path: the scores score() would give for each node, in order (raise on error)."""

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]: ...


class ScoreExtensions(Protocol):
    def normalize_score(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> Status:
        """Rescale scores in place to [MIN_NODE_SCORE, MAX_NODE_SCORE]."""
        ...


class ReservePlugin(Plugin, Protocol):
    async def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status: ...

    async def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        """Must be idempotent: it may be called even if reserve was not."""
        ...


class PermitPlugin(Plugin, Protocol):
    async def permit(self, state: CycleState, pod: PodInfo, node_name: str) -> tuple[Status, float]:
        """(status, timeout seconds for Code.WAIT)."""
        ...


class PreBindPlugin(Plugin, Protocol):
    async def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status: ...


class BindPlugin(Plugin, Protocol):
    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        """Skip status: let the next bind plugin do it."""
        ...


class PostBindPlugin(Plugin, Protocol):
    async def post_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> None: ...


class EnqueueExtensions(Protocol):
    """Plugins that reject pods say which cluster events may make them schedulable again, each optionally with a
    QueueingHintFn that looks at the changed object and says whether this occurrence can help this pod."""

    def events_to_register(self) -> list[ClusterEvent | ClusterEventWithHint]: ...


@dataclass(frozen=True)
class ClusterEvent:
    """A kind of change: resource ('Node', 'Pod', 'PersistentVolume', ...) and action bits ('Add', 'Update', 'Delete')."""

    resource: str
    action: str  # "Add", "Update", "Delete", "UpdateNodeLabel", "UpdateNodeTaint", "UpdateNodeAllocatable", "All"
    label: str = ""


class QueueingHint(enum.IntEnum):
    """What a QueueingHintFn says about one occurrence of a registered event for one rejected pod (upstream's
    framework.QueueingHint): QUEUE moves the pod to backoffQ/activeQ, QUEUE_SKIP leaves it where it is."""

    QUEUE_SKIP = 0
    QUEUE = 1


class QueueingHintFn(Protocol):
    """(the rejected pod, the object before the change or None, the object after the change or None) -> hint.
    Must be cheap and side-effect free; an exception counts as QUEUE (as upstream)."""

    def __call__(self, pod: Pod, old: Any, new: Any) -> QueueingHint: ...


@dataclass(frozen=True)
class ClusterEventWithHint:
    """A registered event and its QueueingHintFn (None: every occurrence may help)."""

    event: ClusterEvent
    queueing_hint_fn: QueueingHintFn | None = None


def with_hint(event: ClusterEvent | ClusterEventWithHint) -> ClusterEventWithHint:
    """A plain ClusterEvent registration as a ClusterEventWithHint without hint."""
    return event if isinstance(event, ClusterEventWithHint) else ClusterEventWithHint(event)


@dataclass
class QueuedPodInfo:
    """A pod in the scheduling queue, with its attempt history."""

    pod_info: PodInfo
    timestamp: float = 0.0  # when added to the queue
    attempts: int = 0
    initial_attempt_timestamp: float | None = None
    unschedulable_plugins: set[str] = field(default_factory=set)
    pending_plugins: set[str] = field(default_factory=set)

    @property
    def pod(self) -> Pod:
        return self.pod_info.pod

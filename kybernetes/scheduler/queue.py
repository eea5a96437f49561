"""The scheduling queue (upstream's PriorityQueue): activeQ ordered by the QueueSort plugin, backoffQ with per-pod
exponential back-off, unschedulable pods moved back only on cluster events their rejecting plugins registered and
whose QueueingHintFns say may help (or after podMaxInUnschedulablePodsDuration), and the nominator of pods waiting
for preemption victims to leave.

Beyond upstream: a pod nominated to a node where lower-priority pods are still terminating (its victims) waits
among the unschedulable pods, unmoved by pod deletions, until those victims are gone (for at most
MAX_WAIT_FOR_VICTIMS after its nomination): retrying earlier can only fail again, since preemption is not eligible
while its victims terminate. A pod leaving backoffQ (or activated) in that state is parked there too."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from kybernetes.client.clock import Clock, RealClock, TimerHandle
from kybernetes.scheduler.framework.interface import (SUCCESS, ClusterEvent, ClusterEventWithHint, Pod, PodInfo,
                                                      QueuedPodInfo, QueueingHint, Status, with_hint)
from kybernetes.scheduler.framework.types import new_pod_info, pod_priority

log = logging.getLogger(__name__)

DEFAULT_POD_INITIAL_BACKOFF = 1.0
DEFAULT_POD_MAX_BACKOFF = 10.0
DEFAULT_POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION = 300.0
BACKOFF_FLUSH_PERIOD = 1.0
UNSCHEDULABLE_FLUSH_PERIOD = 30.0
MAX_WAIT_FOR_VICTIMS = 30.0  # a nominated pod ignores pod deletions elsewhere at most this long

UNSCHEDULABLE_TIMEOUT = ClusterEvent("*", "UnschedulableTimeout")
FORCE_ACTIVATE = ClusterEvent("*", "ForceActivate")


class QueueClosed(Exception):
    """pop() on a closed queue."""


def event_matches(registered: ClusterEvent, fired: ClusterEvent) -> bool:
    """A plugin's registered event covers the fired one: same resource (or '*') and the same action, 'All', or
    'Update' for any 'Update...' action."""
    if registered.resource not in ("*", fired.resource):
        return False
    a = registered.action
    return a in ("All", fired.action) or (a == "Update" and fired.action.startswith("Update"))


class _Event(NamedTuple):
    """An occurrence of a cluster event with its objects (for the QueueingHintFns)."""

    event: ClusterEvent
    old: Any
    new: Any


def _node_name(pod: Any) -> str:
    return ((pod or {}).get("spec") or {}).get("nodeName") or ""


def _uid(pod: Pod) -> str:
    md = pod.get("metadata") or {}
    return md.get("uid") or f"{md.get('namespace', '')}/{md.get('name', '')}"


class _Entry:
    """A heap slot of the activeQ; `removed` marks it stale (lazy deletion)."""

    __slots__ = ("qpi", "less", "removed")

    def __init__(self, qpi: QueuedPodInfo, less: Callable[[QueuedPodInfo, QueuedPodInfo], bool]) -> None:
        self.qpi, self.less, self.removed = qpi, less, False

    def __lt__(self, other: _Entry) -> bool:
        return self.less(self.qpi, other.qpi)


class PriorityQueue:
    """activeQ + backoffQ + unschedulable pods + nominated pods. All methods but pop() are synchronous."""

    def __init__(self, *, less: Callable[[QueuedPodInfo, QueuedPodInfo], bool], clock: Clock | None = None,
                 pod_initial_backoff: float = DEFAULT_POD_INITIAL_BACKOFF,
                 pod_max_backoff: float = DEFAULT_POD_MAX_BACKOFF,
                 pod_max_in_unschedulable: float = DEFAULT_POD_MAX_IN_UNSCHEDULABLE_PODS_DURATION,
                 pre_enqueue: Callable[[Pod], Status] | None = None,
                 plugin_events: dict[str, list[ClusterEvent | ClusterEventWithHint]] | None = None,
                 victims_pending: Callable[[str, int], bool] | None = None) -> None:
        self.less = less
        self.clock = clock or RealClock()
        self.initial_backoff, self.max_backoff = pod_initial_backoff, pod_max_backoff
        self.max_in_unschedulable = pod_max_in_unschedulable
        self.pre_enqueue = pre_enqueue
        self.plugin_events: dict[str, list[ClusterEventWithHint]] = {
            name: [with_hint(e) for e in events] for name, events in (plugin_events or {}).items()}
        # (node name, priority) -> whether pods of lower priority are terminating there (the scheduler cache)
        self.victims_pending = victims_pending
        self._active: dict[str, _Entry] = {}
        self._heap: list[_Entry] = []
        self._backoff: dict[str, QueuedPodInfo] = {}
        self._backoff_heap: list[tuple[float, int, str, QueuedPodInfo]] = []
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._in_flight: dict[str, list[_Event]] = {}
        self._seq = itertools.count()
        self.scheduling_cycle = 0
        self._wakeup: asyncio.Event | None = None
        self._closed = False
        self._timers: list[TimerHandle] = []
        self._nominated: dict[str, dict[str, PodInfo]] = {}  # node -> uid -> pod
        self._nominated_node: dict[str, str] = {}  # uid -> node
        self._nominated_at: dict[str, float] = {}  # uid -> when the scheduler nominated it (add_nominated_pod)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def run(self) -> None:
        """Start the periodic flushes of backoffQ (every second) and of long-unschedulable pods (every 30 s)."""
        def backoff_tick() -> None:
            self.flush_backoff_completed()
            self._timers[0] = self.clock.call_later(BACKOFF_FLUSH_PERIOD, backoff_tick)

        def unschedulable_tick() -> None:
            self.flush_unschedulable_leftover()
            self._timers[1] = self.clock.call_later(UNSCHEDULABLE_FLUSH_PERIOD, unschedulable_tick)

        self._timers = [self.clock.call_later(BACKOFF_FLUSH_PERIOD, backoff_tick),
                        self.clock.call_later(UNSCHEDULABLE_FLUSH_PERIOD, unschedulable_tick)]

    def close(self) -> None:
        self._closed = True
        for t in self._timers:
            t.cancel()
        if self._wakeup is not None:
            self._wakeup.set()

    # -- sizes -----------------------------------------------------------------------------------------------

    def pending_pods(self) -> dict[str, int]:
        """Queue name -> number of pods (the scheduler_pending_pods metric)."""
        gated = sum(1 for q in self._unschedulable.values() if q.pending_plugins)
        return {"active": len(self._active), "backoff": len(self._backoff),
                "unschedulable": len(self._unschedulable) - gated, "gated": gated}

    def __contains__(self, uid: str) -> bool:
        return uid in self._active or uid in self._backoff or uid in self._unschedulable

    def where(self, uid: str) -> str | None:
        """'active', 'backoff', 'unschedulable' or None (for tests and debugging)."""
        for name, q in (("active", self._active), ("backoff", self._backoff), ("unschedulable", self._unschedulable)):
            if uid in q:
                return name
        return None

    # -- internals ---------------------------------------------------------------------------------------------

    def _push_active(self, qpi: QueuedPodInfo) -> bool:
        """To activeQ if PreEnqueue allows, else to the unschedulable pods (gated). A pod waiting for its
        preemption victims to go is parked among the unschedulable pods too. True if active."""
        uid = _uid(qpi.pod)
        st = self.pre_enqueue(qpi.pod) if self.pre_enqueue is not None else SUCCESS
        if not st.is_success():
            qpi.pending_plugins = {st.plugin} if st.plugin else set()
            self._unschedulable[uid] = qpi
            return False
        qpi.pending_plugins = set()
        if qpi.unschedulable_plugins and self._waits_for_victims(qpi):
            log.debug("%s waits for its victims on %s", qpi.pod_info.key, self._nominated_node.get(uid))
            self._unschedulable[uid] = qpi
            return False
        entry = _Entry(qpi, self.less)
        self._active[uid] = entry
        heapq.heappush(self._heap, entry)
        if self._wakeup is not None:
            self._wakeup.set()
        return True

    def _push_backoff(self, qpi: QueuedPodInfo) -> None:
        uid = _uid(qpi.pod)
        self._backoff[uid] = qpi
        heapq.heappush(self._backoff_heap, (self.backoff_expiry(qpi), next(self._seq), uid, qpi))

    def _remove(self, uid: str) -> QueuedPodInfo | None:
        entry = self._active.pop(uid, None)
        if entry is not None:
            entry.removed = True
            return entry.qpi
        qpi = self._backoff.pop(uid, None)  # its heap tuple is skipped when popped
        if qpi is not None:
            return qpi
        return self._unschedulable.pop(uid, None)

    def backoff_duration(self, qpi: QueuedPodInfo) -> float:
        d = self.initial_backoff
        for _ in range(1, qpi.attempts):
            d *= 2
            if d >= self.max_backoff:
                return self.max_backoff
        return d

    def backoff_expiry(self, qpi: QueuedPodInfo) -> float:
        return qpi.timestamp + self.backoff_duration(qpi)

    def is_backing_off(self, qpi: QueuedPodInfo) -> bool:
        return qpi.attempts > 0 and self.backoff_expiry(qpi) > self.clock.now()

    def _move(self, qpi: QueuedPodInfo) -> None:
        """An unschedulable pod that may be schedulable now: to backoffQ if still backing off, else activeQ."""
        if self.is_backing_off(qpi):
            self._push_backoff(qpi)
        else:
            self._push_active(qpi)

    def _may_help(self, qpi: QueuedPodInfo, ev: _Event) -> bool:
        """upstream's isPodWorthRequeuing: some rejecting plugin registered the event and its QueueingHintFn (if
        any) says QUEUE for these objects."""
        event = ev.event
        if event in (UNSCHEDULABLE_TIMEOUT, FORCE_ACTIVATE):
            return True
        plugins = qpi.unschedulable_plugins | qpi.pending_plugins
        if not plugins:
            return True
        if event.resource == "Pod" and event.action == "Delete" and self._waits_for_victims(qpi):
            return False
        pod = qpi.pod
        for name in plugins:
            registered = self.plugin_events.get(name)
            if registered is None:
                return True  # a plugin nobody registered events for: every event may help
            for reg in registered:
                if not event_matches(reg.event, event):
                    continue
                fn = reg.queueing_hint_fn
                if fn is None:
                    return True
                try:
                    if fn(pod, ev.old, ev.new) == QueueingHint.QUEUE:
                        return True
                except Exception:  # noqa: BLE001 - as upstream: a failing hint requeues the pod
                    log.exception("queueing hint of %s for %s", name, event)
                    return True
        return False

    def _waits_for_victims(self, qpi: QueuedPodInfo) -> bool:
        """The pod was nominated (recently) to a node where lower-priority pods are still terminating: it cannot fit
        before they are gone, and may not preempt again meanwhile."""
        if self.victims_pending is None or not self._nominated_at:
            return False
        uid = _uid(qpi.pod)
        node = self._nominated_node.get(uid)
        if node is None or self.clock.now() - self._nominated_at.get(uid, 0.0) > MAX_WAIT_FOR_VICTIMS:
            return False
        return self.victims_pending(node, pod_priority(qpi.pod))

    # -- API -------------------------------------------------------------------------------------------------

    def add(self, pod: Pod) -> None:
        """A new pending pod: activeQ (or gated among the unschedulable pods)."""
        uid = _uid(pod)
        if uid in self or uid in self._in_flight:
            return
        now = self.clock.now()
        qpi = QueuedPodInfo(new_pod_info(pod), timestamp=now, initial_attempt_timestamp=None)
        self._push_active(qpi)
        self._update_nominated(qpi.pod_info)

    def update(self, old: Pod | None, new: Pod) -> None:
        """A pending pod changed: refresh it where it is; an unschedulable pod whose spec or labels changed is
        moved back (it may fit now); a pod not queued is added."""
        uid = _uid(new)
        pi = new_pod_info(new)
        self._update_nominated(pi)
        if uid in self._in_flight:
            return
        if uid in self._active:
            qpi = self._remove(uid)
            assert qpi is not None
            qpi.pod_info = pi
            self._push_active(qpi)
            return
        if uid in self._backoff:
            self._backoff[uid].pod_info = pi
            return
        qpi = self._unschedulable.get(uid)
        if qpi is None:
            self.add(new)
            return
        qpi.pod_info = pi
        if old is None or _scheduling_relevant(old) != _scheduling_relevant(new):
            del self._unschedulable[uid]
            if qpi.pending_plugins:
                self._push_active(qpi)
            else:
                self._move(qpi)

    def delete(self, pod: Pod) -> None:
        uid = _uid(pod)
        self._remove(uid)
        self.delete_nominated_pod_if_exists(pod)

    async def pop(self) -> QueuedPodInfo:
        """The highest-priority active pod, waiting for one. Marks it in flight until done()."""
        while True:
            if self._closed:
                raise QueueClosed()
            while self._heap:
                entry = heapq.heappop(self._heap)
                if entry.removed:
                    continue
                qpi = entry.qpi
                uid = _uid(qpi.pod)
                del self._active[uid]
                qpi.attempts += 1
                if qpi.initial_attempt_timestamp is None:
                    qpi.initial_attempt_timestamp = self.clock.now()
                self.scheduling_cycle += 1
                self._in_flight[uid] = []
                return qpi
            if self._wakeup is None:
                self._wakeup = asyncio.Event()
            self._wakeup.clear()
            await self._wakeup.wait()

    def done(self, uid: str) -> None:
        """The pod's scheduling cycle is over (it was assumed, or requeued)."""
        self._in_flight.pop(uid, None)

    def add_unschedulable_if_not_present(self, qpi: QueuedPodInfo) -> None:
        """A pod that failed its cycle: backoffQ if it failed with an error or an event that may help it came
        while it was in flight, otherwise the unschedulable pods."""
        uid = _uid(qpi.pod)
        events = self._in_flight.pop(uid, [])
        if uid in self:
            return
        qpi.timestamp = self.clock.now()
        if not qpi.unschedulable_plugins and not qpi.pending_plugins:
            self._push_backoff(qpi)
        elif any(self._may_help(qpi, ev) for ev in events):
            self._push_backoff(qpi)
        else:
            self._unschedulable[uid] = qpi

    def move_all_to_active_or_backoff(self, event: ClusterEvent, old: Any = None, new: Any = None,
                                      pre_check: Callable[[Pod], bool] | None = None) -> int:
        """Move the unschedulable pods this event (old -> new object) may help; returns how many moved. Pods in
        flight remember it for add_unschedulable_if_not_present."""
        ev = _Event(event, old, new)
        for events in self._in_flight.values():
            events.append(ev)
        if not self._unschedulable:
            return 0
        moved = 0
        for uid, qpi in list(self._unschedulable.items()):
            if self._may_help(qpi, ev) and (pre_check is None or pre_check(qpi.pod)):
                del self._unschedulable[uid]
                self._move(qpi)
                moved += 1
        return moved

    def activate(self, pods: list[Pod]) -> None:
        """Move these pods to activeQ now, wherever they wait."""
        for pod in pods:
            uid = _uid(pod)
            if uid in self._backoff or uid in self._unschedulable:
                qpi = self._remove(uid)
                assert qpi is not None
                self._push_active(qpi)

    def flush_backoff_completed(self) -> None:
        now = self.clock.now()
        while self._backoff_heap and self._backoff_heap[0][0] <= now:
            _, _, uid, qpi = heapq.heappop(self._backoff_heap)
            if self._backoff.get(uid) is qpi:
                del self._backoff[uid]
                self._push_active(qpi)

    def flush_unschedulable_leftover(self) -> None:
        now = self.clock.now()
        for uid, qpi in list(self._unschedulable.items()):
            if now - qpi.timestamp > self.max_in_unschedulable and not qpi.pending_plugins:
                del self._unschedulable[uid]
                self._move(qpi)

    # -- nominator ---------------------------------------------------------------------------------------------

    def _update_nominated(self, pi: PodInfo) -> None:
        node = (pi.pod.get("status") or {}).get("nominatedNodeName")
        if node:
            self._set_nominated(pi, node)
        elif pi.uid in self._nominated_node:
            self.delete_nominated_pod_if_exists(pi.pod)

    def add_nominated_pod(self, pi: PodInfo, node_name: str) -> None:
        """The scheduler nominated node_name for the pod (its preemption evicted victims there)."""
        self._set_nominated(pi, node_name)
        self._nominated_at[pi.uid] = self.clock.now()

    def _set_nominated(self, pi: PodInfo, node_name: str) -> None:
        if self._nominated_node.get(pi.uid) == node_name:
            self._nominated[node_name][pi.uid] = pi
            return
        self.delete_nominated_pod_if_exists(pi.pod)
        self._nominated_node[pi.uid] = node_name
        self._nominated.setdefault(node_name, {})[pi.uid] = pi

    def delete_nominated_pod_if_exists(self, pod: Pod) -> None:
        uid = (pod.get("metadata") or {}).get("uid", "")
        node = self._nominated_node.pop(uid, None)
        self._nominated_at.pop(uid, None)
        if node is not None:
            pods = self._nominated.get(node, {})
            pods.pop(uid, None)
            if not pods:
                self._nominated.pop(node, None)

    def nominated_node_name(self, uid: str) -> str | None:
        """The node the pod is nominated to, as this queue knows it (before the pod's status may say so)."""
        return self._nominated_node.get(uid)

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return list(self._nominated.get(node_name, {}).values())

    def has_nominated_pods(self) -> bool:
        return bool(self._nominated)

    def nominated_node_names(self) -> set[str]:
        """The nodes some pod is nominated to (the others need no nominated-pods evaluation)."""
        return set(self._nominated)


def _scheduling_relevant(pod: Pod) -> Any:
    """What of a pod can change whether it fits: spec and labels (status and bookkeeping do not)."""
    md = pod.get("metadata") or {}
    return pod.get("spec"), md.get("labels"), md.get("annotations")

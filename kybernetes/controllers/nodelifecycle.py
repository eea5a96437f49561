"""Node lifecycle: node health from Leases and status, not-ready/unreachable taints, zone-aware taint-based eviction."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from kybernetes.api import meta
from kybernetes.client import ApiError, Clock, RealClock, resource_path, split_key
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext, ControllerOptions

log = logging.getLogger(__name__)

Obj = dict[str, Any]

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
LEASE_NAMESPACE = "kube-node-lease"
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
UNKNOWN_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
EVICTION_PERIOD = 0.1  # upstream's nodeEvictionPeriod
NODE_INDEX = "spec.nodeName"

# NoSchedule taints from conditions, as upstream's nodeConditionToTaintKeyStatusMap
CONDITION_TAINTS: dict[tuple[str, str], str] = {
    ("Ready", "False"): NOT_READY,
    ("Ready", "Unknown"): UNREACHABLE,
    ("MemoryPressure", "True"): "node.kubernetes.io/memory-pressure",
    ("DiskPressure", "True"): "node.kubernetes.io/disk-pressure",
    ("NetworkUnavailable", "True"): "node.kubernetes.io/network-unavailable",
    ("PIDPressure", "True"): "node.kubernetes.io/pid-pressure",
}
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
MANAGED_NOSCHEDULE = set(CONDITION_TAINTS.values()) | {UNSCHEDULABLE}


class ZoneState(str, Enum):
    INITIAL = "Initial"
    NORMAL = "Normal"
    FULL_DISRUPTION = "FullDisruption"
    PARTIAL_DISRUPTION = "PartialDisruption"


# -- pure decisions --------------------------------------------------------------------------------------------


def condition(node: Obj, ctype: str) -> Obj | None:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def ready_status(node: Obj) -> str | None:
    c = condition(node, "Ready")
    return c.get("status") if c else None


def zone_key(node: Obj) -> str:
    """Upstream's GetZoneKey: region and zone labels ('' for a node with neither)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    region = next((labels[k] for k in REGION_LABELS if labels.get(k)), "")
    zone = next((labels[k] for k in ZONE_LABELS if labels.get(k)), "")
    return "" if not region and not zone else f"{region}:\x00:{zone}"


def compute_zone_state(ready_statuses: list[str | None], unhealthy_threshold: float) -> tuple[int, ZoneState]:
    """(not-ready count, state) of one zone from its nodes' Ready statuses."""
    ready = sum(1 for s in ready_statuses if s == "True")
    not_ready = len(ready_statuses) - ready
    if ready == 0 and not_ready > 0:
        return not_ready, ZoneState.FULL_DISRUPTION
    if not_ready > 2 and not_ready / (not_ready + ready) >= unhealthy_threshold:
        return not_ready, ZoneState.PARTIAL_DISRUPTION
    return not_ready, ZoneState.NORMAL


def eviction_qps(state: ZoneState, zone_size: int, options: ControllerOptions) -> float:
    """Upstream's setLimiterInZone: normal rate; in partial disruption the secondary rate, or 0 for small zones."""
    if state in (ZoneState.NORMAL, ZoneState.FULL_DISRUPTION, ZoneState.INITIAL):
        return options.node_eviction_rate
    return options.secondary_node_eviction_rate if zone_size > options.large_cluster_size_threshold else 0.0


def desired_no_execute(status: str | None) -> str | None:
    """The NoExecute taint key the Ready status calls for (None when Ready)."""
    return {"False": NOT_READY, "Unknown": UNREACHABLE}.get(status or "Unknown") if status != "True" else None


def desired_no_schedule(node: Obj) -> set[str]:
    keys = {key for (ctype, status), key in CONDITION_TAINTS.items()
            if (c := condition(node, ctype)) is not None and c.get("status") == status}
    if (node.get("spec") or {}).get("unschedulable"):
        keys.add(UNSCHEDULABLE)
    return keys


def with_taints(taints: list[Obj], no_schedule: set[str], no_execute: str | None, now: str) -> list[Obj]:
    """`taints` with the controller-managed NoSchedule set and NoExecute taint made exactly as wanted."""
    out = [t for t in taints if not (t.get("effect") == "NoSchedule" and t.get("key") in MANAGED_NOSCHEDULE)
           and not (t.get("effect") == "NoExecute" and t.get("key") in (NOT_READY, UNREACHABLE)
                    and t.get("key") != no_execute)]
    for key in sorted(no_schedule):
        out.append({"key": key, "effect": "NoSchedule"})
    if no_execute and not any(t.get("key") == no_execute and t.get("effect") == "NoExecute" for t in out):
        out.append({"key": no_execute, "effect": "NoExecute", "timeAdded": now})
    return out


def mark_unknown(node: Obj, now: str) -> list[Obj] | None:
    """Conditions with Ready and the pressure conditions set to Unknown, or None if they already are."""
    conditions = [dict(c) for c in (node.get("status") or {}).get("conditions") or []]
    changed = False
    for ctype in UNKNOWN_CONDITIONS:
        c = next((c for c in conditions if c.get("type") == ctype), None)
        if c is None:
            conditions.append({"type": ctype, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                               "message": "Kubelet never posted node status.",
                               "lastHeartbeatTime": node["metadata"].get("creationTimestamp"),
                               "lastTransitionTime": now})
            changed = True
        elif c.get("status") != "Unknown":
            c.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                     lastTransitionTime=now)
            changed = True
    return conditions if changed else None


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """Upstream's ToleratesTaint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    if not toleration.get("key") and op == "Equal":
        return False
    return (toleration.get("value") or "") == (taint.get("value") or "")


def eviction_delay(pod: Obj, taints: list[Obj]) -> float | None:
    """Seconds until the pod must go for the node's NoExecute taints: None = never, 0 = now.

    A taint no toleration matches evicts now; otherwise the smallest tolerationSeconds of the matching
    tolerations counts from the taint's timeAdded (left to the caller: this returns the seconds).
    """
    no_execute = [t for t in taints if t.get("effect") == "NoExecute"]
    if not no_execute:
        return None
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    delay: float | None = None
    for taint in no_execute:
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return 0.0
        for t in matching:
            secs = t.get("tolerationSeconds")
            if secs is not None:
                delay = max(0.0, float(secs)) if delay is None else min(delay, max(0.0, float(secs)))
    return delay


class TokenBucket:
    """Upstream's eviction limiter: `qps` tokens a second, burst 1; qps 0 stops everything."""

    def __init__(self, qps: float, clock: Clock, burst: int = 1) -> None:
        self.clock, self.burst = clock, burst
        self.qps = qps
        self._tokens = float(burst)
        self._last = clock.now()

    def set_qps(self, qps: float) -> None:
        self._refill()
        self.qps = qps

    def _refill(self) -> None:
        now = self.clock.now()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now

    def try_accept(self) -> bool:
        if self.qps <= 0:
            return False
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass
class NodeHealth:
    """What the controller saw last of a node's heartbeats, and when it last saw one change."""

    probe_time: float
    heartbeat: str | None = None
    lease_renew: str | None = None


@dataclass
class ZoneQueue:
    """Nodes of one zone waiting for their NoExecute taint, paced by the zone's limiter."""

    limiter: TokenBucket
    pending: dict[str, None] = field(default_factory=dict)  # ordered set


class NodeLifecycleController:
    """Monitors node health every node_monitor_period; taints and evicts through the taint manager."""

    name = "nodelifecycle"

    def __init__(self, ctx: ControllerContext, *, clock: Clock | None = None) -> None:
        self.ctx = ctx
        self.opts = ctx.options
        self.client = ctx.client
        self.clock = clock or RealClock()
        self.recorder = ctx.recorder("node-controller")
        self.taint_recorder = ctx.recorder("taint-eviction-controller")
        self.nodes = ctx.informers.informer_for("", "v1", "nodes")
        self.pods = ctx.informers.informer_for("", "v1", "pods")
        self.leases = ctx.informers.informer_for("coordination.k8s.io", "v1", "leases", namespace=LEASE_NAMESPACE)
        try:
            self.pods.add_indexers({NODE_INDEX: lambda p: [n] if (n := (p.get("spec") or {}).get("nodeName")) else []})
        except ValueError:
            pass
        self.health: dict[str, NodeHealth] = {}
        self.zone_states: dict[str, ZoneState] = {}
        self.zone_queues: dict[str, ZoneQueue] = {}
        self.eviction = QueueWorker("taint-eviction", self.reconcile_pod)
        self.evicted: set[str] = set()  # uids marked DisruptionTarget by us: a re-run only repeats the delete
        self.pods.add_event_handler(on_add=self.eviction.enqueue_object, on_update=self.eviction.enqueue_object,
                                    on_delete=lambda p: self.evicted.discard(p["metadata"].get("uid", "")))
        self.nodes.add_event_handler(on_add=self._node_changed, on_update=lambda o, n: self._node_changed(n))

    def _node_changed(self, node: Obj) -> None:
        for key in self.pods.store.index_keys(NODE_INDEX, node["metadata"]["name"]):
            self.eviction.enqueue(key)

    # -- health ---------------------------------------------------------------------------------------------

    def observe(self, node: Obj, now: float) -> NodeHealth:
        """Update the saved health from the node's Ready heartbeat and its Lease; return it."""
        name = node["metadata"]["name"]
        ready = condition(node, "Ready")
        heartbeat = (ready or {}).get("lastHeartbeatTime")
        lease = self.leases.store.get(name, LEASE_NAMESPACE)
        renew = ((lease or {}).get("spec") or {}).get("renewTime")
        h = self.health.get(name)
        if h is None:
            h = self.health[name] = NodeHealth(now, heartbeat, renew)
        if heartbeat != h.heartbeat or renew != h.lease_renew:
            h.probe_time, h.heartbeat, h.lease_renew = now, heartbeat, renew
        return h

    async def monitor_node_health(self) -> None:
        """One pass over all nodes: Unknown on silence, taints, zone states."""
        now = self.clock.now()
        nodes = self.nodes.store.list()
        names = {n["metadata"]["name"] for n in nodes}
        for gone in set(self.health) - names:
            del self.health[gone]
            for q in self.zone_queues.values():
                q.pending.pop(gone, None)
        zone_statuses: dict[str, list[str | None]] = {}
        checked: dict[str, Obj] = {}
        for node in nodes:
            node = checked[node["metadata"]["name"]] = await self.update_health(node, now)
            zone_statuses.setdefault(zone_key(node), []).append(ready_status(node))
        self.handle_disruption(zone_statuses)
        for name, node in checked.items():
            # the newer of the informer's copy and the one update_health wrote (the informer may lag behind it)
            await self.sync_taints(_newer(self.nodes.store.get(name), node))

    async def update_health(self, node: Obj, now: float) -> Obj:
        h = self.observe(node, now)
        never = condition(node, "Ready") is None
        grace = self.opts.node_startup_grace_period if never else self.opts.node_monitor_grace_period
        if now - h.probe_time <= grace:
            return node
        conditions = mark_unknown(node, meta.now_rfc3339())
        if conditions is None:
            return node
        name = node["metadata"]["name"]
        body = dict(node, status=dict(node.get("status") or {}, conditions=conditions))
        try:
            node = await self.client.update(resource_path("", "v1", "nodes", name=name, subresource="status"), body)
        except ApiError as e:
            log.info("%s: updating node %s: %s", self.name, name, e)
            return node
        self.recorder.event(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        await self.mark_pods_not_ready(name)
        return node

    async def mark_pods_not_ready(self, node_name: str) -> None:
        """Upstream's MarkPodsNotReady: the Ready condition of the node's pods goes False."""
        for pod in self.pods.store.by_index(NODE_INDEX, node_name):
            ready = next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"),
                         None)
            if ready is None or ready.get("status") == "False":
                continue
            md = pod["metadata"]
            cond = {"type": "Ready", "status": "False", "lastTransitionTime": meta.now_rfc3339()}
            try:
                await self.client.patch(resource_path("", "v1", "pods", md["namespace"], md["name"], "status"),
                                        {"status": {"conditions": [cond]}}, "strategic")
            except ApiError as e:
                log.info("%s: marking pod %s/%s not ready: %s", self.name, md["namespace"], md["name"], e)

    # -- zones and taints -----------------------------------------------------------------------------------

    def handle_disruption(self, zone_statuses: dict[str, list[str | None]]) -> None:
        """New zone states; each zone's eviction limiter follows its state (all zones down: evict nothing)."""
        states = {z: compute_zone_state(s, self.opts.unhealthy_zone_threshold)[1] for z, s in zone_statuses.items()}
        all_down = bool(states) and all(s == ZoneState.FULL_DISRUPTION for s in states.values())
        was_all_down = bool(self.zone_states) and all(s == ZoneState.FULL_DISRUPTION
                                                      for s in self.zone_states.values())
        if all_down and not was_all_down:
            log.warning("%s: all nodes are not ready; entering master disruption mode", self.name)
        if was_all_down and not all_down:
            now = self.clock.now()
            for h in self.health.values():  # give every node a fresh grace period, as upstream does
                h.probe_time = now
        for zone, state in states.items():
            q = self.zone_queues.get(zone)
            qps = 0.0 if all_down else eviction_qps(state, len(zone_statuses[zone]), self.opts)
            if q is None:
                self.zone_queues[zone] = ZoneQueue(TokenBucket(qps, self.clock))
            else:
                q.limiter.set_qps(qps)
        self.zone_states = states

    def all_fully_disrupted(self) -> bool:
        return bool(self.zone_states) and all(s == ZoneState.FULL_DISRUPTION for s in self.zone_states.values())

    async def sync_taints(self, node: Obj) -> None:
        """NoSchedule taints now; a NoExecute taint now only if it swaps an existing one, else via the zone queue."""
        name = node["metadata"]["name"]
        taints = (node.get("spec") or {}).get("taints") or []
        have_ne = {t.get("key") for t in taints if t.get("effect") == "NoExecute"} & {NOT_READY, UNREACHABLE}
        want_ne = None if self.all_fully_disrupted() else desired_no_execute(ready_status(node))
        queue = self.zone_queues.get(zone_key(node))
        if want_ne is None:
            if queue:
                queue.pending.pop(name, None)
            ne = None
        elif want_ne in have_ne or have_ne:
            ne = want_ne  # already tainted (or swapping not-ready <-> unreachable): no rate limit
        else:
            if queue is not None:
                queue.pending.setdefault(name, None)
            ne = None
        await self.write_taints(node, ne)

    async def write_taints(self, node: Obj, no_execute: str | None) -> None:
        taints = (node.get("spec") or {}).get("taints") or []
        want = with_taints(taints, desired_no_schedule(node), no_execute, meta.now_rfc3339())
        if _taint_set(want) == _taint_set(taints):
            return
        name = node["metadata"]["name"]
        body = dict(node, spec=dict(node.get("spec") or {}, taints=want))
        try:
            await self.client.update(resource_path("", "v1", "nodes", name=name), body)
        except ApiError as e:
            log.info("%s: tainting node %s: %s", self.name, name, e)

    async def process_evictions(self) -> None:
        """Take nodes from each zone queue as the zone limiter allows and give them their NoExecute taint."""
        for q in self.zone_queues.values():
            while q.pending:
                name = next(iter(q.pending))
                node = self.nodes.store.get(name)
                want = desired_no_execute(ready_status(node)) if node is not None else None
                if want is None or self.all_fully_disrupted():
                    del q.pending[name]
                    continue
                if not q.limiter.try_accept():
                    break
                del q.pending[name]
                await self.write_taints(node, want)  # type: ignore[arg-type]

    # -- taint manager ----------------------------------------------------------------------------------------

    async def reconcile_pod(self, key: str) -> Result:
        """Delete a pod that does not tolerate its node's NoExecute taints (after its tolerationSeconds)."""
        pod = self.pods.store.get_by_key(key)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return Result()
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = self.nodes.store.get(node_name) if node_name else None
        if node is None:
            return Result()
        taints = (node.get("spec") or {}).get("taints") or []
        delay = eviction_delay(pod, taints)
        if delay is None:
            return Result()
        added = [t.get("timeAdded") for t in taints if t.get("effect") == "NoExecute" and t.get("timeAdded")]
        if delay > 0:
            start = max((meta.parse_time(t).timestamp() for t in added), default=None)
            elapsed = time.time() - start if start is not None else 0.0
            if elapsed < delay:
                return Result(requeue_after=delay - elapsed)
        ns, name = split_key(key)
        cond = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint", "lastTransitionTime": meta.now_rfc3339()}
        uid = pod["metadata"].get("uid", "")
        marked = uid in self.evicted or any(c.get("type") == "DisruptionTarget" and c.get("reason") == cond["reason"]
                                            for c in (pod.get("status") or {}).get("conditions") or [])
        try:
            if not marked:  # a re-run (the cache not yet showing our delete) only repeats the idempotent delete
                self.evicted.add(uid)
                self.taint_recorder.event(pod, "Normal", "TaintManagerEviction",
                                          f"Marking for deletion Pod {ns}/{name}")
                await self.client.patch(resource_path("", "v1", "pods", ns, name, "status"),
                                        {"status": {"conditions": [cond]}}, "strategic")
            await self.client.delete(resource_path("", "v1", "pods", ns, name),
                                     body={"kind": "DeleteOptions", "apiVersion": "v1",
                                           "preconditions": {"uid": pod["metadata"].get("uid")}})
        except ApiError as e:
            if e.not_found or e.conflict:
                return Result()
            raise
        return Result()

    # -- loops ------------------------------------------------------------------------------------------------

    async def _every(self, period: float, fn: Any) -> None:
        while True:
            try:
                await fn()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 -- a failed pass is retried next period
                log.exception("%s: %s failed", self.name, fn.__name__)
            await asyncio.sleep(period)

    async def run(self, workers: int) -> None:
        self.ctx.informers.start()
        await self.ctx.informers.wait_for_cache_sync()
        await asyncio.gather(self._every(self.opts.node_monitor_period, self.monitor_node_health),
                             self._every(EVICTION_PERIOD, self.process_evictions),
                             self.eviction.run(workers))


def _taint_set(taints: list[Obj]) -> set[tuple[str, str, str]]:
    return {(t.get("key", ""), t.get("value", "") or "", t.get("effect", "")) for t in taints}


CONTROLLER = NodeLifecycleController


def _newer(cached: Obj | None, written: Obj) -> Obj:
    """The copy of a node with the higher resourceVersion (cached may be None: the node was just deleted)."""
    if cached is None:
        return written
    rv = lambda o: int(o["metadata"].get("resourceVersion") or 0)  # noqa: E731
    return cached if rv(cached) >= rv(written) else written

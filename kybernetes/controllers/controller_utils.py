"""Helpers shared by workload controllers (upstream's controller_utils): controller refs, pod readiness and
availability, the ActivePods deletion ranking, slow-start batches, and adoption/release by selector."""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from kybernetes.api.meta import parse_time
from kybernetes.api.selectors import LabelSelector
from kybernetes.client import ApiError, RESTClient

Obj = dict[str, Any]

POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


# -- owner references ----------------------------------------------------------------------------------------

def get_controller_of(obj: Obj) -> Obj | None:
    """The ownerReference with controller: true, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def new_controller_ref(owner: Obj, *, api_version: str, kind: str) -> Obj:
    md = owner["metadata"]
    return {"apiVersion": api_version, "kind": kind, "name": md["name"], "uid": md["uid"],
            "controller": True, "blockOwnerDeletion": True}


def is_being_deleted(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


# -- pods ------------------------------------------------------------------------------------------------------

def is_pod_active(pod: Obj) -> bool:
    """Not Succeeded, not Failed, and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not is_being_deleted(pod)


def pod_ready_condition(pod: Obj) -> Obj | None:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c
    return None


def is_pod_ready(pod: Obj) -> bool:
    c = pod_ready_condition(pod)
    return c is not None and c.get("status") == "True"


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parse_time(value).timestamp()
    except ValueError:
        return None


def is_pod_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """Ready for at least min_ready_seconds (by the Ready condition's lastTransitionTime)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds == 0:
        return True
    since = _ts(pod_ready_condition(pod).get("lastTransitionTime"))  # type: ignore[union-attr]
    return since is not None and since + min_ready_seconds < now


def pod_ready_time(pod: Obj) -> float | None:
    if is_pod_ready(pod):
        return _ts(pod_ready_condition(pod).get("lastTransitionTime"))  # type: ignore[union-attr]
    return None


def deletion_cost(pod: Obj) -> int:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(POD_DELETION_COST)
    try:
        value = int(raw) if raw is not None else 0
    except ValueError:
        return 0
    return value if -(2 ** 31) <= value < 2 ** 31 else 0


def _max_restarts(pod: Obj) -> tuple[int, int]:
    """(highest restart count of regular containers, of restartable init containers (sidecars))."""
    status, spec = pod.get("status") or {}, pod.get("spec") or {}
    regular = max((c.get("restartCount", 0) for c in status.get("containerStatuses") or ()), default=0)
    sidecar_names = {c.get("name") for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"}
    sidecar = max((c.get("restartCount", 0) for c in status.get("initContainerStatuses") or ()
                   if c.get("name") in sidecar_names), default=0)
    return regular, sidecar


def _log_rank(t: float, now: float) -> int:
    d = (now - t) * 1e9  # upstream takes log2 of the age in nanoseconds
    return int(math.log2(d)) if d > 0 else -1


def _after_or_zero(t1: float | None, t2: float | None) -> bool:
    if t1 is None or t2 is None:
        return t1 is None
    return t1 > t2


def _newer(t1: float | None, t2: float | None, uid1: str, uid2: str, now: float | None) -> bool:
    """LogarithmicScaleDown: times in the same power-of-two age bucket are tied, broken by UID."""
    if now is None or t1 is None or t2 is None:
        return _after_or_zero(t1, t2)
    diff = _log_rank(t1, now) - _log_rank(t2, now)
    return uid1 < uid2 if diff == 0 else diff < 0


def pod_deletion_less(a: Obj, b: Obj, rank_a: int, rank_b: int, now: float | None) -> bool:
    """ActivePodsWithRanks.Less: True if `a` should be deleted before `b`."""
    na, nb = (a.get("spec") or {}).get("nodeName") or "", (b.get("spec") or {}).get("nodeName") or ""
    if na != nb and (not na or not nb):
        return not na  # 1. unassigned < assigned
    pa = _PHASE_ORDINAL.get((a.get("status") or {}).get("phase", ""), 0)
    pb = _PHASE_ORDINAL.get((b.get("status") or {}).get("phase", ""), 0)
    if pa != pb:
        return pa < pb  # 2. Pending < Unknown < Running
    ra, rb = is_pod_ready(a), is_pod_ready(b)
    if ra != rb:
        return not ra  # 3. not ready < ready
    ca, cb = deletion_cost(a), deletion_cost(b)
    if ca != cb:
        return ca < cb  # 4. lower pod-deletion-cost first
    if rank_a != rank_b:
        return rank_a > rank_b  # 5. doubled up on a node < not doubled up
    uid_a, uid_b = a["metadata"].get("uid", ""), b["metadata"].get("uid", "")
    if ra and rb:
        ta, tb = pod_ready_time(a), pod_ready_time(b)
        if ta != tb:
            return _newer(ta, tb, uid_a, uid_b, now)  # 6. ready for less time first
    xa, xb = _max_restarts(a), _max_restarts(b)
    if xa[0] != xb[0]:
        return xa[0] > xb[0]  # 7. more restarts first
    if xa[1] != xb[1]:
        return xa[1] > xb[1]
    ta, tb = _ts(a["metadata"].get("creationTimestamp")), _ts(b["metadata"].get("creationTimestamp"))
    if ta != tb:
        return _newer(ta, tb, uid_a, uid_b, now)  # 8. newer first
    return False


def rank_pods_for_deletion(pods: list[Obj], related: list[Obj], now: float | None = None) -> list[Obj]:
    """Pods sorted most-deletable first; the rank of a pod is how many related active pods share its node."""
    on_node: dict[str, int] = {}
    for p in related:
        if is_pod_active(p):
            node = (p.get("spec") or {}).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1
    ranked = [(p, on_node.get((p.get("spec") or {}).get("nodeName") or "", 0)) for p in pods]

    def cmp(x: tuple[Obj, int], y: tuple[Obj, int]) -> int:
        if pod_deletion_less(x[0], y[0], x[1], y[1], now):
            return -1
        if pod_deletion_less(y[0], x[0], y[1], x[1], now):
            return 1
        return 0

    ranked.sort(key=functools.cmp_to_key(cmp))
    return [p for p, _ in ranked]


def get_pods_to_delete(filtered: list[Obj], related: list[Obj], diff: int, now: float | None = None) -> list[Obj]:
    """The `diff` pods to delete first (upstream ranks only when not deleting them all)."""
    if diff < len(filtered):
        filtered = rank_pods_for_deletion(filtered, related, now)
    return filtered[:diff]


def pod_from_template(template: Obj, owner_ref: Obj, generate_name: str) -> Obj:
    """A Pod for `template` (labels, annotations, finalizers, spec) controlled by owner_ref."""
    tmeta = template.get("metadata") or {}
    meta: Obj = {"generateName": generate_name, "ownerReferences": [owner_ref]}
    for k in ("labels", "annotations", "finalizers"):
        if tmeta.get(k):
            meta[k] = dict(tmeta[k]) if isinstance(tmeta[k], dict) else list(tmeta[k])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec") or {}}


# -- slow start --------------------------------------------------------------------------------------------------

async def slow_start_batch(count: int, initial_batch_size: int,
                           fn: Callable[[], Awaitable[None]]) -> tuple[int, BaseException | None]:
    """Call fn count times in growing concurrent batches (1, 2, 4, ...); stop after the first failing batch.

    Returns (successes, first error or None).
    """
    remaining, successes = count, 0
    batch = min(remaining, initial_batch_size)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


# -- adoption and release ------------------------------------------------------------------------------------

def now_epoch() -> float:
    return datetime.now(timezone.utc).timestamp()


class ControllerRefManager:
    """Claims objects for one controller: adopts matching orphans, releases owned objects that stopped matching.

    `can_adopt` is awaited at most once per claim (upstream re-checks, uncached, that the owner is not being
    deleted before adopting anything).
    """

    def __init__(self, client: RESTClient, owner: Obj, selector: LabelSelector, *, api_version: str, kind: str,
                 path_of: Callable[[Obj], str], can_adopt: Callable[[], Awaitable[bool]]) -> None:
        self.client = client
        self.owner = owner
        self.selector = selector
        self.ref = new_controller_ref(owner, api_version=api_version, kind=kind)
        self.path_of = path_of
        self.can_adopt = can_adopt
        self._can_adopt: bool | None = None

    async def claim(self, objs: list[Obj]) -> list[Obj]:
        claimed: list[Obj] = []
        owner_uid = self.owner["metadata"]["uid"]
        deleting = is_being_deleted(self.owner)
        for obj in objs:
            labels = (obj.get("metadata") or {}).get("labels") or {}
            ref = get_controller_of(obj)
            if ref is not None:
                if ref.get("uid") != owner_uid:
                    continue  # someone else's
                if self.selector.matches(labels):
                    claimed.append(obj)
                elif not deleting:
                    await self._release(obj)
                continue
            if deleting or not self.selector.matches(labels) or is_being_deleted(obj):
                continue
            adopted = await self._adopt(obj)
            if adopted is not None:
                claimed.append(adopted)
        return claimed

    async def _adopt(self, obj: Obj) -> Obj | None:
        if self._can_adopt is None:
            self._can_adopt = await self.can_adopt()
        if not self._can_adopt:
            return None
        patch = {"metadata": {"ownerReferences": [self.ref], "uid": obj["metadata"]["uid"]}}
        try:
            return await self.client.patch(self.path_of(obj), patch, "strategic")
        except ApiError as e:
            if e.not_found or e.conflict or e.code == 422:
                return None  # gone, or someone else adopted it first
            raise

    async def _release(self, obj: Obj) -> None:
        patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": self.ref["uid"]}],
                              "uid": obj["metadata"]["uid"]}}
        try:
            await self.client.patch(self.path_of(obj), patch, "strategic")
        except ApiError as e:
            if not (e.not_found or e.conflict or e.code == 422):
                raise

"""Deployment helpers (upstream's deployment/util): pod-template-hash, revision and replica annotations,
conditions, maxSurge/maxUnavailable resolution, ReplicaSet filters and orderings, scaling math. Pure functions."""

from __future__ import annotations

import copy
import math
from typing import Any

import orjson

from kybernetes.api.meta import now_rfc3339, parse_time

Obj = dict[str, Any]

DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
ROLLBACK_TO_ANNOTATION = "deprecated.deployment.rollback.to"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
MAX_REV_HISTORY_LENGTH_IN_CHARS = 2000
MAX_INT32 = 2 ** 31 - 1

# condition types and reasons (upstream names and strings)
PROGRESSING, AVAILABLE, REPLICA_FAILURE = "Progressing", "Available", "ReplicaFailure"
NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
RS_UPDATED_REASON = "ReplicaSetUpdated"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
PAUSED_DEPLOY_REASON = "DeploymentPaused"
RESUMED_DEPLOY_REASON = "DeploymentResumed"
MIN_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MIN_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"

_SKIPPED_ANNOTATIONS = {LAST_APPLIED_ANNOTATION, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION,
                        DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, ROLLBACK_TO_ANNOTATION}

# rand.SafeEncodeString's alphabet: no vowels, no confusable characters
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


# -- hashing -------------------------------------------------------------------------------------------------

def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode_string(s: str) -> str:
    """rand.SafeEncodeString: each character mapped into an alphabet free of vowels and look-alikes."""
    return "".join(_ALPHANUMS[ord(c) % len(_ALPHANUMS)] for c in s)


def _normalize(value: Any) -> Any:
    """Drop nulls and empty maps/lists (Go's nil and empty compare equal semantically)."""
    if isinstance(value, dict):
        out = {k: _normalize(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def compute_hash(template: Obj, collision_count: int | None) -> str:
    """The pod-template-hash: fnv32a of the canonical JSON of the template (+ collisionCount), safe-encoded."""
    data = orjson.dumps(_normalize(template), option=orjson.OPT_SORT_KEYS)
    if collision_count is not None:
        data += str(collision_count).encode()
    return safe_encode_string(str(fnv32a(data)))


def _without_hash(template: Obj | None) -> Obj:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY, None)
    return _normalize(t)


def equal_ignore_hash(t1: Obj | None, t2: Obj | None) -> bool:
    """Are two pod templates equal once the pod-template-hash label is removed from both?"""
    return _without_hash(t1) == _without_hash(t2)


# -- small accessors -----------------------------------------------------------------------------------------

def replicas_of(obj: Obj | None) -> int:
    """spec.replicas (default 1)."""
    if obj is None:
        return 0
    r = (obj.get("spec") or {}).get("replicas")
    return 1 if r is None else int(r)


def status_int(obj: Obj | None, field: str) -> int:
    return int(((obj or {}).get("status") or {}).get(field) or 0)


def annotations(obj: Obj) -> dict[str, str]:
    """The object's annotations map, created (in place) if missing."""
    md = obj.setdefault("metadata", {})
    if md.get("annotations") is None:
        md["annotations"] = {}
    return md["annotations"]


def revision_of(obj: Obj | None) -> int:
    """The revision annotation as an int (0 if missing or unparsable)."""
    ann = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    try:
        return int(ann.get(REVISION_ANNOTATION, "0"))
    except ValueError:
        return 0


def creation_ts(obj: Obj) -> float:
    ts = obj["metadata"].get("creationTimestamp")
    return parse_time(ts).timestamp() if ts else 0.0


def is_rolling_update(d: Obj) -> bool:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def has_progress_deadline(d: Obj) -> bool:
    pds = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return pds is not None and int(pds) != MAX_INT32


def has_revision_history_limit(d: Obj) -> bool:
    rhl = (d.get("spec") or {}).get("revisionHistoryLimit")
    return rhl is not None and int(rhl) != MAX_INT32


# -- maxSurge / maxUnavailable -------------------------------------------------------------------------------

def scaled_value(value: int | str | None, total: int, round_up: bool, default: int | str = 0) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, "N%" of total rounded up or down."""
    if value is None:
        value = default
    if isinstance(value, int):
        return value
    s = str(value)
    if not s.endswith("%"):
        try:
            return int(s)
        except ValueError:
            raise ValueError("invalid value for IntOrString: invalid type: string is not a percentage") from None
    pct = int(s[:-1])
    return math.ceil(pct * total / 100) if round_up else math.floor(pct * total / 100)


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None,
                       desired: int) -> tuple[int, int]:
    """(surge rounded up, unavailable rounded down); if both come out 0, unavailable becomes 1."""
    surge = scaled_value(max_surge, desired, True)
    unavailable = scaled_value(max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling_params(d: Obj) -> tuple[int | str | None, int | str | None]:
    ru = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    return ru.get("maxSurge", "25%"), ru.get("maxUnavailable", "25%")


def max_surge(d: Obj) -> int:
    if not is_rolling_update(d):
        return 0
    surge, _ = resolve_fenceposts(*_rolling_params(d), replicas_of(d))
    return surge


def max_unavailable(d: Obj) -> int:
    replicas = replicas_of(d)
    if not is_rolling_update(d) or replicas == 0:
        return 0
    _, unavailable = resolve_fenceposts(*_rolling_params(d), replicas)
    return min(unavailable, replicas)


# -- ReplicaSet lists ------------------------------------------------------------------------------------------

def filter_active(rss: list[Obj | None]) -> list[Obj]:
    """ReplicaSets with spec.replicas > 0."""
    return [rs for rs in rss if rs is not None and replicas_of(rs) > 0]


def replica_count(rss: list[Obj | None]) -> int:
    """Sum of spec.replicas."""
    return sum(replicas_of(rs) for rs in rss if rs is not None)


def actual_replica_count(rss: list[Obj | None]) -> int:
    return sum(status_int(rs, "replicas") for rs in rss if rs is not None)


def ready_replica_count(rss: list[Obj | None]) -> int:
    return sum(status_int(rs, "readyReplicas") for rs in rss if rs is not None)


def available_replica_count(rss: list[Obj | None]) -> int:
    return sum(status_int(rs, "availableReplicas") for rs in rss if rs is not None)


def by_creation(rs: Obj) -> tuple[float, str]:
    """ReplicaSetsByCreationTimestamp: oldest first, then by name."""
    return creation_ts(rs), rs["metadata"]["name"]


def by_size_older(rs: Obj) -> tuple[int, float, str]:
    """ReplicaSetsBySizeOlder: largest first, then older first."""
    return -replicas_of(rs), creation_ts(rs), rs["metadata"]["name"]


def by_size_newer(rs: Obj) -> tuple[int, float, str]:
    """ReplicaSetsBySizeNewer: largest first, then newer first."""
    return -replicas_of(rs), -creation_ts(rs), rs["metadata"]["name"]


def by_revision(rs: Obj) -> tuple[int, float, str]:
    return revision_of(rs), creation_ts(rs), rs["metadata"]["name"]


def find_new_replica_set(d: Obj, rss: list[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template equals the Deployment's (ignoring the hash label)."""
    template = (d.get("spec") or {}).get("template")
    for rs in sorted(rss, key=by_creation):
        if equal_ignore_hash((rs.get("spec") or {}).get("template"), template):
            return rs
    return None


def find_old_replica_sets(d: Obj, rss: list[Obj]) -> tuple[list[Obj], list[Obj]]:
    """(old RSs with pods, all old RSs)."""
    new = find_new_replica_set(d, rss)
    all_old = [rs for rs in rss if new is None or rs["metadata"]["uid"] != new["metadata"]["uid"]]
    return [rs for rs in all_old if replicas_of(rs) != 0], all_old


def max_revision(rss: list[Obj | None]) -> int:
    return max((revision_of(rs) for rs in rss if rs is not None), default=0)


def last_revision(rss: list[Obj | None]) -> int:
    """The second highest revision (what `rollout undo` with no revision goes back to)."""
    revs = sorted({revision_of(rs) for rs in rss if rs is not None}, reverse=True)
    return revs[1] if len(revs) > 1 else 0


def find_active_or_latest(new_rs: Obj | None, old_rss: list[Obj]) -> Obj | None:
    """The only active RS, or the latest one if none is active; None while several are active."""
    if new_rs is None and not old_rss:
        return None
    old_sorted = sorted(old_rss, key=by_creation, reverse=True)
    active = filter_active(old_sorted + [new_rs])
    if not active:
        return new_rs if new_rs is not None else old_sorted[0]
    if len(active) == 1:
        return active[0]
    return None


# -- replica annotations ----------------------------------------------------------------------------------

def get_int_annotation(rs: Obj, key: str) -> int | None:
    v = ((rs.get("metadata") or {}).get("annotations") or {}).get(key)
    if v is None:
        return None
    try:
        return int(v)
    except ValueError:
        return None


def set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = annotations(rs)
    changed = False
    for key, value in ((DESIRED_REPLICAS_ANNOTATION, str(desired)), (MAX_REPLICAS_ANNOTATION, str(max_replicas))):
        if ann.get(key) != value:
            ann[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = (rs.get("metadata") or {}).get("annotations") or {}
    return ann.get(DESIRED_REPLICAS_ANNOTATION) != str(desired) or ann.get(MAX_REPLICAS_ANNOTATION) != str(max_replicas)


def skip_copy_annotation(key: str) -> bool:
    return key in _SKIPPED_ANNOTATIONS


def copy_deployment_annotations_to_rs(d: Obj, rs: Obj) -> bool:
    ann = annotations(rs)
    changed = False
    for k, v in ((d.get("metadata") or {}).get("annotations") or {}).items():
        if skip_copy_annotation(k) or ann.get(k) == v:
            continue
        ann[k] = v
        changed = True
    return changed


def set_new_replica_set_annotations(d: Obj, rs: Obj, new_revision: str, exists: bool,
                                    rev_history_limit_chars: int = MAX_REV_HISTORY_LENGTH_IN_CHARS) -> bool:
    """Copy the Deployment's annotations, move the revision forward (keeping revision-history on rollback),
    and on a new RS set the replica annotations. True if anything changed."""
    changed = copy_deployment_annotations_to_rs(d, rs)
    ann = annotations(rs)
    old_revision = ann.get(REVISION_ANNOTATION)
    try:
        old_int = int(old_revision) if old_revision else 0
    except ValueError:
        return False
    new_int = int(new_revision)
    if old_int < new_int:
        ann[REVISION_ANNOTATION] = new_revision
        changed = True
    if old_revision is not None and old_int < new_int:
        history = ann.get(REVISION_HISTORY_ANNOTATION, "")
        if not history:
            ann[REVISION_HISTORY_ANNOTATION] = old_revision
        else:
            olds = history.split(",")
            total = len(history) + len(old_revision) + 1
            start = 0
            while total > rev_history_limit_chars and start < len(olds):
                total -= len(olds[start]) + 1
                start += 1
            if total <= rev_history_limit_chars:
                ann[REVISION_HISTORY_ANNOTATION] = ",".join(olds[start:] + [old_revision])
    replicas = replicas_of(d)
    if not exists and set_replicas_annotations(rs, replicas, replicas + max_surge(d)):
        changed = True
    return changed


def set_deployment_revision(d: Obj, revision: str) -> bool:
    ann = annotations(d)
    if ann.get(REVISION_ANNOTATION) == revision:
        return False
    ann[REVISION_ANNOTATION] = revision
    return True


# -- scaling math ----------------------------------------------------------------------------------------------

def new_rs_new_replicas(d: Obj, all_rss: list[Obj | None], new_rs: Obj) -> int:
    """How many replicas the new RS may have now: up to spec.replicas + maxSurge pods in total."""
    if not is_rolling_update(d):
        return replicas_of(d)
    desired = replicas_of(d)
    surge = scaled_value(_rolling_params(d)[0], desired, True)
    current = replica_count(all_rss)
    max_total = desired + surge
    if current >= max_total:
        return replicas_of(new_rs)
    scale_up = min(max_total - current, desired - replicas_of(new_rs))
    return replicas_of(new_rs) + scale_up


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    """The RS has exactly spec.replicas desired, specified and available."""
    if rs is None:
        return False
    desired = get_int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)
    r = replicas_of(d)
    return desired == r and replicas_of(rs) == r and status_int(rs, "availableReplicas") == r


def round_half_away(x: float) -> int:
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def replica_set_fraction(rs: Obj, d: Obj) -> int:
    """How much this RS should grow (+) or shrink (-) in proportion to the Deployment's new size."""
    if replicas_of(d) == 0:
        return -replicas_of(rs)
    deployment_replicas = replicas_of(d) + max_surge(d)
    annotated = get_int_annotation(rs, MAX_REPLICAS_ANNOTATION)
    if annotated is None:
        annotated = status_int(d, "replicas")
    if annotated == 0:
        return 0
    new_size = replicas_of(rs) * deployment_replicas / annotated
    return round_half_away(new_size) - replicas_of(rs)


def proportion(rs: Obj | None, d: Obj, to_add: int, added: int) -> int:
    """GetProportion: this RS's share of `to_add`, bounded by what is left to add (or remove)."""
    if rs is None or replicas_of(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = replica_set_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


# -- conditions ------------------------------------------------------------------------------------------------

def new_condition(cond_type: str, status: str, reason: str, message: str, now: str | None = None) -> Obj:
    now = now or now_rfc3339()
    return {"type": cond_type, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def get_condition(status: Obj, cond_type: str) -> Obj | None:
    for c in status.get("conditions") or ():
        if c.get("type") == cond_type:
            return c
    return None


def set_condition(status: Obj, cond: Obj) -> None:
    """Add or replace; same status and reason is a no-op; same status keeps lastTransitionTime."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    status["conditions"] = [c for c in status.get("conditions") or () if c.get("type") != cond["type"]] + [cond]


def remove_condition(status: Obj, cond_type: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or () if c.get("type") != cond_type]


def deployment_complete(d: Obj, status: Obj) -> bool:
    r = replicas_of(d)
    return (int(status.get("updatedReplicas") or 0) == r and int(status.get("replicas") or 0) == r
            and int(status.get("availableReplicas") or 0) == r
            and int(status.get("observedGeneration") or 0) >= int(d["metadata"].get("generation") or 0))


def deployment_progressing(d: Obj, new_status: Obj) -> bool:
    old = d.get("status") or {}
    g = lambda s, f: int(s.get(f) or 0)  # noqa: E731
    old_old = g(old, "replicas") - g(old, "updatedReplicas")
    new_old = g(new_status, "replicas") - g(new_status, "updatedReplicas")
    return (g(new_status, "updatedReplicas") > g(old, "updatedReplicas") or new_old < old_old
            or g(new_status, "readyReplicas") > g(old, "readyReplicas")
            or g(new_status, "availableReplicas") > g(old, "availableReplicas"))


def deployment_timed_out(d: Obj, new_status: Obj, now: float) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = get_condition(new_status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE_REASON:
        return False
    if cond.get("reason") == TIMED_OUT_REASON:
        return True
    since = cond.get("lastUpdateTime")
    if not since:
        return False
    return parse_time(since).timestamp() + int(d["spec"]["progressDeadlineSeconds"]) < now

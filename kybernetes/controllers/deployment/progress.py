"""Deployment status and progress: replica counts, the Available and Progressing conditions, the progress
deadline (ProgressDeadlineExceeded) and when to look again (upstream's deployment/progress.go)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kybernetes.api.meta import parse_time
from kybernetes.controllers.base import Result
from kybernetes.controllers.deployment.util import (AVAILABLE, MIN_REPLICAS_AVAILABLE, MIN_REPLICAS_UNAVAILABLE,
                                                    NEW_RS_AVAILABLE_REASON, PROGRESSING, REPLICA_FAILURE,
                                                    RS_UPDATED_REASON, TIMED_OUT_REASON, actual_replica_count,
                                                    available_replica_count, deployment_complete,
                                                    deployment_progressing, deployment_timed_out, get_condition,
                                                    has_progress_deadline, max_unavailable, new_condition,
                                                    ready_replica_count, remove_condition, replica_count,
                                                    replicas_of, set_condition)

if TYPE_CHECKING:
    from kybernetes.controllers.deployment.controller import DeploymentController

Obj = dict[str, Any]


def calculate_status(all_rss: list[Obj | None], new_rs: Obj | None, d: Obj) -> Obj:
    """The Deployment's status from its ReplicaSets, with the Available condition."""
    available = available_replica_count(all_rss)
    unavailable = max(0, replica_count(all_rss) - available)
    old = d.get("status") or {}
    status: Obj = {"observedGeneration": d["metadata"].get("generation", 0),
                   "replicas": actual_replica_count(all_rss),
                   "updatedReplicas": actual_replica_count([new_rs]),
                   "readyReplicas": ready_replica_count(all_rss),
                   "availableReplicas": available,
                   "unavailableReplicas": unavailable,
                   "conditions": [dict(c) for c in old.get("conditions") or []]}
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if available >= replicas_of(d) - max_unavailable(d):
        set_condition(status, new_condition(AVAILABLE, "True", MIN_REPLICAS_AVAILABLE,
                                            "Deployment has minimum availability."))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MIN_REPLICAS_UNAVAILABLE,
                                            "Deployment does not have minimum availability."))
    return status


def _normalized(status: Obj) -> Obj:
    return {k: v for k, v in status.items() if v not in (None, 0, [], {})}


def status_equal(a: Obj, b: Obj) -> bool:
    """Equal as Go's DeepEqual sees them after omitempty (missing == 0 == empty)."""
    return _normalized(a) == _normalized(b)


async def sync_deployment_status(dc: DeploymentController, all_rss: list[Obj | None], new_rs: Obj | None,
                                 d: Obj) -> None:
    new_status = calculate_status(all_rss, new_rs, d)
    if status_equal(d.get("status") or {}, new_status):
        return
    d["status"] = new_status
    await dc.update_deployment_status(d)


def replica_failures(all_rss: list[Obj | None], new_rs: Obj | None) -> list[Obj]:
    """ReplicaFailure conditions of the new RS, else of any RS, as Deployment conditions."""
    def of(rs: Obj | None) -> list[Obj]:
        out = []
        for c in ((rs or {}).get("status") or {}).get("conditions") or []:
            if c.get("type") == REPLICA_FAILURE:
                out.append({"type": REPLICA_FAILURE, "status": c.get("status"),
                            "lastUpdateTime": c.get("lastTransitionTime"),
                            "lastTransitionTime": c.get("lastTransitionTime"),
                            "reason": c.get("reason"), "message": c.get("message")})
        return out
    found = of(new_rs)
    if found:
        return found
    return [c for rs in all_rss for c in of(rs)]


async def sync_rollout_status(dc: DeploymentController, all_rss: list[Obj | None], new_rs: Obj | None,
                              d: Obj) -> Result:
    """Status plus the Progressing condition (complete, progressing, or timed out); look again before the
    deadline passes if nothing moves."""
    new_status = calculate_status(all_rss, new_rs, d)
    if not has_progress_deadline(d):
        remove_condition(new_status, PROGRESSING)
    current = get_condition(d.get("status") or {}, PROGRESSING)
    complete_rollout = (new_status["replicas"] == new_status["updatedReplicas"] and current is not None
                        and current.get("reason") == NEW_RS_AVAILABLE_REASON)
    name = new_rs["metadata"]["name"] if new_rs is not None else None
    if has_progress_deadline(d) and not complete_rollout:
        if deployment_complete(d, new_status):
            msg = (f'ReplicaSet "{name}" has successfully progressed.' if name
                   else f'Deployment "{d["metadata"]["name"]}" has successfully progressed.')
            set_condition(new_status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE_REASON, msg))
        elif deployment_progressing(d, new_status):
            msg = (f'ReplicaSet "{name}" is progressing.' if name
                   else f'Deployment "{d["metadata"]["name"]}" is progressing.')
            cond = new_condition(PROGRESSING, "True", RS_UPDATED_REASON, msg)
            if current is not None:
                if current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                remove_condition(new_status, PROGRESSING)
            set_condition(new_status, cond)
        elif deployment_timed_out(d, new_status, dc.clock()):
            msg = (f'ReplicaSet "{name}" has timed out progressing.' if name
                   else f'Deployment "{d["metadata"]["name"]}" has timed out progressing.')
            set_condition(new_status, new_condition(PROGRESSING, "False", TIMED_OUT_REASON, msg))
    failures = replica_failures(all_rss, new_rs)
    if failures:
        set_condition(new_status, failures[0])
    else:
        remove_condition(new_status, REPLICA_FAILURE)
    if status_equal(d.get("status") or {}, new_status):
        return requeue_stuck_deployment(d, new_status, dc.clock())
    d["status"] = new_status
    await dc.update_deployment_status(d)
    return Result()


def requeue_stuck_deployment(d: Obj, new_status: Obj, now: float) -> Result:
    """No visible progress: look again just after the progress deadline would pass."""
    current = get_condition(d.get("status") or {}, PROGRESSING)
    if not has_progress_deadline(d) or current is None:
        return Result()
    if deployment_complete(d, new_status) or current.get("reason") == TIMED_OUT_REASON:
        return Result()
    since = current.get("lastUpdateTime")
    if not since:
        return Result()
    after = parse_time(since).timestamp() + int(d["spec"]["progressDeadlineSeconds"]) - now
    if after < 1.0:
        return Result(requeue=True)
    return Result(requeue_after=after + 1.0)

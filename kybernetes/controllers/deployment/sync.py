"""Deployment sync steps shared by every strategy: new/old ReplicaSets and revisions, scaling (proportional in
the middle of a rollout), pause conditions, and revision-history cleanup (upstream's deployment/sync.go)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kybernetes.client import ApiError
from kybernetes.controllers.base import Result
from kybernetes.controllers.controller_utils import get_controller_of, is_being_deleted, new_controller_ref
from kybernetes.controllers.deployment import progress
from kybernetes.controllers.deployment.util import (DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY,
                                                    DESIRED_REPLICAS_ANNOTATION, FAILED_RS_CREATE_REASON,
                                                    FOUND_NEW_RS_REASON, NEW_RS_REASON, PAUSED_DEPLOY_REASON,
                                                    PROGRESSING, RESUMED_DEPLOY_REASON, REVISION_ANNOTATION,
                                                    TIMED_OUT_REASON, by_revision, by_size_newer, by_size_older,
                                                    compute_hash, equal_ignore_hash, filter_active,
                                                    find_active_or_latest, find_new_replica_set,
                                                    find_old_replica_sets, get_condition, get_int_annotation,
                                                    has_progress_deadline, has_revision_history_limit,
                                                    is_rolling_update, is_saturated, max_revision, max_surge,
                                                    new_condition, new_rs_new_replicas, proportion,
                                                    replica_count, replicas_annotations_need_update, replicas_of,
                                                    set_condition, set_deployment_revision,
                                                    set_new_replica_set_annotations, set_replicas_annotations,
                                                    status_int)

if TYPE_CHECKING:
    from kybernetes.controllers.deployment.controller import DeploymentController

log = logging.getLogger(__name__)

Obj = dict[str, Any]


async def sync(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> Result:
    """Scaling events and paused deployments: scale proportionally, never roll out."""
    new_rs, old_rss = await get_all_replica_sets_and_sync_revision(dc, d, rs_list, create=False)
    await scale(dc, d, new_rs, old_rss)
    if (d.get("spec") or {}).get("paused"):
        await cleanup_deployment(dc, old_rss, d)
    await progress.sync_deployment_status(dc, old_rss + [new_rs], new_rs, d)
    return Result()


async def sync_status_only(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> Result:
    new_rs, old_rss = await get_all_replica_sets_and_sync_revision(dc, d, rs_list, create=False)
    await progress.sync_deployment_status(dc, old_rss + [new_rs], new_rs, d)
    return Result()


async def check_paused_conditions(dc: DeploymentController, d: Obj) -> None:
    """Progressing=Unknown DeploymentPaused while paused, DeploymentResumed once resumed."""
    if not has_progress_deadline(d):
        return
    status = d.setdefault("status", {})
    cond = get_condition(status, PROGRESSING)
    if cond is not None and cond.get("reason") == TIMED_OUT_REASON:
        return  # lack of progress stays reported
    paused = bool((d.get("spec") or {}).get("paused"))
    paused_cond = cond is not None and cond.get("reason") == PAUSED_DEPLOY_REASON
    if paused and not paused_cond:
        set_condition(status, new_condition(PROGRESSING, "Unknown", PAUSED_DEPLOY_REASON, "Deployment is paused"))
    elif not paused and paused_cond:
        set_condition(status, new_condition(PROGRESSING, "Unknown", RESUMED_DEPLOY_REASON, "Deployment is resumed"))
    else:
        return
    await dc.update_deployment_status(d)


async def is_scaling_event(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> bool:
    """An active RS whose desired-replicas annotation differs from spec.replicas means a scale, not a rollout."""
    new_rs, old_rss = await get_all_replica_sets_and_sync_revision(dc, d, rs_list, create=False)
    for rs in filter_active(old_rss + [new_rs]):
        desired = get_int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)
        if desired is not None and desired != replicas_of(d):
            return True
    return False


async def get_all_replica_sets_and_sync_revision(dc: DeploymentController, d: Obj, rs_list: list[Obj], *,
                                                 create: bool) -> tuple[Obj | None, list[Obj]]:
    """(new RS or None, all old RSs); the new RS gets the next revision, created if `create`."""
    _, all_old = find_old_replica_sets(d, rs_list)
    new_rs = await get_new_replica_set(dc, d, rs_list, all_old, create=create)
    return new_rs, all_old


async def get_new_replica_set(dc: DeploymentController, d: Obj, rs_list: list[Obj], old_rss: list[Obj], *,
                              create: bool) -> Obj | None:
    existing = find_new_replica_set(d, rs_list)
    new_revision = str(max_revision(old_rss) + 1)
    status = d.setdefault("status", {})
    if existing is not None:
        annotations_updated = set_new_replica_set_annotations(d, existing, new_revision, exists=True)
        min_ready = int((d.get("spec") or {}).get("minReadySeconds") or 0)
        if annotations_updated or int(existing["spec"].get("minReadySeconds") or 0) != min_ready:
            existing["spec"]["minReadySeconds"] = min_ready
            await dc.update_rs(existing)
            return existing
        needs_update = set_deployment_revision(d, existing["metadata"].get("annotations", {})
                                               .get(REVISION_ANNOTATION, ""))
        if has_progress_deadline(d) and get_condition(status, PROGRESSING) is None:
            set_condition(status, new_condition(PROGRESSING, "True", FOUND_NEW_RS_REASON,
                                                f'Found new replica set "{existing["metadata"]["name"]}"'))
            needs_update = True
        if needs_update:
            await dc.update_deployment_status(d)
        return existing
    if not create:
        return None
    new_rs = _new_replica_set_object(d)
    new_rs["spec"]["replicas"] = new_rs_new_replicas(d, old_rss + [new_rs], new_rs)
    set_new_replica_set_annotations(d, new_rs, new_revision, exists=False)
    name = new_rs["metadata"]["name"]
    already_exists = False
    try:
        created = await dc.create_rs(new_rs)
    except ApiError as e:
        if e.code == 409 and e.reason == "AlreadyExists":
            created = await _existing_or_collision(dc, d, new_rs)
            already_exists = True
        elif _namespace_terminating(e):
            raise
        else:
            msg = f'Failed to create new replica set "{name}": {e.message or e}'
            if has_progress_deadline(d):
                set_condition(status, new_condition(PROGRESSING, "False", FAILED_RS_CREATE_REASON, msg))
                try:
                    await dc.update_deployment_status(d)
                except ApiError:
                    pass
            dc.event(d, "Warning", FAILED_RS_CREATE_REASON, msg)
            raise
    if not already_exists and replicas_of(created) > 0:
        dc.event(d, "Normal", "ScalingReplicaSet",
                 f"Scaled up replica set {created['metadata']['name']} from 0 to {replicas_of(created)}")
    needs_update = set_deployment_revision(d, new_revision)
    if not already_exists and has_progress_deadline(d):
        set_condition(status, new_condition(PROGRESSING, "True", NEW_RS_REASON,
                                            f'Created new replica set "{created["metadata"]["name"]}"'))
        needs_update = True
    if needs_update:
        await dc.update_deployment_status(d)
    return created


def _new_replica_set_object(d: Obj) -> Obj:
    spec = d.get("spec") or {}
    template = spec.get("template") or {}
    collision = (d.get("status") or {}).get("collisionCount")
    pod_hash = compute_hash(template, collision)
    tmeta = dict(template.get("metadata") or {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY: pod_hash}
    selector = dict(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY: pod_hash}
    md = d["metadata"]
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{md['name']}-{pod_hash}", "namespace": md["namespace"],
                         "ownerReferences": [new_controller_ref(d, api_version="apps/v1", kind="Deployment")],
                         "labels": dict(tmeta["labels"])},
            "spec": {"replicas": 0, "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                     "selector": selector, "template": {**template, "metadata": tmeta}}}


async def _existing_or_collision(dc: DeploymentController, d: Obj, new_rs: Obj) -> Obj:
    """The RS name is taken: ours with our template is fine; anything else bumps status.collisionCount."""
    md = new_rs["metadata"]
    rs = dc.rs_informer.store.get(md["name"], md["namespace"])
    if rs is None:
        rs = await dc.client.get(dc._rs_path(md["namespace"], md["name"]))
    ref = get_controller_of(rs)
    if ref is not None and ref.get("uid") == d["metadata"]["uid"] and \
            equal_ignore_hash(d["spec"].get("template"), rs["spec"].get("template")):
        return rs
    status = d.setdefault("status", {})
    status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
    await dc.update_deployment_status(d)
    raise ApiError(409, {"reason": "AlreadyExists", "message": f"hash collision on replica set {md['name']}"})


def _namespace_terminating(e: ApiError) -> bool:
    causes = (e.status.get("details") or {}).get("causes") or []
    return any(c.get("reason") == "NamespaceTerminating" for c in causes)


async def scale(dc: DeploymentController, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
    """Scale to spec.replicas; in the middle of a rollout, share the change proportionally between RSs."""
    desired = replicas_of(d)
    only = find_active_or_latest(new_rs, old_rss)
    if only is not None:
        if replicas_of(only) != desired:
            await scale_replica_set_and_record_event(dc, only, desired, d)
        return
    if is_saturated(d, new_rs):
        for old in filter_active(old_rss):
            await scale_replica_set_and_record_event(dc, old, 0, d)
        return
    if not is_rolling_update(d):
        return
    all_rss = filter_active(old_rss + [new_rs])
    allowed = desired + max_surge(d) if desired > 0 else 0
    to_add = allowed - replica_count(all_rss)
    operation = ""
    if to_add > 0:
        all_rss.sort(key=by_size_newer)
        operation = "up"
    elif to_add < 0:
        all_rss.sort(key=by_size_older)
        operation = "down"
    added = 0
    sizes: dict[str, int] = {}
    for rs in all_rss:
        share = proportion(rs, d, to_add, added) if to_add != 0 else 0
        sizes[rs["metadata"]["name"]] = replicas_of(rs) + share
        added += share
    for i, rs in enumerate(all_rss):
        name = rs["metadata"]["name"]
        if i == 0 and to_add != 0:  # leftovers go to the largest RS
            sizes[name] = max(0, sizes[name] + to_add - added)
        await scale_replica_set(dc, rs, sizes[name], d, operation)


async def scale_replica_set_and_record_event(dc: DeploymentController, rs: Obj, new_scale: int, d: Obj) -> bool:
    if replicas_of(rs) == new_scale:
        return False
    return await scale_replica_set(dc, rs, new_scale, d, "up" if replicas_of(rs) < new_scale else "down")


async def scale_replica_set(dc: DeploymentController, rs: Obj, new_scale: int, d: Obj, operation: str) -> bool:
    """Set spec.replicas and the desired/max annotations; True (and a ScalingReplicaSet event) on a resize."""
    desired = replicas_of(d)
    size_changed = replicas_of(rs) != new_scale
    if not size_changed and not replicas_annotations_need_update(rs, desired, desired + max_surge(d)):
        return False
    old_scale = replicas_of(rs)
    rs["spec"]["replicas"] = new_scale
    set_replicas_annotations(rs, desired, desired + max_surge(d))
    await dc.update_rs(rs)
    if size_changed:
        dc.event(d, "Normal", "ScalingReplicaSet",
                 f"Scaled {operation} replica set {rs['metadata']['name']} from {old_scale} to {new_scale}")
    return size_changed


async def cleanup_deployment(dc: DeploymentController, old_rss: list[Obj], d: Obj) -> None:
    """Delete the oldest scaled-down ReplicaSets beyond spec.revisionHistoryLimit."""
    if not has_revision_history_limit(d):
        return
    alive = [rs for rs in old_rss if not is_being_deleted(rs)]
    diff = len(alive) - int(d["spec"]["revisionHistoryLimit"])
    if diff <= 0:
        return
    for rs in sorted(alive, key=by_revision)[:diff]:
        if status_int(rs, "replicas") != 0 or replicas_of(rs) != 0 or \
                int(rs["metadata"].get("generation") or 0) > status_int(rs, "observedGeneration"):
            continue
        log.debug("deployment %s: deleting old replica set %s", d["metadata"]["name"], rs["metadata"]["name"])
        await dc.delete_rs(rs)

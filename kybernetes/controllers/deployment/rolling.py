"""The RollingUpdate strategy: grow the new ReplicaSet within maxSurge, shrink old ones within maxUnavailable
(unhealthy replicas first), as upstream's deployment/rolling.go."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kybernetes.controllers.base import Result
from kybernetes.controllers.deployment import progress, sync
from kybernetes.controllers.deployment.util import (available_replica_count, by_creation, deployment_complete,
                                                    filter_active, max_unavailable, new_rs_new_replicas,
                                                    replica_count, replicas_of, status_int)

if TYPE_CHECKING:
    from kybernetes.controllers.deployment.controller import DeploymentController

Obj = dict[str, Any]


async def rollout_rolling(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> Result:
    new_rs, old_rss = await sync.get_all_replica_sets_and_sync_revision(dc, d, rs_list, create=True)
    assert new_rs is not None
    all_rss: list[Obj | None] = [*old_rss, new_rs]
    if await reconcile_new_replica_set(dc, all_rss, new_rs, d):
        return await progress.sync_rollout_status(dc, all_rss, new_rs, d)
    if await reconcile_old_replica_sets(dc, all_rss, filter_active(old_rss), new_rs, d):
        return await progress.sync_rollout_status(dc, all_rss, new_rs, d)
    if deployment_complete(d, d.get("status") or {}):
        await sync.cleanup_deployment(dc, old_rss, d)
    return await progress.sync_rollout_status(dc, all_rss, new_rs, d)


async def reconcile_new_replica_set(dc: DeploymentController, all_rss: list[Obj | None], new_rs: Obj,
                                    d: Obj) -> bool:
    desired = replicas_of(d)
    if replicas_of(new_rs) == desired:
        return False
    if replicas_of(new_rs) > desired:
        return await sync.scale_replica_set_and_record_event(dc, new_rs, desired, d)
    return await sync.scale_replica_set_and_record_event(dc, new_rs, new_rs_new_replicas(d, all_rss, new_rs), d)


def max_scaled_down(all_rss: list[Obj | None], new_rs: Obj, d: Obj) -> int:
    """How many old replicas may go now without dropping below spec.replicas - maxUnavailable."""
    min_available = replicas_of(d) - max_unavailable(d)
    new_unavailable = replicas_of(new_rs) - status_int(new_rs, "availableReplicas")
    return replica_count(all_rss) - min_available - new_unavailable


async def reconcile_old_replica_sets(dc: DeploymentController, all_rss: list[Obj | None], old_rss: list[Obj],
                                     new_rs: Obj, d: Obj) -> bool:
    if replica_count(old_rss) == 0:
        return False
    budget = max_scaled_down(all_rss, new_rs, d)
    if budget <= 0:
        return False
    cleaned = await cleanup_unhealthy_replicas(dc, old_rss, d, budget)
    scaled = await scale_down_old_replica_sets_for_rolling_update(dc, [*old_rss, new_rs], old_rss, d)
    return cleaned + scaled > 0


async def cleanup_unhealthy_replicas(dc: DeploymentController, old_rss: list[Obj], d: Obj, max_cleanup: int) -> int:
    """Scale old RSs down by their unavailable replicas first, so broken pods never block a rollout."""
    total = 0
    for rs in sorted(old_rss, key=by_creation):
        if total >= max_cleanup:
            break
        unhealthy = replicas_of(rs) - status_int(rs, "availableReplicas")
        if replicas_of(rs) == 0 or unhealthy <= 0:
            continue
        count = min(max_cleanup - total, unhealthy)
        await sync.scale_replica_set_and_record_event(dc, rs, replicas_of(rs) - count, d)
        total += count
    return total


async def scale_down_old_replica_sets_for_rolling_update(dc: DeploymentController, all_rss: list[Obj | None],
                                                         old_rss: list[Obj], d: Obj) -> int:
    """Scale old RSs down, oldest first, while availability stays above spec.replicas - maxUnavailable."""
    min_available = replicas_of(d) - max_unavailable(d)
    available = available_replica_count(all_rss)
    if available <= min_available:
        return 0
    budget = available - min_available
    total = 0
    for rs in sorted(old_rss, key=by_creation):
        if total >= budget:
            break
        if replicas_of(rs) == 0:
            continue
        count = min(replicas_of(rs), budget - total)
        await sync.scale_replica_set_and_record_event(dc, rs, replicas_of(rs) - count, d)
        total += count
    return total

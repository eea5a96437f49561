"""The Recreate strategy: scale every old ReplicaSet to zero, wait until no old pod runs, then scale the new
one up (upstream's deployment/recreate.go)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kybernetes.controllers.base import Result
from kybernetes.controllers.deployment import progress, sync
from kybernetes.controllers.deployment.util import actual_replica_count, deployment_complete, filter_active

if TYPE_CHECKING:
    from kybernetes.controllers.deployment.controller import DeploymentController

Obj = dict[str, Any]


async def rollout_recreate(dc: DeploymentController, d: Obj, rs_list: list[Obj],
                           pod_map: dict[str, list[Obj]]) -> Result:
    new_rs, old_rss = await sync.get_all_replica_sets_and_sync_revision(dc, d, rs_list, create=False)
    all_rss: list[Obj | None] = [*old_rss, new_rs]
    scaled_down = False
    for rs in filter_active(old_rss):
        if await sync.scale_replica_set_and_record_event(dc, rs, 0, d):
            scaled_down = True
    if scaled_down:
        return await progress.sync_rollout_status(dc, all_rss, new_rs, d)
    if old_pods_running(new_rs, old_rss, pod_map):
        return await progress.sync_rollout_status(dc, all_rss, new_rs, d)
    if new_rs is None:
        new_rs, old_rss = await sync.get_all_replica_sets_and_sync_revision(dc, d, rs_list, create=True)
        all_rss = [*old_rss, new_rs]
    assert new_rs is not None
    await sync.scale_replica_set_and_record_event(dc, new_rs, int(d["spec"].get("replicas", 1)), d)
    if deployment_complete(d, d.get("status") or {}):
        await sync.cleanup_deployment(dc, old_rss, d)
    return await progress.sync_rollout_status(dc, all_rss, new_rs, d)


def old_pods_running(new_rs: Obj | None, old_rss: list[Obj], pod_map: dict[str, list[Obj]]) -> bool:
    """Any old RS still reporting replicas, or any not-terminated pod of an old RS."""
    if actual_replica_count(old_rss) > 0:
        return True
    new_uid = new_rs["metadata"]["uid"] if new_rs is not None else None
    for uid, pods in pod_map.items():
        if uid == new_uid:
            continue
        for pod in pods:
            if (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                return True
    return False

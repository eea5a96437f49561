"""Rollback through the deprecated `deprecated.deployment.rollback.to` annotation (extensions/v1beta1's
rollbackTo): copy an old revision's template back. `kubectl rollout undo` patches the template itself, and the
revision bookkeeping for that lives in sync.get_new_replica_set."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from kybernetes.controllers.base import Result
from kybernetes.controllers.deployment import sync
from kybernetes.controllers.deployment.util import (DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY, ROLLBACK_TO_ANNOTATION,
                                                    equal_ignore_hash, last_revision, revision_of,
                                                    skip_copy_annotation)

if TYPE_CHECKING:
    from kybernetes.controllers.deployment.controller import DeploymentController

Obj = dict[str, Any]


def get_rollback_to(d: Obj) -> int | None:
    """The revision asked for by the annotation (0 = the previous one), or None."""
    value = ((d.get("metadata") or {}).get("annotations") or {}).get(ROLLBACK_TO_ANNOTATION)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def template_from_replica_set(rs: Obj) -> Obj:
    """The RS's pod template without the pod-template-hash label (what a rollback puts back)."""
    template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY, None)
    return template


def set_deployment_annotations_to(d: Obj, rs: Obj) -> None:
    """Keep the Deployment's skipped annotations, take every other annotation from the RS."""
    current = (d.get("metadata") or {}).get("annotations") or {}
    new = {k: v for k, v in current.items() if skip_copy_annotation(k)}
    for k, v in ((rs.get("metadata") or {}).get("annotations") or {}).items():
        if not skip_copy_annotation(k):
            new[k] = v
    d["metadata"]["annotations"] = new


async def rollback(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> Result:
    new_rs, old_rss = await sync.get_all_replica_sets_and_sync_revision(dc, d, rs_list, create=False)
    all_rss = [rs for rs in [*old_rss, new_rs] if rs is not None]
    revision = get_rollback_to(d) or 0
    if revision == 0:
        revision = last_revision(all_rss)
        if revision == 0:
            dc.event(d, "Warning", "RollbackRevisionNotFound", "Unable to find last revision.")
            return await _clear_rollback_to(dc, d)
    for rs in all_rss:
        if revision_of(rs) != revision:
            continue
        performed = False
        if not equal_ignore_hash(d["spec"].get("template"), rs["spec"].get("template")):
            d["spec"]["template"] = template_from_replica_set(rs)
            set_deployment_annotations_to(d, rs)
            performed = True
        else:
            name = d["metadata"]["name"]
            dc.event(d, "Warning", "DeploymentRollbackTemplateUnchanged",
                     f'The rollback revision contains the same template as current deployment "{name}"')
        result = await _clear_rollback_to(dc, d)
        if performed:
            dc.event(d, "Normal", "DeploymentRollback",
                     f'Rolled back deployment "{d["metadata"]["name"]}" to revision {revision}')
        return result
    dc.event(d, "Warning", "RollbackRevisionNotFound", "Unable to find the revision to rollback to.")
    return await _clear_rollback_to(dc, d)


async def _clear_rollback_to(dc: DeploymentController, d: Obj) -> Result:
    (d["metadata"].get("annotations") or {}).pop(ROLLBACK_TO_ANNOTATION, None)
    await dc.update_deployment(d)
    return Result()

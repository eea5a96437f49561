"""Namespace controller: empties a Terminating namespace of every namespaced resource, then finalizes it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from kybernetes.api import meta
from kybernetes.client import ApiError, resource_path
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext
from kybernetes.controllers.discovery import APIResource, deletable_namespaced, discover

log = logging.getLogger(__name__)

Obj = dict[str, Any]

FINALIZER = "kubernetes"
BACKGROUND = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}


@dataclass
class DeletionState:
    """One pass over a namespace's content: what failed, what is left, which finalizers hold it."""

    discovery_failed: dict[str, str] = field(default_factory=dict)
    content_errors: list[str] = field(default_factory=list)
    remaining: dict[str, int] = field(default_factory=dict)  # group resource -> count
    finalizers: dict[str, int] = field(default_factory=dict)  # finalizer -> count
    estimate: float = 0.0

    @property
    def done(self) -> bool:
        return not (self.discovery_failed or self.content_errors or self.remaining)


def _cond(ctype: str, true: bool, reason_true: str, msg_true: str, reason_false: str, msg_false: str) -> Obj:
    return {"type": ctype, "status": "True" if true else "False", "reason": reason_true if true else reason_false,
            "message": msg_true if true else msg_false}


def deletion_conditions(state: DeletionState) -> list[Obj]:
    """The namespace conditions upstream reports, with its reasons and messages."""
    failed = sorted(f"{gv}: {err}" for gv, err in state.discovery_failed.items())
    remaining = ", ".join(sorted(f"{gr} has {n} resource instances" for gr, n in state.remaining.items()))
    finalizers = ", ".join(sorted(f"{f} in {n} resource instances" for f, n in state.finalizers.items()))
    return [
        _cond("NamespaceDeletionDiscoveryFailure", bool(failed), "DiscoveryFailed",
              f"Discovery failed for some groups, {len(failed)} failing: {', '.join(failed)}",
              "ResourcesDiscovered", "All resources successfully discovered"),
        _cond("NamespaceDeletionGroupVersionParsingFailure", False, "FailedParsing", "",
              "ParsedGroupVersions", "All legacy kube types successfully parsed"),
        _cond("NamespaceDeletionContentFailure", bool(state.content_errors), "ContentDeletionFailed",
              f"Failed to delete all resource types, {len(state.content_errors)} remaining: "
              + ", ".join(sorted(state.content_errors)),
              "ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
        _cond("NamespaceContentRemaining", bool(state.remaining), "SomeResourcesRemain",
              f"Some resources are remaining: {remaining}", "ContentRemoved", "All content successfully removed"),
        _cond("NamespaceFinalizersRemaining", bool(state.finalizers), "SomeFinalizersRemain",
              f"Some content in the namespace has finalizers remaining: {finalizers}",
              "ContentHasNoFinalizers", "All content-preserving finalizers finished"),
    ]


def merge_conditions(current: list[Obj], wanted: list[Obj], now: str) -> list[Obj] | None:
    """`current` updated to `wanted` (keeping transition times of unchanged statuses); None if nothing changed."""
    by_type = {c.get("type"): c for c in current}
    out = [c for c in current if c.get("type") not in {w["type"] for w in wanted}]
    changed = False
    for w in wanted:
        c = by_type.get(w["type"])
        if c is not None and all(c.get(k) == w[k] for k in ("status", "reason", "message")):
            out.append(c)
            continue
        changed = True
        keep_time = c is not None and c.get("status") == w["status"] and c.get("lastTransitionTime")
        out.append(dict(w, lastTransitionTime=c["lastTransitionTime"] if keep_time else now))
    return out if changed else None


class NamespaceController:
    """Deletes the content of Terminating namespaces, then removes the `kubernetes` finalizer."""

    name = "namespace"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.namespaces = ctx.informers.informer_for("", "v1", "namespaces")
        self.worker = QueueWorker(self.name, self.reconcile)
        self.namespaces.add_event_handler(on_add=self.worker.enqueue_object, on_update=self.worker.enqueue_object)

    async def reconcile(self, key: str) -> Result:
        ns = self.namespaces.store.get_by_key(key)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return Result()
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return Result()
        state = await self.delete_all_content(key)
        await self.update_conditions(ns, state)
        if not state.done:
            return Result(requeue_after=max(state.estimate, 1.0)) if state.remaining else Result(requeue=True)
        await self.finalize(key)
        return Result()

    async def delete_all_content(self, namespace: str) -> DeletionState:
        found = await discover(self.client)
        state = DeletionState(discovery_failed=found.failed)
        for res in deletable_namespaced(found.resources):
            await self.delete_resource(namespace, res, state)
        return state

    async def delete_resource(self, namespace: str, res: APIResource, state: DeletionState) -> None:
        """Delete all of one resource in the namespace; count what remains and the finalizers holding it."""
        path = resource_path(res.group, res.version, res.plural, namespace)
        try:
            if "deletecollection" in res.verbs:
                await self.client.request("DELETE", path, body=BACKGROUND)
            elif "delete" in res.verbs:
                for item in (await self.client.list(path)).get("items") or []:
                    try:
                        await self.client.delete(f"{path}/{item['metadata']['name']}", body=BACKGROUND)
                    except ApiError as e:
                        if not e.not_found:
                            raise
            items = (await self.client.list(path)).get("items") or []
        except ApiError as e:
            if e.not_found or e.code == 405:
                return
            state.content_errors.append(f"{res.group_resource}: {e.message}")
            return
        if items:
            state.remaining[res.group_resource] = len(items)
            for item in items:
                for f in item["metadata"].get("finalizers") or []:
                    state.finalizers[f] = state.finalizers.get(f, 0) + 1
                grace = item["metadata"].get("deletionGracePeriodSeconds")
                if grace:
                    state.estimate = max(state.estimate, float(grace))

    async def update_conditions(self, ns: Obj, state: DeletionState) -> None:
        current = (ns.get("status") or {}).get("conditions") or []
        conditions = merge_conditions(current, deletion_conditions(state), meta.now_rfc3339())
        if conditions is None:
            return
        body = dict(ns, status=dict(ns.get("status") or {}, conditions=conditions))
        try:
            await self.client.update(resource_path("", "v1", "namespaces", name=ns["metadata"]["name"],
                                                   subresource="status"), body)
        except ApiError as e:
            if not (e.not_found or e.conflict):
                raise

    async def finalize(self, name: str) -> None:
        """PUT /api/v1/namespaces/NAME/finalize without the `kubernetes` finalizer; the apiserver then deletes it."""
        try:
            live = await self.client.get(resource_path("", "v1", "namespaces", name=name))
        except ApiError as e:
            if e.not_found:
                return
            raise
        finalizers = [f for f in (live.get("spec") or {}).get("finalizers") or [] if f != FINALIZER]
        body = dict(live, spec=dict(live.get("spec") or {}, finalizers=finalizers))
        try:
            await self.client.update(resource_path("", "v1", "namespaces", name=name, subresource="finalize"), body)
        except ApiError as e:
            if not e.not_found:
                raise

    async def run(self, workers: int) -> None:
        self.ctx.informers.start()
        await self.ctx.informers.wait_for_cache_sync()
        await self.worker.run(workers)


CONTROLLER = NamespaceController

"""Garbage collector: deletes dependents of vanished owners; foreground and orphan propagation via finalizers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kybernetes.client import ApiError, HandlerRegistration, RESTClient, SharedInformer, resource_path
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext
from kybernetes.controllers.discovery import APIResource, discover, gc_resources
from kybernetes.controllers.gcgraph import (FOREGROUND, ORPHAN, Classified, Graph, Node, OwnerState,
                                            classify_references, decide)

log = logging.getLogger(__name__)

Obj = dict[str, Any]

METADATA_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
DISCOVERY_PERIOD = 30.0
SYNC_TIMEOUT = 30.0


class MetadataClient(RESTClient):
    """A RESTClient whose lists and watches ask for PartialObjectMetadata (metadata-only informers)."""

    def _headers(self, content_type: str | None = None, accept: str = "application/json") -> dict[str, str]:
        return super()._headers(content_type, METADATA_ACCEPT)


def _group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


class GarbageCollector:
    """Builds the ownership graph from metadata informers on every deletable resource, then acts on it."""

    name = "garbagecollector"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.metadata_client = MetadataClient(ctx.client.config)
        self.discovery_period = float(ctx.options.extra.get("gc_discovery_period", DISCOVERY_PERIOD))
        self.graph = Graph()
        self.monitors: dict[APIResource, SharedInformer] = {}
        self.registrations: dict[APIResource, HandlerRegistration] = {}
        self.by_group_kind: dict[tuple[str, str], APIResource] = {}
        self.absent: set[str] = set()  # owner uids found absent (upstream's absentOwnerCache, unbounded here)
        self.attempt_to_delete = QueueWorker("garbage_collector_attempt_to_delete", self.attempt_to_delete_item)
        self.attempt_to_orphan = QueueWorker("garbage_collector_attempt_to_orphan", self.attempt_to_orphan_item)

    # -- monitors: graph changes ------------------------------------------------------------------------------

    async def sync_monitors(self) -> None:
        """(Re)discover resources; start a metadata informer for each new deletable resource."""
        found = await discover(self.client)
        for r in found.resources:
            self.by_group_kind[(r.group, r.kind)] = r
        wanted = set(gc_resources(found.resources))
        for res in wanted - set(self.monitors):
            inf = SharedInformer(self.metadata_client, resource_path(res.group, res.version, res.plural))
            self.registrations[res] = inf.add_event_handler(on_add=lambda o, r=res: self._observe(r, o),
                                  on_update=lambda old, new, r=res: self._observe(r, new),
                                  on_delete=lambda o, r=res: self._removed(o))
            self.monitors[res] = inf
            inf.start()
        for res in set(self.monitors) - wanted:
            if res.api_version not in found.failed:  # gone from discovery (e.g. its CRD was deleted)
                self.registrations.pop(res, None)
                await self.monitors.pop(res).stop()

    def _observe(self, res: APIResource, obj: Obj) -> None:
        to_delete, to_orphan = self.graph.observe(res.api_version, res.kind, obj)
        for uid in to_delete:
            self.attempt_to_delete.enqueue(uid)
        for uid in to_orphan:
            self.attempt_to_orphan.enqueue(uid)

    def _removed(self, obj: Obj) -> None:
        for uid in self.graph.remove((obj.get("metadata") or {}).get("uid", "")):
            self.attempt_to_delete.enqueue(uid)

    # -- live reads and writes --------------------------------------------------------------------------------

    def _path(self, api_version: str, kind: str, namespace: str, name: str) -> str | None:
        res = self.by_group_kind.get((_group_of(api_version), kind))
        if res is None:
            return None
        return resource_path(res.group, res.version, res.plural, namespace if res.namespaced else None, name)

    async def get_live(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        """The object from the apiserver (None if absent); raises LookupError for a kind discovery does not know."""
        path = self._path(api_version, kind, namespace, name)
        if path is None:
            raise LookupError(f"no resource for {api_version}, Kind={kind}")
        try:
            return await self.client.get(path)
        except ApiError as e:
            if e.not_found:
                return None
            raise

    async def owner_state(self, ref: Obj, namespace: str) -> OwnerState:
        """Whether the owner a reference names exists (by uid), and whether it waits for its dependents."""
        uid = ref.get("uid", "")
        if uid in self.absent:
            return OwnerState.ABSENT
        owner = await self.get_live(ref.get("apiVersion", ""), ref.get("kind", ""), namespace, ref.get("name", ""))
        if owner is None or owner["metadata"].get("uid") != uid:
            self.absent.add(uid)
            return OwnerState.ABSENT
        md = owner["metadata"]
        if md.get("deletionTimestamp") and FOREGROUND in (md.get("finalizers") or []):
            return OwnerState.FOREGROUND
        return OwnerState.PRESENT

    async def _patch_metadata(self, node: Node, live: Obj, metadata: Obj) -> None:
        path = self._path(node.api_version, node.kind, node.namespace, node.name)
        assert path is not None
        md = {"uid": live["metadata"]["uid"], "resourceVersion": live["metadata"]["resourceVersion"], **metadata}
        await self.client.patch(path, {"metadata": md})

    async def _remove_finalizer(self, node: Node, live: Obj, finalizer: str) -> None:
        finalizers = [f for f in live["metadata"].get("finalizers") or [] if f != finalizer]
        await self._patch_metadata(node, live, {"finalizers": finalizers})

    # -- attempt to delete ------------------------------------------------------------------------------------

    async def attempt_to_delete_item(self, uid: str) -> Result:
        node = self.graph.nodes.get(uid)
        if node is None:
            return Result()
        if not node.virtual and node.being_deleted and not node.deleting_dependents:
            return Result()  # someone else is deleting it
        try:
            live = await self.get_live(node.api_version, node.kind, node.namespace, node.name)
        except LookupError as e:
            log.info("%s: %s", self.name, e)
            return Result(requeue_after=self.discovery_period)
        if live is None or live["metadata"].get("uid") != uid:
            if node.virtual:
                self.absent.add(uid)
            for dep in self.graph.remove(uid):  # act as if its delete event came
                self.attempt_to_delete.enqueue(dep)
            return Result()
        if node.virtual:
            return Result()  # it exists: its informer will bring the real node
        md = live["metadata"]
        if md.get("deletionTimestamp") and FOREGROUND not in (md.get("finalizers") or []):
            return Result()
        if md.get("deletionTimestamp"):
            return await self.process_deleting_dependents(node, live)
        refs = md.get("ownerReferences") or []
        if not refs:
            return Result()
        states = {r.get("uid"): await self.owner_state(r, node.namespace) for r in refs}
        classified: Classified = classify_references(refs, lambda r: states[r.get("uid")])
        decision = decide(live, classified, has_dependents=bool(node.dependents),
                          dependent_deleting_dependents=any(
                              (d := self.graph.nodes.get(u)) is not None and d.deleting_dependents
                              for u in node.dependents))
        if decision.action == "patch":
            await self._patch_metadata(node, live, {"ownerReferences": decision.owner_references})
        elif decision.action == "delete":
            if decision.unblock:
                refs_unblocked = [dict(r, blockOwnerDeletion=False) if r.get("uid") in decision.unblock else r
                                  for r in refs]
                await self._patch_metadata(node, live, {"ownerReferences": refs_unblocked})
            await self.delete_object(node, decision.policy)
        return Result()

    async def process_deleting_dependents(self, node: Node, live: Obj) -> Result:
        """Foreground: wait for blocking dependents, deleting them; then drop the foregroundDeletion finalizer."""
        blocking = node.blocking_dependents(self.graph)
        if not blocking:
            await self._remove_finalizer(node, live, FOREGROUND)
            return Result()
        for dep in blocking:
            if not dep.being_deleted or dep.deleting_dependents:
                self.attempt_to_delete.enqueue(dep.uid)
        return Result()

    async def delete_object(self, node: Node, policy: str) -> None:
        path = self._path(node.api_version, node.kind, node.namespace, node.name)
        assert path is not None
        log.info("%s: deleting %s %s/%s (%s)", self.name, node.kind, node.namespace, node.name, policy)
        try:
            await self.client.delete(path, body={"kind": "DeleteOptions", "apiVersion": "v1",
                                                 "propagationPolicy": policy, "preconditions": {"uid": node.uid}})
        except ApiError as e:
            if not (e.not_found or e.conflict):
                raise

    # -- attempt to orphan ------------------------------------------------------------------------------------

    async def attempt_to_orphan_item(self, uid: str) -> Result:
        """Strip the owner's references from its dependents, then remove the orphan finalizer."""
        node = self.graph.nodes.get(uid)
        if node is None or not node.orphaning:
            return Result()
        for dep_uid in sorted(node.dependents):
            dep = self.graph.nodes.get(dep_uid)
            if dep is None or dep.virtual:
                continue
            live = await self.get_live(dep.api_version, dep.kind, dep.namespace, dep.name)
            if live is None or live["metadata"].get("uid") != dep_uid:
                continue
            refs = live["metadata"].get("ownerReferences") or []
            kept = [r for r in refs if r.get("uid") != uid]
            if len(kept) != len(refs):
                await self._patch_metadata(dep, live, {"ownerReferences": kept})
        live = await self.get_live(node.api_version, node.kind, node.namespace, node.name)
        if live is not None and live["metadata"].get("uid") == uid and ORPHAN in (live["metadata"].get("finalizers")
                                                                                 or []):
            await self._remove_finalizer(node, live, ORPHAN)
        return Result()

    # -- run --------------------------------------------------------------------------------------------------

    async def _resync_monitors(self) -> None:
        while True:
            await asyncio.sleep(self.discovery_period)
            try:
                await self.sync_monitors()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 -- discovery fails now and then; try next period
                log.warning("%s: resyncing monitors: %s", self.name, e)

    async def wait_for_graph(self, timeout: float) -> bool:
        """Wait until every monitor's handler has put its initial list in the graph; False on timeout."""
        try:
            await asyncio.wait_for(asyncio.gather(*(r.wait_for_sync() for r in self.registrations.values())),
                                   timeout)
        except asyncio.TimeoutError:
            log.warning("%s: not all monitors synced in %.0f s; starting anyway", self.name, timeout)
            return False
        return True

    async def run(self, workers: int) -> None:
        try:
            while True:
                try:
                    await self.sync_monitors()
                    break
                except ApiError as e:
                    log.warning("%s: discovery: %s", self.name, e)
                    await asyncio.sleep(1.0)
            await self.wait_for_graph(SYNC_TIMEOUT)
            await asyncio.gather(self.attempt_to_delete.run(workers), self.attempt_to_orphan.run(workers),
                                 self._resync_monitors())
        finally:
            for m in self.monitors.values():
                await m.stop()
            await self.metadata_client.close()


CONTROLLER = GarbageCollector

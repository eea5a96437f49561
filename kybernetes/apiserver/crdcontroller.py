"""Serves CustomResourceDefinitions: registers their resources, sets Established, cleans up on delete."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from kybernetes.api import errors, meta
from kybernetes.apiserver.rest import RequestContext, guaranteed_update
from kybernetes.apiserver.watchcache import WatcherClosed

if TYPE_CHECKING:
    from kybernetes.apiserver.server import APIServer

log = logging.getLogger(__name__)

CRD_PREFIX = "/registry/apiextensions.k8s.io/customresourcedefinitions/"
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


class CRDController:
    """Level-triggered: every change of a CRD re-derives what is served from the CRD as it is now."""

    def __init__(self, server: APIServer) -> None:
        self.server = server
        self._served: dict[str, list[tuple[str, str, str]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[str] = asyncio.Queue()

    @property
    def info(self):  # noqa: ANN201
        return self.server.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")

    def sync_all(self) -> None:
        """Register every stored CRD's resources (at start, before serving)."""
        cache = self.server.cache.cache_for(CRD_PREFIX)
        for crd in list(cache.objects.values()):
            self._register(crd)

    async def start(self) -> None:
        watcher = self.server.cache.watch(CRD_PREFIX, lambda _o: True)
        cache = self.server.cache.cache_for(CRD_PREFIX)
        for key in cache.objects:
            self._queue.put_nowait(key)
        self._task = asyncio.create_task(self._run(watcher), name="crd-controller")
        self._worker = asyncio.create_task(self._work(), name="crd-worker")

    async def stop(self) -> None:
        for t in (self._task, getattr(self, "_worker", None)):
            if t:
                t.cancel()

    async def _run(self, watcher: Any) -> None:
        while True:
            try:
                batch = await watcher.next_batch(timeout=30)
            except WatcherClosed:
                watcher = self.server.cache.watch(CRD_PREFIX, lambda _o: True)
                for key in list(self.server.cache.cache_for(CRD_PREFIX).objects):
                    self._queue.put_nowait(key)
                continue
            for ev in batch:
                self._queue.put_nowait(ev.key)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            try:
                await self.reconcile(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconciling %s failed; retrying", key)
                await asyncio.sleep(1)
                self._queue.put_nowait(key)

    def _register(self, crd: dict[str, Any]) -> None:
        from kybernetes.api.crd import resources_for_crd

        name = crd["metadata"]["name"]
        infos = resources_for_crd(crd)
        wanted = {i.gvr for i in infos}
        for gvr in self._served.get(name, []):
            if gvr not in wanted:
                self.server.registry.unregister(*gvr)
        for info in infos:
            self.server.registry.register(info)
        self._served[name] = sorted(wanted)

    def _unregister(self, name: str) -> None:
        for gvr in self._served.pop(name, []):
            self.server.registry.unregister(*gvr)

    async def reconcile(self, key: str) -> None:
        crd = self.server.cache.cache_for(CRD_PREFIX).objects.get(key)
        name = key[len(CRD_PREFIX):]
        if crd is None:
            self._unregister(name)
            return
        ctx = RequestContext(field_manager="kube-apiserver", user="system:apiserver")
        if crd["metadata"].get("deletionTimestamp"):
            await self._cleanup(crd, ctx)
            return
        self._register(crd)
        status = crd.get("status") or {}
        established = any(c.get("type") == "Established" and c.get("status") == "True"
                          for c in status.get("conditions") or [])
        has_finalizer = CLEANUP_FINALIZER in (crd["metadata"].get("finalizers") or [])
        if established and has_finalizer and self._stored_versions_ok(crd):
            return
        from kybernetes.api.crd import established_status

        def establish(obj: dict[str, Any]) -> dict[str, Any]:
            md = obj["metadata"]
            if md.get("deletionTimestamp"):
                return None  # type: ignore[return-value]
            fins = md.setdefault("finalizers", [])
            if CLEANUP_FINALIZER not in fins:
                fins.append(CLEANUP_FINALIZER)
            new_status = established_status(obj, meta.now_rfc3339())
            old_conds = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}
            for c in new_status.get("conditions") or []:
                prev = old_conds.get(c.get("type"))
                if prev and prev.get("status") == c.get("status"):
                    c["lastTransitionTime"] = prev.get("lastTransitionTime", c.get("lastTransitionTime"))
            stored = set((obj.get("status") or {}).get("storedVersions") or [])
            stored |= set(new_status.get("storedVersions") or [])
            new_status["storedVersions"] = sorted(stored)
            obj["status"] = new_status
            return obj

        await guaranteed_update(self.server.rest, self.info, "", name, establish, ctx)

    def _stored_versions_ok(self, crd: dict[str, Any]) -> bool:
        stored = set((crd.get("status") or {}).get("storedVersions") or [])
        storage = [v["name"] for v in (crd.get("spec") or {}).get("versions") or [] if v.get("storage")]
        return all(v in stored for v in storage)

    async def _cleanup(self, crd: dict[str, Any], ctx: RequestContext) -> None:
        """Delete every custom resource of the CRD, then release the CRD's cleanup finalizer."""
        name = crd["metadata"]["name"]
        infos = [self.server.registry.get(*gvr) for gvr in self._served.get(name, [])]
        infos = [i for i in infos if i is not None]
        if infos:
            info = infos[0]
            cache = self.server.cache.cache_for(info.storage_prefix)
            for key, obj in list(cache.objects.items()):
                md = obj["metadata"]
                try:
                    await self.server.rest.delete(info, md.get("namespace", ""), md["name"], {}, ctx)
                except errors.StatusError as e:
                    if e.code != 404:
                        raise
            if any(cache.objects):
                # finalizers on custom resources still hold some; come back later
                await asyncio.sleep(1)
                self._queue.put_nowait(CRD_PREFIX + name)
                return
        self._unregister(name)

        def release(obj: dict[str, Any]) -> dict[str, Any] | None:
            fins = obj["metadata"].get("finalizers") or []
            if CLEANUP_FINALIZER not in fins:
                return None
            obj["metadata"]["finalizers"] = [f for f in fins if f != CLEANUP_FINALIZER]
            return obj

        updated = await guaranteed_update(self.server.rest, self.info, "", name, release, ctx)
        if not updated["metadata"].get("finalizers") and updated["metadata"].get("deletionTimestamp"):
            # last finalizer gone: the object goes (the generic store does this for API updates)
            rv = int(updated["metadata"]["resourceVersion"])
            await self.server.store.delete(self.info.key("", name), mod_revision=rv)

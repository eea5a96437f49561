"""ServiceAccounts controller: a `default` ServiceAccount in every active namespace, re-created if deleted."""

from __future__ import annotations

from typing import Any

from kybernetes.client import ApiError, resource_path
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext

Obj = dict[str, Any]

DEFAULT_NAME = "default"


def namespace_active(ns: Obj | None) -> bool:
    return ns is not None and not (ns.get("metadata") or {}).get("deletionTimestamp") and \
        (ns.get("status") or {}).get("phase") != "Terminating"


class ServiceAccountsController:
    """Ensures each namespace has the ServiceAccounts it must have (upstream: just `default`)."""

    name = "serviceaccount"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.namespaces = ctx.informers.informer_for("", "v1", "namespaces")
        self.accounts = ctx.informers.informer_for("", "v1", "serviceaccounts")
        self.worker = QueueWorker(self.name, self.reconcile)
        self.namespaces.add_event_handler(on_add=self.worker.enqueue_object, on_update=self.worker.enqueue_object)
        self.accounts.add_event_handler(on_delete=self._account_deleted)

    def _account_deleted(self, sa: Obj) -> None:
        md = sa.get("metadata") or {}
        if md.get("name") == DEFAULT_NAME and md.get("namespace"):
            self.worker.enqueue(md["namespace"])

    async def reconcile(self, key: str) -> Result:
        if not namespace_active(self.namespaces.store.get_by_key(key)):
            return Result()
        if self.accounts.store.get(DEFAULT_NAME, key) is not None:
            return Result()
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DEFAULT_NAME, "namespace": key}}
        try:
            await self.client.create(resource_path("", "v1", "serviceaccounts", key), body)
        except ApiError as e:
            if e.code == 409 or (e.code == 403 and "being terminated" in e.message) or e.not_found:
                return Result()  # exists already, or the namespace is going away
            raise
        return Result()

    async def run(self, workers: int) -> None:
        self.ctx.informers.start()
        await self.ctx.informers.wait_for_cache_sync()
        await self.worker.run(workers)


CONTROLLER = ServiceAccountsController

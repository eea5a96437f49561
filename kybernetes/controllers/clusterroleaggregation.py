"""ClusterRole aggregation: keeps each aggregated ClusterRole's rules the union of the roles its
aggregationRule selects (upstream's clusterrole-aggregation controller)."""

from __future__ import annotations

import logging
from typing import Any

from kybernetes.apiserver.authz.aggregation import aggregated_rules
from kybernetes.client import ApiError, resource_path
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext

log = logging.getLogger(__name__)

Obj = dict[str, Any]
GROUP = "rbac.authorization.k8s.io"


class ClusterRoleAggregationController:
    """Any ClusterRole change re-queues every aggregated ClusterRole; reconcile writes only a changed rule list."""

    name = "clusterrole-aggregation"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.roles = ctx.informers.informer_for(GROUP, "v1", "clusterroles")
        self.worker = QueueWorker(self.name, self.reconcile)
        self.roles.add_event_handler(on_add=lambda o: self._enqueue_aggregated(),
                                     on_update=lambda o, n: self._enqueue_aggregated(),
                                     on_delete=lambda o: self._enqueue_aggregated())

    def _enqueue_aggregated(self) -> None:
        for role in self.roles.store.list():
            if role.get("aggregationRule"):
                self.worker.enqueue(role["metadata"]["name"])

    async def reconcile(self, key: str) -> Result:
        role = self.roles.store.get(key)
        if role is None:
            return Result()
        rules = aggregated_rules(role, self.roles.store.list())
        if rules is None or rules == (role.get("rules") or []):
            return Result()
        body = {**role, "rules": rules}
        try:
            await self.client.update(resource_path(GROUP, "v1", "clusterroles", None, key), body)
        except ApiError as e:
            if e.code in (404,):
                return Result()
            if e.code == 409:
                return Result(requeue=True)
            raise
        return Result()

    async def run(self, workers: int) -> None:
        self.ctx.informers.start()
        await self.ctx.informers.wait_for_cache_sync()
        await self.worker.run(workers)


CONTROLLER = ClusterRoleAggregationController

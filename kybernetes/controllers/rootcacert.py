"""Root CA publisher: the ConfigMap kube-root-ca.crt (key ca.crt, the cluster CA) in every namespace."""

from __future__ import annotations

import logging
from typing import Any

from kybernetes.client import ApiError, resource_path
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext
from kybernetes.controllers.serviceaccount import namespace_active

log = logging.getLogger(__name__)

Obj = dict[str, Any]

CONFIGMAP_NAME = "kube-root-ca.crt"
DATA_KEY = "ca.crt"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")
DESCRIPTION_ANNOTATION = "kubernetes.io/description"


def desired_configmap(namespace: str, ca_pem: str, current: Obj | None = None) -> Obj | None:
    """The ConfigMap to write, or None when `current` already publishes `ca_pem` with the description."""
    if current is not None:
        md = current.get("metadata") or {}
        if current.get("data") == {DATA_KEY: ca_pem} and \
                (md.get("annotations") or {}).get(DESCRIPTION_ANNOTATION) == DESCRIPTION:
            return None
    meta: Obj = {"name": CONFIGMAP_NAME, "namespace": namespace}
    if current is not None:
        md = current["metadata"]
        meta.update(labels=md.get("labels") or {}, resourceVersion=md.get("resourceVersion"))
        meta["annotations"] = dict(md.get("annotations") or {})
    meta.setdefault("annotations", {})[DESCRIPTION_ANNOTATION] = DESCRIPTION
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {DATA_KEY: ca_pem}}


class RootCACertPublisher:
    """Creates and repairs kube-root-ca.crt in each active namespace."""

    name = "root-ca-cert-publisher"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.ca_pem = ""
        if ctx.options.root_ca_file:
            with open(ctx.options.root_ca_file, encoding="utf-8") as f:
                self.ca_pem = f.read()
        self.namespaces = ctx.informers.informer_for("", "v1", "namespaces")
        self.configmaps = ctx.informers.informer_for("", "v1", "configmaps")
        self.worker = QueueWorker(self.name, self.reconcile)
        self.namespaces.add_event_handler(on_add=self.worker.enqueue_object, on_update=self.worker.enqueue_object)
        self.configmaps.add_event_handler(on_update=lambda o, n: self._configmap_changed(n),
                                          on_delete=self._configmap_changed)

    def _configmap_changed(self, cm: Obj) -> None:
        md = cm.get("metadata") or {}
        if md.get("name") == CONFIGMAP_NAME and md.get("namespace"):
            self.worker.enqueue(md["namespace"])

    async def reconcile(self, key: str) -> Result:
        if not self.ca_pem or not namespace_active(self.namespaces.store.get_by_key(key)):
            return Result()
        current = self.configmaps.store.get(CONFIGMAP_NAME, key)
        body = desired_configmap(key, self.ca_pem, current)
        if body is None:
            return Result()
        try:
            if current is None:
                await self.client.create(resource_path("", "v1", "configmaps", key), body)
            else:
                await self.client.update(resource_path("", "v1", "configmaps", key, CONFIGMAP_NAME), body)
        except ApiError as e:
            if e.code == 403 and "being terminated" in e.message:
                return Result()
            if e.code == 409:
                return Result(requeue=True)  # the cache was behind; look again
            raise
        return Result()

    async def run(self, workers: int) -> None:
        if not self.ca_pem:
            log.warning("%s: no root_ca_file configured; nothing to publish", self.name)
        self.ctx.informers.start()
        await self.ctx.informers.wait_for_cache_sync()
        await self.worker.run(workers)


CONTROLLER = RootCACertPublisher

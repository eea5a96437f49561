"""csrapproving: approves the CSRs it recognizes (kubelet client certificates, kubelet serving and kube-proxy
client certificates of nodes) when a SubjectAccessReview says the requester holds the matching permission."""

from __future__ import annotations

import logging
from typing import Any

from kybernetes.api import meta
from kybernetes.client import RESTClient, resource_path
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.certificates.recognizers import RECOGNIZERS, Recognizer
from kybernetes.controllers.context import ControllerContext
from kybernetes.pki import csr as csrs

log = logging.getLogger(__name__)

Obj = dict[str, Any]
GROUP, VERSION, PLURAL = "certificates.k8s.io", "v1", "certificatesigningrequests"


async def requester_may(client: RESTClient, csr: Obj, subresource: str) -> bool:
    """A SubjectAccessReview: may the CSR's requester create certificatesigningrequests/<subresource>?"""
    spec = csr.get("spec") or {}
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": spec.get("username", ""), "uid": spec.get("uid", ""),
                       "groups": spec.get("groups") or [], "extra": spec.get("extra") or {},
                       "resourceAttributes": {"group": GROUP, "version": "*", "resource": PLURAL,
                                              "subresource": subresource, "verb": "create"}}}
    answer = await client.create(resource_path("authorization.k8s.io", "v1", "subjectaccessreviews"), review)
    return bool((answer.get("status") or {}).get("allowed"))


def approved(csr: Obj, message: str, now: str) -> Obj:
    """The CSR with an Approved condition appended (reason AutoApproved)."""
    out = dict(csr)
    status = dict(out.get("status") or {})
    status["conditions"] = list(status.get("conditions") or []) + [
        {"type": csrs.APPROVED, "status": "True", "reason": "AutoApproved", "message": message,
         "lastUpdateTime": now}]
    out["status"] = status
    return out


class CSRApprovingController:
    """Upstream's sarApprover plus kybernetes' recognizers; a recognized CSR whose review is denied is retried
    with back-off (RBAC may change), an unrecognized one is left to people."""

    name = "csrapproving"

    def __init__(self, ctx: ControllerContext, recognizers: tuple[Recognizer, ...] = RECOGNIZERS) -> None:
        self.client = ctx.client
        self.recognizers = recognizers
        self.csrs = ctx.informers.informer_for(GROUP, VERSION, PLURAL)
        self.nodes = ctx.informers.informer_for("", "v1", "nodes")
        self.worker = QueueWorker(self.name, self.reconcile)
        self.csrs.add_event_handler(on_add=self.worker.enqueue_object, on_update=self.worker.enqueue_object)

    async def reconcile(self, key: str) -> Result:
        csr = self.csrs.store.get_by_key(key)
        if csr is None or csrs.issued_certificate(csr) or any(csrs.approval_state(csr)):
            return Result()
        try:
            req = csrs.parse_csr(csrs.request_pem(csr))
        except csrs.CSRError as e:
            log.info("%s: unable to parse csr %s: %s", self.name, key, e)
            return Result()
        tried = []
        for r in self.recognizers:
            if not r.recognize(csr, req, lambda name: self.nodes.store.get_by_key(name)):
                continue
            tried.append(r.permission)
            if await requester_may(self.client, csr, r.permission):
                await self.client.update(resource_path(GROUP, VERSION, PLURAL, name=key, subresource="approval"),
                                         approved(csr, r.message, meta.now_rfc3339()))
                log.info("%s: approved %s (%s)", self.name, key, r.permission)
                return Result()
        if tried:
            log.debug("%s: recognized csr %s as %s but subject access review was not approved", self.name, key,
                      tried)
            return Result(requeue=True)
        return Result()

    async def run(self, workers: int) -> None:
        await self.worker.run(workers)


CONTROLLER = CSRApprovingController

"""csrcleaner: deletes CSRs that are done with: issued or denied or failed an hour ago, pending for a day,
or whose certificate has expired (upstream's CSR garbage collector)."""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable
from typing import Any

from cryptography import x509

from kybernetes.client import ApiError, resource_path
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext
from kybernetes.pki import csr as csrs

log = logging.getLogger(__name__)

Obj = dict[str, Any]
GROUP, VERSION, PLURAL = "certificates.k8s.io", "v1", "certificatesigningrequests"
APPROVED_EXPIRATION = 3600.0
DENIED_EXPIRATION = 3600.0
FAILED_EXPIRATION = 3600.0
PENDING_EXPIRATION = 24 * 3600.0


def parse_rfc3339(value: Any) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp; None when absent or unparsable."""
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _condition_time(csr: Obj, ctype: str) -> float | None:
    for c in csrs.conditions(csr):
        if c.get("type") == ctype:
            return parse_rfc3339(c.get("lastUpdateTime")) or parse_rfc3339(c.get("lastTransitionTime")) or 0.0
    return None


def _cert_not_after(csr: Obj) -> float | None:
    pem = csrs.issued_certificate(csr)
    if not pem:
        return None
    try:
        return x509.load_pem_x509_certificate(pem).not_valid_after_utc.timestamp()
    except ValueError:
        return None


def deletion_time(csr: Obj) -> float:
    """When the CSR becomes garbage (epoch seconds; may be in the past)."""
    deadlines: list[float] = []
    not_after = _cert_not_after(csr)
    if not_after is not None:
        deadlines.append(not_after)
    approved_at = _condition_time(csr, csrs.APPROVED)
    if approved_at is not None and not_after is not None:
        deadlines.append(approved_at + APPROVED_EXPIRATION)
    for ctype, keep in ((csrs.DENIED, DENIED_EXPIRATION), (csrs.FAILED, FAILED_EXPIRATION)):
        at = _condition_time(csr, ctype)
        if at is not None:
            deadlines.append(at + keep)
    if not deadlines:
        created = parse_rfc3339((csr.get("metadata") or {}).get("creationTimestamp")) or 0.0
        deadlines.append(created + PENDING_EXPIRATION)
    return min(deadlines)


class CSRCleanerController:
    """Deletes each CSR once its deletion time has passed; looks again then otherwise."""

    name = "csrcleaner"

    def __init__(self, ctx: ControllerContext, now: Callable[[], float] = time.time) -> None:
        self.client = ctx.client
        self.now = now
        self.csrs = ctx.informers.informer_for(GROUP, VERSION, PLURAL)
        self.worker = QueueWorker(self.name, self.reconcile)
        self.csrs.add_event_handler(on_add=self.worker.enqueue_object, on_update=self.worker.enqueue_object)

    async def reconcile(self, key: str) -> Result:
        csr = self.csrs.store.get_by_key(key)
        if csr is None:
            return Result()
        wait = deletion_time(csr) - self.now()
        if wait > 0:
            return Result(requeue_after=wait)
        uid = (csr.get("metadata") or {}).get("uid")
        try:
            await self.client.delete(resource_path(GROUP, VERSION, PLURAL, name=key),
                                     body={"preconditions": {"uid": uid}} if uid else None)
        except ApiError as e:
            if e.code not in (404, 409):
                raise
        log.info("%s: deleted %s", self.name, key)
        return Result()

    async def run(self, workers: int) -> None:
        await self.worker.run(workers)


CONTROLLER = CSRCleanerController

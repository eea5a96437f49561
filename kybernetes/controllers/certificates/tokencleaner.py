"""tokencleaner: deletes bootstrap token Secrets once their expiration has passed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kybernetes.apiserver.authn.bootstrap import KEY_EXPIRATION, SECRET_NAMESPACE, SECRET_TYPE, secret_value
from kybernetes.client import ApiError, resource_path, split_key
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.certificates.cleaner import parse_rfc3339
from kybernetes.controllers.context import ControllerContext

log = logging.getLogger(__name__)


class TokenCleaner:
    """Each bootstrap token Secret is looked at again when it expires, then deleted (UID-preconditioned)."""

    name = "tokencleaner"

    def __init__(self, ctx: ControllerContext, now: Callable[[], float] = time.time) -> None:
        self.client = ctx.client
        self.now = now
        self.secrets = ctx.informers.informer_for("", "v1", "secrets", namespace=SECRET_NAMESPACE,
                                                  field_selector=f"type={SECRET_TYPE}")
        self.worker = QueueWorker(self.name, self.reconcile)
        self.secrets.add_event_handler(on_add=self.worker.enqueue_object, on_update=self.worker.enqueue_object)

    async def reconcile(self, key: str) -> Result:
        secret = self.secrets.store.get_by_key(key)
        if secret is None or secret.get("type") != SECRET_TYPE:
            return Result()
        raw = secret_value(secret, KEY_EXPIRATION)
        if not raw:
            return Result()
        expires = parse_rfc3339(raw)
        if expires is not None and expires > self.now():
            return Result(requeue_after=expires - self.now())
        namespace, name = split_key(key)
        uid = (secret.get("metadata") or {}).get("uid")
        try:
            await self.client.delete(resource_path("", "v1", "secrets", namespace, name),
                                     body={"preconditions": {"uid": uid}} if uid else None)
        except ApiError as e:
            if e.code not in (404, 409):
                raise
        log.info("%s: deleted expired bootstrap token %s", self.name, key)
        return Result()

    async def run(self, workers: int) -> None:
        await self.worker.run(workers)


CONTROLLER = TokenCleaner

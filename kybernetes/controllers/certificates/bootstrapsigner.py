"""bootstrapsigner: keeps kube-public/cluster-info signed by every valid signing bootstrap token
(data `jws-kubeconfig-<token id>`), dropping signatures of tokens that expired or went away."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kybernetes.apiserver.authn.bootstrap import (KEY_EXPIRATION, KEY_TOKEN_ID, KEY_TOKEN_SECRET, SECRET_NAMESPACE,
                                                  SECRET_PREFIX, SECRET_TYPE, parse_token, secret_value)
from kybernetes.client import ApiError, resource_path
from kybernetes.clusterbootstrap import clusterinfo
from kybernetes.clusterbootstrap.jws import compute_detached_signature
from kybernetes.clusterbootstrap.token import usable_for
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.certificates.cleaner import parse_rfc3339
from kybernetes.controllers.context import ControllerContext

log = logging.getLogger(__name__)

Obj = dict[str, Any]
CLUSTER_INFO_KEY = f"{clusterinfo.NAMESPACE}/{clusterinfo.NAME}"


def signing_tokens(secrets: list[Obj], now: float) -> dict[str, str]:
    """token id -> token secret of every well-formed, unexpired token Secret with usage-bootstrap-signing."""
    out: dict[str, str] = {}
    for s in secrets:
        md = s.get("metadata") or {}
        if md.get("namespace") != SECRET_NAMESPACE or not usable_for(s, "signing", now):
            continue
        token_id, token_secret = secret_value(s, KEY_TOKEN_ID), secret_value(s, KEY_TOKEN_SECRET)
        if parse_token(f"{token_id}.{token_secret}") is None or md.get("name") != SECRET_PREFIX + token_id:
            continue
        out[token_id] = token_secret
    return out


def signed_data(data: dict[str, str], tokens: dict[str, str]) -> dict[str, str] | None:
    """cluster-info's data with exactly one signature per token, or None when it already is so."""
    content = data.get(clusterinfo.KUBECONFIG_KEY)
    if content is None:
        return None
    want = {k: v for k, v in data.items() if not k.startswith(clusterinfo.JWS_PREFIX)}
    for token_id, token_secret in sorted(tokens.items()):
        want[clusterinfo.JWS_PREFIX + token_id] = compute_detached_signature(content, token_id, token_secret)
    return None if want == data else want


class BootstrapSigner:
    """One key (kube-public/cluster-info), reconciled on any change of it or of a bootstrap token Secret."""

    name = "bootstrapsigner"

    def __init__(self, ctx: ControllerContext, now: Callable[[], float] = time.time) -> None:
        self.client = ctx.client
        self.now = now
        self.configmaps = ctx.informers.informer_for("", "v1", "configmaps", namespace=clusterinfo.NAMESPACE,
                                                     field_selector=f"metadata.name={clusterinfo.NAME}")
        self.secrets = ctx.informers.informer_for("", "v1", "secrets", namespace=SECRET_NAMESPACE,
                                                  field_selector=f"type={SECRET_TYPE}")
        self.worker = QueueWorker(self.name, self.reconcile)
        changed = lambda *_: self.worker.enqueue(CLUSTER_INFO_KEY)  # noqa: E731
        for informer in (self.configmaps, self.secrets):
            informer.add_event_handler(on_add=changed, on_update=changed, on_delete=changed)

    def _next_expiry(self) -> float:
        times = [parse_rfc3339(secret_value(s, KEY_EXPIRATION)) for s in self.secrets.store.list()]
        future = [t for t in times if t is not None and t > self.now()]
        return min(future) - self.now() if future else 0.0

    async def reconcile(self, key: str) -> Result:
        cm = self.configmaps.store.get_by_key(key)
        if cm is None:
            return Result()
        tokens = signing_tokens(self.secrets.store.list(), self.now())
        data = signed_data(dict(cm.get("data") or {}), tokens)
        if data is not None:
            body = dict(cm, data=data)
            try:
                await self.client.update(resource_path("", "v1", "configmaps", clusterinfo.NAMESPACE,
                                                       clusterinfo.NAME), body)
            except ApiError as e:
                if e.code == 409:
                    return Result(requeue=True)
                raise
            log.info("%s: signed %s with %d token(s)", self.name, key, len(tokens))
        wait = self._next_expiry()
        return Result(requeue_after=wait + 1.0) if wait > 0 else Result()

    async def run(self, workers: int) -> None:
        await self.worker.run(1)


CONTROLLER = BootstrapSigner

"""The kubelet API's bearer-token authentication: a TokenReview against the apiserver (upstream's
--authentication-token-webhook), answers cached for a while (2 minutes when valid, 30 seconds when not)."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

log = logging.getLogger(__name__)

TOKEN_REVIEWS_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
Identity = tuple[str, list[str]]  # (user name, groups)


class WebhookTokenAuthenticator:
    """Asks the apiserver who a token belongs to; None when it is not valid (or the apiserver cannot say)."""

    def __init__(self, client: Any, *, cache_ttl: float = 120.0, deny_ttl: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, max_entries: int = 4096) -> None:
        self.client = client
        self.cache_ttl = cache_ttl
        self.deny_ttl = deny_ttl
        self.clock = clock
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, Identity | None]] = {}

    async def authenticate(self, token: str) -> Identity | None:
        now = self.clock()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        try:
            review = await self.client.create(TOKEN_REVIEWS_PATH, body)
        except Exception as e:  # noqa: BLE001 - an unreachable apiserver authenticates nobody (not cached)
            log.warning("TokenReview failed: %s", e)
            return None
        status = review.get("status") or {}
        identity: Identity | None = None
        if status.get("authenticated"):
            user = status.get("user") or {}
            identity = (user.get("username", ""), list(user.get("groups") or []))
        if len(self._cache) >= self.max_entries:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
        self._cache[token] = (now + (self.cache_ttl if identity else self.deny_ttl), identity)
        return identity

"""Refreshing credentials for RESTClient: a TokenSource hands out a bearer token and renews it before it expires
(client-go's oauth2.TokenSource behind a cachingTokenSource)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class TokenSource(Protocol):
    """Where a client's bearer token comes from when it is not a fixed string or file.

    Contract: `token()` never blocks and returns the current token (None before the first `ensure_fresh`);
    `ensure_fresh()` is awaited before every request and must be cheap when the token is fresh, fetching a new
    one only when the current one is missing or near its expiry (concurrent callers share one fetch);
    `invalidate()` marks the current token as rejected (an answer 401) so the next `ensure_fresh` replaces it.
    """

    def token(self) -> str | None: ...

    async def ensure_fresh(self) -> None: ...

    def invalidate(self) -> None: ...

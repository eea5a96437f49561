"""Bearer tokens: the token-authenticator contract, audiences, and the request authenticator over a token chain."""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, replace
from typing import Iterable, Protocol, Sequence

from aiohttp import web

from kybernetes.api import errors
from kybernetes.apiserver.authn import AUTHENTICATED, UserInfo

log = logging.getLogger(__name__)

WEBSOCKET_TOKEN_PREFIX = "base64url.bearer.authorization.k8s.io."


class InvalidToken(Exception):
    """A token this authenticator recognizes (its format, issuer or id) but refuses: expired, bad signature, ..."""


@dataclass(frozen=True)
class TokenResponse:
    """authenticator.Response: the user and the audiences the token is valid for (of those asked)."""

    user: UserInfo
    audiences: tuple[str, ...] = ()


class TokenAuthenticator(Protocol):
    """Checks one bearer token for a set of target audiences.

    Returns None when the token is not of its kind (another authenticator may know it), a TokenResponse when it
    is valid for at least one of `audiences`, and raises InvalidToken when it is of its kind but not valid.
    """

    async def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResponse | None: ...


def intersect(a: Iterable[str], b: Iterable[str]) -> tuple[str, ...]:
    """The audiences of `a` also in `b`, in `a`'s order."""
    bs = set(b)
    return tuple(dict.fromkeys(x for x in a if x in bs))


class AudienceAgnostic:
    """Wraps a token authenticator that knows no audiences (token file, bootstrap tokens): such tokens are good
    only for the apiserver's own audiences (upstream's WrapAudienceAgnosticToken)."""

    def __init__(self, api_audiences: Sequence[str], inner: TokenAuthenticator) -> None:
        self.api_audiences = tuple(api_audiences)
        self.inner = inner

    async def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResponse | None:
        auds = intersect(audiences, self.api_audiences) if self.api_audiences else tuple(audiences)
        if self.api_audiences and not auds:
            return None
        resp = await self.inner.authenticate_token(token, auds)
        return None if resp is None else replace(resp, audiences=auds)


def with_authenticated_group(user: UserInfo) -> UserInfo:
    """upstream's AuthenticatedGroupAdder: every authenticated user is in system:authenticated."""
    if AUTHENTICATED in user.groups:
        return user
    return replace(user, groups=tuple(user.groups) + (AUTHENTICATED,))


def bearer_token(request: web.BaseRequest) -> str | None:
    """The request's bearer token: `Authorization: Bearer T`, or for websockets the
    `base64url.bearer.authorization.k8s.io.<T>` subprotocol. None when there is none (or it is empty)."""
    auth = request.headers.get("Authorization", "").strip()
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    if request.headers.get("Upgrade", "").lower() == "websocket":
        for proto in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
            proto = proto.strip()
            if proto.startswith(WEBSOCKET_TOKEN_PREFIX):
                encoded = proto[len(WEBSOCKET_TOKEN_PREFIX):]
                try:
                    token = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
                except (binascii.Error, UnicodeDecodeError):
                    return None
                return token or None
    return None


class TokenChain:
    """A union of token authenticators: the first to accept the token wins; errors are gathered."""

    def __init__(self, authenticators: list[TokenAuthenticator], api_audiences: Sequence[str] = ()) -> None:
        self.authenticators = authenticators
        self.api_audiences = tuple(api_audiences)

    async def review(self, token: str, audiences: Sequence[str] | None = None) -> TokenResponse:
        """The user of `token` for `audiences` (default: the apiserver's); InvalidToken listing every refusal."""
        auds = tuple(audiences) if audiences else self.api_audiences
        problems: list[str] = []
        for a in self.authenticators:
            try:
                resp = await a.authenticate_token(token, auds)
            except InvalidToken as e:
                problems.append(str(e))
                continue
            if resp is not None:
                return TokenResponse(with_authenticated_group(resp.user), resp.audiences)
        raise InvalidToken(", ".join(problems) if problems else "invalid bearer token")


class BearerTokenAuthenticator:
    """Authenticator of requests carrying a bearer token. A token no authenticator accepts is a 401, even when
    anonymous requests are allowed (as upstream: credentials that are present must be valid)."""

    def __init__(self, chain: TokenChain) -> None:
        self.chain = chain

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        token = bearer_token(request)
        if token is None:
            return None
        try:
            return (await self.chain.review(token)).user
        except InvalidToken as e:
            log.debug("unable to authenticate the request: invalid bearer token: %s", e)
            raise errors.StatusError(401, "Unauthorized", "Unauthorized") from None

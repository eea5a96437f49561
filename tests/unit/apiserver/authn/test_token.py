"""Bearer-token plumbing: extraction from requests, audience-agnostic wrapping, the chain and its 401s."""

from __future__ import annotations

import base64
from typing import Sequence

import pytest
from aiohttp.test_utils import make_mocked_request

from kybernetes.api.errors import StatusError
from kybernetes.apiserver.authn import UserInfo
from kybernetes.apiserver.authn.token import (
    AudienceAgnostic,
    BearerTokenAuthenticator,
    InvalidToken,
    TokenChain,
    TokenResponse,
    bearer_token,
)


def ws_proto(token: str) -> str:
    return "base64url.bearer.authorization.k8s.io." + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


@pytest.mark.parametrize("headers,expected", [
    ({"Authorization": "Bearer abc"}, "abc"),
    ({"Authorization": "bearer  abc "}, "abc"),
    ({"Authorization": "Bearer "}, None),
    ({"Authorization": "Basic dXNlcjpwdw=="}, None),
    ({}, None),
    ({"Upgrade": "websocket", "Sec-WebSocket-Protocol": f"v5.channel.k8s.io, {ws_proto('tok.en')}"}, "tok.en"),
    ({"Sec-WebSocket-Protocol": ws_proto("tok")}, None),
], ids=["bearer", "case-and-spaces", "empty", "basic", "none", "websocket", "protocol-without-upgrade"])
def test_bearer_token(headers: dict, expected: str | None) -> None:
    assert bearer_token(make_mocked_request("GET", "/api", headers=headers)) == expected


class Fixed:
    def __init__(self, token: str, user: str, error: str = "") -> None:
        self.token, self.user, self.error = token, user, error

    async def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResponse | None:
        if token != self.token:
            return None
        if self.error:
            raise InvalidToken(self.error)
        return TokenResponse(UserInfo(self.user), tuple(audiences))


@pytest.mark.parametrize("requested,expected", [
    (["api"], ("api",)),
    (["api", "other"], ("api",)),
    (["other"], None),
], ids=["api", "intersection", "foreign"])
async def test_audience_agnostic(requested: list, expected) -> None:
    resp = await AudienceAgnostic(["api"], Fixed("t", "u")).authenticate_token("t", requested)
    assert (resp.audiences if resp else None) == expected


async def test_chain_first_wins_and_adds_authenticated_group() -> None:
    chain = TokenChain([Fixed("a", "first"), Fixed("a", "second"), Fixed("b", "bee")], ["api"])
    resp = await chain.review("a")
    assert resp.user.name == "first" and resp.user.groups == ("system:authenticated",)
    assert resp.audiences == ("api",)


async def test_chain_gathers_errors() -> None:
    chain = TokenChain([Fixed("a", "x", error="expired"), Fixed("a", "y", error="revoked")], ["api"])
    with pytest.raises(InvalidToken, match="expired, revoked"):
        await chain.review("a")
    with pytest.raises(InvalidToken, match="invalid bearer token"):
        await chain.review("zzz")


async def test_bearer_authenticator() -> None:
    auth = BearerTokenAuthenticator(TokenChain([Fixed("good", "alice")], ["api"]))
    user = await auth.authenticate(make_mocked_request("GET", "/", headers={"Authorization": "Bearer good"}))
    assert user is not None and user.name == "alice"
    assert await auth.authenticate(make_mocked_request("GET", "/")) is None
    with pytest.raises(StatusError) as e:
        await auth.authenticate(make_mocked_request("GET", "/", headers={"Authorization": "Bearer bad"}))
    assert e.value.code == 401

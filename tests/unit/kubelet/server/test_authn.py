"""The kubelet API's TokenReview authenticator: answers and their caching."""

from __future__ import annotations

import pytest

from kybernetes.kubelet.server.authn import TOKEN_REVIEWS_PATH, WebhookTokenAuthenticator


class FakeClient:
    def __init__(self, users: dict[str, dict], fail: bool = False) -> None:
        self.users, self.fail, self.calls = users, fail, []

    async def create(self, path: str, body: dict) -> dict:
        self.calls.append((path, body))
        if self.fail:
            raise ConnectionError("apiserver down")
        user = self.users.get(body["spec"]["token"])
        status = {"authenticated": True, "user": user} if user else {"authenticated": False, "error": "invalid"}
        return {**body, "status": status}


@pytest.mark.parametrize("token,expected", [
    ("good", ("alice", ["system:masters", "system:authenticated"])),
    ("bad", None),
], ids=["valid", "invalid"])
async def test_review(token: str, expected) -> None:
    client = FakeClient({"good": {"username": "alice", "groups": ["system:masters", "system:authenticated"]}})
    auth = WebhookTokenAuthenticator(client)
    assert await auth.authenticate(token) == expected
    assert client.calls[0][0] == TOKEN_REVIEWS_PATH and client.calls[0][1]["kind"] == "TokenReview"


@pytest.mark.parametrize("token,ttl", [("good", 120.0), ("bad", 30.0)], ids=["allow-ttl", "deny-ttl"])
async def test_cache(token: str, ttl: float) -> None:
    clock = [0.0]
    client = FakeClient({"good": {"username": "alice"}})
    auth = WebhookTokenAuthenticator(client, clock=lambda: clock[0])
    first = await auth.authenticate(token)
    clock[0] = ttl - 1
    assert await auth.authenticate(token) == first and len(client.calls) == 1
    clock[0] = ttl + 1
    await auth.authenticate(token)
    assert len(client.calls) == 2


async def test_unreachable_apiserver_is_not_cached() -> None:
    client = FakeClient({}, fail=True)
    auth = WebhookTokenAuthenticator(client)
    assert await auth.authenticate("t") is None
    assert await auth.authenticate("t") is None
    assert len(client.calls) == 2

"""The kubelet server authenticates bearer tokens with a TokenReview through the kubelet's client, then authorizes
them with a SubjectAccessReview."""

from __future__ import annotations

import socket
import ssl

import aiohttp
import pytest
import pytest_asyncio

from kybernetes.kubelet.server import start_server
from kybernetes.pki import ensure_pki
from kybernetes.pki.kubelet import ensure_kubelet_pki
from tests.integration.kubelet.fake_kubelet import FakeKubelet

USERS = {"admin-token": {"username": "alice", "groups": ["system:masters", "system:authenticated"]},
         "sa-token": {"username": "system:serviceaccount:ns:sa", "groups": ["system:authenticated"]}}


class ReviewingClient:
    """Answers TokenReviews as the apiserver would, from USERS; SubjectAccessReviews allow system:masters."""

    def __init__(self) -> None:
        self.reviews: list[str] = []
        self.access_reviews: list[dict] = []

    async def create(self, path: str, body: dict) -> dict:
        if body["kind"] == "SubjectAccessReview":
            self.access_reviews.append(body["spec"])
            return {**body, "status": {"allowed": "system:masters" in body["spec"]["groups"]}}
        token = body["spec"]["token"]
        self.reviews.append(token)
        user = USERS.get(token)
        return {**body, "status": {"authenticated": True, "user": user} if user else {"authenticated": False}}


@pytest_asyncio.fixture
async def kubelet_url(tmp_path):
    data = str(tmp_path / "data")
    paths = ensure_pki(data)
    crt, key = ensure_kubelet_pki(data, "node-1", ["127.0.0.1"], ["localhost"])
    kubelet = FakeKubelet(runtime=None)
    kubelet.client = ReviewingClient()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runner = await start_server(kubelet, port, cert_file=crt, key_file=key, client_ca_file=paths.ca_crt,
                                host="127.0.0.1")
    try:
        yield f"https://127.0.0.1:{port}", ssl.create_default_context(cafile=paths.ca_crt), kubelet.client
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("token,status", [
    ("admin-token", 200),
    ("sa-token", 403),
    ("bad-token", 401),
    (None, 401),
], ids=["masters-token", "authenticated-but-not-allowed", "invalid-token", "no-credentials"])
async def test_bearer_tokens(kubelet_url, token: str | None, status: int) -> None:
    url, ctx, client = kubelet_url
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.get(url + "/pods", ssl=ctx, headers=headers) as r:
        assert r.status == status
        if status == 403:
            assert await r.text() == ("Forbidden (user=system:serviceaccount:ns:sa, verb=get, resource=nodes, "
                                      "subresource=proxy)")
    assert client.reviews == ([token] if token else [])
    assert len(client.access_reviews) == (1 if status in (200, 403) else 0)

"""The projected service-account token is asked for again after 80% of its lifetime, or 24 hours."""

from __future__ import annotations

import jwt
import pytest

from kybernetes.kubelet.volumes import VolumeManager, token_refresh_at


def token(iat: int, exp: int) -> str:
    return jwt.encode({"iat": iat, "exp": exp}, "k" * 32, algorithm="HS256")


@pytest.mark.parametrize("tok,expiry,now,expected", [
    (token(1000, 1000 + 3600), 3600, 1005.0, 1000 + 2880),
    (token(1000, 1000 + 600), 600, 1000.0, 1000 + 480),
    (token(1000, 1000 + 7 * 86400), 7 * 86400, 1000.0, 1000 + 86400),
    ("opaque", 3600, 50.0, 50 + 2880),
    ("a.!!!.c", 3600, 50.0, 50 + 2880),
    ("a.WzFd.c", 3600, 50.0, 50 + 2880),  # a payload that is JSON but not an object
], ids=["one-hour", "ten-minutes", "a-week-capped-at-24h", "not-a-jwt", "bad-base64", "not-claims"])
def test_refresh_at(tok: str, expiry: int, now: float, expected: float) -> None:
    assert token_refresh_at(tok, expiry, now) == expected


async def test_volume_token_refreshed_before_expiry(tmp_path, monkeypatch) -> None:
    clock = [10_000.0]
    monkeypatch.setattr("kybernetes.kubelet.volumes.time.time", lambda: clock[0])
    issued: list[str] = []

    async def request_token(pod, sa, audiences, expiry):  # noqa: ANN001, ANN202
        t = token(int(clock[0]), int(clock[0]) + expiry)
        issued.append(t)
        return t

    async def get(kind, namespace, name):  # noqa: ANN001, ANN202
        return None

    vm = VolumeManager(str(tmp_path), get=get, request_token=request_token, namespaces=False)
    pod = {"metadata": {"uid": "u1", "name": "p", "namespace": "ns"}, "spec": {"serviceAccountName": "sa"}}
    spec = {"path": "token", "expirationSeconds": 3600}
    first = await vm._token(pod, spec, 0o644)
    clock[0] += 2879
    assert await vm._token(pod, spec, 0o644) == first and len(issued) == 1
    clock[0] += 2
    second = await vm._token(pod, spec, 0o644)
    assert len(issued) == 2 and second["token"].data == issued[1].encode()

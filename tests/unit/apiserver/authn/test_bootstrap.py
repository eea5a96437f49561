"""Bootstrap tokens: format, the Secret's fields, expiry, usage and extra groups."""

from __future__ import annotations

import base64

import pytest

from kybernetes.apiserver.authn.bootstrap import BootstrapTokenAuthenticator, authenticate, parse_token

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
TOKEN = "abcdef.0123456789abcdef"


def secret(*, type_: str = "bootstrap.kubernetes.io/token", deleting: bool = False, **data: str) -> dict:
    values = {"token-id": "abcdef", "token-secret": "0123456789abcdef", "usage-bootstrap-authentication": "true",
              **data}
    md = {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    if deleting:
        md["deletionTimestamp"] = "2027-01-01T00:00:00Z"
    return {"metadata": md, "type": type_,
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items() if v is not None}}


@pytest.mark.parametrize("token,expected", [
    ("abcdef.0123456789abcdef", ("abcdef", "0123456789abcdef")),
    ("ABCDEF.0123456789abcdef", None),
    ("abcde.0123456789abcdef", None),
    ("abcdef.0123456789abcde", None),
    ("abcdef0123456789abcdef", None),
    ("abcdef.0123456789abcdef.x", None),
], ids=["valid", "uppercase", "short-id", "short-secret", "no-dot", "extra-part"])
def test_parse_token(token: str, expected) -> None:
    assert parse_token(token) == expected


@pytest.mark.parametrize("sec,token,user,groups", [
    (secret(), TOKEN, "system:bootstrap:abcdef", ("system:bootstrappers",)),
    (secret(**{"auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token"}), TOKEN,
     "system:bootstrap:abcdef", ("system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token")),
    (secret(expiration="2027-01-16T00:00:00Z"), TOKEN, "system:bootstrap:abcdef", ("system:bootstrappers",)),
    (secret(expiration="2027-01-01T00:00:00Z"), TOKEN, None, None),
    (secret(expiration="tomorrow"), TOKEN, None, None),
    (secret(**{"usage-bootstrap-authentication": "false"}), TOKEN, None, None),
    (secret(**{"usage-bootstrap-authentication": None}), TOKEN, None, None),
    (secret(**{"auth-extra-groups": "admins"}), TOKEN, None, None),
    (secret(), "abcdef.0123456789abcdee", None, None),
    (secret(**{"token-id": "zzzzzz"}), TOKEN, None, None),
    (secret(type_="Opaque"), TOKEN, None, None),
    (secret(deleting=True), TOKEN, None, None),
    (None, TOKEN, None, None),
], ids=["valid", "extra-groups", "not-yet-expired", "expired", "bad-expiration", "usage-false", "usage-missing",
        "bad-extra-group", "wrong-secret", "wrong-id", "wrong-type", "deleting", "no-secret"])
def test_authenticate(sec, token: str, user, groups) -> None:
    got = authenticate(token, sec, NOW)
    if user is None:
        assert got is None
    else:
        assert got is not None and got.name == user and got.groups == groups


class Getter:
    def __init__(self, sec: dict) -> None:
        self.sec = sec
        self.asked: list[tuple[str, str, str]] = []

    def get(self, plural: str, namespace: str, name: str) -> dict | None:
        self.asked.append((plural, namespace, name))
        return self.sec


async def test_authenticator_reads_named_secret() -> None:
    g = Getter(secret())
    resp = await BootstrapTokenAuthenticator(g, now=lambda: NOW).authenticate_token(TOKEN, ["api"])
    assert resp is not None and resp.user.name == "system:bootstrap:abcdef"
    assert g.asked == [("secrets", "kube-system", "bootstrap-token-abcdef")]
    assert await BootstrapTokenAuthenticator(g).authenticate_token("not-a-bootstrap-token", ["api"]) is None

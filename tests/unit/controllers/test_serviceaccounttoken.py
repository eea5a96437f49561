"""Token controller: what a service-account-token Secret must hold, and which Secrets belong to an account."""

from __future__ import annotations

import base64

import pytest

from kybernetes.controllers.serviceaccounttoken import desired_secret, references

SA = {"metadata": {"name": "build", "namespace": "ns", "uid": "sa-uid"}}


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def secret(annotations: dict | None = None, data: dict | None = None) -> dict:
    return {"metadata": {"name": "build-token", "namespace": "ns",
                         "annotations": {"kubernetes.io/service-account.name": "build", **(annotations or {})}},
            "type": "kubernetes.io/service-account-token", "data": data or {}}


@pytest.mark.parametrize("sec,sa,expected", [
    (secret(), SA, True),
    (secret({"kubernetes.io/service-account.uid": "sa-uid"}), SA, True),
    (secret({"kubernetes.io/service-account.uid": "old"}), SA, False),
    (secret({"kubernetes.io/service-account.name": "other"}), SA, False),
], ids=["by-name", "by-name-and-uid", "recreated-account", "other-account"])
def test_references(sec: dict, sa: dict, expected: bool) -> None:
    assert references(sec, sa) is expected


def test_fills_missing_fields() -> None:
    out = desired_secret(secret(), SA, "CA", lambda sa, name: f"token-for-{name}")
    assert out is not None
    assert out["data"] == {"token": b64("token-for-build-token"), "ca.crt": b64("CA"), "namespace": b64("ns")}
    assert out["metadata"]["annotations"]["kubernetes.io/service-account.uid"] == "sa-uid"


def test_complete_secret_is_left_alone_and_token_kept() -> None:
    full = secret({"kubernetes.io/service-account.uid": "sa-uid"},
                  {"token": b64("t"), "ca.crt": b64("CA"), "namespace": b64("ns")})
    assert desired_secret(full, SA, "CA", lambda sa, name: "new") is None
    rotated_ca = desired_secret(full, SA, "CA2", lambda sa, name: "new")
    assert rotated_ca is not None and rotated_ca["data"]["token"] == b64("t")
    assert rotated_ca["data"]["ca.crt"] == b64("CA2")

"""Bootstrap tokens, their Secrets, the detached JWS of cluster-info and its verification by a joining node."""

from __future__ import annotations

import datetime

import pytest

from kybernetes.apiserver.authn.bootstrap import authenticate
from kybernetes.clusterbootstrap.clusterinfo import (JWS_PREFIX, KUBECONFIG_KEY, cluster_info_kubeconfig,
                                                     parse_cluster_info_kubeconfig)
from kybernetes.clusterbootstrap.discovery import DiscoveryError, NotSignedYet, verify_cluster_info
from kybernetes.clusterbootstrap.jws import compute_detached_signature, detached_token_is_valid
from kybernetes.clusterbootstrap.token import (DEFAULT_GROUP, BootstrapToken, generate_token, parse_token,
                                               token_from_secret, token_secret, usable_for)
from kybernetes.pki.ca import CertificateAuthority, ca_cert_hash

TOKEN = "abcdef.0123456789abcdef"
NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)


def test_jws_matches_upstream_vector() -> None:
    # k8s.io/cluster-bootstrap/token/jws's test vector
    content = "Hello from the other side. I must have called a thousand times."
    sig = compute_detached_signature(content, "joshua", "my voice is my passcode")
    assert sig == "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..VShe2taLd-YTrmWuRkcL_8QTNDHYxQIEBsAYYiIj1_8"
    assert detached_token_is_valid(sig, content, "joshua", "my voice is my passcode")


@pytest.mark.parametrize("content,token_id,secret", [
    ("other content", "abcdef", "0123456789abcdef"),
    ("content", "abcdeg", "0123456789abcdef"),
    ("content", "abcdef", "0123456789abcdeg"),
], ids=["content", "token-id", "secret"])
def test_jws_rejects_any_difference(content: str, token_id: str, secret: str) -> None:
    sig = compute_detached_signature("content", "abcdef", "0123456789abcdef")
    assert not detached_token_is_valid(sig, content, token_id, secret)


@pytest.mark.parametrize("sig", ["", "a.b.c", "x..y", "abc"], ids=["empty", "attached", "garbage", "one-part"])
def test_jws_rejects_malformed(sig: str) -> None:
    assert not detached_token_is_valid(sig, "content", "abcdef", "0123456789abcdef")


def test_generated_tokens_are_well_formed_and_distinct() -> None:
    tokens = {generate_token() for _ in range(20)}
    assert len(tokens) == 20 and all(parse_token(t) for t in tokens)


def test_token_secret_round_trip_and_authenticates() -> None:
    bt = BootstrapToken(token=TOKEN, description="for n1", expires=NOW + datetime.timedelta(hours=1))
    secret = token_secret(bt)
    assert secret["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    back = token_from_secret(secret)
    assert back is not None and back.token == TOKEN and back.expires == bt.expires
    assert back.usages == ("authentication", "signing") and back.groups == (DEFAULT_GROUP,)
    user = authenticate(TOKEN, secret, NOW.timestamp())
    assert user is not None and user.name == "system:bootstrap:abcdef"
    assert user.groups == ("system:bootstrappers", DEFAULT_GROUP)
    assert usable_for(secret, "signing", NOW.timestamp())
    assert not usable_for(secret, "signing", (NOW + datetime.timedelta(hours=2)).timestamp())
    assert authenticate(TOKEN, secret, (NOW + datetime.timedelta(hours=2)).timestamp()) is None


def test_token_secret_refuses_malformed_token() -> None:
    with pytest.raises(ValueError):
        token_secret(BootstrapToken(token="ABCDEF.0123456789abcdef"))


def _signed(ca_pem: bytes, token: str = TOKEN) -> dict[str, str]:
    content = cluster_info_kubeconfig("https://10.0.0.1:6443", ca_pem)
    token_id, secret = token.split(".")
    return {KUBECONFIG_KEY: content, JWS_PREFIX + token_id: compute_detached_signature(content, token_id, secret)}


def test_cluster_info_kubeconfig_round_trip() -> None:
    ca = CertificateAuthority.create()
    assert parse_cluster_info_kubeconfig(cluster_info_kubeconfig("https://h:6443", ca.cert_pem)) == \
        ("https://h:6443", ca.cert_pem)


def test_verify_cluster_info_trusts_a_signed_pinned_ca() -> None:
    ca = CertificateAuthority.create()
    info = verify_cluster_info(_signed(ca.cert_pem), TOKEN, [ca_cert_hash(ca.cert_pem)])
    assert info.ca_pem == ca.cert_pem and info.server == "https://10.0.0.1:6443"
    assert verify_cluster_info(_signed(ca.cert_pem), TOKEN, []).ca_pem == ca.cert_pem  # unpinned


def test_verify_cluster_info_refuses_an_unpinned_ca() -> None:
    ca, other = CertificateAuthority.create(), CertificateAuthority.create()
    with pytest.raises(DiscoveryError, match="none of the public keys"):
        verify_cluster_info(_signed(ca.cert_pem), TOKEN, [ca_cert_hash(other.cert_pem)])


def test_verify_cluster_info_refuses_a_forged_signature() -> None:
    ca = CertificateAuthority.create()
    data = _signed(ca.cert_pem, token="abcdef.ffffffffffffffff")  # signed with another secret, same id
    with pytest.raises(DiscoveryError, match="failed to verify JWS signature"):
        verify_cluster_info(data, TOKEN, [])


def test_verify_cluster_info_waits_for_a_signature() -> None:
    ca = CertificateAuthority.create()
    data = _signed(ca.cert_pem, token="zzzzzz.0123456789abcdef")
    with pytest.raises(NotSignedYet):
        verify_cluster_info(data, TOKEN, [])

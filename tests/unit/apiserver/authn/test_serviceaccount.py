"""Service-account JWTs: signature, issuer, audiences, exp/nbf, and invalidation through the objects they name."""

from __future__ import annotations

import base64
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kybernetes.apiserver.authn.jwtkeys import TokenGenerator, jwk, key_id, parse_public_keys
from kybernetes.apiserver.authn.serviceaccount import (
    EXTRA_CREDENTIAL_ID,
    EXTRA_NODE_NAME,
    EXTRA_POD_NAME,
    LEGACY_ISSUER,
    ServiceAccountTokenAuthenticator,
    bound_claims,
    legacy_claims,
)
from kybernetes.apiserver.authn.token import InvalidToken

ISSUER = "https://kubernetes.default.svc.cluster.local"
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def obj(name: str, uid: str, namespace: str = "ns", **extra: Any) -> dict:
    md = {"name": name, "uid": uid, **({"namespace": namespace} if namespace else {})}
    md.update(extra.pop("metadata", {}))
    return {"metadata": md, **extra}


class Getter:
    def __init__(self, *objects: tuple[str, dict]) -> None:
        self.objects = {(p, o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for p, o in objects}

    def get(self, plural: str, namespace: str, name: str) -> dict | None:
        return self.objects.get((plural, namespace, name))


SA = obj("build", "sa-uid")
POD = obj("web", "pod-uid", spec={"serviceAccountName": "build", "nodeName": "n1"})
NODE = obj("n1", "node-uid", namespace="")
SECRET = obj("s", "secret-uid")


def authenticator(key: rsa.RSAPrivateKey, getter: Getter, now: float = NOW) -> ServiceAccountTokenAuthenticator:
    return ServiceAccountTokenAuthenticator(issuers=[ISSUER], keys=[key.public_key()], implicit_audiences=[ISSUER],
                                            getter=getter, now=lambda: now)


def bound_token(key: rsa.RSAPrivateKey, *, issuer: str = ISSUER, audiences: tuple = (ISSUER,), exp: int = 3600,
                now: float = NOW, **bound: dict) -> str:
    return TokenGenerator(issuer, key).generate(bound_claims(SA, audiences=audiences, expiration_seconds=exp,
                                                             now=now, jti="j-1", **bound))


async def test_bound_token_user(key) -> None:
    token = bound_token(key, pod=POD, node=NODE)
    resp = await authenticator(key, Getter(("serviceaccounts", SA), ("pods", POD), ("nodes", NODE))) \
        .authenticate_token(token, [ISSUER])
    assert resp is not None
    u = resp.user
    assert u.name == "system:serviceaccount:ns:build" and u.uid == "sa-uid"
    assert u.groups == ("system:serviceaccounts", "system:serviceaccounts:ns")
    assert u.extra[EXTRA_POD_NAME] == ("web",) and u.extra[EXTRA_NODE_NAME] == ("n1",)
    assert u.extra[EXTRA_CREDENTIAL_ID] == ("JTI=j-1",)
    assert resp.audiences == (ISSUER,)


def test_claims_shape(key) -> None:
    claims = jwt.decode(bound_token(key, pod=POD, node=NODE), key.public_key(), algorithms=["RS256"],
                        audience=ISSUER, options={"verify_exp": False, "verify_iat": False, "verify_nbf": False})
    assert claims["iss"] == ISSUER and claims["sub"] == "system:serviceaccount:ns:build"
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"]
    assert claims["kubernetes.io"] == {"namespace": "ns", "serviceaccount": {"name": "build", "uid": "sa-uid"},
                                       "pod": {"name": "web", "uid": "pod-uid"},
                                       "node": {"name": "n1", "uid": "node-uid"}}
    assert jwt.get_unverified_header(bound_token(key))["kid"] == key_id(key.public_key())


ALL = (("serviceaccounts", SA), ("pods", POD), ("nodes", NODE), ("secrets", SECRET))


@pytest.mark.parametrize("now_offset,exp,message", [
    (3600 + 61, 3600, "has expired"),
    (3600 + 30, 3600, None),          # within upstream's 60s leeway
    (-61, 3600, "not valid yet"),
    (-30, 3600, None),
    (0, 3600, None),
], ids=["expired", "expired-within-leeway", "not-yet-valid", "nbf-within-leeway", "fresh"])
async def test_time_claims(key, now_offset: int, exp: int, message: str | None) -> None:
    token = bound_token(key, exp=exp)
    auth = authenticator(key, Getter(*ALL), now=NOW + now_offset)
    if message is None:
        assert await auth.authenticate_token(token, [ISSUER]) is not None
    else:
        with pytest.raises(InvalidToken, match=message):
            await auth.authenticate_token(token, [ISSUER])


@pytest.mark.parametrize("token_auds,requested,ok", [
    ((ISSUER,), [ISSUER], True),
    (("vault",), [ISSUER], False),
    (("vault", ISSUER), ["vault"], True),
    ((ISSUER,), [], True),               # none asked: the apiserver's own
    (("vault",), [], False),
], ids=["api-audience", "foreign-audience", "asked-audience", "implicit", "implicit-foreign"])
async def test_audiences(key, token_auds: tuple, requested: list, ok: bool) -> None:
    token = bound_token(key, audiences=token_auds)
    auth = authenticator(key, Getter(*ALL))
    if ok:
        resp = await auth.authenticate_token(token, requested)
        assert resp is not None and set(resp.audiences) <= set(token_auds)
    else:
        with pytest.raises(InvalidToken, match="token audiences"):
            await auth.authenticate_token(token, requested)


async def test_other_issuer_is_not_ours(key) -> None:
    assert await authenticator(key, Getter(*ALL)).authenticate_token(bound_token(key, issuer="https://x"),
                                                                      [ISSUER]) is None


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b", "{}.{}.{}", ""], ids=["word", "two-parts", "json", "empty"])
async def test_not_a_jwt(key, token: str) -> None:
    assert await authenticator(key, Getter(*ALL)).authenticate_token(token, [ISSUER]) is None


async def test_signed_by_another_key(key, other_key) -> None:
    with pytest.raises(InvalidToken):
        await authenticator(key, Getter(*ALL)).authenticate_token(bound_token(other_key), [ISSUER])


async def test_forged_kid_with_another_key(key, other_key) -> None:
    forged = jwt.encode({**bound_claims(SA, audiences=[ISSUER], expiration_seconds=3600, now=NOW), "iss": ISSUER},
                        other_key, algorithm="RS256", headers={"kid": key_id(key.public_key())})
    with pytest.raises(InvalidToken, match="invalid signature"):
        await authenticator(key, Getter(*ALL)).authenticate_token(forged, [ISSUER])


async def test_alg_none_is_refused(key) -> None:
    unsigned = jwt.encode({**bound_claims(SA, audiences=[ISSUER], expiration_seconds=3600, now=NOW),
                           "iss": ISSUER}, None, algorithm="none")
    with pytest.raises(InvalidToken):
        await authenticator(key, Getter(*ALL)).authenticate_token(unsigned, [ISSUER])


GONE = {"metadata": {"deletionTimestamp": "2020-01-01T00:00:00Z"}}


@pytest.mark.parametrize("bound,objects,message", [
    ({"pod": POD}, (("serviceaccounts", SA),), "invalidated"),
    ({"pod": POD}, (("serviceaccounts", SA), ("pods", obj("web", "other-uid"))), "pod UID"),
    ({"pod": POD}, (("serviceaccounts", SA), ("pods", obj("web", "pod-uid", **GONE))), "invalidated"),
    ({"secret": SECRET}, (("serviceaccounts", SA),), "invalidated"),
    ({"secret": SECRET}, (("serviceaccounts", SA), ("secrets", obj("s", "x"))), "secret UID"),
    ({"node": NODE}, (("serviceaccounts", SA),), "invalidated"),
    ({"node": NODE}, (("serviceaccounts", SA), ("nodes", obj("n1", "x", namespace=""))), "node UID"),
    ({}, (), "not found"),
    ({}, (("serviceaccounts", obj("build", "recreated")),), "service account UID"),
    ({}, (("serviceaccounts", obj("build", "sa-uid", **GONE)),), "has been deleted"),
], ids=["pod-gone", "pod-recreated", "pod-deleting", "secret-gone", "secret-recreated", "node-gone",
        "node-recreated", "sa-gone", "sa-recreated", "sa-deleting"])
async def test_bound_object_invalidation(key, bound: dict, objects: tuple, message: str) -> None:
    token = bound_token(key, **bound)
    with pytest.raises(InvalidToken, match=message):
        await authenticator(key, Getter(*objects)).authenticate_token(token, [ISSUER])


async def test_pod_bound_token_ignores_node_changes(key) -> None:
    token = bound_token(key, pod=POD, node=NODE)
    assert await authenticator(key, Getter(("serviceaccounts", SA), ("pods", POD))) \
        .authenticate_token(token, [ISSUER]) is not None


def legacy_token(key: rsa.RSAPrivateKey, sa: dict = SA, secret_name: str = "build-token") -> str:
    return TokenGenerator(LEGACY_ISSUER, key).generate(legacy_claims(sa, secret_name))


def token_secret(token: str, **extra: Any) -> dict:
    return obj("build-token", "tok-uid", type="kubernetes.io/service-account-token",
               data={"token": base64.b64encode(token.encode()).decode()}, **extra)


async def test_legacy_token(key) -> None:
    token = legacy_token(key)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == LEGACY_ISSUER and "exp" not in claims and "aud" not in claims
    assert claims["kubernetes.io/serviceaccount/secret.name"] == "build-token"
    resp = await authenticator(key, Getter(("serviceaccounts", SA), ("secrets", token_secret(token)))) \
        .authenticate_token(token, [ISSUER])
    assert resp is not None and resp.user.name == "system:serviceaccount:ns:build" and resp.audiences == (ISSUER,)


@pytest.mark.parametrize("objects,message", [
    (lambda t: (("serviceaccounts", SA),), "invalidated"),
    (lambda t: (("serviceaccounts", SA), ("secrets", token_secret("other"))), "does not match"),
    (lambda t: (("serviceaccounts", SA), ("secrets", token_secret(t, **GONE))), "invalidated"),
    (lambda t: (("secrets", token_secret(t)),), "not found"),
    (lambda t: (("serviceaccounts", obj("build", "new")), ("secrets", token_secret(t))), "does not match claim"),
], ids=["secret-gone", "secret-changed", "secret-deleting", "sa-gone", "sa-recreated"])
async def test_legacy_invalidation(key, objects: Any, message: str) -> None:
    token = legacy_token(key)
    with pytest.raises(InvalidToken, match=message):
        await authenticator(key, Getter(*objects(token))).authenticate_token(token, [ISSUER])


def test_jwk_and_pem_bundle(key) -> None:
    from cryptography.hazmat.primitives import serialization

    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo) \
        + ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    keys = parse_public_keys(pem)
    assert [key_id(k) for k in keys] == [key_id(key.public_key()), key_id(ec_key.public_key())]
    rsa_jwk, ec_jwk = jwk(keys[0]), jwk(keys[1])
    assert rsa_jwk["kty"] == "RSA" and rsa_jwk["alg"] == "RS256" and rsa_jwk["e"] == "AQAB"
    assert ec_jwk["kty"] == "EC" and ec_jwk["crv"] == "P-256" and ec_jwk["alg"] == "ES256"
    # the JWK verifies a token the key signed
    pub = jwt.PyJWK(rsa_jwk).key
    assert jwt.decode(bound_token(key), pub, algorithms=["RS256"], audience=ISSUER,
                      options={"verify_exp": False, "verify_iat": False, "verify_nbf": False})["sub"]

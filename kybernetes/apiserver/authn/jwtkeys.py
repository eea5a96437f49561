"""Service-account token keys: loading PEM keys, upstream's key ids, JWKs, and the RS256/ES* token signer."""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Union

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PublicKey = Union[rsa.RSAPublicKey, ec.EllipticCurvePublicKey]
PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]

_CURVE_ALG = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_CURVE_JWK = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64url(n: int) -> str:
    return _b64url(n.to_bytes((n.bit_length() + 7) // 8 or 1, "big"))


def load_signing_key(path: str) -> PrivateKey:
    """The private key of a PEM file (--service-account-signing-key-file)."""
    with open(path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError(f"{path}: only RSA and ECDSA keys can sign service-account tokens")
    return key


def parse_public_keys(pem: bytes, source: str = "key file") -> list[PublicKey]:
    """Every public key of a PEM bundle: public keys, private keys (their public half) and certificates."""
    keys: list[PublicKey] = []
    marker = b"-----BEGIN "
    blocks = [marker + b for b in pem.split(marker)[1:]]
    for block in blocks:
        label = block[len(marker):block.index(b"-----", len(marker))]
        if b"PRIVATE KEY" in label:
            key: Any = serialization.load_pem_private_key(block, None).public_key()
        elif label == b"CERTIFICATE":
            key = x509.load_pem_x509_certificate(block).public_key()
        elif b"PUBLIC KEY" in label:
            key = serialization.load_pem_public_key(block)
        else:
            continue
        if isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
            keys.append(key)
    if not keys:
        raise ValueError(f"{source}: no RSA or ECDSA public key found")
    return keys


def load_public_keys(path: str) -> list[PublicKey]:
    with open(path, "rb") as f:
        return parse_public_keys(f.read(), path)


def key_id(public_key: PublicKey) -> str:
    """upstream's keyIDFromPublicKey: base64url (no padding) of the SHA-256 of the PKIX DER encoding."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _b64url(hashlib.sha256(der).digest())


def algorithm(key: PublicKey | PrivateKey) -> str:
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return "RS256"
    return _CURVE_ALG[key.curve.name]


def jwk(public_key: PublicKey) -> dict[str, str]:
    """The key as a JSON Web Key, as /openid/v1/jwks lists it."""
    out = {"use": "sig", "kid": key_id(public_key), "alg": algorithm(public_key)}
    if isinstance(public_key, rsa.RSAPublicKey):
        nums = public_key.public_numbers()
        out.update(kty="RSA", n=_int_b64url(nums.n), e=_int_b64url(nums.e))
    else:
        nums = public_key.public_numbers()
        size = (public_key.curve.key_size + 7) // 8
        out.update(kty="EC", crv=_CURVE_JWK[public_key.curve.name],
                   x=_b64url(nums.x.to_bytes(size, "big")), y=_b64url(nums.y.to_bytes(size, "big")))
    return out


class TokenGenerator:
    """Signs claims as a compact JWS with the key's algorithm and key id; `iss` is always this issuer."""

    def __init__(self, issuer: str, private_key: PrivateKey) -> None:
        self.issuer = issuer
        self.private_key = private_key
        self.public_key: PublicKey = private_key.public_key()
        self.kid = key_id(self.public_key)
        self.alg = algorithm(private_key)

    def generate(self, claims: dict[str, Any]) -> str:
        return jwt.encode({**claims, "iss": self.issuer}, self.private_key, algorithm=self.alg,
                          headers={"kid": self.kid})

"""Detached JWS signatures of cluster-info (k8s.io/cluster-bootstrap/token/jws): a compact HS256 JWS keyed by the
token secret with header `{"alg":"HS256","kid":"<token id>"}`, its payload part left out (`<header>..<mac>`)."""

from __future__ import annotations

import base64
import warnings

import jwt
from jwt.api_jws import PyJWS

ALGORITHM = "HS256"
_JWS = PyJWS(algorithms=[ALGORITHM])

try:  # the 16-character token secret is the protocol's key; PyJWT >= 2.10 warns about its length
    from jwt.warnings import InsecureKeyLengthWarning  # type: ignore[attr-defined]

    warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning, module=__name__)
except ImportError:  # pragma: no cover - older PyJWT
    pass


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compute_detached_signature(content: str, token_id: str, token_secret: str) -> str:
    """`<header>..<signature>` over `content`, the form the bootstrap signer writes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = _JWS.encode(content.encode(), token_secret, algorithm=ALGORITHM,
                           headers={"kid": token_id, "typ": None})
    header, _, signature = full.split(".")
    return f"{header}..{signature}"


def detached_token_is_valid(detached: str, content: str, token_id: str, token_secret: str) -> bool:
    """Whether `detached` signs `content` with this token (right key id, HS256, valid MAC)."""
    parts = detached.split(".")
    if len(parts) != 3 or parts[1] != "":
        return False
    full = f"{parts[0]}.{_b64url(content.encode())}.{parts[2]}"
    try:
        header = jwt.get_unverified_header(full)
        if header.get("alg") != ALGORITHM or header.get("kid") != token_id:
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _JWS.decode_complete(full, token_secret, algorithms=[ALGORITHM])
    except jwt.PyJWTError:
        return False
    return True

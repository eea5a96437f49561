"""Service-account issuer discovery: /.well-known/openid-configuration and /openid/v1/jwks, as upstream serves them."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from kybernetes.apiserver.authn.jwtkeys import algorithm, jwk

OPENID_CONFIGURATION_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/openid/v1/jwks"
PATHS = (OPENID_CONFIGURATION_PATH, JWKS_PATH)
CACHE_CONTROL = "public, max-age=3600"


def openid_configuration(auth: Any) -> dict[str, Any]:
    """The OIDC discovery document of the service-account issuer."""
    algs = sorted({algorithm(k) for k in auth.public_keys}) or ["RS256"]
    return {"issuer": auth.issuer, "jwks_uri": auth.jwks_uri, "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": algs}


def jwks(auth: Any) -> dict[str, Any]:
    """Every public key tokens are verified with, as a JWK Set (one entry per key id)."""
    seen: dict[str, dict[str, str]] = {}
    for key in auth.public_keys:
        entry = jwk(key)
        seen.setdefault(entry["kid"], entry)
    return {"keys": list(seen.values())}


def serve(server: Any, path: str) -> web.Response | None:
    """The response for one of PATHS; None when issuer discovery is off (no keys)."""
    auth = getattr(server, "authentication", None)
    if auth is None or not auth.public_keys:
        return None
    if path == OPENID_CONFIGURATION_PATH:
        body, ctype = openid_configuration(auth), "application/json"
    else:
        body, ctype = jwks(auth), "application/jwk-set+json"
    return web.Response(body=orjson.dumps(body), headers={"Content-Type": ctype, "Cache-Control": CACHE_CONTROL})

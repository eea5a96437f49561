"""Bootstrap tokens (node join): `<id>.<secret>` checked against the Secret kube-system/bootstrap-token-<id>."""

from __future__ import annotations

import base64
import hmac
import logging
import re
import time
from datetime import datetime
from typing import Any, Callable, Sequence

from kybernetes.apiserver.authn import UserInfo
from kybernetes.apiserver.authn.serviceaccount import ObjectGetter
from kybernetes.apiserver.authn.token import TokenResponse

log = logging.getLogger(__name__)

Obj = dict[str, Any]

SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_NAMESPACE = "kube-system"
SECRET_PREFIX = "bootstrap-token-"
USER_PREFIX = "system:bootstrap:"
GROUP = "system:bootstrappers"
TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
EXTRA_GROUP_RE = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")

KEY_TOKEN_ID = "token-id"
KEY_TOKEN_SECRET = "token-secret"
KEY_EXPIRATION = "expiration"
KEY_USAGE_AUTHENTICATION = "usage-bootstrap-authentication"
KEY_EXTRA_GROUPS = "auth-extra-groups"


def parse_token(token: str) -> tuple[str, str] | None:
    """(token id, token secret) of a well-formed bootstrap token, else None."""
    m = TOKEN_RE.match(token)
    return (m.group(1), m.group(2)) if m else None


def secret_value(secret: Obj, key: str) -> str:
    """A data value of the Secret, decoded (stringData too, for Secrets not yet normalized)."""
    data = secret.get("data") or {}
    if key in data:
        try:
            return base64.b64decode(data[key]).decode()
        except (ValueError, UnicodeDecodeError):
            return ""
    return str((secret.get("stringData") or {}).get(key, ""))


def is_expired(secret: Obj, now: float) -> bool:
    """An `expiration` (RFC 3339) in the past; an unparsable one counts as expired, as upstream."""
    value = secret_value(secret, KEY_EXPIRATION)
    if not value:
        return False
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() < now
    except ValueError:
        log.info("bootstrap token secret %s has an unparsable expiration %r", secret.get("metadata", {}).get("name"),
                 value)
        return True


def groups_of(secret: Obj) -> tuple[str, ...]:
    """system:bootstrappers plus the valid-named auth-extra-groups; ValueError for a badly named group."""
    groups = [GROUP]
    extra = secret_value(secret, KEY_EXTRA_GROUPS)
    for g in extra.split(",") if extra else []:
        g = g.strip()
        if not EXTRA_GROUP_RE.match(g):
            raise ValueError(f"bootstrap group {g!r} is invalid (must match {EXTRA_GROUP_RE.pattern})")
        if g not in groups:
            groups.append(g)
    return tuple(groups)


def authenticate(token: str, secret: Obj | None, now: float) -> UserInfo | None:
    """The bootstrap user of `token` given its Secret; None for anything that does not match exactly."""
    parsed = parse_token(token)
    if parsed is None or secret is None:
        return None
    token_id, token_secret = parsed
    md = secret.get("metadata") or {}
    if md.get("deletionTimestamp") or secret.get("type") != SECRET_TYPE:
        return None
    if not hmac.compare_digest(secret_value(secret, KEY_TOKEN_SECRET).encode(), token_secret.encode()):
        return None
    if secret_value(secret, KEY_TOKEN_ID) != token_id:
        return None
    if is_expired(secret, now) or secret_value(secret, KEY_USAGE_AUTHENTICATION) != "true":
        return None
    try:
        groups = groups_of(secret)
    except ValueError as e:
        log.info("bootstrap token %s: %s", token_id, e)
        return None
    return UserInfo(name=USER_PREFIX + token_id, groups=groups)


class BootstrapTokenAuthenticator:
    """Audience-agnostic (wrap it in AudienceAgnostic); reads the Secrets from the apiserver's cache."""

    def __init__(self, getter: ObjectGetter, now: Callable[[], float] = time.time) -> None:
        self.getter = getter
        self.now = now

    async def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResponse | None:
        parsed = parse_token(token)
        if parsed is None:
            return None
        secret = self.getter.get("secrets", SECRET_NAMESPACE, SECRET_PREFIX + parsed[0])
        user = authenticate(token, secret, self.now())
        return TokenResponse(user, tuple(audiences)) if user is not None else None

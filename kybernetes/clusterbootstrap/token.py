"""Bootstrap tokens: generating `<id>.<secret>`, the kube-system Secret that stores one, and reading it back."""

from __future__ import annotations

import base64
import datetime
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from kybernetes.apiserver.authn.bootstrap import (KEY_EXPIRATION, KEY_EXTRA_GROUPS, KEY_TOKEN_ID, KEY_TOKEN_SECRET,
                                                  KEY_USAGE_AUTHENTICATION, SECRET_NAMESPACE, SECRET_PREFIX,
                                                  SECRET_TYPE, is_expired, parse_token, secret_value)

Obj = dict[str, Any]

KEY_USAGE_SIGNING = "usage-bootstrap-signing"
KEY_DESCRIPTION = "description"
USAGE_PREFIX = "usage-bootstrap-"
DEFAULT_GROUP = "system:bootstrappers:kybernetes:default-node-token"
DEFAULT_USAGES = ("authentication", "signing")
DEFAULT_TTL = datetime.timedelta(hours=24)
ALPHABET = string.ascii_lowercase + string.digits

__all__ = ["BootstrapToken", "DEFAULT_GROUP", "DEFAULT_TTL", "DEFAULT_USAGES", "generate_token", "parse_token",
           "secret_name", "token_from_secret", "token_secret"]


def generate_token() -> str:
    """A fresh random token `[a-z0-9]{6}.[a-z0-9]{16}`."""
    pick = lambda n: "".join(secrets.choice(ALPHABET) for _ in range(n))  # noqa: E731
    return f"{pick(6)}.{pick(16)}"


def secret_name(token_id: str) -> str:
    return SECRET_PREFIX + token_id


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def rfc3339(t: datetime.datetime) -> str:
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class BootstrapToken:
    """What a bootstrap token Secret says (kubeadm's BootstrapToken)."""

    token: str
    description: str = ""
    expires: datetime.datetime | None = None
    usages: tuple[str, ...] = DEFAULT_USAGES
    groups: tuple[str, ...] = field(default=(DEFAULT_GROUP,))

    @property
    def token_id(self) -> str:
        return self.token.split(".", 1)[0]


def token_secret(bt: BootstrapToken) -> Obj:
    """The kube-system Secret `bootstrap-token-<id>` of type bootstrap.kubernetes.io/token for `bt`."""
    parsed = parse_token(bt.token)
    if parsed is None:
        raise ValueError(f"the bootstrap token {bt.token!r} does not match [a-z0-9]{{6}}.[a-z0-9]{{16}}")
    token_id, token_secret_ = parsed
    data = {KEY_TOKEN_ID: token_id, KEY_TOKEN_SECRET: token_secret_}
    if bt.description:
        data[KEY_DESCRIPTION] = bt.description
    if bt.expires is not None:
        data[KEY_EXPIRATION] = rfc3339(bt.expires)
    for usage in bt.usages:
        data[USAGE_PREFIX + usage] = "true"
    if bt.groups:
        data[KEY_EXTRA_GROUPS] = ",".join(bt.groups)
    return {"apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
            "metadata": {"name": secret_name(token_id), "namespace": SECRET_NAMESPACE},
            "data": {k: _b64(v) for k, v in data.items()}}


def token_from_secret(secret: Obj) -> BootstrapToken | None:
    """The token a bootstrap token Secret holds; None for anything else."""
    if secret.get("type") != SECRET_TYPE:
        return None
    token_id, token_secret_ = secret_value(secret, KEY_TOKEN_ID), secret_value(secret, KEY_TOKEN_SECRET)
    if parse_token(f"{token_id}.{token_secret_}") is None:
        return None
    expires = None
    raw = secret_value(secret, KEY_EXPIRATION)
    if raw:
        try:
            expires = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            expires = datetime.datetime.fromtimestamp(0, datetime.timezone.utc)
    usages = tuple(k[len(USAGE_PREFIX):] for k in sorted((secret.get("data") or {}))
                   if k.startswith(USAGE_PREFIX) and secret_value(secret, k) == "true")
    groups = tuple(g for g in secret_value(secret, KEY_EXTRA_GROUPS).split(",") if g)
    return BootstrapToken(token=f"{token_id}.{token_secret_}", description=secret_value(secret, KEY_DESCRIPTION),
                          expires=expires, usages=usages, groups=groups)


def usable_for(secret: Obj, usage: str, now: float) -> bool:
    """Whether the Secret is an unexpired bootstrap token with `usage-bootstrap-<usage>: true`."""
    if secret.get("type") != SECRET_TYPE or (secret.get("metadata") or {}).get("deletionTimestamp"):
        return False
    if is_expired(secret, now):
        return False
    return secret_value(secret, USAGE_PREFIX + usage) == "true"


assert KEY_USAGE_AUTHENTICATION == USAGE_PREFIX + "authentication"

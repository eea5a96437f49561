"""The kubelet's flags for who may use its API (upstream's --anonymous-auth, --authentication-token-webhook*,
--authorization-mode, --authorization-webhook-cache-*), and the KubeletOptions fields they set."""

from __future__ import annotations

import argparse
import re
from typing import Any


def _bool(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {value!r}")


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")


def _seconds(value: str) -> float:
    """'30', '30s', '2m', '5m0s', '1h30m' as seconds (Go durations in h, m, s, or plain seconds)."""
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if not text or not re.fullmatch(f"(?:{_DURATION.pattern})+", text):
        raise argparse.ArgumentTypeError(f"invalid duration {value!r}")
    return sum(float(n) * {"h": 3600.0, "m": 60.0, "s": 1.0}[u] for n, u in _DURATION.findall(text))


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--anonymous-auth", type=_bool, nargs="?", const=True, default=False,
                   help="serve requests without credentials as system:anonymous (then authorized like any other; "
                        "default: false)")
    p.add_argument("--authentication-token-webhook", type=_bool, nargs="?", const=True, default=True,
                   help="check bearer tokens with a TokenReview against the apiserver (default: true)")
    p.add_argument("--authentication-token-webhook-cache-ttl", type=_seconds, default=120.0,
                   help="how long TokenReview answers are cached (default: 2m)")
    p.add_argument("--authorization-mode", default="Webhook", choices=["Webhook", "AlwaysAllow"],
                   help="Webhook: a SubjectAccessReview per request; AlwaysAllow: any authenticated client "
                        "(default: %(default)s)")
    p.add_argument("--authorization-webhook-cache-authorized-ttl", type=_seconds, default=300.0,
                   help="how long allowed answers are cached (default: 5m)")
    p.add_argument("--authorization-webhook-cache-unauthorized-ttl", type=_seconds, default=30.0,
                   help="how long denied answers are cached (default: 30s)")


def options_from(args: argparse.Namespace) -> dict[str, Any]:
    """The KubeletOptions fields these flags set."""
    return {"authentication_anonymous_enabled": args.anonymous_auth,
            "authentication_webhook_enabled": args.authentication_token_webhook,
            "authentication_webhook_cache_ttl": args.authentication_token_webhook_cache_ttl,
            "authorization_mode": args.authorization_mode,
            "authorization_webhook_cache_authorized_ttl": args.authorization_webhook_cache_authorized_ttl,
            "authorization_webhook_cache_unauthorized_ttl": args.authorization_webhook_cache_unauthorized_ttl}

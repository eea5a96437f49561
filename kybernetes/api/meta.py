"""ObjectMeta helpers: timestamps, uids, generated names, and accessors on plain-dict objects."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timezone
from typing import Any

# upstream's utilrand alphabet: no vowels, no confusable characters
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
GENERATED_SUFFIX_LENGTH = 5
MAX_GENERATE_NAME_PREFIX = 63 - GENERATED_SUFFIX_LENGTH


def now_rfc3339() -> str:
    """The current time as Kubernetes writes metav1.Time: second precision, UTC, 'Z'."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    """metav1.MicroTime: microsecond precision, UTC."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    """Parse metav1.Time or MicroTime (RFC 3339)."""
    v = value.replace("Z", "+00:00")
    return datetime.fromisoformat(v)


def format_time(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


def generate_name(prefix: str) -> str:
    """generateName + 5 random characters, the prefix cut so the whole fits 63 characters."""
    if len(prefix) > MAX_GENERATE_NAME_PREFIX:
        prefix = prefix[:MAX_GENERATE_NAME_PREFIX]
    return prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(GENERATED_SUFFIX_LENGTH))


def metadata(obj: dict[str, Any]) -> dict[str, Any]:
    """obj['metadata'], created empty if missing or not a map."""
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = {}
        obj["metadata"] = md
    return md


def name_of(obj: dict[str, Any]) -> str:
    md = obj.get("metadata")
    return md.get("name", "") if isinstance(md, dict) else ""


def namespace_of(obj: dict[str, Any]) -> str:
    md = obj.get("metadata")
    return md.get("namespace", "") if isinstance(md, dict) else ""


def labels_of(obj: dict[str, Any]) -> dict[str, str]:
    md = obj.get("metadata")
    if isinstance(md, dict):
        labels = md.get("labels")
        if isinstance(labels, dict):
            return labels
    return {}


def resource_version_of(obj: dict[str, Any]) -> str:
    md = obj.get("metadata")
    return md.get("resourceVersion", "") if isinstance(md, dict) else ""

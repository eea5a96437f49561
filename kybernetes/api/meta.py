"""ObjectMeta helpers: timestamps, uids, generated names, and accessors on plain-dict objects."""

from __future__ import annotations

import os
import secrets
import threading
import time
from datetime import datetime, timezone
from typing import Any

# upstream's utilrand alphabet: no vowels, no confusable characters
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
GENERATED_SUFFIX_LENGTH = 5
MAX_GENERATE_NAME_PREFIX = 63 - GENERATED_SUFFIX_LENGTH


_now_text: tuple[int, str] = (-1, "")


def now_rfc3339() -> str:
    """The current time as Kubernetes writes metav1.Time: second precision, UTC, 'Z'."""
    global _now_text
    second = int(time.time())
    cached = _now_text
    if cached[0] != second:
        cached = _now_text = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return cached[1]


def now_micro() -> str:
    """metav1.MicroTime: microsecond precision, UTC."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    """Parse metav1.Time or MicroTime (RFC 3339)."""
    v = value.replace("Z", "+00:00")
    return datetime.fromisoformat(v)


def format_time(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_UID_POOL_BYTES = 4096  # 256 uids per getrandom() call
_uid_lock = threading.Lock()
_uid_pool = b""
_uid_pos = 0


def _reset_uid_pool() -> None:
    """A forked child must not hand out the uids its parent's pool still holds."""
    global _uid_pool, _uid_pos
    _uid_pool, _uid_pos = b"", 0


os.register_at_fork(after_in_child=_reset_uid_pool)


def new_uid() -> str:
    """A random (version 4) UUID, as uuid.uuid4() makes them, from a pool of os.urandom bytes."""
    global _uid_pool, _uid_pos
    with _uid_lock:
        if _uid_pos >= len(_uid_pool):
            _uid_pool, _uid_pos = os.urandom(_UID_POOL_BYTES), 0
        raw = bytearray(_uid_pool[_uid_pos:_uid_pos + 16])
        _uid_pos += 16
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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

"""Atomic file writes with the right permissions for certificates (0644) and secrets (0600)."""

from __future__ import annotations

import os
import tempfile


def write_file(path: str, data: bytes, mode: int) -> None:
    """Write `data` to `path` atomically (temp file + rename) with permission bits `mode`."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_private(path: str, data: bytes) -> None:
    """A secret: key or kubeconfig, readable only by the owner."""
    write_file(path, data, 0o600)


def write_public(path: str, data: bytes) -> None:
    """A certificate or public key."""
    write_file(path, data, 0o644)


def read_or_none(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None

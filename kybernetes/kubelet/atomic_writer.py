"""Atomic projection of a set of files into a volume directory, as upstream's AtomicWriter.

Layout: the data lives in a timestamped directory `..<timestamp>`; `..data` is a symlink to it; each
user-visible top-level path is a symlink `<name> -> ..data/<name>`. An update writes a new timestamped
directory, points `..data_tmp` at it and renames it over `..data` (one atomic rename), then removes the old
directory and the user-visible links that are no longer in the payload. Readers see either all old or all new.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass

DATA_DIR = "..data"
DATA_TMP = "..data_tmp"


@dataclass(frozen=True)
class FileProjection:
    data: bytes
    mode: int = 0o644


def _validate(path: str) -> None:
    if not path or os.path.isabs(path) or any(part == ".." for part in path.split("/")) or path.startswith(".."):
        raise ValueError(f"invalid path {path!r}: must be relative, without '..' elements or a '..' prefix")


def _current(target: str) -> dict[str, FileProjection] | None:
    data = os.path.join(target, DATA_DIR)
    if not os.path.islink(data):
        return None
    out: dict[str, FileProjection] = {}
    base = os.path.realpath(data)
    for dirpath, _dirs, files in os.walk(base):
        for f in files:
            full = os.path.join(dirpath, f)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, base)] = FileProjection(fh.read(), os.stat(full).st_mode & 0o7777)
    return out


def write(target: str, payload: dict[str, FileProjection]) -> bool:
    """Make `target` show exactly `payload`; returns False when it already did (nothing written)."""
    for path in payload:
        _validate(path)
    os.makedirs(target, exist_ok=True)
    if _current(target) == payload:
        return False
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()) + f"{time.time_ns() % 10**9:09d}"
    ts_dir = os.path.join(target, stamp)
    os.makedirs(ts_dir)
    for path, proj in payload.items():
        full = os.path.join(ts_dir, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as fh:
            fh.write(proj.data)
        os.chmod(full, proj.mode)
    data_link = os.path.join(target, DATA_DIR)
    old_ts = os.readlink(data_link) if os.path.islink(data_link) else None
    tmp = os.path.join(target, DATA_TMP)
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(stamp, tmp)
    os.rename(tmp, data_link)
    wanted = {p.split("/")[0] for p in payload}
    for name in wanted:
        link = os.path.join(target, name)
        if not os.path.islink(link):
            if os.path.lexists(link):
                shutil.rmtree(link) if os.path.isdir(link) else os.unlink(link)
            os.symlink(os.path.join(DATA_DIR, name), link)
    for name in os.listdir(target):
        if name.startswith("..") or name in wanted:
            continue
        link = os.path.join(target, name)
        if os.path.islink(link) and os.readlink(link).startswith(DATA_DIR + "/"):
            os.unlink(link)
    if old_ts and old_ts != stamp:
        shutil.rmtree(os.path.join(target, old_ts), ignore_errors=True)
    return True

"""Storage: the etcd-shaped Store contract, its backends, and opening one from a URL."""

from __future__ import annotations

import os

from kybernetes.storage.interface import (
    CompactedError,
    Event,
    FutureRevisionError,
    KeyExistsError,
    KeyValue,
    RangeResult,
    StorageError,
    Store,
    WriteResult,
)
from kybernetes.storage.watch import WatchOverflowError

__all__ = [
    "CompactedError", "Event", "FutureRevisionError", "KeyExistsError", "KeyValue", "RangeResult",
    "StorageError", "Store", "WatchOverflowError", "WriteResult", "db_path", "open_store",
]


def db_path(data_dir: str) -> str:
    """The SQLite database of a data dir: <data_dir>/db/state.db."""
    return os.path.join(data_dir, "db", "state.db")


async def open_store(url: str, **options: object) -> Store:
    """Open and start the store at url: `sqlite:///abs/path.db`, a plain file path, or
    `etcd://HOST:PORT[,HOST:PORT...]` (`etcds://` or `?cacert=&cert=&key=` for TLS).

    options go to the backend's constructor (compaction_interval, compaction_keep for both; the rest are
    SQLite's). The caller closes the store.
    """
    if "://" in url:
        scheme, _, rest = url.partition("://")
        if scheme in ("etcd", "etcds"):
            from kybernetes.storage.etcd import EtcdStore, parse_etcd_url

            etcd = EtcdStore(parse_etcd_url(url), **{k: v for k, v in options.items()  # type: ignore[arg-type]
                                                     if k in ("compaction_interval", "compaction_keep")})
            await etcd.start()
            return etcd
        if scheme != "sqlite":
            raise ValueError(f"unsupported storage URL scheme {scheme!r} in {url!r}: use sqlite:///path "
                             "or etcd://HOST:PORT[,HOST:PORT...]")
        if not rest.startswith("/"):
            raise ValueError(f"sqlite URL needs an absolute path (sqlite:///abs/path.db), got {url!r}")
        path = rest
    else:
        path = url
    if not path:
        raise ValueError("empty storage path")
    from kybernetes.storage.sqlite import SQLiteStore

    store = SQLiteStore(path, **options)  # type: ignore[arg-type]
    await store.start()
    return store

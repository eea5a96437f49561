"""Fixtures of the storage contract tests: a started store of each backend (SQLite on a temp file, etcd).

The etcd backend runs against one session-wide etcd (skipped when the etcd binary is missing); each test
starts from an empty keyspace, at a revision `base` (0 for a fresh SQLite file, higher on the shared etcd):
tests write revisions as base + n.
"""

from __future__ import annotations

from typing import AsyncIterator

import pytest

from kybernetes.storage.interface import Store
from kybernetes.storage.sqlite import SQLiteStore
from tests.etcd_server import etcd_server  # noqa: F401  (the session fixture)


@pytest.fixture(params=["sqlite", "etcd"])
async def store(request, tmp_path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        s: Store = SQLiteStore(str(tmp_path / "state.db"), compaction_interval=0)
    else:
        from kybernetes.storage.etcd import EtcdStore

        server = request.getfixturevalue("etcd_server")
        s = EtcdStore(server.url)
    await s.start()
    if request.param == "etcd":
        await _wipe(s)
    yield s
    await s.close()


async def _wipe(store: Store) -> None:
    """Delete every key of the shared etcd, so a test sees an empty keyspace."""
    from aetcd import rpc

    from kybernetes.storage.etcd import EtcdStore

    assert isinstance(store, EtcdStore)
    await store._kv.DeleteRange(rpc.DeleteRangeRequest(key=b"\0", range_end=b"\0"))


@pytest.fixture
async def base(store: Store) -> int:
    """The store revision before the test's first write."""
    return await store.current_revision()

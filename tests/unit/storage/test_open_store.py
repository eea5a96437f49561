"""open_store: URL forms accepted and refused, db_path layout."""

from __future__ import annotations

import pytest

from kybernetes.storage import db_path, open_store
from kybernetes.storage.sqlite import SQLiteStore


@pytest.mark.parametrize("form", ["url", "path"])
async def test_open_sqlite(tmp_path, form: str) -> None:
    path = str(tmp_path / "sub" / "state.db")
    store = await open_store(f"sqlite://{path}" if form == "url" else path, compaction_interval=0)
    try:
        assert isinstance(store, SQLiteStore) and store.path == path
        assert (await store.create("/a", b"1")).mod_revision == 1
    finally:
        await store.close()


@pytest.mark.parametrize("url,message", [
    ("etcd://127.0.0.1:2379", "etcd"),
    ("mysql://db/x", "unsupported"),
    ("sqlite://relative.db", "absolute"),
    ("", "empty"),
], ids=["etcd", "mysql", "relative", "empty"])
async def test_open_refuses(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await open_store(url)


def test_db_path() -> None:
    assert db_path("/var/lib/kybernetes") == "/var/lib/kybernetes/db/state.db"

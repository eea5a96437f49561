"""open_store: URL forms accepted and refused, db_path layout."""

from __future__ import annotations

import pytest

from kybernetes.storage import db_path, open_store
from kybernetes.storage.etcd import EtcdConfig, EtcdStore, parse_etcd_url
from kybernetes.storage.sqlite import SQLiteStore
from tests.etcd_server import etcd_server  # noqa: F401  (the session fixture)


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
    ("mysql://db/x", "unsupported"),
    ("sqlite://relative.db", "absolute"),
    ("", "empty"),
    ("etcd://", "without an endpoint"),
    ("etcd://127.0.0.1", "HOST:PORT"),
    ("etcd://127.0.0.1:2379?cert=/c.pem", "both cert= and key="),
    ("etcd://127.0.0.1:2379?user=x", "unknown"),
], ids=["mysql", "relative", "empty", "etcd-no-endpoint", "etcd-no-port", "etcd-cert-without-key",
        "etcd-unknown-param"])
async def test_open_refuses(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await open_store(url)


ETCD_URLS = [
    ("etcd://127.0.0.1:2379", EtcdConfig(("127.0.0.1:2379",))),
    ("etcd://10.0.0.1:2379,10.0.0.2:2379/", EtcdConfig(("10.0.0.1:2379", "10.0.0.2:2379"))),
    ("etcds://etcd.local:2379", EtcdConfig(("etcd.local:2379",), tls=True)),
    ("etcd://127.0.0.1:2379?cacert=/pki/ca.crt&cert=/pki/c.crt&key=/pki/c.key",
     EtcdConfig(("127.0.0.1:2379",), tls=True, cacert="/pki/ca.crt", cert="/pki/c.crt", key="/pki/c.key")),
]


@pytest.mark.parametrize("url,expected", ETCD_URLS, ids=["one", "several", "etcds", "client-cert"])
def test_parse_etcd_url(url: str, expected: EtcdConfig) -> None:
    assert parse_etcd_url(url) == expected


async def test_open_etcd(etcd_server) -> None:  # noqa: F811
    store = await open_store(etcd_server.url)
    try:
        assert isinstance(store, EtcdStore) and store.config.endpoints == (etcd_server.endpoint,)
        kv = await store.create("/open-store/a", b"1")
        assert kv.mod_revision == await store.current_revision()
        assert (await store.delete("/open-store/a")).succeeded
    finally:
        await store.close()


def test_db_path() -> None:
    assert db_path("/var/lib/kybernetes") == "/var/lib/kybernetes/db/state.db"

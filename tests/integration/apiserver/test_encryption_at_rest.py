"""Secrets encrypted at rest: no plaintext in the SQLite file or a snapshot; rotation rewrites every Secret."""

from __future__ import annotations

import asyncio
import base64
import glob
import os

import pytest
import pytest_asyncio

from kybernetes.apiserver import encryption
from kybernetes.apiserver.server import APIServer, APIServerConfig
from kybernetes.cli import secrets_encrypt
from kybernetes.client import RESTClient, load_kubeconfig
from kybernetes.storage import db_path
from tests.conftest import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

VALUES = {f"s{i}": f"plaintext-canary-{i}-7f3c9a" for i in range(3)}


def db_bytes(data_dir: str) -> bytes:
    """The database file and its WAL, as a reader of the disk sees them."""
    return b"".join(open(f, "rb").read() for f in glob.glob(db_path(data_dir) + "*"))


def leaks(blob: bytes) -> list[str]:
    return [v for v in VALUES.values() if v.encode() in blob or base64.b64encode(v.encode()) in blob]


async def start(data_dir: str) -> APIServer:
    cfg = APIServerConfig(data_dir=data_dir, bind_address="127.0.0.1", secure_port=free_port(),
                          encryption_provider_config=encryption.ensure_default_config(data_dir))
    srv = APIServer(cfg)
    await srv.start()
    return srv


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("enc") / "data")
    srv = await start(data_dir)
    client = RESTClient(load_kubeconfig(srv.kubeconfig_path), timeout=30)
    for name, value in VALUES.items():
        await client.create("/api/v1/namespaces/default/secrets", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "data": {"password": base64.b64encode(value.encode()).decode()}})
    await client.create("/api/v1/namespaces/default/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"visible": "configmap-clear"}})
    state = [data_dir, srv, client]
    try:
        yield state
    finally:
        await state[2].close()
        await state[1].stop()


async def secret_values(client: RESTClient) -> dict[str, str]:
    items = (await client.list("/api/v1/namespaces/default/secrets"))["items"]
    return {s["metadata"]["name"]: base64.b64decode(s["data"]["password"]).decode() for s in items}


async def test_default_config_is_aescbc_for_secrets(cluster) -> None:
    data_dir, _, _ = cluster
    doc = open(os.path.join(data_dir, encryption.DEFAULT_CONFIG_NAME)).read()
    assert "aescbc" in doc and "secrets" in doc
    assert os.stat(os.path.join(data_dir, encryption.DEFAULT_CONFIG_NAME)).st_mode & 0o077 == 0


async def test_no_plaintext_in_the_database_but_readable(cluster) -> None:
    data_dir, _, client = cluster
    assert await secret_values(client) == VALUES
    blob = db_bytes(data_dir)
    assert leaks(blob) == []
    assert b"k8s:enc:aescbc:v1:aescbckey:" in blob
    assert b"configmap-clear" in blob  # only secrets are listed in the configuration
    assert encryption.stored_prefixes(data_dir) == {"k8s:enc:aescbc:v1:aescbckey:": len(VALUES)}


async def test_no_plaintext_in_a_snapshot(cluster, tmp_path) -> None:
    from kybernetes.cli.main import main

    data_dir, _, _ = cluster
    snap = str(tmp_path / "snap.db")
    assert await asyncio.to_thread(main, ["snapshot", "save", snap, "--data-dir", data_dir]) == 0
    blob = open(snap, "rb").read()
    assert b"k8s:enc:aescbc:v1:" in blob
    assert leaks(blob) == []
    keys = secrets_encrypt.key_file_for(snap)  # the keys travel apart from the snapshot, owner-only
    assert encryption.load_config(keys).entries[0].resources == ["secrets"]
    assert os.stat(keys).st_mode & 0o077 == 0


async def test_rotation_rewrites_every_secret_under_the_new_key(cluster) -> None:
    data_dir, srv, client = cluster
    rc = await asyncio.to_thread(secrets_encrypt.rotate, data_dir, srv.kubeconfig_path, drop_old=True)
    assert rc == 0
    keys = encryption.load_config(os.path.join(data_dir, encryption.DEFAULT_CONFIG_NAME)).entries[0].providers
    new_prefix = keys[0].prefix.decode()
    assert new_prefix.startswith("k8s:enc:aescbc:v1:aescbckey-") and len(keys) == 2  # new key + identity
    assert encryption.stored_prefixes(data_dir) == {new_prefix: len(VALUES)}
    assert await secret_values(client) == VALUES
    assert "Encryption Status: Enabled" in secrets_encrypt.status(data_dir)


async def test_restart_reads_secrets_back_with_the_rotated_key(cluster) -> None:
    data_dir, srv, client = cluster
    await client.close()
    await srv.stop()
    cluster[1] = await start(data_dir)  # the watch cache's initial load decrypts
    cluster[2] = RESTClient(load_kubeconfig(cluster[1].kubeconfig_path), timeout=30)
    assert await secret_values(cluster[2]) == VALUES


async def test_missing_config_with_encrypted_data_is_refused(cluster, tmp_path) -> None:
    import shutil

    data_dir = cluster[0]
    copy = str(tmp_path / "restored")
    shutil.copytree(os.path.join(data_dir, "db"), os.path.join(copy, "db"))
    with pytest.raises(encryption.EncryptionConfigError, match="encryption-config.yaml"):
        encryption.ensure_default_config(copy)
    assert not os.path.exists(os.path.join(copy, encryption.DEFAULT_CONFIG_NAME))

"""Server bootstrap data: the server token, sealing with a key derived from it, the datastore copy, and the
checks a server joining or restarting makes (`kybernetes server --server URL --token T`)."""

from __future__ import annotations

import argparse
import os

import pytest

from kybernetes.cli import serverjoin
from kybernetes.clusterbootstrap import serverdata
from kybernetes.clusterbootstrap.serverdata import BootstrapDataError, ServerToken, parse_server_token
from kybernetes.pki.bootstrap import ensure_pki
from kybernetes.pki.ca import ca_cert_hash
from kybernetes.storage.memory import MemoryStore

HASH = "ab" * 32


@pytest.mark.parametrize("text,want", [
    pytest.param(f"K10{HASH}::server:s3cret", ServerToken("s3cret", HASH), id="full"),
    pytest.param(f"K10{HASH}::server:a:b", ServerToken("a:b", HASH), id="secret with a colon"),
    pytest.param("s3cret\n", ServerToken("s3cret"), id="bare secret"),
])
def test_parse_server_token(text: str, want: ServerToken) -> None:
    assert parse_server_token(text) == want
    assert parse_server_token(str(want)) == want


@pytest.mark.parametrize("text", ["", f"K10{HASH}::node:x", "K10abc::server:x"])
def test_bad_server_tokens(text: str) -> None:
    with pytest.raises(ValueError):
        parse_server_token(text)


def test_sealed_data_opens_only_with_its_secret() -> None:
    files = {"pki/ca.crt": b"crt", "pki/ca.key": b"-----BEGIN EC PRIVATE KEY-----"}
    blob = serverdata.seal(files, "right")
    assert b"PRIVATE" not in blob and b"LS0tLS1CRUdJTiBFQyBQUklWQVRF" not in blob  # nor its base64
    assert serverdata.unseal(blob, "right") == (files, {})
    with pytest.raises(BootstrapDataError, match="does not decrypt"):
        serverdata.unseal(blob, "wrong")


def test_token_pins_the_ca(tmp_path) -> None:
    paths = ensure_pki(str(tmp_path / "a"))
    other = ensure_pki(str(tmp_path / "b"))
    ca, other_ca = (open(p.ca_crt, "rb").read() for p in (paths, other))
    token = ServerToken("x").with_ca(ca)
    assert f"K10{ca_cert_hash(ca).removeprefix('sha256:')}::server:x" == str(token)
    token.check_ca(ca)
    with pytest.raises(BootstrapDataError, match="another cluster"):
        token.check_ca(other_ca)
    ServerToken("x").check_ca(other_ca)  # no hash: nothing pinned


async def test_save_load_and_write_files(tmp_path) -> None:
    store = MemoryStore()
    src = ensure_pki(str(tmp_path / "first")).data_dir
    with open(os.path.join(src, serverdata.ENCRYPTION_CONFIG), "w") as f:
        f.write("kind: EncryptionConfiguration\n")
    files = serverdata.local_files(src)
    assert set(files) == set(serverdata.SHARED_FILES)
    assert await serverdata.save(store, "s", files)
    assert not await serverdata.save(store, "s", files)  # unchanged: not rewritten
    assert (await serverdata.load(store, "other"))[1] is None
    _, loaded, _ = await serverdata.load(store, "s")
    assert loaded == files
    dst = str(tmp_path / "second")
    assert sorted(serverdata.write_files(dst, loaded)) == sorted(files)
    assert oct(os.stat(os.path.join(dst, "pki/ca.key")).st_mode & 0o777) == "0o600"
    assert serverdata.local_files(dst) == files
    assert await serverdata.other_clusters(store, "other") == [serverdata.bootstrap_key("s")]


def args(**kw: object) -> argparse.Namespace:
    base = {"datastore_endpoint": "", "join_server": "", "server_token": "", "join_timeout": 1.0,
            "encryption_provider_config": "", "leader_elect": None}
    return argparse.Namespace(**{**base, **kw})


@pytest.mark.parametrize("endpoint", ["", "sqlite:///tmp/x.db"])
async def test_joining_needs_a_shared_datastore(endpoint: str, tmp_path) -> None:
    with pytest.raises(SystemExit, match="needs a shared datastore"):
        await serverjoin.prepare(args(datastore_endpoint=endpoint, join_server="https://127.0.0.1:6443",
                                      server_token="t"), str(tmp_path))


async def test_sqlite_server_prepares_nothing(tmp_path) -> None:
    assert await serverjoin.prepare(args(), str(tmp_path)) is None


@pytest.mark.parametrize("endpoint,flag,want", [
    pytest.param("", None, [], id="sqlite: off"),
    pytest.param("etcd://127.0.0.1:2379", None, ["--leader-elect"], id="etcd: on"),
    pytest.param("etcd://127.0.0.1:2379", False, [], id="turned off"),
    pytest.param("", True, ["--leader-elect"], id="turned on"),
])
def test_leader_election_default(endpoint: str, flag: bool | None, want: list[str]) -> None:
    assert serverjoin.leader_elect_args(args(datastore_endpoint=endpoint, leader_elect=flag)) == want


async def test_first_server_refuses_a_datastore_of_another_cluster(tmp_path) -> None:
    store = MemoryStore()
    other = ensure_pki(str(tmp_path / "other")).data_dir
    await serverdata.save(store, "theirs", serverdata.local_files(other))
    with pytest.raises(BootstrapDataError, match="another token"):
        await serverjoin._check_first(store, ServerToken("mine"), str(tmp_path / "new"))  # noqa: SLF001
    # the same token: a wiped data dir gets the cluster's files back instead of new ones
    await serverjoin._check_first(store, ServerToken("theirs"), str(tmp_path / "wiped"))  # noqa: SLF001
    assert serverdata.local_files(str(tmp_path / "wiped")) == serverdata.local_files(other)
    # a data dir with another CA under this token is refused
    with pytest.raises(BootstrapDataError, match="belongs to another cluster"):
        await serverjoin._check_first(store, ServerToken("theirs"), ensure_pki(str(tmp_path / "x")).data_dir)  # noqa: SLF001


async def test_a_restarted_server_takes_newer_keys_from_the_datastore_and_keeps_its_newer_ones(tmp_path) -> None:
    store = MemoryStore()
    first = ensure_pki(str(tmp_path / "first")).data_dir
    enc = os.path.join(first, serverdata.ENCRYPTION_CONFIG)
    with open(enc, "w") as f:
        f.write("old keys\n")
    os.utime(enc, (1000.0, 1000.0))
    second = str(tmp_path / "second")
    serverdata.write_files(second, serverdata.local_files(first), mtimes=serverdata.local_mtimes(first))
    # keys rotated on the first server (a newer file), stored when it restarted
    with open(enc, "w") as f:
        f.write("rotated keys\n")
    os.utime(enc, (2000.0, 2000.0))
    await serverdata.save(store, "s", serverdata.local_files(first), serverdata.local_mtimes(first))
    await serverjoin._check_first(store, ServerToken("s"), second)  # noqa: SLF001
    with open(os.path.join(second, serverdata.ENCRYPTION_CONFIG)) as f:
        assert f.read() == "rotated keys\n"
    # a local file newer than the stored one stays (and is what the server stores once it runs)
    with open(enc, "w") as f:
        f.write("rotated again\n")
    await serverjoin._check_first(store, ServerToken("s"), first)  # noqa: SLF001
    with open(enc) as f:
        assert f.read() == "rotated again\n"

"""Encryption at rest: providers round-trip, prefixes as upstream's, provider order, rotation of the config."""

from __future__ import annotations

import base64

import pytest

from kybernetes.apiserver import encryption as enc
from kybernetes.cli.secrets_encrypt import drop_old_keys, prepend_key
from kybernetes.storage.memory import MemoryStore

KEY = "/registry/core/secrets/ns/s1"
K32 = base64.b64encode(b"k" * 32).decode()
K32B = base64.b64encode(b"j" * 32).decode()


def config(*providers: dict, resources: list[str] | None = None) -> dict:
    return {"apiVersion": enc.API_VERSION, "kind": enc.KIND,
            "resources": [{"resources": resources or ["secrets"], "providers": list(providers)}]}


def keyed(kind: str, *names_secrets: tuple[str, str]) -> dict:
    return {kind: {"keys": [{"name": n, "secret": s} for n, s in names_secrets]}}


@pytest.mark.parametrize("kind", ["aescbc", "aesgcm", "secretbox"])
def test_round_trip_and_prefix(kind: str) -> None:
    t = enc.parse_config(config(keyed(kind, ("key1", K32))))
    stored = t.to_storage(b'{"data":{"password":"hunter2"}}', KEY)
    assert stored.startswith(f"k8s:enc:{kind}:v1:key1:".encode())
    assert b"hunter2" not in stored
    assert t.from_storage(stored, KEY) == b'{"data":{"password":"hunter2"}}'
    assert t.to_storage(b"same", KEY) != t.to_storage(b"same", KEY)  # random IV / nonce


def test_aesgcm_binds_the_storage_key() -> None:
    t = enc.parse_config(config(keyed("aesgcm", ("k", K32))))
    stored = t.to_storage(b"x", KEY)
    with pytest.raises(enc.DecryptError):
        t.from_storage(stored, "/registry/core/secrets/ns/other")


@pytest.mark.parametrize("resource_key,encrypted", [
    ("/registry/core/secrets/ns/a", True),
    ("/registry/core/configmaps/ns/a", False),
    ("/registry/apps/deployments/ns/a", False),
], ids=["secret", "configmap", "deployment"])
def test_only_listed_resources_are_encrypted(resource_key: str, encrypted: bool) -> None:
    t = enc.parse_config(config(keyed("aescbc", ("k", K32)), {"identity": {}}))
    assert t.to_storage(b"v", resource_key).startswith(enc.ENC_PREFIX) is encrypted


@pytest.mark.parametrize("pattern,resource,match", [
    ("secrets", "secrets", True), ("*.apps", "deployments.apps", True), ("*.", "configmaps", True),
    ("*.", "deployments.apps", False), ("*.*", "widgets.example.com", True), ("secrets", "configmaps", False),
], ids=["exact", "group-wildcard", "core-wildcard", "core-wildcard-other-group", "all", "other"])
def test_resource_patterns(pattern: str, resource: str, match: bool) -> None:
    assert enc._matches(pattern, resource) is match  # noqa: SLF001


def test_rotation_order_first_encrypts_all_decrypt() -> None:
    old = enc.parse_config(config(keyed("aescbc", ("old", K32)), {"identity": {}}))
    old_value = old.to_storage(b"secret", KEY)
    plaintext_value = b"legacy"
    new = enc.parse_config(config(keyed("aescbc", ("new", K32B), ("old", K32)), {"identity": {}}))
    assert new.to_storage(b"secret", KEY).startswith(b"k8s:enc:aescbc:v1:new:")
    assert new.from_storage(old_value, KEY) == b"secret"
    assert new.from_storage(plaintext_value, KEY) == b"legacy"
    entry = new.for_key(KEY)
    assert entry.from_storage(old_value, KEY) == (b"secret", True)  # stale: not the first key
    dropped = enc.parse_config(config(keyed("aescbc", ("new", K32B)), {"identity": {}}))
    with pytest.raises(enc.DecryptError):
        dropped.from_storage(old_value, KEY)


def test_identity_first_writes_plaintext_and_reads_encrypted() -> None:
    t = enc.parse_config(config({"identity": {}}, keyed("aescbc", ("k", K32))))
    assert t.to_storage(b"v", KEY) == b"v"
    other = enc.parse_config(config(keyed("aescbc", ("k", K32))))
    assert t.from_storage(other.to_storage(b"v", KEY), KEY) == b"v"


@pytest.mark.parametrize("doc,message", [
    ({"apiVersion": "v1", "kind": "Config"}, "EncryptionConfiguration"),
    (config(keyed("aescbc", ("k", base64.b64encode(b"short").decode()))), "16, 24 or 32"),
    (config({"kms": {"name": "x"}}), "not supported"),
    (config(keyed("aescbc")), "at least one key"),
    (config(keyed("secretbox", ("k", base64.b64encode(b"k" * 16).decode()))), "32 bytes"),
], ids=["kind", "key-length", "kms", "no-keys", "secretbox-length"])
def test_invalid_configs(doc: dict, message: str) -> None:
    with pytest.raises(enc.EncryptionConfigError, match=message):
        enc.parse_config(doc)


def test_prepend_and_drop_keys() -> None:
    doc = config(keyed("aescbc", ("old", K32)), {"identity": {}})
    prepend_key(doc, "new", K32B)
    assert [k["name"] for k in doc["resources"][0]["providers"][0]["aescbc"]["keys"]] == ["new", "old"]
    drop_old_keys(doc)
    assert doc["resources"][0]["providers"] == [keyed("aescbc", ("new", K32B)), {"identity": {}}]


async def test_encrypted_store_round_trips_and_watch(tmp_path) -> None:
    path = tmp_path / "enc.yaml"
    enc.write_config(str(path), config(keyed("aescbc", ("k", K32)), {"identity": {}}))
    inner = MemoryStore()
    await inner.start()
    store = enc.wrap_store(inner, str(path))
    kv = await store.create(KEY, b'{"v":1}')
    assert kv.value == b'{"v":1}'
    _, raw = await inner.get(KEY)
    assert raw.value.startswith(b"k8s:enc:aescbc:v1:k:")
    _, got = await store.get(KEY)
    assert got.value == b'{"v":1}'
    res = await store.range("/registry/core/secrets/")
    assert [k.value for k in res.kvs] == [b'{"v":1}']
    watch = store.watch("/registry/", start_revision=kv.mod_revision - 1)
    events = await anext(watch)
    assert events[0].kv.value == b'{"v":1}'
    await watch.aclose()
    # a rewritten config is looked at no more than once per RELOAD_CHECK_INTERVAL, then picked up
    enc.write_config(str(path), config(keyed("aesgcm", ("g", K32B)), keyed("aescbc", ("k", K32))))
    kv = (await store.update(KEY, b'{"v":2}', mod_revision=kv.mod_revision)).kv
    _, raw = await inner.get(KEY)
    assert raw.value.startswith(b"k8s:enc:aescbc:v1:k:")  # within the interval: the old key still
    store._source._checked -= enc.RELOAD_CHECK_INTERVAL  # the interval has passed
    await store.update(KEY, b'{"v":3}', mod_revision=kv.mod_revision)
    _, raw = await inner.get(KEY)
    assert raw.value.startswith(b"k8s:enc:aesgcm:v1:g:")
    await inner.close()

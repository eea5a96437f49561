"""Encryption at rest: upstream's EncryptionConfiguration (aescbc, aesgcm, secretbox, identity) around the Store."""

from __future__ import annotations

import base64
import logging
import os
import secrets as pysecrets
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, AsyncIterator, Protocol

import yaml
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kybernetes.storage.interface import Event, KeyValue, Store

log = logging.getLogger(__name__)

API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"
ENC_PREFIX = b"k8s:enc:"
DEFAULT_CONFIG_NAME = "encryption-config.yaml"


class EncryptionConfigError(ValueError):
    """The EncryptionConfiguration cannot be used."""


class DecryptError(Exception):
    """A stored value carries a prefix no configured provider can decrypt."""


class Provider(Protocol):
    """One key of one provider kind: encrypts with its prefix, decrypts values bearing it."""

    prefix: bytes

    def encrypt(self, data: bytes, key: str) -> bytes: ...

    def decrypt(self, data: bytes, key: str) -> bytes: ...


class Identity:
    """No encryption: writes plaintext; reads anything unprefixed."""

    prefix = b""

    def encrypt(self, data: bytes, key: str) -> bytes:
        return data

    def decrypt(self, data: bytes, key: str) -> bytes:
        return data


class AESCBC:
    """AES-CBC with PKCS#7 padding and a random IV before the ciphertext (upstream's aescbc)."""

    def __init__(self, name: str, secret: bytes) -> None:
        if len(secret) not in (16, 24, 32):
            raise EncryptionConfigError(f"aescbc key {name!r}: must be 16, 24 or 32 bytes, got {len(secret)}")
        self.prefix = f"k8s:enc:aescbc:v1:{name}:".encode()
        self._key = secret

    def encrypt(self, data: bytes, key: str) -> bytes:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        enc = Cipher(algorithms.AES(self._key), modes.CBC(iv)).encryptor()
        body = enc.update(padder.update(data) + padder.finalize()) + enc.finalize()
        return self.prefix + iv + body

    def decrypt(self, data: bytes, key: str) -> bytes:
        raw = data[len(self.prefix):]
        if len(raw) < 32 or len(raw) % 16:
            raise DecryptError("aescbc: the stored value is not a whole number of blocks")
        dec = Cipher(algorithms.AES(self._key), modes.CBC(raw[:16])).decryptor()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(dec.update(raw[16:]) + dec.finalize()) + unpadder.finalize()
        except ValueError as e:
            raise DecryptError("aescbc: invalid padding (wrong key?)") from e


class AESGCMProvider:
    """AES-GCM with a random 12-byte nonce; the storage key is the authenticated data (upstream's aesgcm)."""

    def __init__(self, name: str, secret: bytes) -> None:
        if len(secret) not in (16, 24, 32):
            raise EncryptionConfigError(f"aesgcm key {name!r}: must be 16, 24 or 32 bytes, got {len(secret)}")
        self.prefix = f"k8s:enc:aesgcm:v1:{name}:".encode()
        self._aead = AESGCM(secret)

    def encrypt(self, data: bytes, key: str) -> bytes:
        nonce = os.urandom(12)
        return self.prefix + nonce + self._aead.encrypt(nonce, data, key.encode())

    def decrypt(self, data: bytes, key: str) -> bytes:
        from cryptography.exceptions import InvalidTag

        raw = data[len(self.prefix):]
        try:
            return self._aead.decrypt(raw[:12], raw[12:], key.encode())
        except InvalidTag as e:
            raise DecryptError("aesgcm: authentication failed") from e


class SecretBox:
    """XSalsa20-Poly1305 (NaCl secretbox) with a random 24-byte nonce (upstream's secretbox); needs PyNaCl."""

    def __init__(self, name: str, secret: bytes) -> None:
        try:
            from nacl.secret import SecretBox as _Box
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise EncryptionConfigError("the secretbox provider needs PyNaCl: pip install pynacl") from e
        if len(secret) != 32:
            raise EncryptionConfigError(f"secretbox key {name!r}: must be 32 bytes, got {len(secret)}")
        self.prefix = f"k8s:enc:secretbox:v1:{name}:".encode()
        self._box = _Box(secret)

    def encrypt(self, data: bytes, key: str) -> bytes:
        return self.prefix + bytes(self._box.encrypt(data))  # nonce (24 bytes) + ciphertext

    def decrypt(self, data: bytes, key: str) -> bytes:
        from nacl.exceptions import CryptoError

        try:
            return self._box.decrypt(data[len(self.prefix):])
        except CryptoError as e:
            raise DecryptError("secretbox: authentication failed") from e


KEYED_PROVIDERS = {"aescbc": AESCBC, "aesgcm": AESGCMProvider, "secretbox": SecretBox}


@dataclass
class ResourceTransformer:
    """The providers of one resources entry, in order: the first encrypts, any decrypts its prefix."""

    resources: list[str]
    providers: list[Any]

    def to_storage(self, data: bytes, key: str) -> bytes:
        return self.providers[0].encrypt(data, key)

    def from_storage(self, data: bytes, key: str) -> tuple[bytes, bool]:
        """The plaintext and whether it is stale (not written by the first provider)."""
        if not data.startswith(ENC_PREFIX):  # identity, or plaintext from before encryption was on
            return data, not isinstance(self.providers[0], Identity)
        for i, p in enumerate(self.providers):
            if p.prefix and data.startswith(p.prefix):
                return p.decrypt(data, key), i != 0
        raise DecryptError(f"no provider configured for the stored value of {key} "
                           f"(prefix {data[:data.find(b':', 17) + 1].decode(errors='replace')!r})")


def resource_of_key(key: str) -> str:
    """'/registry/core/secrets/ns/a' -> 'secrets'; '/registry/apps/deployments/..' -> 'deployments.apps'."""
    parts = key.split("/")
    if len(parts) < 4 or parts[1] != "registry":
        return ""
    group, plural = parts[2], parts[3]
    return plural if group in ("core", "") else f"{plural}.{group}"


def _matches(pattern: str, resource: str) -> bool:
    if pattern in ("*.*", resource):
        return True
    if pattern.startswith("*."):
        group = pattern[2:]
        r_group = resource.partition(".")[2]
        return r_group == ("" if group == "" else group)
    return False


class Transformers:
    """Every resources entry of an EncryptionConfiguration, the first matching a key's resource wins."""

    def __init__(self, entries: list[ResourceTransformer]) -> None:
        self.entries = entries
        self._cache: dict[str, ResourceTransformer | None] = {}

    def for_key(self, key: str) -> ResourceTransformer | None:
        resource = resource_of_key(key)
        if resource not in self._cache:
            self._cache[resource] = next(
                (e for e in self.entries if any(_matches(p, resource) for p in e.resources)), None)
        return self._cache[resource]

    def to_storage(self, data: bytes, key: str) -> bytes:
        t = self.for_key(key)
        return t.to_storage(data, key) if t else data

    def from_storage(self, data: bytes, key: str) -> bytes:
        if not data.startswith(ENC_PREFIX):
            return data
        t = self.for_key(key)
        if t is None:
            raise DecryptError(f"{key} is encrypted but no resources entry of the configuration covers it")
        return t.from_storage(data, key)[0]


def parse_config(doc: dict[str, Any]) -> Transformers:
    """An EncryptionConfiguration document as Transformers; raises EncryptionConfigError."""
    if doc.get("kind") != KIND or doc.get("apiVersion") not in (API_VERSION, "apiserver.config.k8s.io/v1alpha1"):
        raise EncryptionConfigError(f"expected apiVersion {API_VERSION}, kind {KIND}")
    entries = []
    for i, entry in enumerate(doc.get("resources") or []):
        resources = list(entry.get("resources") or [])
        if not resources:
            raise EncryptionConfigError(f"resources[{i}].resources: must name at least one resource")
        providers: list[Any] = []
        for j, spec in enumerate(entry.get("providers") or []):
            if len(spec) != 1:
                raise EncryptionConfigError(f"resources[{i}].providers[{j}]: exactly one provider type per entry")
            kind, body = next(iter(spec.items()))
            if kind == "identity":
                providers.append(Identity())
            elif kind in KEYED_PROVIDERS:
                keys = (body or {}).get("keys") or []
                if not keys:
                    raise EncryptionConfigError(f"resources[{i}].providers[{j}].{kind}.keys: at least one key")
                for k in keys:
                    try:
                        secret = base64.b64decode(k["secret"], validate=True)
                    except (KeyError, ValueError) as e:
                        raise EncryptionConfigError(f"{kind} key {k.get('name')!r}: secret must be base64") from e
                    providers.append(KEYED_PROVIDERS[kind](str(k["name"]), secret))
            else:
                raise EncryptionConfigError(f"resources[{i}].providers[{j}]: provider {kind!r} is not supported "
                                            "(aescbc, aesgcm, secretbox, identity)")
        if not providers:
            raise EncryptionConfigError(f"resources[{i}].providers: at least one provider")
        entries.append(ResourceTransformer(resources, providers))
    return Transformers(entries)


def load_config(path: str) -> Transformers:
    with open(path, encoding="utf-8") as f:
        return parse_config(yaml.safe_load(f) or {})


def new_key_secret() -> str:
    return base64.b64encode(pysecrets.token_bytes(32)).decode()


def default_config(key_name: str = "aescbckey") -> dict[str, Any]:
    """Secrets encrypted with one fresh aescbc key; identity last so plaintext from before still reads."""
    return {"apiVersion": API_VERSION, "kind": KIND, "resources": [{
        "resources": ["secrets"],
        "providers": [{"aescbc": {"keys": [{"name": key_name, "secret": new_key_secret()}]}}, {"identity": {}}],
    }]}


def write_config(path: str, doc: dict[str, Any]) -> None:
    """Atomically, readable only by the owner."""
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
    os.replace(tmp, path)


def stored_prefixes(data_dir: str, resource_prefix: str = "/registry/core/secrets/") -> Counter[str]:
    """How many current values of a resource are stored under each key prefix (read-only look at the SQLite file)."""
    from kybernetes.storage import db_path

    counts: Counter[str] = Counter()
    path = db_path(data_dir)
    if not os.path.exists(path):
        return counts
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT kv.value FROM current JOIN kv ON kv.id = current.id "
                           "WHERE current.key LIKE ? AND kv.deleted = 0", (resource_prefix + "%",))
        for (value,) in rows:
            value = bytes(value)
            if value.startswith(ENC_PREFIX):
                counts[value[:value.index(b":", value.index(b":v1:") + 4) + 1].decode()] += 1
            else:
                counts["identity (plaintext)"] += 1
    finally:
        con.close()
    return counts


def ensure_default_config(data_dir: str) -> str:
    """The data dir's config (k3s's --secrets-encryption default), created with a new key on first start.

    Refuses when the database already holds encrypted secrets (a restored snapshot, a lost config file):
    a new key could not read them.
    """
    path = os.path.join(data_dir, DEFAULT_CONFIG_NAME)
    if not os.path.exists(path):
        encrypted = [p for p in stored_prefixes(data_dir) if p.startswith("k8s:enc:")]
        if encrypted:
            raise EncryptionConfigError(
                f"the database in {data_dir} holds secrets encrypted with {', '.join(encrypted)} but {path} is "
                "missing: copy encryption-config.yaml from the server the data came from into the data dir")
        os.makedirs(data_dir, exist_ok=True)
        write_config(path, default_config())
        log.info("secrets encryption at rest: generated an aescbc key in %s", path)
    return path


RELOAD_CHECK_INTERVAL = 1.0  # seconds between looks at the file (upstream polls about once a minute)


class ReloadingTransformers:
    """Transformers from a file, reloaded when the file changes (upstream's automatic reload).

    The file is looked at once per RELOAD_CHECK_INTERVAL at most, not on every storage access: a stat per
    request released the GIL ~8 times per pod start and cost the event loop ~50 us each time under load."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp = self._stat()
        self._checked = time.monotonic()
        self.current = load_config(path)

    def _stat(self) -> tuple[int, int]:
        st = os.stat(self.path)
        return (st.st_mtime_ns, st.st_size)

    def get(self) -> Transformers:
        now = time.monotonic()
        if now - self._checked < RELOAD_CHECK_INTERVAL:
            return self.current
        self._checked = now
        try:
            stamp = self._stat()
        except OSError:
            return self.current
        if stamp != self._stamp:
            try:
                self.current = load_config(self.path)
                log.info("encryption configuration %s reloaded", self.path)
            except (OSError, ValueError, yaml.YAMLError) as e:
                log.error("encryption configuration %s not reloaded: %s", self.path, e)
            self._stamp = stamp
        return self.current


class EncryptedStore:
    """A Store whose values are transformed on the way in and out; everything else passes through."""

    def __init__(self, inner: Store, transformers: ReloadingTransformers | Transformers) -> None:
        self.inner = inner
        self._source = transformers

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def transformers(self) -> Transformers:
        src = self._source
        return src.get() if isinstance(src, ReloadingTransformers) else src

    def _out(self, kv: KeyValue | None, t: Transformers | None = None) -> KeyValue | None:
        if kv is None or not kv.value.startswith(ENC_PREFIX):
            return kv
        return replace(kv, value=(t or self.transformers).from_storage(kv.value, kv.key))

    async def get(self, key: str, **kw: Any) -> Any:
        rev, kv = await self.inner.get(key, **kw)
        return rev, self._out(kv)

    async def range(self, prefix: str, **kw: Any) -> Any:
        res = await self.inner.range(prefix, **kw)
        t = self.transformers
        if any(kv.value.startswith(ENC_PREFIX) for kv in res.kvs):
            res = replace(res, kvs=[self._out(kv, t) for kv in res.kvs])
        return res

    async def create(self, key: str, value: bytes) -> Any:
        kv = await self.inner.create(key, self.transformers.to_storage(value, key))
        return replace(kv, value=value) if kv is not None else kv

    async def update(self, key: str, value: bytes, **kw: Any) -> Any:
        res = await self.inner.update(key, self.transformers.to_storage(value, key), **kw)
        if res.kv is not None:
            res = replace(res, kv=self._out(res.kv))
        return res

    async def delete(self, key: str, **kw: Any) -> Any:
        res = await self.inner.delete(key, **kw)
        if res.kv is not None:
            res = replace(res, kv=self._out(res.kv))
        return res

    async def watch(self, prefix: str, **kw: Any) -> AsyncIterator[list[Event]]:
        async for events in self.inner.watch(prefix, **kw):
            t = self.transformers
            yield [ev if not _encrypted(ev) else replace(ev, kv=self._out(ev.kv, t), prev_kv=self._out(ev.prev_kv, t))
                   for ev in events]


def _encrypted(ev: Event) -> bool:
    return ev.kv.value.startswith(ENC_PREFIX) or (ev.prev_kv is not None and ev.prev_kv.value.startswith(ENC_PREFIX))


def wrap_store(store: Store, config_file: str) -> Store:
    """The store itself without a config file, else an EncryptedStore reloading the file as it changes."""
    if not config_file:
        return store
    return EncryptedStore(store, ReloadingTransformers(config_file))  # type: ignore[return-value]

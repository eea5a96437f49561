"""Server bootstrap data, as k3s's: what every control-plane node must share (the cluster CA, the
service-account keys, the encryption-at-rest keys), kept in the shared datastore encrypted with a key derived
from the server token, and the server token itself (`K10<CA hash>::server:<secret>`)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from dataclasses import dataclass

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from kybernetes.pki.ca import ca_cert_hash
from kybernetes.pki.files import read_or_none, write_private, write_public
from kybernetes.storage.interface import KeyExistsError, Store

BOOTSTRAP_PREFIX = "/bootstrap/"  # outside /registry/: no apiserver serves or caches it
TOKEN_FILE = "token"
PBKDF2_ITERATIONS = 100_000
ENCRYPTION_CONFIG = "encryption-config.yaml"
# data-dir relative paths every server needs identical; secrets are written 0600
SHARED_FILES = {"pki/ca.crt": False, "pki/ca.key": True, "pki/service-account.key": True,
                "pki/service-account.pub": False, ENCRYPTION_CONFIG: True}
_AAD = b"kybernetes server bootstrap data v1"
_TOKEN = re.compile(r"K10([0-9a-f]{64})::server:(.+)")

Files = dict[str, bytes]
Mtimes = dict[str, float]  # when each file last changed where it was stored from (newer wins, as k3s reconciles)


class BootstrapDataError(Exception):
    """The bootstrap data cannot be used: wrong token, another cluster's CA, or malformed."""


@dataclass(frozen=True)
class ServerToken:
    """The secret shared by the servers, and the CA hash a joining server pins (None: not pinned)."""

    secret: str
    ca_hash: str | None = None  # hex of sha256 over the CA's DER SubjectPublicKeyInfo

    def __str__(self) -> str:
        return f"K10{self.ca_hash}::server:{self.secret}" if self.ca_hash else self.secret

    def with_ca(self, ca_pem: bytes) -> ServerToken:
        return ServerToken(self.secret, ca_cert_hash(ca_pem).removeprefix("sha256:"))

    def check_ca(self, ca_pem: bytes) -> None:
        """Raise unless the CA is the one the token pins (a token without a hash pins nothing)."""
        if self.ca_hash and ca_cert_hash(ca_pem).removeprefix("sha256:") != self.ca_hash:
            raise BootstrapDataError("the cluster CA in the datastore does not match the hash in the token: the "
                                     "token is from another cluster")


def parse_server_token(text: str) -> ServerToken:
    """`K10<hex>::server:<secret>` (the full form, printed by the first server) or a bare secret."""
    text = text.strip()
    if not text:
        raise ValueError("empty server token")
    m = _TOKEN.fullmatch(text)
    if m:
        return ServerToken(m.group(2), m.group(1))
    if text.startswith("K10"):
        raise ValueError("a K10 server token must look like K10<64 hex digits>::server:<secret>")
    return ServerToken(text)


def generate_secret() -> str:
    return secrets.token_hex(16)


def bootstrap_key(secret: str) -> str:
    """Where the data for this token's secret lives (k3s's /bootstrap/<hash of the token>)."""
    return BOOTSTRAP_PREFIX + hashlib.sha256(secret.encode()).hexdigest()[:12]


def _derive(secret: str, salt: bytes, iterations: int) -> bytes:
    return PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations).derive(secret.encode())


def seal(files: Files, secret: str, mtimes: Mtimes | None = None) -> bytes:
    """The files (and their mtimes) encrypted with AES-256-GCM under a key derived by PBKDF2 from the secret."""
    salt, nonce = os.urandom(16), os.urandom(12)
    plain = orjson.dumps({"files": {k: base64.b64encode(v).decode() for k, v in sorted(files.items())},
                          "mtimes": mtimes or {}})
    sealed = AESGCM(_derive(secret, salt, PBKDF2_ITERATIONS)).encrypt(nonce, plain, _AAD)
    return orjson.dumps({"version": 1, "kdf": "pbkdf2-sha256", "iterations": PBKDF2_ITERATIONS,
                         "salt": base64.b64encode(salt).decode(), "nonce": base64.b64encode(nonce).decode(),
                         "data": base64.b64encode(sealed).decode()})


def unseal(blob: bytes, secret: str) -> tuple[Files, Mtimes]:
    try:
        doc = orjson.loads(blob)
        salt, nonce, data = (base64.b64decode(doc[k]) for k in ("salt", "nonce", "data"))
        plain = AESGCM(_derive(secret, salt, int(doc["iterations"]))).decrypt(nonce, data, _AAD)
    except InvalidTag as e:
        raise BootstrapDataError("the server token does not decrypt the bootstrap data in the datastore") from e
    except (KeyError, ValueError, TypeError) as e:
        raise BootstrapDataError(f"malformed bootstrap data in the datastore: {e}") from e
    doc = orjson.loads(plain)
    return {k: base64.b64decode(v) for k, v in doc["files"].items()}, dict(doc.get("mtimes") or {})


def _path(data_dir: str, rel: str, encryption_config: str = "") -> str:
    return encryption_config if rel == ENCRYPTION_CONFIG and encryption_config else os.path.join(data_dir, rel)


def local_files(data_dir: str, encryption_config: str = "") -> Files:
    """The shared files this data dir has (the encryption config from its own path when given)."""
    out: Files = {}
    for rel in SHARED_FILES:
        data = read_or_none(_path(data_dir, rel, encryption_config))
        if data is not None:
            out[rel] = data
    return out


def local_mtimes(data_dir: str, encryption_config: str = "") -> Mtimes:
    out: Mtimes = {}
    for rel in SHARED_FILES:
        try:
            out[rel] = os.stat(_path(data_dir, rel, encryption_config)).st_mtime
        except FileNotFoundError:
            pass
    return out


def write_files(data_dir: str, files: Files, *, only_missing: bool = False, mtimes: Mtimes | None = None,
                only: set[str] | None = None) -> list[str]:
    """Write the shared files into the data dir (with their stored mtimes); the ones that changed."""
    changed = []
    for rel, data in files.items():
        if rel not in SHARED_FILES or (only is not None and rel not in only):
            continue
        path = os.path.join(data_dir, rel)
        current = read_or_none(path)
        if current == data or (only_missing and current is not None):
            continue
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        (write_private if SHARED_FILES[rel] else write_public)(path, data)
        if mtimes and rel in mtimes:
            os.utime(path, (mtimes[rel], mtimes[rel]))
        changed.append(rel)
    return changed


async def load(store: Store, secret: str) -> tuple[int, Files | None, Mtimes]:
    """(mod revision, files, their mtimes) stored for this secret; (0, None, {}) when there are none."""
    _, kv = await store.get(bootstrap_key(secret))
    if kv is None:
        return 0, None, {}
    files, mtimes = unseal(kv.value, secret)
    return kv.mod_revision, files, mtimes


async def save(store: Store, secret: str, files: Files, mtimes: Mtimes | None = None) -> bool:
    """Store the files for this secret unless the same are stored already; True if written."""
    revision, stored, _ = await load(store, secret)
    if stored == files:
        return False
    blob = seal(files, secret, mtimes)
    if revision == 0:
        try:
            await store.create(bootstrap_key(secret), blob)
        except KeyExistsError:
            return await save(store, secret, files, mtimes)
        return True
    res = await store.update(bootstrap_key(secret), blob, mod_revision=revision)
    return res.succeeded or await save(store, secret, files, mtimes)


async def other_clusters(store: Store, secret: str) -> list[str]:
    """Keys of bootstrap data stored for other tokens (another cluster, or this one under another token)."""
    res = await store.range(BOOTSTRAP_PREFIX)
    return [kv.key for kv in res.kvs if kv.key != bootstrap_key(secret)]


def read_token(data_dir: str) -> ServerToken | None:
    data = read_or_none(os.path.join(data_dir, TOKEN_FILE))
    return parse_server_token(data.decode()) if data else None


def write_token(data_dir: str, token: ServerToken) -> str:
    path = os.path.join(data_dir, TOKEN_FILE)
    if read_or_none(path) != f"{token}\n".encode():
        write_private(path, f"{token}\n".encode())
    return path

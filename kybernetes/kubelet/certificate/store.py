"""Certificate files as the kubelet keeps them: `<prefix>-<timestamp>.pem` (certificate then key, mode 0600) and
a `<prefix>-current.pem` symlink switched atomically to the newest (upstream's fileStore)."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kybernetes.pki.ca import PrivateKey, key_to_pem
from kybernetes.pki.files import write_private


@dataclass(frozen=True)
class KeyPair:
    """A certificate (its first PEM block is the leaf) with the private key it certifies."""

    cert: x509.Certificate
    key: PrivateKey
    cert_pem: bytes

    @property
    def not_before(self) -> datetime.datetime:
        return self.cert.not_valid_before_utc

    @property
    def not_after(self) -> datetime.datetime:
        return self.cert.not_valid_after_utc


def parse_pair(data: bytes) -> KeyPair | None:
    """The pair in one PEM file (certificates, then the key), or None when unreadable or mismatched."""
    try:
        certs = x509.load_pem_x509_certificates(data)
        key = serialization.load_pem_private_key(data[data.find(b"-----BEGIN", data.rfind(b"-----END CERTIFICATE")):],
                                                 password=None)
    except ValueError:
        return None
    if not certs or not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != certs[0].public_key():
        return None
    cert_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    return KeyPair(certs[0], key, cert_pem)


class FileStore:
    """<dir>/<prefix>-current.pem and its dated versions."""

    def __init__(self, directory: str, prefix: str) -> None:
        self.directory = directory
        self.prefix = prefix

    @property
    def current_path(self) -> str:
        return os.path.join(self.directory, f"{self.prefix}-current.pem")

    def load(self) -> KeyPair | None:
        try:
            with open(self.current_path, "rb") as f:
                return parse_pair(f.read())
        except OSError:
            return None

    def update(self, cert_pem: bytes, key: PrivateKey) -> str:
        """Write a new pair and point `-current` at it; returns the current path."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d-%H-%M-%S-%f")
        name = f"{self.prefix}-{stamp}.pem"
        write_private(os.path.join(self.directory, name), cert_pem + key_to_pem(key))
        link = self.current_path + ".tmp"
        try:
            os.unlink(link)
        except FileNotFoundError:
            pass
        os.symlink(name, link)
        os.replace(link, self.current_path)
        return self.current_path

"""TLS bootstrap's files and clients: the kubeconfig a component uses once it has a certificate (pointing at
the rotating `-current.pem`), and clients that authenticate with the bootstrap token or with a key pair."""

from __future__ import annotations

import base64
import os

import yaml

from kybernetes.client import ClientConfig, RESTClient
from kybernetes.kubelet.certificate.store import KeyPair
from kybernetes.pki.ca import key_to_pem
from kybernetes.pki.files import read_or_none, write_private


def kubeconfig_with_cert_file(*, server: str, ca_pem: bytes, cert_file: str, user: str) -> dict:
    """A kubeconfig whose client-certificate and client-key are both the rotating PEM file (as the kubelet's)."""
    return {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "default", "cluster": {"server": server,
                                                     "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": user, "user": {"client-certificate": cert_file, "client-key": cert_file}}],
        "contexts": [{"name": "default", "context": {"cluster": "default", "user": user}}],
        "current-context": "default", "preferences": {},
    }


def write_kubeconfig(path: str, *, server: str, ca_pem: bytes, cert_file: str, user: str) -> bool:
    """Write the kubeconfig if it differs; True when it changed."""
    want = yaml.safe_dump(kubeconfig_with_cert_file(server=server, ca_pem=ca_pem, cert_file=os.path.abspath(cert_file),
                                                    user=user), sort_keys=False).encode()
    if read_or_none(path) == want:
        return False
    write_private(path, want)
    return True


def token_client(server: str, ca_pem: bytes, token: str) -> RESTClient:
    """A client authenticating with the bootstrap token (used only to submit the first CSR)."""
    return RESTClient(ClientConfig(server=server, ca_data=ca_pem, token=token, user_agent="kybernetes-agent/bootstrap"))


def pair_client(server: str, ca_pem: bytes, pair: KeyPair) -> RESTClient:
    """A client authenticating with a certificate and key."""
    return RESTClient(ClientConfig(server=server, ca_data=ca_pem, cert_data=pair.cert_pem,
                                   key_data=key_to_pem(pair.key), user_agent="kybernetes-agent"))

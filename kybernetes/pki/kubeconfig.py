"""Writing kubeconfig files with embedded (base64) credentials, as kubeadm and k3s do."""

from __future__ import annotations

import base64
from typing import Any

import yaml

from kybernetes.pki.files import write_private


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig_dict(*, server: str, ca_pem: bytes, client_cert_pem: bytes | None = None,
                    client_key_pem: bytes | None = None, token: str | None = None, user: str = "default",
                    cluster: str = "default", context: str = "default") -> dict[str, Any]:
    """A kubeconfig (apiVersion v1, kind Config) with one cluster, user and context."""
    creds: dict[str, Any] = {}
    if client_cert_pem is not None:
        creds["client-certificate-data"] = _b64(client_cert_pem)
    if client_key_pem is not None:
        creds["client-key-data"] = _b64(client_key_pem)
    if token is not None:
        creds["token"] = token
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": user, "user": creds}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
    }


def write_kubeconfig(path: str, *, server: str, ca_pem: bytes, client_cert_pem: bytes | None = None,
                     client_key_pem: bytes | None = None, token: str | None = None, user: str = "default",
                     cluster: str = "default", context: str = "default") -> None:
    """Write a kubeconfig with embedded data, mode 0600 (it holds credentials)."""
    doc = kubeconfig_dict(server=server, ca_pem=ca_pem, client_cert_pem=client_cert_pem,
                          client_key_pem=client_key_pem, token=token, user=user, cluster=cluster, context=context)
    write_private(path, yaml.safe_dump(doc, sort_keys=False).encode())

"""Component identities: each component's kubeconfig carries its own certificate, reused until it must change."""

from __future__ import annotations

import base64
import os

import pytest
import yaml
from cryptography import x509

from kybernetes.pki import components, ensure_pki
from kybernetes.pki.components import ensure_component_kubeconfig, kubelet_identity


def _subject(path: str) -> tuple[str, list[str]]:
    doc = yaml.safe_load(open(path))
    cert = x509.load_pem_x509_certificate(base64.b64decode(doc["users"][0]["user"]["client-certificate-data"]))
    cn = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)]
    return cn[0], orgs


@pytest.mark.parametrize("identity,want", [
    (components.SCHEDULER, ("system:kube-scheduler", [])),
    (components.CONTROLLER_MANAGER, ("system:kube-controller-manager", [])),
    (components.PROXY, ("system:kube-proxy", [])),
    (kubelet_identity("n1"), ("system:node:n1", ["system:nodes"])),
], ids=["scheduler", "controller-manager", "proxy", "kubelet"])
def test_component_kubeconfig(tmp_path, identity, want) -> None:
    data = str(tmp_path)
    ensure_pki(data)
    path = ensure_component_kubeconfig(data, "https://127.0.0.1:6443", *identity)
    assert path == os.path.join(data, f"{identity[0]}.kubeconfig")
    assert _subject(path) == want
    assert os.stat(path).st_mode & 0o077 == 0
    before = open(path).read()
    assert ensure_component_kubeconfig(data, "https://127.0.0.1:6443", *identity) == path
    assert open(path).read() == before  # reused, not reissued

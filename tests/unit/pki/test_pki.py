"""ensure_pki, client certificates, CA hash and kubeconfig writing."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import stat

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from kybernetes.pki import (CertificateAuthority, ca_cert_hash, ensure_pki, issue_client_cert, load_ca,
                            needs_renewal, write_kubeconfig)
from kybernetes.pki.certs import cert_sans


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _cert(path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(_read(path))


@pytest.fixture
def pki(tmp_path):
    return ensure_pki(str(tmp_path), hostnames=["api.example.test"], ips=["198.18.5.5"])


@pytest.mark.parametrize("san", [
    "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local", "api.example.test",
], ids=lambda s: s)
def test_apiserver_cert_has_dns_san(pki, san):
    dns, _ = cert_sans(_cert(pki.apiserver_crt))
    assert san in dns


@pytest.mark.parametrize("ip", ["127.0.0.1", "::1", "198.19.0.1", "198.18.5.5"], ids=lambda s: s)
def test_apiserver_cert_has_ip_san(pki, ip):
    _, ips = cert_sans(_cert(pki.apiserver_crt))
    assert str(ipaddress.ip_address(ip)) in ips


def test_apiserver_cert_has_hostname(pki):
    import socket

    dns, _ = cert_sans(_cert(pki.apiserver_crt))
    assert socket.gethostname().lower() in dns


@pytest.mark.parametrize("dns_name", ["localhost", "kubernetes.default.svc", "api.example.test"])
def test_serving_chain_verifies(pki, dns_name):
    ca = _cert(pki.ca_crt)
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(x509.DNSName(dns_name))
    chain = verifier.verify(_cert(pki.apiserver_crt), [])
    assert chain[-1] == ca


def test_serving_chain_verifies_ip(pki):
    ca = _cert(pki.ca_crt)
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    assert verifier.verify(_cert(pki.apiserver_crt), [])[-1] == ca


def test_admin_client_chain_and_subject(pki):
    ca = _cert(pki.ca_crt)
    admin = _cert(pki.admin_crt)
    # cryptography's client verifier demands a SAN, which Kubernetes client certificates don't carry
    admin.verify_directly_issued_by(ca)
    assert admin.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes-admin"
    assert [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:masters"]
    eku = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku


def test_ca_is_ecdsa_p256_ten_years(pki):
    ca = _cert(pki.ca_crt)
    assert ca.public_key().curve.name == "secp256r1"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert lifetime > datetime.timedelta(days=3640)


@pytest.mark.parametrize("attr", ["ca_key", "apiserver_key", "admin_key", "service_account_key",
                                  "admin_kubeconfig"])
def test_secret_files_are_0600(pki, attr):
    assert stat.S_IMODE(os.stat(getattr(pki, attr)).st_mode) == 0o600


def test_service_account_keypair_matches(pki):
    key = serialization.load_pem_private_key(_read(pki.service_account_key), None)
    pub = serialization.load_pem_public_key(_read(pki.service_account_pub))
    assert key.public_key().public_numbers() == pub.public_numbers()
    assert key.key_size == 2048


def test_second_call_reuses_everything(tmp_path):
    first = ensure_pki(str(tmp_path))
    before = {f: _read(os.path.join(first.pki_dir, f)) for f in os.listdir(first.pki_dir)}
    kubeconfig = _read(first.admin_kubeconfig)
    second = ensure_pki(str(tmp_path))
    after = {f: _read(os.path.join(second.pki_dir, f)) for f in os.listdir(second.pki_dir)}
    assert before == after
    assert _read(second.admin_kubeconfig) == kubeconfig


def test_new_san_reissues_only_apiserver_cert(tmp_path):
    first = ensure_pki(str(tmp_path))
    ca, admin = _read(first.ca_crt), _read(first.admin_crt)
    old_serving = _read(first.apiserver_crt)
    second = ensure_pki(str(tmp_path), hostnames=["new.example.test"])
    assert _read(second.ca_crt) == ca and _read(second.admin_crt) == admin
    assert _read(second.apiserver_crt) != old_serving
    assert "new.example.test" in cert_sans(_cert(second.apiserver_crt))[0]


@pytest.mark.parametrize("days_left,renew", [(400, False), (31, False), (29, True), (-1, True)],
                         ids=["fresh", "31-days", "29-days", "expired"])
def test_needs_renewal_near_expiry(days_left, renew):
    ca = CertificateAuthority.create()
    crt, key = issue_client_cert(ca, "u", [], days=365)
    now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=365 - days_left)
    assert needs_renewal(crt, key, ca, now=now) is renew


def test_needs_renewal_for_other_ca():
    ca, other = CertificateAuthority.create(), CertificateAuthority.create()
    crt, key = issue_client_cert(other, "u", [], days=365)
    assert needs_renewal(crt, key, ca)
    assert not needs_renewal(crt, key, other)


def test_issue_client_cert_subject():
    ca = CertificateAuthority.create()
    crt, key = issue_client_cert(ca, "system:node:n1", ["system:nodes"], 30)
    cert = x509.load_pem_x509_certificate(crt)
    assert cert.subject.rfc4514_string() == "CN=system:node:n1,O=system:nodes"
    assert serialization.load_pem_private_key(key, None).public_key() == cert.public_key()
    assert cert.not_valid_after_utc - cert.not_valid_before_utc < datetime.timedelta(days=31)


def test_ca_cert_hash_format_and_value(pki):
    ca_pem = _read(pki.ca_crt)
    h = ca_cert_hash(ca_pem)
    assert h.startswith("sha256:") and len(h) == len("sha256:") + 64
    spki = _cert(pki.ca_crt).public_key().public_bytes(serialization.Encoding.DER,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    assert h == "sha256:" + hashlib.sha256(spki).hexdigest()
    assert ca_cert_hash(load_ca(pki).cert_pem) == h


def test_admin_kubeconfig_contents(pki):
    doc = yaml.safe_load(_read(pki.admin_kubeconfig))
    assert doc["current-context"] == "default"
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == _read(pki.ca_crt)
    user = doc["users"][0]["user"]
    assert base64.b64decode(user["client-certificate-data"]) == _read(pki.admin_crt)
    assert base64.b64decode(user["client-key-data"]) == _read(pki.admin_key)


@pytest.mark.parametrize("creds,expect_keys", [
    ({"token": "abc"}, {"token"}),
    ({"client_cert_pem": b"C", "client_key_pem": b"K"}, {"client-certificate-data", "client-key-data"}),
], ids=["token", "client-cert"])
def test_write_kubeconfig(tmp_path, creds, expect_keys):
    path = str(tmp_path / "kc")
    write_kubeconfig(path, server="https://198.18.0.1:6443", ca_pem=b"CA", user="u", cluster="c", context="x",
                     **creds)
    doc = yaml.safe_load(_read(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert set(doc["users"][0]["user"]) == expect_keys
    assert doc["contexts"][0] == {"name": "x", "context": {"cluster": "c", "user": "u"}}
    assert doc["current-context"] == "x"

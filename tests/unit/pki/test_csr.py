"""CSR making and parsing, upstream's kubelet client/serving request checks, and signing approved requests."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from kybernetes.pki import csr as csrs
from kybernetes.pki.ca import CertificateAuthority, generate_key
from kybernetes.pki.signer import certificate_duration, key_usage, sign_csr

NODE = "system:node:n1"
CLIENT = [csrs.USAGE_DIGITAL_SIGNATURE, csrs.USAGE_CLIENT_AUTH]
SERVING = [csrs.USAGE_DIGITAL_SIGNATURE, csrs.USAGE_SERVER_AUTH]


def request(cn: str = NODE, orgs: tuple[str, ...] = (csrs.NODES_GROUP,), dns: tuple[str, ...] = (),
            ips: tuple[str, ...] = ()) -> x509.CertificateSigningRequest:
    return csrs.parse_csr(csrs.make_csr(generate_key(), cn=cn, orgs=orgs, dns_names=dns, ips=ips))


def test_make_and_parse_round_trip() -> None:
    req = request(dns=("n1",), ips=("127.0.0.1",))
    csrs.check_signature(req)
    assert csrs.subject_cn(req.subject) == NODE
    assert csrs.subject_orgs(req.subject) == [csrs.NODES_GROUP]
    sans = csrs.requested_sans(req)
    assert sans["dns"] == ["n1"] and [str(i) for i in sans["ip"]] == ["127.0.0.1"]


@pytest.mark.parametrize("pem,message", [
    (b"", "PEM block type must be CERTIFICATE REQUEST"),
    (b"hello", "PEM block type must be CERTIFICATE REQUEST"),
    (b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "PEM block type must be CERTIFICATE REQUEST"),
    (b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n", "malformed"),
], ids=["empty", "not-pem", "certificate", "garbage"])
def test_parse_csr_errors(pem: bytes, message: str) -> None:
    with pytest.raises(csrs.CSRError, match=message):
        csrs.parse_csr(pem)


@pytest.mark.parametrize("req,usages,error", [
    (dict(), CLIENT, None),
    (dict(), CLIENT + [csrs.USAGE_KEY_ENCIPHERMENT], None),
    (dict(orgs=()), CLIENT, "subject organization is not system:nodes"),
    (dict(orgs=("system:nodes", "system:masters")), CLIENT, "subject organization is not system:nodes"),
    (dict(cn="alice"), CLIENT, "does not begin with system:node:"),
    (dict(dns=("n1",)), CLIENT, "DNS subjectAltNames are not allowed"),
    (dict(ips=("10.0.0.1",)), CLIENT, "IP subjectAltNames are not allowed"),
    (dict(), [csrs.USAGE_CLIENT_AUTH], "usages did not match"),
    (dict(), CLIENT + [csrs.USAGE_SERVER_AUTH], "usages did not match"),
], ids=["ok", "ok-rsa-usages", "no-org", "extra-org", "cn", "dns", "ip", "missing-usage", "extra-usage"])
def test_validate_kubelet_client_csr(req: dict, usages: list[str], error: str | None) -> None:
    r = request(**req)
    if error is None:
        csrs.validate_kubelet_client_csr(r, usages)
    else:
        with pytest.raises(csrs.CSRError, match=error):
            csrs.validate_kubelet_client_csr(r, usages)


@pytest.mark.parametrize("req,usages,error", [
    (dict(dns=("n1",), ips=("10.0.0.1",)), SERVING, None),
    (dict(ips=("10.0.0.1",)), SERVING + [csrs.USAGE_KEY_ENCIPHERMENT], None),
    (dict(), SERVING, "DNS or IP subjectAltName is required"),
    (dict(orgs=(), dns=("n1",)), SERVING, "subject organization is not system:nodes"),
    (dict(cn="n1", dns=("n1",)), SERVING, "does not begin with system:node:"),
    (dict(dns=("n1",)), CLIENT, "usages did not match"),
], ids=["ok", "ok-rsa-usages", "no-san", "no-org", "cn", "client-usages"])
def test_validate_kubelet_serving_csr(req: dict, usages: list[str], error: str | None) -> None:
    r = request(**req)
    if error is None:
        csrs.validate_kubelet_serving_csr(r, usages)
    else:
        with pytest.raises(csrs.CSRError, match=error):
            csrs.validate_kubelet_serving_csr(r, usages)


@pytest.mark.parametrize("usages,error", [
    ([csrs.USAGE_CLIENT_AUTH], None),
    ([csrs.USAGE_KEY_ENCIPHERMENT, csrs.USAGE_DIGITAL_SIGNATURE, csrs.USAGE_CLIENT_AUTH], None),
    ([csrs.USAGE_DIGITAL_SIGNATURE], "missing required usage for client certificate: client auth"),
    ([csrs.USAGE_CLIENT_AUTH, csrs.USAGE_SERVER_AUTH], "invalid usage for client certificate: server auth"),
], ids=["client-auth", "all-optional", "missing", "server-auth"])
def test_validate_apiserver_client_usages(usages: list[str], error: str | None) -> None:
    if error is None:
        csrs.validate_apiserver_client_usages(usages)
    else:
        with pytest.raises(csrs.CSRError, match=error):
            csrs.validate_apiserver_client_usages(usages)


def test_sign_csr_copies_subject_sans_and_usages() -> None:
    ca = CertificateAuthority.create()
    key = generate_key()
    pem = csrs.make_csr(key, cn=NODE, orgs=(csrs.NODES_GROUP,), dns_names=("n1",), ips=("10.0.0.1",))
    cert = x509.load_pem_x509_certificate(sign_csr(ca, pem, SERVING, duration=datetime.timedelta(hours=2)))
    assert cert.subject == csrs.parse_csr(pem).subject
    assert cert.public_key() == key.public_key()
    cert.verify_directly_issued_by(ca.cert)
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["n1"]
    lifetime = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(minutes=115) < lifetime <= datetime.timedelta(hours=2)


def test_sign_csr_never_outlives_the_ca() -> None:
    ca = CertificateAuthority.create(days=1)
    pem = csrs.make_csr(generate_key(), cn="alice")
    cert = x509.load_pem_x509_certificate(sign_csr(ca, pem, [csrs.USAGE_CLIENT_AUTH]))
    assert cert.not_valid_after_utc <= ca.cert.not_valid_after_utc


@pytest.mark.parametrize("requested,signer,want", [
    (None, 3600, 3600), (600, 3600, 600), (7200, 3600, 3600)], ids=["default", "shorter", "capped"])
def test_certificate_duration(requested: int | None, signer: int, want: int) -> None:
    assert certificate_duration(requested, datetime.timedelta(seconds=signer)) == datetime.timedelta(seconds=want)


def test_key_usage_rejects_unknown() -> None:
    with pytest.raises(csrs.CSRError, match="unrecognized usage"):
        key_usage(["bogus"])


@pytest.mark.parametrize("conditions,want", [
    ([], (False, False)),
    ([{"type": "Approved", "status": "True"}], (True, False)),
    ([{"type": "Denied", "status": "True"}], (False, True)),
    ([{"type": "Approved", "status": "False"}], (False, False)),
    ([{"type": "Failed", "status": "True"}], (False, False)),
], ids=["pending", "approved", "denied", "approved-false", "failed"])
def test_approval_state(conditions: list, want: tuple[bool, bool]) -> None:
    assert csrs.approval_state({"status": {"conditions": conditions}}) == want

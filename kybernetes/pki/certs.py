"""Leaf certificates: issuing client and serving certificates, and checking an existing one is still fit."""

from __future__ import annotations

import datetime
import ipaddress

from collections.abc import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kybernetes.pki.ca import CertificateAuthority, cert_to_pem, key_to_pem

RENEW_BEFORE = datetime.timedelta(days=30)


def issue_client_cert(ca: CertificateAuthority, cn: str, orgs: list[str], days: int = 365) -> tuple[bytes, bytes]:
    """A client certificate (CN is the user, O are the groups) and its key, both PEM."""
    cert, key = ca.sign(cn=cn, orgs=orgs, days=days, client=True)
    return cert_to_pem(cert), key_to_pem(key)


def issue_serving_cert(ca: CertificateAuthority, cn: str, *, dns_names: list[str], ips: list[str],
                       days: int = 365) -> tuple[bytes, bytes]:
    """A TLS serving certificate for the given DNS names and IP addresses, and its key, both PEM."""
    cert, key = ca.sign(cn=cn, days=days, server=True, dns_names=dns_names, ips=ips)
    return cert_to_pem(cert), key_to_pem(key)


def cert_sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    """The DNS names and the (normalised) IP addresses a certificate is valid for."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    dns = set(ext.get_values_for_type(x509.DNSName))
    ips = {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)}
    return dns, ips


def issued_by(cert: x509.Certificate, ca: CertificateAuthority) -> bool:
    """Whether `cert` carries a valid signature of `ca`."""
    if cert.issuer != ca.cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca.cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def needs_renewal(cert_pem: bytes, key_pem: bytes, ca: CertificateAuthority, *,
                  dns_names: Iterable[str] = (), ips: Iterable[str] = (),
                  cn: str | None = None, orgs: list[str] | None = None,
                  now: datetime.datetime | None = None) -> bool:
    """True if the certificate is unreadable, not ours, near expiry, or lacks a wanted SAN/subject."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError:
        return True
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        return True
    if not issued_by(cert, ca):
        return True
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if cert.not_valid_after_utc - now < RENEW_BEFORE:
        return True
    have_dns, have_ips = cert_sans(cert)
    if not set(dns_names) <= have_dns:
        return True
    if not {str(ipaddress.ip_address(i)) for i in ips} <= have_ips:
        return True
    if cn is not None:
        got = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
        if got != [cn]:
            return True
    if orgs is not None:
        got = sorted(a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME))
        if got != sorted(orgs):
            return True
    return False

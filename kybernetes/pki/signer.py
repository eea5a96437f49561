"""Issuing a certificate for an approved CSR with the cluster CA: the request's subject, public key and SANs,
the key usages the CSR object asks for, a validity of the requested duration capped by the signer's."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from kybernetes.pki import csr as csrs
from kybernetes.pki.ca import CertificateAuthority, cert_to_pem

DEFAULT_DURATION = datetime.timedelta(days=365)  # upstream's --cluster-signing-duration (8760h)
BACKDATE = datetime.timedelta(minutes=5)

_KEY_USAGES = {
    csrs.USAGE_SIGNING: "digital_signature", csrs.USAGE_DIGITAL_SIGNATURE: "digital_signature",
    csrs.USAGE_CONTENT_COMMITMENT: "content_commitment", csrs.USAGE_KEY_ENCIPHERMENT: "key_encipherment",
    csrs.USAGE_KEY_AGREEMENT: "key_agreement", csrs.USAGE_DATA_ENCIPHERMENT: "data_encipherment",
    csrs.USAGE_CERT_SIGN: "key_cert_sign", csrs.USAGE_CRL_SIGN: "crl_sign",
    csrs.USAGE_ENCIPHER_ONLY: "encipher_only", csrs.USAGE_DECIPHER_ONLY: "decipher_only",
}
_EXT_KEY_USAGES = {
    csrs.USAGE_ANY: ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    csrs.USAGE_SERVER_AUTH: ExtendedKeyUsageOID.SERVER_AUTH,
    csrs.USAGE_CLIENT_AUTH: ExtendedKeyUsageOID.CLIENT_AUTH, csrs.USAGE_CODE_SIGNING: ExtendedKeyUsageOID.CODE_SIGNING,
    csrs.USAGE_EMAIL_PROTECTION: ExtendedKeyUsageOID.EMAIL_PROTECTION,
    csrs.USAGE_SMIME: ExtendedKeyUsageOID.EMAIL_PROTECTION,
    csrs.USAGE_IPSEC_END_SYSTEM: ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    csrs.USAGE_IPSEC_TUNNEL: ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    csrs.USAGE_IPSEC_USER: ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    csrs.USAGE_TIMESTAMPING: ExtendedKeyUsageOID.TIME_STAMPING, csrs.USAGE_OCSP_SIGNING: ExtendedKeyUsageOID.OCSP_SIGNING,
    csrs.USAGE_MICROSOFT_SGC: ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    csrs.USAGE_NETSCAPE_SGC: ObjectIdentifier("2.16.840.1.113730.4.1"),
}


def key_usage(usages: Iterable[str]) -> tuple[x509.KeyUsage, x509.ExtendedKeyUsage | None]:
    """The KeyUsage and ExtendedKeyUsage extensions of `usages` (upstream's keyUsagesFromStrings)."""
    flags = {v: False for v in _KEY_USAGES.values()}
    ext: list[ObjectIdentifier] = []
    for u in usages:
        if u in _KEY_USAGES:
            flags[_KEY_USAGES[u]] = True
        elif u in _EXT_KEY_USAGES:
            if _EXT_KEY_USAGES[u] not in ext:
                ext.append(_EXT_KEY_USAGES[u])
        else:
            raise csrs.CSRError(f"unrecognized usage: {u}")
    if not flags["key_agreement"]:  # only meaningful with key agreement (X.509)
        flags["encipher_only"] = flags["decipher_only"] = False
    return x509.KeyUsage(**flags), (x509.ExtendedKeyUsage(ext) if ext else None)


def certificate_duration(expiration_seconds: int | None, signer_duration: datetime.timedelta) -> datetime.timedelta:
    """spec.expirationSeconds when set and shorter than the signer's duration, else the signer's."""
    if expiration_seconds is None:
        return signer_duration
    return min(datetime.timedelta(seconds=int(expiration_seconds)), signer_duration)


def sign_csr(ca: CertificateAuthority, request_pem: bytes, usages: Iterable[str], *,
             duration: datetime.timedelta = DEFAULT_DURATION,
             now: datetime.datetime | None = None) -> bytes:
    """The PEM certificate the CA issues for `request_pem` (signature checked), valid for `duration`
    from now (backdated by up to 5 minutes for clock skew), never beyond the CA's own expiry."""
    req = csrs.parse_csr(request_pem)
    csrs.check_signature(req)
    ku, eku = key_usage(usages)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    backdate = min(BACKDATE, duration / 10)
    not_after = min(now + duration, ca.cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(req.subject)
        .issuer_name(ca.cert.subject)
        .public_key(req.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - backdate)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(ku, critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    if eku is not None:
        builder = builder.add_extension(eku, critical=False)
    try:
        san = req.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        builder = builder.add_extension(san.value, critical=san.critical)
    except x509.ExtensionNotFound:
        pass
    return cert_to_pem(builder.sign(ca.key, hashes.SHA256()))

"""Certificate signing requests: making and parsing PKCS#10 requests, the kubernetes.io signers' names and
key usages, and upstream's checks of what a kubelet client or serving request may contain."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Iterable
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from kybernetes.pki.ca import PrivateKey

KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
KUBE_APISERVER_CLIENT_KUBELET = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
LEGACY_UNKNOWN = "kubernetes.io/legacy-unknown"
KUBERNETES_SIGNERS = (KUBE_APISERVER_CLIENT, KUBE_APISERVER_CLIENT_KUBELET, KUBELET_SERVING)

NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"

# certificates.k8s.io/v1 KeyUsage values
USAGE_SIGNING = "signing"
USAGE_DIGITAL_SIGNATURE = "digital signature"
USAGE_CONTENT_COMMITMENT = "content commitment"
USAGE_KEY_ENCIPHERMENT = "key encipherment"
USAGE_KEY_AGREEMENT = "key agreement"
USAGE_DATA_ENCIPHERMENT = "data encipherment"
USAGE_CERT_SIGN = "cert sign"
USAGE_CRL_SIGN = "crl sign"
USAGE_ENCIPHER_ONLY = "encipher only"
USAGE_DECIPHER_ONLY = "decipher only"
USAGE_ANY = "any"
USAGE_SERVER_AUTH = "server auth"
USAGE_CLIENT_AUTH = "client auth"
USAGE_CODE_SIGNING = "code signing"
USAGE_EMAIL_PROTECTION = "email protection"
USAGE_SMIME = "s/mime"
USAGE_IPSEC_END_SYSTEM = "ipsec end system"
USAGE_IPSEC_TUNNEL = "ipsec tunnel"
USAGE_IPSEC_USER = "ipsec user"
USAGE_TIMESTAMPING = "timestamping"
USAGE_OCSP_SIGNING = "ocsp signing"
USAGE_MICROSOFT_SGC = "microsoft sgc"
USAGE_NETSCAPE_SGC = "netscape sgc"
ALL_USAGES = frozenset({
    USAGE_SIGNING, USAGE_DIGITAL_SIGNATURE, USAGE_CONTENT_COMMITMENT, USAGE_KEY_ENCIPHERMENT, USAGE_KEY_AGREEMENT,
    USAGE_DATA_ENCIPHERMENT, USAGE_CERT_SIGN, USAGE_CRL_SIGN, USAGE_ENCIPHER_ONLY, USAGE_DECIPHER_ONLY, USAGE_ANY,
    USAGE_SERVER_AUTH, USAGE_CLIENT_AUTH, USAGE_CODE_SIGNING, USAGE_EMAIL_PROTECTION, USAGE_SMIME,
    USAGE_IPSEC_END_SYSTEM, USAGE_IPSEC_TUNNEL, USAGE_IPSEC_USER, USAGE_TIMESTAMPING, USAGE_OCSP_SIGNING,
    USAGE_MICROSOFT_SGC, USAGE_NETSCAPE_SGC})

KUBELET_CLIENT_USAGES = (frozenset({USAGE_DIGITAL_SIGNATURE, USAGE_KEY_ENCIPHERMENT, USAGE_CLIENT_AUTH}),
                         frozenset({USAGE_DIGITAL_SIGNATURE, USAGE_CLIENT_AUTH}))
KUBELET_SERVING_USAGES = (frozenset({USAGE_DIGITAL_SIGNATURE, USAGE_KEY_ENCIPHERMENT, USAGE_SERVER_AUTH}),
                          frozenset({USAGE_DIGITAL_SIGNATURE, USAGE_SERVER_AUTH}))

# status.conditions types
APPROVED, DENIED, FAILED = "Approved", "Denied", "Failed"

PEM_TYPE = "CERTIFICATE REQUEST"


class CSRError(ValueError):
    """A request that cannot be parsed or does not fit what its signer issues (upstream's wording)."""


def make_csr(key: PrivateKey, *, cn: str, orgs: Iterable[str] = (), dns_names: Iterable[str] = (),
             ips: Iterable[str] = ()) -> bytes:
    """A PEM 'CERTIFICATE REQUEST' for `key` with subject O=orgs, CN=cn and the given SANs."""
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dict.fromkeys(dns_names)]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in dict.fromkeys(ips)]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def parse_csr(pem: bytes) -> x509.CertificateSigningRequest:
    """The request in a PEM block of type CERTIFICATE REQUEST (upstream's ParseCSR); CSRError otherwise."""
    begin = b"-----BEGIN " + PEM_TYPE.encode() + b"-----"
    start = pem.find(b"-----BEGIN ")
    if start < 0 or not pem[start:].startswith(begin):
        raise CSRError("PEM block type must be CERTIFICATE REQUEST")
    try:
        return x509.load_pem_x509_csr(pem)
    except ValueError as e:
        raise CSRError(f"x509: malformed certificate request: {e}") from None


def check_signature(csr: x509.CertificateSigningRequest) -> None:
    """CSRError unless the request is signed by the key it carries."""
    try:
        valid = csr.is_signature_valid
    except (InvalidSignature, ValueError, TypeError):
        valid = False
    if not valid:
        raise CSRError("x509: ECDSA verification failure")


def subject_cn(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def subject_orgs(name: x509.Name) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def requested_sans(csr: x509.CertificateSigningRequest) -> dict[str, list[Any]]:
    """The DNS names, IP addresses, emails and URIs the request asks for."""
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return {"dns": [], "ip": [], "email": [], "uri": []}
    return {"dns": ext.get_values_for_type(x509.DNSName), "ip": ext.get_values_for_type(x509.IPAddress),
            "email": ext.get_values_for_type(x509.RFC822Name),
            "uri": ext.get_values_for_type(x509.UniformResourceIdentifier)}


def _usages_error(usages: Iterable[str], allowed: tuple[frozenset[str], ...]) -> CSRError | None:
    if frozenset(usages) in allowed:
        return None
    return CSRError(f"usages did not match {sorted(allowed[0])}")


def validate_kubelet_client_csr(csr: x509.CertificateSigningRequest, usages: Iterable[str]) -> None:
    """Upstream's ValidateKubeletClientCSR: O=[system:nodes], CN system:node:*, no SANs, client usages."""
    if subject_orgs(csr.subject) != [NODES_GROUP]:
        raise CSRError("subject organization is not system:nodes")
    sans = requested_sans(csr)
    for kind, what in (("dns", "DNS"), ("email", "Email"), ("ip", "IP"), ("uri", "URI")):
        if sans[kind]:
            raise CSRError(f"{what} subjectAltNames are not allowed")
    if not subject_cn(csr.subject).startswith(NODE_USER_PREFIX):
        raise CSRError("subject common name does not begin with system:node:")
    err = _usages_error(usages, KUBELET_CLIENT_USAGES)
    if err is not None:
        raise err


def validate_kubelet_serving_csr(csr: x509.CertificateSigningRequest, usages: Iterable[str]) -> None:
    """Upstream's ValidateKubeletServingCSR: O=[system:nodes], a DNS or IP SAN, no email/URI, serving usages."""
    if subject_orgs(csr.subject) != [NODES_GROUP]:
        raise CSRError("subject organization is not system:nodes")
    sans = requested_sans(csr)
    if not sans["dns"] and not sans["ip"]:
        raise CSRError("DNS or IP subjectAltName is required")
    if sans["email"]:
        raise CSRError("Email subjectAltNames are not allowed")
    if sans["uri"]:
        raise CSRError("URI subjectAltNames are not allowed")
    err = _usages_error(usages, KUBELET_SERVING_USAGES)
    if err is not None:
        raise err
    if not subject_cn(csr.subject).startswith(NODE_USER_PREFIX):
        raise CSRError("subject common name does not begin with system:node:")


def validate_apiserver_client_usages(usages: Iterable[str]) -> None:
    """kube-apiserver-client: client auth required; digital signature and key encipherment optional."""
    has_client_auth = False
    for u in usages:
        if u == USAGE_CLIENT_AUTH:
            has_client_auth = True
        elif u not in (USAGE_DIGITAL_SIGNATURE, USAGE_KEY_ENCIPHERMENT):
            raise CSRError(f"invalid usage for client certificate: {u}")
    if not has_client_auth:
        raise CSRError(f"missing required usage for client certificate: {USAGE_CLIENT_AUTH}")


def is_kubelet_client_csr(csr: x509.CertificateSigningRequest, usages: Iterable[str]) -> bool:
    try:
        validate_kubelet_client_csr(csr, usages)
    except CSRError:
        return False
    return True


def is_kubelet_serving_csr(csr: x509.CertificateSigningRequest, usages: Iterable[str]) -> bool:
    try:
        validate_kubelet_serving_csr(csr, usages)
    except CSRError:
        return False
    return True


# status helpers


def conditions(csr: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in (csr.get("status") or {}).get("conditions") or [] if isinstance(c, dict)]


def has_condition(csr: dict[str, Any], ctype: str) -> bool:
    """Whether the CSR carries condition `ctype` with status True (an empty status counts, as upstream)."""
    return any(c.get("type") == ctype and c.get("status", "True") in ("True", "") for c in conditions(csr))


def approval_state(csr: dict[str, Any]) -> tuple[bool, bool]:
    """(approved, denied), as upstream's GetCertApprovalCondition."""
    return has_condition(csr, APPROVED), has_condition(csr, DENIED)


def issued_certificate(csr: dict[str, Any]) -> bytes:
    """The PEM certificate in status.certificate (base64-decoded), b'' while none is issued."""
    value = (csr.get("status") or {}).get("certificate") or ""
    try:
        return base64.b64decode(value) if value else b""
    except ValueError:
        return b""


def request_pem(csr: dict[str, Any]) -> bytes:
    """The PEM of spec.request (base64-decoded); b'' when unreadable."""
    try:
        return base64.b64decode((csr.get("spec") or {}).get("request") or "")
    except ValueError:
        return b""

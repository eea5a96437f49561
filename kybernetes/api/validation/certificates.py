"""Validation of certificates.k8s.io/v1 CertificateSigningRequests: create, update, /status and /approval,
with upstream's field paths and wording (pkg/apis/certificates/validation)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography import x509

from kybernetes.api.errors import FieldError, duplicate, forbidden, invalid, not_supported, required
from kybernetes.api.validation import meta as m
from kybernetes.pki import csr as csrs

STATUS_VALUES = ["False", "True", "Unknown"]
TRUE_ONLY = ["True"]
MIN_EXPIRATION_SECONDS = 600
SIGNER_FORMAT = "must be a fully qualified domain and path of the form 'example.com/signer-name'"


def _d(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list:
    return value if isinstance(value, list) else []


def _b64(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def validate_signer_name(signer: Any, path: str) -> list[FieldError]:
    """'<fully qualified domain>/<path>' as upstream's ValidateSignerName."""
    if not signer:
        return [required(path, "")]
    if not isinstance(signer, str):
        return [invalid(path, signer, SIGNER_FORMAT)]
    parts = signer.split("/")
    if len(parts) != 2:
        return [invalid(path, signer, SIGNER_FORMAT)]
    domain, rest = parts
    errs: list[FieldError] = []
    if "." not in domain:
        errs.append(invalid(path, signer, "should be a domain with at least two segments separated by dots"))
    else:
        errs += [invalid(path, signer, msg) for msg in m.is_dns1123_subdomain(domain)]
    if not rest:
        errs.append(invalid(path, signer, "validating path: path segment must not be empty"))
    elif len(signer) > 571:
        errs.append(invalid(path, signer, "must be no more than 571 characters"))
    else:
        errs += [invalid(path, signer, f"validating path: {msg}") for msg in m.is_valid_path_segment_name(rest)]
    return errs


def _validate_request(spec: dict) -> list[FieldError]:
    pem = _b64(spec.get("request"))
    if pem is None:
        return [invalid("spec.request", spec.get("request"), "must be base64-encoded PEM")]
    try:
        csrs.check_signature(csrs.parse_csr(pem))
    except csrs.CSRError as e:
        return [invalid("spec.request", spec.get("request"), str(e))]
    return []


def validate_conditions(csr: dict) -> list[FieldError]:
    """Each condition has a type and a status (only True for Approved, Denied and Failed); no type twice;
    Approved and Denied exclude each other."""
    errs: list[FieldError] = []
    seen: set[str] = set()
    approved = denied = False
    for i, c in enumerate(_l(_d(csr.get("status")).get("conditions"))):
        c = _d(c)
        path = f"status.conditions[{i}]"
        ctype, status = c.get("type") or "", c.get("status") or ""
        if not ctype:
            errs.append(required(f"{path}.type", ""))
        allowed = TRUE_ONLY if ctype in (csrs.APPROVED, csrs.DENIED, csrs.FAILED) else STATUS_VALUES
        if not status:
            errs.append(required(f"{path}.status", ""))
        elif status not in allowed:
            errs.append(not_supported(f"{path}.status", status, allowed))
        if ctype == csrs.APPROVED:
            approved = True
            if denied:
                errs.append(invalid(f"{path}.type", ctype, "Approved and Denied conditions are mutually exclusive"))
        elif ctype == csrs.DENIED:
            denied = True
            if approved:
                errs.append(invalid(f"{path}.type", ctype, "Approved and Denied conditions are mutually exclusive"))
        if ctype in seen:
            errs.append(duplicate(f"{path}.type", ctype))
        seen.add(ctype)
    return errs


def _validate_certificate(csr: dict) -> list[FieldError]:
    value = _d(csr.get("status")).get("certificate")
    if not value:
        return []
    pem = _b64(value)
    if pem is None:
        return [invalid("status.certificate", "<certificate data>", "must be base64-encoded PEM")]
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as e:
        return [invalid("status.certificate", "<certificate data>", str(e))]
    if not certs:
        return [invalid("status.certificate", "<certificate data>", "must contain at least one CERTIFICATE PEM block")]
    return []


def _validate_spec(csr: dict) -> list[FieldError]:
    spec = _d(csr.get("spec"))
    errs = _validate_request(spec)
    usages = _l(spec.get("usages"))
    if not usages:
        errs.append(required("spec.usages", "usages must be provided"))
    seen: set[str] = set()
    for i, u in enumerate(usages):
        if u not in csrs.ALL_USAGES:
            errs.append(not_supported(f"spec.usages[{i}]", u, sorted(csrs.ALL_USAGES)))
        elif u in seen:
            errs.append(duplicate(f"spec.usages[{i}]", u))
        seen.add(u)
    signer = spec.get("signerName")
    if signer == csrs.LEGACY_UNKNOWN:
        errs.append(invalid("spec.signerName", signer, "the legacy signerName is not allowed via this API version"))
    else:
        errs += validate_signer_name(signer, "spec.signerName")
    exp = spec.get("expirationSeconds")
    if exp is not None and (not isinstance(exp, int) or exp < MIN_EXPIRATION_SECONDS):
        errs.append(invalid("spec.expirationSeconds", exp,
                            "may not specify a duration less than 600 seconds (10 minutes)"))
    return errs


def _kept_conditions(new: dict, old: dict) -> list[FieldError]:
    """An update may not drop an Approved, Denied or Failed condition once set."""
    errs: list[FieldError] = []
    have = {_d(c).get("type") for c in _l(_d(new.get("status")).get("conditions"))}
    for ctype in (csrs.APPROVED, csrs.DENIED, csrs.FAILED):
        if csrs.has_condition(old, ctype) and ctype not in have:
            errs.append(forbidden("status.conditions", f"updates may not remove a condition of type {ctype!r}"))
    return errs


def _kept_certificate(new: dict, old: dict) -> list[FieldError]:
    before = _d(old.get("status")).get("certificate")
    if before and _d(new.get("status")).get("certificate") != before:
        return [forbidden("status.certificate", "updates may not modify existing certificate content")]
    return []


def validate_csr(csr: dict, old: dict | None) -> list[FieldError]:
    """A create (old is None) or a main-resource update (the strategy has kept spec and status)."""
    if old is None:
        errs = m.validate_object_meta(csr.get("metadata"), False, m.name_anything)
        return errs + _validate_spec(csr) + validate_conditions(csr) + _validate_certificate(csr)
    errs = m.validate_object_meta_update(csr.get("metadata"), old.get("metadata"))
    return errs + validate_conditions(csr) + _validate_certificate(csr)


def validate_csr_status_update(csr: dict, old: dict) -> list[FieldError]:
    """/status: a certificate may be set once; conditions valid and never dropped."""
    errs = m.validate_object_meta_update(csr.get("metadata"), old.get("metadata"))
    errs += validate_conditions(csr) + _validate_certificate(csr) + _kept_conditions(csr, old)
    return errs + _kept_certificate(csr, old)


def validate_csr_approval_update(csr: dict, old: dict) -> list[FieldError]:
    """/approval: conditions valid, Approved/Denied never dropped."""
    errs = m.validate_object_meta_update(csr.get("metadata"), old.get("metadata"))
    return errs + validate_conditions(csr) + _kept_conditions(csr, old)

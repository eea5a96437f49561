"""Requesting a certificate through the CSR API: submit a CertificateSigningRequest, wait until it is issued,
and fail clearly when it is denied or fails (upstream's RequestCertificate + WaitForCertificate)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization

from kybernetes.client import ApiError, RESTClient, resource_path
from kybernetes.pki import csr as csrs
from kybernetes.pki.ca import PrivateKey

log = logging.getLogger(__name__)

Obj = dict[str, Any]
GROUP, VERSION, PLURAL = "certificates.k8s.io", "v1", "certificatesigningrequests"


class CertificateRequestError(Exception):
    """The CSR was denied, failed, or not issued in time."""


@dataclass(frozen=True)
class Template:
    """What a certificate should say: subject and SANs."""

    cn: str
    orgs: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class Request:
    """A template plus the signer and usages to ask for."""

    template: Template
    signer: str
    usages: tuple[str, ...]
    expiration_seconds: int | None = None
    name_prefix: str = "csr-"
    labels: dict[str, str] = field(default_factory=dict)


def digested_name(key: PrivateKey, request: Request) -> str:
    """A name derived from the public key, subject and usages: a retried bootstrap finds its own CSR again."""
    h = hashlib.sha256(key.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    for part in (request.template.cn, *request.template.orgs, *request.usages, request.signer):
        h.update(b"\x00" + part.encode())
    return request.name_prefix + base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode().lower()[:32]


def csr_object(name: str, pem: bytes, request: Request) -> Obj:
    spec: Obj = {"request": base64.b64encode(pem).decode(), "signerName": request.signer,
                 "usages": list(request.usages)}
    if request.expiration_seconds is not None:
        spec["expirationSeconds"] = int(request.expiration_seconds)
    md: Obj = {"name": name}
    if request.labels:
        md["labels"] = dict(request.labels)
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "CertificateSigningRequest", "metadata": md, "spec": spec}


async def submit(client: RESTClient, key: PrivateKey, request: Request) -> tuple[str, str]:
    """Create the CSR (or find the one a previous attempt with this key created); returns (name, uid)."""
    t = request.template
    pem = csrs.make_csr(key, cn=t.cn, orgs=t.orgs, dns_names=t.dns_names, ips=t.ips)
    name = digested_name(key, request)
    path = resource_path(GROUP, VERSION, PLURAL)
    try:
        created = await client.create(path, csr_object(name, pem, request))
    except ApiError as e:
        if e.code != 409:
            raise
        created = await client.get(resource_path(GROUP, VERSION, PLURAL, name=name))
        if _public_key_pem(csrs.request_pem(created)) != _public_key_pem(pem):
            raise CertificateRequestError(f"CSR {name} exists for another key") from None
    return name, created["metadata"].get("uid", "")


def _public_key_pem(pem: bytes) -> bytes:
    try:
        return csrs.parse_csr(pem).public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    except (csrs.CSRError, ValueError):
        return b""


def _outcome(csr: Obj) -> bytes | None:
    """The issued certificate, None while pending; raises for denied or failed requests."""
    name = csr["metadata"]["name"]
    for c in csrs.conditions(csr):
        if c.get("type") in (csrs.DENIED, csrs.FAILED) and c.get("status", "True") == "True":
            raise CertificateRequestError(f"certificate signing request {name} is {c['type'].lower()}: "
                                          f"{c.get('reason', '')} {c.get('message', '')}".strip())
    cert = csrs.issued_certificate(csr)
    return cert if cert and csrs.has_condition(csr, csrs.APPROVED) else None


async def wait_for_certificate(client: RESTClient, name: str, uid: str, *, timeout: float) -> bytes:
    """Watch the CSR until its certificate is issued; CertificateRequestError if denied, failed, replaced or late."""
    async def watch() -> bytes:
        params = {"fieldSelector": f"metadata.name={name}"}
        while True:
            listed = await client.list(resource_path(GROUP, VERSION, PLURAL), params)
            for item in listed.get("items") or []:
                if uid and item["metadata"].get("uid") != uid:
                    raise CertificateRequestError(f"CSR {name} was replaced")
                cert = _outcome(item)
                if cert is not None:
                    return cert
            rv = (listed.get("metadata") or {}).get("resourceVersion", "")
            async for event in client.watch(resource_path(GROUP, VERSION, PLURAL),
                                            {**params, "resourceVersion": rv, "timeoutSeconds": 60,
                                             "allowWatchBookmarks": "false"}):
                if event.get("type") == "ERROR":
                    break
                if event.get("type") == "DELETED":
                    raise CertificateRequestError(f"CSR {name} was deleted")
                cert = _outcome(event["object"])
                if cert is not None:
                    return cert

    try:
        return await asyncio.wait_for(watch(), timeout)
    except asyncio.TimeoutError:
        raise CertificateRequestError(f"timed out after {timeout:.0f}s waiting for CSR {name} to be issued") from None


async def request_certificate(client: RESTClient, key: PrivateKey, request: Request, *,
                              timeout: float = 900.0) -> bytes:
    """Submit a CSR for `key` and return the issued certificate (PEM)."""
    name, uid = await submit(client, key, request)
    log.info("certificate signing request %s submitted (%s, %s)", name, request.signer, request.template.cn)
    cert = await wait_for_certificate(client, name, uid, timeout=timeout)
    log.info("certificate signing request %s issued", name)
    return cert

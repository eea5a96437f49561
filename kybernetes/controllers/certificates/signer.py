"""csrsigning: issues the certificates of approved CSRs for the kubernetes.io signers (kube-apiserver-client,
kube-apiserver-client-kubelet, kubelet-serving) with the cluster CA; a request its signer may not issue gets a
Failed condition instead."""

from __future__ import annotations

import base64
import datetime
import logging
import os
from typing import Any

from kybernetes.api import meta
from kybernetes.client import resource_path
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext
from kybernetes.pki import csr as csrs
from kybernetes.pki.ca import CertificateAuthority
from kybernetes.pki.signer import DEFAULT_DURATION, certificate_duration, sign_csr

log = logging.getLogger(__name__)

Obj = dict[str, Any]
GROUP, VERSION, PLURAL = "certificates.k8s.io", "v1", "certificatesigningrequests"


def check_for_signer(signer: str, req: Any, usages: list[str]) -> None:
    """CSRError when the request does not fit what `signer` issues (upstream's isRequestForSignerFn)."""
    if signer == csrs.KUBELET_SERVING:
        csrs.validate_kubelet_serving_csr(req, usages)
    elif signer == csrs.KUBE_APISERVER_CLIENT_KUBELET:
        csrs.validate_kubelet_client_csr(req, usages)
    elif signer == csrs.KUBE_APISERVER_CLIENT:
        csrs.validate_apiserver_client_usages(usages)


def signing_files(options: Any) -> tuple[str, str]:
    """--cluster-signing-cert-file/--cluster-signing-key-file, else the root CA file and the key beside it."""
    extra = options.extra or {}
    cert = extra.get("cluster_signing_cert_file") or options.root_ca_file or ""
    key = extra.get("cluster_signing_key_file") or ""
    if cert and not key:
        key = os.path.splitext(cert)[0] + ".key"
    return cert, key


def load_signing_ca(options: Any) -> CertificateAuthority | None:
    cert, key = signing_files(options)
    if not cert or not os.path.exists(cert) or not os.path.exists(key):
        return None
    with open(cert, "rb") as c, open(key, "rb") as k:
        return CertificateAuthority.from_pem(c.read(), k.read())


def with_condition(csr: Obj, ctype: str, reason: str, message: str, now: str) -> Obj:
    out = dict(csr)
    status = dict(out.get("status") or {})
    status["conditions"] = list(status.get("conditions") or []) + [
        {"type": ctype, "status": "True", "reason": reason, "message": message, "lastUpdateTime": now}]
    out["status"] = status
    return out


class CSRSigningController:
    """Signs what is approved, not yet issued and not failed, for the signers it serves."""

    name = "csrsigning"

    def __init__(self, ctx: ControllerContext) -> None:
        self.client = ctx.client
        self.options = ctx.options
        self.ca = load_signing_ca(ctx.options)
        seconds = (ctx.options.extra or {}).get("cluster_signing_duration")
        self.duration = datetime.timedelta(seconds=float(seconds)) if seconds else DEFAULT_DURATION
        self.csrs = ctx.informers.informer_for(GROUP, VERSION, PLURAL)
        self.worker = QueueWorker(self.name, self.reconcile)
        self.csrs.add_event_handler(on_add=self.worker.enqueue_object, on_update=self.worker.enqueue_object)

    async def reconcile(self, key: str) -> Result:
        csr = self.csrs.store.get_by_key(key)
        if csr is None or self.ca is None or csrs.issued_certificate(csr):
            return Result()
        approved, denied = csrs.approval_state(csr)
        if not approved or denied or csrs.has_condition(csr, csrs.FAILED):
            return Result()
        spec = csr.get("spec") or {}
        signer, usages = spec.get("signerName", ""), list(spec.get("usages") or [])
        if signer not in csrs.KUBERNETES_SIGNERS:
            return Result()
        pem = csrs.request_pem(csr)
        status_path = resource_path(GROUP, VERSION, PLURAL, name=key, subresource="status")
        try:
            check_for_signer(signer, csrs.parse_csr(pem), usages)
        except csrs.CSRError as e:
            await self.client.update(status_path, with_condition(csr, csrs.FAILED, "SignerValidationFailure",
                                                                 str(e), meta.now_rfc3339()))
            return Result()
        cert = sign_csr(self.ca, pem, usages, duration=certificate_duration(spec.get("expirationSeconds"),
                                                                            self.duration))
        body = dict(csr)
        body["status"] = dict(csr.get("status") or {}, certificate=base64.b64encode(cert).decode())
        await self.client.update(status_path, body)
        log.info("%s: issued the certificate of %s (%s)", self.name, key, signer)
        return Result()

    async def run(self, workers: int) -> None:
        if self.ca is None:
            cert, key = signing_files(self.options)
            log.warning("%s: no signing CA (%s, %s): CSRs are not signed", self.name, cert, key)
        await self.worker.run(workers)


CONTROLLER = CSRSigningController

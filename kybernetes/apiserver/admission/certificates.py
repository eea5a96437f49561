"""The certificates admission plugins: CertificateApproval (approving needs the `approve` verb on the signer),
CertificateSigning (issuing needs `sign` on it) and CertificateSubjectRestriction (no system:masters
certificates from kubernetes.io/kube-apiserver-client)."""

from __future__ import annotations

import logging
from typing import Any

from kybernetes.apiserver.admission.interfaces import CREATE, UPDATE, Attributes, PluginContext
from kybernetes.apiserver.authn import UserInfo
from kybernetes.apiserver.authz import Attributes as AuthzAttributes
from kybernetes.apiserver.authz import Decision
from kybernetes.pki import csr as csrs

log = logging.getLogger(__name__)

GROUP = "certificates.k8s.io"
PLURAL = "certificatesigningrequests"


async def is_authorized_for_signer(authorizer: Any, user: UserInfo, verb: str, signer: str) -> bool:
    """`verb` on signers/<signer>, or on signers/<domain>/* (upstream's IsAuthorizedForSignerName)."""
    if authorizer is None:
        return False
    names = [signer]
    if "/" in signer:
        names.append(signer.split("/", 1)[0] + "/*")
    for name in names:
        attrs = AuthzAttributes(user=user, verb=verb, is_resource_request=True, api_group=GROUP, api_version="*",
                                resource="signers", name=name)
        decision, _ = await authorizer.authorize(attrs)
        if decision == Decision.ALLOW:
            return True
    return False


def _user(a: Attributes) -> UserInfo:
    return UserInfo(name=a.user, groups=tuple(a.groups))


def _signer(obj: dict[str, Any] | None) -> str:
    return str(((obj or {}).get("spec") or {}).get("signerName") or "")


class _SignerPermission:
    """Shared shape: a validating plugin on CSR updates that asks the authorizer about a signer verb."""

    name = ""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    @property
    def authorizer(self) -> Any:
        return self.ctx.extra.get("authorizer")

    def handles(self, operation: str) -> bool:
        return operation == UPDATE


class CertificateApproval(_SignerPermission):
    """Approving or denying through /approval needs `approve` on the CSR's signer."""

    name = "CertificateApproval"

    async def validate(self, a: Attributes) -> None:
        if not a.is_(GROUP, PLURAL, "approval"):
            return
        signer = _signer(a.obj)
        if not await is_authorized_for_signer(self.authorizer, _user(a), "approve", signer):
            log.debug("user %s not permitted to approve CSR %s with signerName %s", a.user, a.name, signer)
            raise a.forbidden(f"user not permitted to approve requests with signerName {signer!r}")


class CertificateSigning(_SignerPermission):
    """Setting status.certificate or changing status.conditions through /status needs `sign` on the signer."""

    name = "CertificateSigning"

    async def validate(self, a: Attributes) -> None:
        if not a.is_(GROUP, PLURAL, "status"):
            return
        new, old = (a.obj or {}).get("status") or {}, (a.old or {}).get("status") or {}
        if new.get("certificate") == old.get("certificate") and new.get("conditions") == old.get("conditions"):
            return
        signer = _signer(a.old)
        if not await is_authorized_for_signer(self.authorizer, _user(a), "sign", signer):
            raise a.forbidden(f"user not permitted to sign requests with signerName {signer!r}")


class CertificateSubjectRestriction:
    """Refuses kubernetes.io/kube-apiserver-client requests for a certificate in group system:masters."""

    name = "CertificateSubjectRestriction"

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def handles(self, operation: str) -> bool:
        return operation == CREATE

    async def validate(self, a: Attributes) -> None:
        if not a.is_(GROUP, PLURAL) or _signer(a.obj) != csrs.KUBE_APISERVER_CLIENT:
            return
        try:
            req = csrs.parse_csr(csrs.request_pem(a.obj or {}))
        except csrs.CSRError:
            return  # validation has refused it already
        if "system:masters" in csrs.subject_orgs(req.subject):
            raise a.forbidden(f"use of {csrs.KUBE_APISERVER_CLIENT} signer with system:masters group is not allowed")

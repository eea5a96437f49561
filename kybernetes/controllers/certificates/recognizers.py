"""Which CSRs the approver recognizes, and the permission (a CSR subresource) the requester must hold for each:
upstream's nodeclient/selfnodeclient, and kybernetes' selfnodeserving and kubeproxyclient."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from kybernetes.clusterbootstrap.rbac import KUBEPROXYCLIENT_SUBRESOURCE, SELFNODESERVING_SUBRESOURCE
from kybernetes.pki import csr as csrs

Obj = dict[str, Any]
KUBE_PROXY_USER = "system:kube-proxy"
NodeLookup = Callable[[str], "Obj | None"]


@dataclass(frozen=True)
class Recognizer:
    """A kind of CSR the approver knows, the subresource permission that approves it, and why."""

    permission: str
    message: str
    recognize: Callable[[Obj, x509.CertificateSigningRequest, NodeLookup], bool]


def _spec(csr: Obj) -> Obj:
    return csr.get("spec") or {}


def is_node_client(csr: Obj, req: x509.CertificateSigningRequest, _: NodeLookup) -> bool:
    spec = _spec(csr)
    return spec.get("signerName") == csrs.KUBE_APISERVER_CLIENT_KUBELET and \
        csrs.is_kubelet_client_csr(req, spec.get("usages") or [])


def is_self_node_client(csr: Obj, req: x509.CertificateSigningRequest, nodes: NodeLookup) -> bool:
    return is_node_client(csr, req, nodes) and _spec(csr).get("username") == csrs.subject_cn(req.subject)


def _node_names(node: Obj) -> tuple[set[str], set[str]]:
    """(DNS names, IPs) a node's status.addresses vouch for."""
    dns, ips = {node["metadata"]["name"]}, set()
    for a in (node.get("status") or {}).get("addresses") or []:
        value = str(a.get("address") or "")
        if a.get("type") in ("InternalIP", "ExternalIP"):
            try:
                ips.add(str(ipaddress.ip_address(value)))
            except ValueError:
                pass
        elif a.get("type") in ("Hostname", "InternalDNS", "ExternalDNS"):
            dns.add(value)
    return dns, ips


def sans_match_node(req: x509.CertificateSigningRequest, node_name: str, node: Obj | None) -> bool:
    """The serving SANs are the node's: its name and, once it is registered, only its reported addresses.
    Before the Node exists its first addresses are taken on trust, as k3s does for a joining agent."""
    sans = csrs.requested_sans(req)
    if node is None:
        return all(d == node_name for d in sans["dns"]) or not sans["dns"]
    dns, ips = _node_names(node)
    return set(sans["dns"]) <= dns and {str(i) for i in sans["ip"]} <= ips


def is_self_node_serving(csr: Obj, req: x509.CertificateSigningRequest, nodes: NodeLookup) -> bool:
    spec = _spec(csr)
    cn = csrs.subject_cn(req.subject)
    if spec.get("signerName") != csrs.KUBELET_SERVING or spec.get("username") != cn:
        return False
    if csrs.NODES_GROUP not in (spec.get("groups") or []):
        return False
    if not csrs.is_kubelet_serving_csr(req, spec.get("usages") or []):
        return False
    name = cn[len(csrs.NODE_USER_PREFIX):]
    return sans_match_node(req, name, nodes(name))


def is_kube_proxy_client(csr: Obj, req: x509.CertificateSigningRequest, _: NodeLookup) -> bool:
    spec = _spec(csr)
    if spec.get("signerName") != csrs.KUBE_APISERVER_CLIENT:
        return False
    if csrs.subject_cn(req.subject) != KUBE_PROXY_USER or csrs.subject_orgs(req.subject):
        return False
    if any(csrs.requested_sans(req).values()):
        return False
    try:
        csrs.validate_apiserver_client_usages(spec.get("usages") or [])
    except csrs.CSRError:
        return False
    return True


RECOGNIZERS: tuple[Recognizer, ...] = (
    Recognizer("selfnodeclient", "Auto approving self kubelet client certificate after SubjectAccessReview.",
               is_self_node_client),
    Recognizer("nodeclient", "Auto approving kubelet client certificate after SubjectAccessReview.", is_node_client),
    Recognizer(SELFNODESERVING_SUBRESOURCE, "Auto approving self kubelet serving certificate after "
                                            "SubjectAccessReview.", is_self_node_serving),
    Recognizer(KUBEPROXYCLIENT_SUBRESOURCE, "Auto approving kube-proxy client certificate after "
                                            "SubjectAccessReview.", is_kube_proxy_client),
)

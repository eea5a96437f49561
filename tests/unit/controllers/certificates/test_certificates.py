"""The certificate controllers' decisions: which CSRs the approver recognizes, when the cleaner deletes,
what the bootstrap signer writes."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest

from kybernetes.clusterbootstrap.clusterinfo import JWS_PREFIX, KUBECONFIG_KEY
from kybernetes.clusterbootstrap.jws import detached_token_is_valid
from kybernetes.clusterbootstrap.token import BootstrapToken, token_secret
from kybernetes.controllers.certificates.approver import approved
from kybernetes.controllers.certificates.bootstrapsigner import signed_data, signing_tokens
from kybernetes.controllers.certificates.cleaner import deletion_time
from kybernetes.controllers.certificates.recognizers import RECOGNIZERS
from kybernetes.pki import csr as csrs
from kybernetes.pki.ca import CertificateAuthority, generate_key
from kybernetes.pki.signer import sign_csr

Obj = dict[str, Any]
NODE = "system:node:n1"
NODE_GROUPS = ["system:nodes", "system:authenticated"]
BOOTSTRAPPER = ("system:bootstrap:abcdef", ["system:bootstrappers", "system:authenticated"])
CLIENT = [csrs.USAGE_DIGITAL_SIGNATURE, csrs.USAGE_CLIENT_AUTH]
SERVING = [csrs.USAGE_DIGITAL_SIGNATURE, csrs.USAGE_SERVER_AUTH]
N1 = {"metadata": {"name": "n1"}, "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"},
                                                           {"type": "Hostname", "address": "n1"}]}}


def csr(signer: str, usages: list[str], *, cn: str = NODE, orgs: tuple[str, ...] = ("system:nodes",),
        dns: tuple[str, ...] = (), ips: tuple[str, ...] = (), user: str = NODE,
        groups: list[str] | None = None) -> Obj:
    pem = csrs.make_csr(generate_key(), cn=cn, orgs=orgs, dns_names=dns, ips=ips)
    return {"metadata": {"name": "c", "creationTimestamp": "2030-01-01T00:00:00Z"},
            "spec": {"request": base64.b64encode(pem).decode(), "signerName": signer, "usages": usages,
                     "username": user, "groups": NODE_GROUPS if groups is None else groups}}


def recognized(obj: Obj, nodes: dict[str, Obj] | None = None) -> list[str]:
    req = csrs.parse_csr(csrs.request_pem(obj))
    return [r.permission for r in RECOGNIZERS if r.recognize(obj, req, lambda n: (nodes or {}).get(n))]


K = csrs.KUBE_APISERVER_CLIENT_KUBELET
S = csrs.KUBELET_SERVING
A = csrs.KUBE_APISERVER_CLIENT


@pytest.mark.parametrize("obj,nodes,want", [
    (csr(K, CLIENT, user=BOOTSTRAPPER[0], groups=BOOTSTRAPPER[1]), None, ["nodeclient"]),
    (csr(K, CLIENT), None, ["selfnodeclient", "nodeclient"]),
    (csr(K, CLIENT, cn="system:node:n2"), None, ["nodeclient"]),
    (csr(K, CLIENT, orgs=("system:masters",), user=BOOTSTRAPPER[0], groups=BOOTSTRAPPER[1]), None, []),
    (csr(K, [csrs.USAGE_SERVER_AUTH]), None, []),
    (csr(S, SERVING, dns=("n1",), ips=("10.0.0.1",)), None, ["selfnodeserving"]),
    (csr(S, SERVING, dns=("n1",), ips=("10.0.0.1",)), {"n1": N1}, ["selfnodeserving"]),
    (csr(S, SERVING, ips=("10.0.0.9",)), {"n1": N1}, []),
    (csr(S, SERVING, dns=("evil.example",)), None, []),
    (csr(S, SERVING, dns=("n1",), user="system:node:n2"), None, []),
    (csr(S, SERVING, dns=("n1",), groups=["system:authenticated"]), None, []),
    (csr(A, CLIENT, cn="system:kube-proxy", orgs=()), None, ["kubeproxyclient"]),
    (csr(A, CLIENT, cn="system:kube-proxy", orgs=("system:masters",)), None, []),
    (csr(A, CLIENT, cn="admin", orgs=()), None, []),
    (csr(A, CLIENT + [csrs.USAGE_SERVER_AUTH], cn="system:kube-proxy", orgs=()), None, []),
], ids=["bootstrap", "renewal", "other-node", "masters", "wrong-usages", "serving-first", "serving-known",
        "serving-foreign-ip", "serving-foreign-dns", "serving-other-node", "serving-not-node", "kube-proxy",
        "kube-proxy-masters", "other-client", "kube-proxy-server-usage"])
def test_recognizers(obj: Obj, nodes: dict | None, want: list[str]) -> None:
    assert recognized(obj, nodes) == want


def test_approved_appends_condition() -> None:
    out = approved({"metadata": {"name": "c"}, "status": {"conditions": [{"type": "Custom"}]}}, "ok", "T")
    assert out["status"]["conditions"][-1] == {"type": "Approved", "status": "True", "reason": "AutoApproved",
                                               "message": "ok", "lastUpdateTime": "T"}


def _ts(s: str) -> float:
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def test_cleaner_deadlines() -> None:
    pending = {"metadata": {"creationTimestamp": "2030-01-01T00:00:00Z"}}
    assert deletion_time(pending) == _ts("2030-01-02T00:00:00Z")
    denied = dict(pending, status={"conditions": [{"type": "Denied", "status": "True",
                                                   "lastUpdateTime": "2030-01-01T00:10:00Z"}]})
    assert deletion_time(denied) == _ts("2030-01-01T01:10:00Z")
    ca = CertificateAuthority.create(days=3650 * 2)
    cert = sign_csr(ca, csrs.make_csr(generate_key(), cn="a"), CLIENT, duration=datetime.timedelta(days=30),
                    now=datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc))
    issued = dict(pending, status={"certificate": base64.b64encode(cert).decode(), "conditions": [
        {"type": "Approved", "status": "True", "lastUpdateTime": "2030-01-01T00:10:00Z"}]})
    assert deletion_time(issued) == _ts("2030-01-01T01:10:00Z")
    expired = dict(issued, status=dict(issued["status"], conditions=[]))  # approved long ago: cert expiry
    assert deletion_time(expired) == _ts("2030-01-31T00:00:00Z")


def _secret(token: str, hours: float = 1.0, usages: tuple[str, ...] = ("authentication", "signing")) -> Obj:
    expires = datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc) + datetime.timedelta(hours=hours)
    return token_secret(BootstrapToken(token=token, expires=expires, usages=usages))


NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc).timestamp()


def test_signing_tokens_only_valid_signing_ones() -> None:
    secrets = [_secret("aaaaaa.0123456789abcdef"), _secret("bbbbbb.0123456789abcdef", hours=-1),
               _secret("cccccc.0123456789abcdef", usages=("authentication",))]
    assert signing_tokens(secrets, NOW) == {"aaaaaa": "0123456789abcdef"}


def test_signed_data_adds_and_drops_signatures() -> None:
    data = {KUBECONFIG_KEY: "content", JWS_PREFIX + "gone00": "stale"}
    out = signed_data(data, {"aaaaaa": "0123456789abcdef"})
    assert out is not None and set(out) == {KUBECONFIG_KEY, JWS_PREFIX + "aaaaaa"}
    assert detached_token_is_valid(out[JWS_PREFIX + "aaaaaa"], "content", "aaaaaa", "0123456789abcdef")
    assert signed_data(out, {"aaaaaa": "0123456789abcdef"}) is None
    assert signed_data({"other": "x"}, {"aaaaaa": "0123456789abcdef"}) is None

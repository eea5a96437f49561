"""Kubelet credentials: a node's serving certificate for 10250 and the apiserver's kubelet client certificate.

Both are signed by the cluster CA that `ensure_pki` created under `<data_dir>/pki` (its key must be there),
issued on first use and reissued when a wanted SAN or subject is missing or expiry is within 30 days.
"""

from __future__ import annotations

import os

from kybernetes.pki.bootstrap import PKIPaths, load_ca
from kybernetes.pki.certs import issue_client_cert, issue_serving_cert, needs_renewal
from kybernetes.pki.files import read_or_none, write_private, write_public

APISERVER_KUBELET_CLIENT_CN = "kube-apiserver-kubelet-client"
# no group: kubelets authorize it by SubjectAccessReview through the kube-apiserver-kubelet-admin binding to
# system:kubelet-api-admin (kybernetes.apiserver.authz.bootstrappolicy), not as a cluster admin
APISERVER_KUBELET_CLIENT_ORGS: list[str] = []
NODES_GROUP = "system:nodes"


def kubelet_serving_paths(data_dir: str, node_name: str) -> tuple[str, str]:
    """Where a node's serving certificate and key live: <data_dir>/pki/kubelet/<node>.crt|.key."""
    base = os.path.join(PKIPaths.under(data_dir).pki_dir, "kubelet")
    return os.path.join(base, f"{node_name}.crt"), os.path.join(base, f"{node_name}.key")


def apiserver_kubelet_client_paths(data_dir: str) -> tuple[str, str]:
    pki = PKIPaths.under(data_dir).pki_dir
    return os.path.join(pki, "apiserver-kubelet-client.crt"), os.path.join(pki, "apiserver-kubelet-client.key")


def ensure_kubelet_pki(data_dir: str, node_name: str, ips: list[str], hostnames: list[str]) -> tuple[str, str]:
    """The node's serving certificate (CN system:node:<name>, O system:nodes) for `ips` and `hostnames`
    (plus the node name, localhost and 127.0.0.1); returns (cert path, key path)."""
    paths = PKIPaths.under(data_dir)
    ca = load_ca(paths)
    crt_path, key_path = kubelet_serving_paths(data_dir, node_name)
    dns = list(dict.fromkeys([node_name, "localhost", *hostnames]))
    addrs = list(dict.fromkeys(["127.0.0.1", *ips]))
    cn = f"system:node:{node_name}"
    crt, key = read_or_none(crt_path), read_or_none(key_path)
    if crt is None or key is None or needs_renewal(crt, key, ca, dns_names=dns, ips=addrs, cn=cn):
        crt, key = issue_serving_cert(ca, cn, dns_names=dns, ips=addrs, days=365)
        write_private(key_path, key)
        write_public(crt_path, crt)
    return crt_path, key_path


def ensure_apiserver_kubelet_client(data_dir: str) -> tuple[str, str]:
    """The apiserver's client certificate for kubelets (CN kube-apiserver-kubelet-client, no group);
    returns (cert path, key path)."""
    paths = PKIPaths.under(data_dir)
    ca = load_ca(paths)
    crt_path, key_path = apiserver_kubelet_client_paths(data_dir)
    crt, key = read_or_none(crt_path), read_or_none(key_path)
    if crt is None or key is None or needs_renewal(crt, key, ca, cn=APISERVER_KUBELET_CLIENT_CN,
                                                   orgs=APISERVER_KUBELET_CLIENT_ORGS):
        crt, key = issue_client_cert(ca, APISERVER_KUBELET_CLIENT_CN, APISERVER_KUBELET_CLIENT_ORGS, days=365)
        write_private(key_path, key)
        write_public(crt_path, crt)
    return crt_path, key_path

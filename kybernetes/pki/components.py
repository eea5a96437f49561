"""Component identities: a client certificate from the cluster CA and a kubeconfig per component
(system:kube-scheduler, system:kube-controller-manager, system:kube-proxy, system:node:<name>)."""

from __future__ import annotations

import os

import yaml

from kybernetes.pki.bootstrap import PKIPaths, load_ca
from kybernetes.pki.certs import issue_client_cert, needs_renewal
from kybernetes.pki.files import read_or_none, write_private, write_public
from kybernetes.pki.kubeconfig import kubeconfig_dict

SCHEDULER = ("kube-scheduler", "system:kube-scheduler", ())
CONTROLLER_MANAGER = ("kube-controller-manager", "system:kube-controller-manager", ())
PROXY = ("kube-proxy", "system:kube-proxy", ())
NODES_GROUP = "system:nodes"


def kubelet_identity(node_name: str) -> tuple[str, str, tuple[str, ...]]:
    """(file name, CN, O) of a node's kubelet client identity."""
    return f"kubelet-{node_name}", f"system:node:{node_name}", (NODES_GROUP,)


def ensure_component_kubeconfig(data_dir: str, server: str, name: str, cn: str,
                                orgs: tuple[str, ...] | list[str] = ()) -> str:
    """<data_dir>/<name>.kubeconfig with a certificate for user `cn` in groups `orgs` (issued on first use,
    reissued when the subject changes or expiry is near); returns its path."""
    paths = PKIPaths.under(data_dir)
    ca = load_ca(paths)
    crt_path = os.path.join(paths.pki_dir, f"{name}.crt")
    key_path = os.path.join(paths.pki_dir, f"{name}.key")
    crt, key = read_or_none(crt_path), read_or_none(key_path)
    if crt is None or key is None or needs_renewal(crt, key, ca, cn=cn, orgs=list(orgs)):
        crt, key = issue_client_cert(ca, cn, list(orgs), days=365)
        write_private(key_path, key)
        write_public(crt_path, crt)
    path = os.path.join(data_dir, f"{name}.kubeconfig")
    doc = kubeconfig_dict(server=server, ca_pem=ca.cert_pem, client_cert_pem=crt, client_key_pem=key, user=cn,
                          cluster="default", context="default")
    want = yaml.safe_dump(doc, sort_keys=False).encode()
    if read_or_none(path) != want:
        write_private(path, want)
    return path

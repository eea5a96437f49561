"""Cluster PKI: CA, certificates, kubeconfig files."""

from kybernetes.pki.bootstrap import PKIPaths, apiserver_sans, ensure_pki, load_ca
from kybernetes.pki.ca import CertificateAuthority, ca_cert_hash
from kybernetes.pki.certs import issue_client_cert, issue_serving_cert, needs_renewal
from kybernetes.pki.kubeconfig import write_kubeconfig

__all__ = ["CertificateAuthority", "PKIPaths", "apiserver_sans", "ca_cert_hash", "ensure_pki",
           "issue_client_cert", "issue_serving_cert", "load_ca", "needs_renewal", "write_kubeconfig"]

"""`ensure_pki`: create the cluster's CA and certificates on first start, reuse (or renew) them afterwards."""

from __future__ import annotations

import os
from dataclasses import dataclass

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kybernetes.pki.ca import CertificateAuthority
from kybernetes.pki.certs import issue_client_cert, issue_serving_cert, needs_renewal
from kybernetes.pki.files import read_or_none, write_private, write_public
from kybernetes.pki.host import host_addresses, host_names
from kybernetes.pki.kubeconfig import kubeconfig_dict

DEFAULT_SERVER = "https://127.0.0.1:6443"
FIRST_SERVICE_IP = "198.19.0.1"
CLUSTER_DOMAIN = "cluster.local"
ADMIN_CN = "kubernetes-admin"
ADMIN_ORGS = ["system:masters"]
APISERVER_CN = "kube-apiserver"


@dataclass(frozen=True)
class PKIPaths:
    """Where ensure_pki keeps every file under `<data_dir>`."""

    data_dir: str
    pki_dir: str
    ca_crt: str
    ca_key: str
    apiserver_crt: str
    apiserver_key: str
    admin_crt: str
    admin_key: str
    service_account_key: str
    service_account_pub: str
    admin_kubeconfig: str

    @classmethod
    def under(cls, data_dir: str) -> PKIPaths:
        pki = os.path.join(data_dir, "pki")
        j = lambda name: os.path.join(pki, name)  # noqa: E731
        return cls(data_dir=data_dir, pki_dir=pki, ca_crt=j("ca.crt"), ca_key=j("ca.key"),
                   apiserver_crt=j("apiserver.crt"), apiserver_key=j("apiserver.key"),
                   admin_crt=j("admin.crt"), admin_key=j("admin.key"),
                   service_account_key=j("service-account.key"), service_account_pub=j("service-account.pub"),
                   admin_kubeconfig=os.path.join(data_dir, "admin.kubeconfig"))


def apiserver_sans(*, hostnames: list[str] | None = None, ips: list[str] | None = None,
                   service_ip: str = FIRST_SERVICE_IP, cluster_domain: str = CLUSTER_DOMAIN
                   ) -> tuple[list[str], list[str]]:
    """The DNS names and IPs the apiserver's serving certificate must cover."""
    dns = ["localhost", *host_names(), "kubernetes", "kubernetes.default", "kubernetes.default.svc",
           f"kubernetes.default.svc.{cluster_domain}", *(hostnames or [])]
    addrs = ["127.0.0.1", "::1", *host_addresses(), service_ip, *(ips or [])]
    return list(dict.fromkeys(dns)), list(dict.fromkeys(addrs))


def load_ca(paths: PKIPaths) -> CertificateAuthority:
    """The cluster CA from disk (after ensure_pki), to issue more certificates (kubelets, join tokens)."""
    with open(paths.ca_crt, "rb") as c, open(paths.ca_key, "rb") as k:
        return CertificateAuthority.from_pem(c.read(), k.read())


def _ensure_ca(paths: PKIPaths) -> CertificateAuthority:
    crt, key = read_or_none(paths.ca_crt), read_or_none(paths.ca_key)
    if crt is not None and key is not None:
        return CertificateAuthority.from_pem(crt, key)
    if crt is not None or key is not None:
        raise RuntimeError(f"only one of {paths.ca_crt} and {paths.ca_key} exists; refusing to replace the CA")
    ca = CertificateAuthority.create()
    write_private(paths.ca_key, ca.key_pem)
    write_public(paths.ca_crt, ca.cert_pem)
    return ca


def _ensure_service_account_key(paths: PKIPaths) -> None:
    if read_or_none(paths.service_account_key) is not None:
        if read_or_none(paths.service_account_pub) is None:
            key = serialization.load_pem_private_key(read_or_none(paths.service_account_key) or b"", None)
            write_public(paths.service_account_pub, key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        return
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_private(paths.service_account_key, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    write_public(paths.service_account_pub, key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def ensure_pki(data_dir: str, *, hostnames: list[str] | None = None, ips: list[str] | None = None,
               server: str = DEFAULT_SERVER, service_ip: str = FIRST_SERVICE_IP) -> PKIPaths:
    """Create (first start) or reuse the CA, apiserver, admin and service-account credentials and admin.kubeconfig.

    Idempotent: files that are still fit are left untouched; the apiserver certificate is reissued when a
    wanted SAN is missing or it expires within 30 days; the CA is never replaced.
    """
    paths = PKIPaths.under(data_dir)
    os.makedirs(paths.pki_dir, mode=0o700, exist_ok=True)
    ca = _ensure_ca(paths)

    dns, addrs = apiserver_sans(hostnames=hostnames, ips=ips, service_ip=service_ip)
    crt, key = read_or_none(paths.apiserver_crt), read_or_none(paths.apiserver_key)
    if crt is None or key is None or needs_renewal(crt, key, ca, dns_names=dns, ips=addrs):
        crt, key = issue_serving_cert(ca, APISERVER_CN, dns_names=dns, ips=addrs, days=365)
        write_private(paths.apiserver_key, key)
        write_public(paths.apiserver_crt, crt)

    acrt, akey = read_or_none(paths.admin_crt), read_or_none(paths.admin_key)
    if acrt is None or akey is None or needs_renewal(acrt, akey, ca, cn=ADMIN_CN, orgs=ADMIN_ORGS):
        acrt, akey = issue_client_cert(ca, ADMIN_CN, ADMIN_ORGS, days=365)
        write_private(paths.admin_key, akey)
        write_public(paths.admin_crt, acrt)

    _ensure_service_account_key(paths)

    doc = kubeconfig_dict(server=server, ca_pem=ca.cert_pem, client_cert_pem=acrt, client_key_pem=akey,
                          user=ADMIN_CN, cluster="default", context="default")
    want = yaml.safe_dump(doc, sort_keys=False).encode()
    if read_or_none(paths.admin_kubeconfig) != want:
        write_private(paths.admin_kubeconfig, want)
    return paths

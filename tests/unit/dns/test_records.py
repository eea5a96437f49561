"""Table-driven lookups of cluster DNS records from fake informer caches."""

from __future__ import annotations

import ipaddress

import pytest
from dns.rcode import NOERROR, NXDOMAIN
from dns.rdatatype import AAAA, CNAME, NS, PTR, SOA, SRV, TXT, A

from kybernetes.dns.records import NEGATIVE_TTL, TTL, reverse_address
from tests.unit.dns.builders import endpoint, endpoint_slice, pod, records, service

Z = "cluster.local."

SERVICES = [
    service("web", cluster_ip="10.96.0.20", ports=[("http", 80, "TCP"), ("dns", 53, "UDP")]),
    service("dual", cluster_ip="10.96.0.30", cluster_ips=["10.96.0.30", "fd00::30"]),
    service("db", "prod", cluster_ip="None", ports=[("postgres", 5432, "TCP")]),
    service("empty", cluster_ip="None"),
    service("noports", cluster_ip="None", ports=[]),
    service("notready", cluster_ip="None", publish_not_ready=True),
    service("ext", type_="ExternalName", external_name="example.org"),
    service("alias", type_="ExternalName", external_name="web.default.svc.cluster.local"),
    service("loop", type_="ExternalName", external_name="loop.default.svc.cluster.local"),
    service("kube-dns", "kube-system", cluster_ip="10.96.0.10", ports=[("dns", 53, "UDP")]),
]
SLICES = [
    endpoint_slice("db", "prod", ports=[("postgres", 5432, "TCP")], endpoints=[
        endpoint("10.1.0.1", hostname="db-0"), endpoint("10.1.0.2", ready=None), endpoint("10.1.0.3", ready=False)]),
    endpoint_slice("web", ports=[("http", 8080, "TCP"), ("dns", 5353, "UDP")], endpoints=[endpoint("10.1.0.5")]),
    endpoint_slice("noports", ports=[], endpoints=[endpoint("10.1.0.6")]),
    endpoint_slice("notready", endpoints=[endpoint("10.1.0.7", ready=False)]),
]
PODS = [pod("p1", ip="10.1.0.9"), pod("hostnet", ip="192.0.2.1", host_network=True)]


def world(pods_mode: str = "insecure"):
    return records(services=SERVICES, slices=SLICES, pods=PODS, pods_mode=pods_mode)


def rev(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer + "."


def rrs(section) -> set[tuple[str, int, str]]:
    return {(r.name, r.rdtype, r.data) for r in section}


CASES = [
    # (id, qname, qtype, rcode, answer records as (name, type, data), additional names)
    ("clusterip-a", "web.default.svc.cluster.local.", A, NOERROR,
     {("web.default.svc.cluster.local.", A, "10.96.0.20")}, set()),
    ("relative-name", "web.default.svc.cluster.local", A, NOERROR,
     {("web.default.svc.cluster.local.", A, "10.96.0.20")}, set()),
    ("case-insensitive-keeps-case", "WEB.Default.SVC.Cluster.LOCAL.", A, NOERROR,
     {("WEB.Default.SVC.Cluster.LOCAL.", A, "10.96.0.20")}, set()),
    ("clusterip-aaaa-nodata", "web.default.svc.cluster.local.", AAAA, NOERROR, set(), set()),
    ("dual-stack-aaaa", "dual.default.svc.cluster.local.", AAAA, NOERROR,
     {("dual.default.svc.cluster.local.", AAAA, "fd00::30")}, set()),
    ("headless-ready-only", "db.prod.svc.cluster.local.", A, NOERROR,
     {("db.prod.svc.cluster.local.", A, "10.1.0.1"), ("db.prod.svc.cluster.local.", A, "10.1.0.2")}, set()),
    ("headless-publish-not-ready", "notready.default.svc.cluster.local.", A, NOERROR,
     {("notready.default.svc.cluster.local.", A, "10.1.0.7")}, set()),
    ("headless-no-endpoints-nxdomain", "empty.default.svc.cluster.local.", A, NXDOMAIN, set(), set()),
    ("headless-without-ports-a", "noports.default.svc.cluster.local.", A, NOERROR,
     {("noports.default.svc.cluster.local.", A, "10.1.0.6")}, set()),
    ("endpoint-hostname", "db-0.db.prod.svc.cluster.local.", A, NOERROR,
     {("db-0.db.prod.svc.cluster.local.", A, "10.1.0.1")}, set()),
    ("endpoint-dashed-ip", "10-1-0-2.db.prod.svc.cluster.local.", A, NOERROR,
     {("10-1-0-2.db.prod.svc.cluster.local.", A, "10.1.0.2")}, set()),
    ("endpoint-not-ready-nxdomain", "10-1-0-3.db.prod.svc.cluster.local.", A, NXDOMAIN, set(), set()),
    ("endpoint-of-clusterip-service", "10-1-0-5.web.default.svc.cluster.local.", A, NOERROR,
     {("10-1-0-5.web.default.svc.cluster.local.", A, "10.1.0.5")}, set()),
    ("srv-headless", "_postgres._tcp.db.prod.svc.cluster.local.", SRV, NOERROR,
     {("_postgres._tcp.db.prod.svc.cluster.local.", SRV, "0 50 5432 db-0.db.prod.svc.cluster.local."),
      ("_postgres._tcp.db.prod.svc.cluster.local.", SRV, "0 50 5432 10-1-0-2.db.prod.svc.cluster.local.")},
     {"db-0.db.prod.svc.cluster.local.", "10-1-0-2.db.prod.svc.cluster.local."}),
    ("srv-clusterip", "_http._tcp.web.default.svc.cluster.local.", SRV, NOERROR,
     {("_http._tcp.web.default.svc.cluster.local.", SRV, "0 100 80 web.default.svc.cluster.local.")},
     {"web.default.svc.cluster.local."}),
    ("srv-udp-port", "_dns._udp.web.default.svc.cluster.local.", SRV, NOERROR,
     {("_dns._udp.web.default.svc.cluster.local.", SRV, "0 100 53 web.default.svc.cluster.local.")},
     {"web.default.svc.cluster.local."}),
    ("srv-wrong-protocol-nxdomain", "_http._udp.web.default.svc.cluster.local.", SRV, NXDOMAIN, set(), set()),
    ("srv-unknown-port-nxdomain", "_grpc._tcp.web.default.svc.cluster.local.", SRV, NXDOMAIN, set(), set()),
    ("srv-case-insensitive", "_HTTP._TCP.web.default.svc.cluster.local.", SRV, NOERROR,
     {("_HTTP._TCP.web.default.svc.cluster.local.", SRV, "0 100 80 web.default.svc.cluster.local.")},
     {"web.default.svc.cluster.local."}),
    ("srv-service-all-ports", "web.default.svc.cluster.local.", SRV, NOERROR,
     {("web.default.svc.cluster.local.", SRV, "0 50 80 web.default.svc.cluster.local."),
      ("web.default.svc.cluster.local.", SRV, "0 50 53 web.default.svc.cluster.local.")},
     {"web.default.svc.cluster.local."}),
    ("a-on-port-name", "_http._tcp.web.default.svc.cluster.local.", A, NOERROR,
     {("_http._tcp.web.default.svc.cluster.local.", A, "10.96.0.20")}, set()),
    ("externalname-cname", "ext.default.svc.cluster.local.", A, NOERROR,
     {("ext.default.svc.cluster.local.", CNAME, "example.org.")}, set()),
    ("externalname-in-cluster-chased", "alias.default.svc.cluster.local.", A, NOERROR,
     {("alias.default.svc.cluster.local.", CNAME, "web.default.svc.cluster.local."),
      ("web.default.svc.cluster.local.", A, "10.96.0.20")}, set()),
    ("externalname-self-loop-ends", "loop.default.svc.cluster.local.", A, NOERROR,
     {("loop.default.svc.cluster.local.", CNAME, "loop.default.svc.cluster.local.")}, set()),
    ("missing-service-nxdomain", "missing.default.svc.cluster.local.", A, NXDOMAIN, set(), set()),
    ("missing-namespace-nxdomain", "web.nope.svc.cluster.local.", A, NXDOMAIN, set(), set()),
    ("search-path-external-name", "example.com.default.svc.cluster.local.", A, NXDOMAIN, set(), set()),
    ("search-path-doubled-namespace", "web.default.default.svc.cluster.local.", A, NXDOMAIN, set(), set()),
    ("search-path-svc-suffix", "web.default.svc.svc.cluster.local.", A, NXDOMAIN, set(), set()),
    ("too-many-labels", "a.b.c.d.e.svc.cluster.local.", A, NXDOMAIN, set(), set()),
    ("namespace-node-nodata", "default.svc.cluster.local.", A, NOERROR, set(), set()),
    ("empty-namespace-nxdomain", "nope.svc.cluster.local.", A, NXDOMAIN, set(), set()),
    ("svc-node-nodata", "svc.cluster.local.", A, NOERROR, set(), set()),
    ("unknown-kind-nxdomain", "foo.bar.cluster.local.", A, NXDOMAIN, set(), set()),
    ("pod-insecure", "10-1-0-77.default.pod.cluster.local.", A, NOERROR,
     {("10-1-0-77.default.pod.cluster.local.", A, "10.1.0.77")}, set()),
    ("pod-not-an-ip", "web.default.pod.cluster.local.", A, NXDOMAIN, set(), set()),
    ("apex-soa", "cluster.local.", SOA, NOERROR, None, set()),
    ("apex-ns", "cluster.local.", NS, NOERROR, {("cluster.local.", NS, "ns.dns.cluster.local.")},
     {"ns.dns.cluster.local."}),
    ("dns-server-a", "ns.dns.cluster.local.", A, NOERROR, {("ns.dns.cluster.local.", A, "10.96.0.10")}, set()),
    ("schema-version", "dns-version.cluster.local.", TXT, NOERROR,
     {("dns-version.cluster.local.", TXT, '"1.1.0"')}, set()),
    ("ptr-service", rev("10.96.0.20"), PTR, NOERROR, {(rev("10.96.0.20"), PTR, "web.default.svc.cluster.local.")},
     set()),
    ("ptr-service-ipv6", rev("fd00::30"), PTR, NOERROR,
     {(rev("fd00::30"), PTR, "dual.default.svc.cluster.local.")}, set()),
    ("ptr-endpoint-hostname", rev("10.1.0.1"), PTR, NOERROR,
     {(rev("10.1.0.1"), PTR, "db-0.db.prod.svc.cluster.local.")}, set()),
    ("ptr-pod", rev("10.1.0.9"), PTR, NOERROR, {(rev("10.1.0.9"), PTR, "10-1-0-9.default.pod.cluster.local.")},
     set()),
]


@pytest.mark.parametrize("qname,qtype,rcode,answer,additional", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_lookup(qname, qtype, rcode, answer, additional) -> None:
    ans = world().lookup(qname, qtype)
    assert not ans.forward
    assert ans.rcode == rcode
    if answer is not None:
        assert rrs(ans.answer) == answer
    assert {r.name for r in ans.additional} == additional
    if rcode == NXDOMAIN or not ans.answer:  # negative answers carry the zone's SOA with the negative TTL
        assert [(r.name, r.rdtype, r.ttl) for r in ans.authority] == [(Z, SOA, NEGATIVE_TTL)]
    else:
        assert all(r.ttl == TTL for r in ans.answer)


def test_srv_additional_addresses() -> None:
    ans = world().lookup("_postgres._tcp.db.prod.svc.cluster.local.", SRV)
    assert rrs(ans.additional) == {("db-0.db.prod.svc.cluster.local.", A, "10.1.0.1"),
                                   ("10-1-0-2.db.prod.svc.cluster.local.", A, "10.1.0.2")}


def test_soa_fields_and_serial() -> None:
    r = world()
    r.serial = 1234
    (soa,) = r.lookup("cluster.local.", SOA).answer
    assert soa.data == "ns.dns.cluster.local. hostmaster.cluster.local. 1234 7200 1800 86400 5"
    (neg,) = r.lookup("missing.default.svc.cluster.local.", A).authority
    assert neg.data.split()[2] == "1234"


@pytest.mark.parametrize("qname,qtype", [
    ("example.com.", A),
    ("kubernetes.io.", AAAA),
    ("cluster.local.example.com.", A),
    (rev("192.0.2.50"), PTR),  # an address the cluster does not know
    (rev("192.0.2.1"), PTR),  # a host-network pod's (node's) address is not the pod's
    ("2.0.192.in-addr.arpa.", PTR),  # a partial reverse name
], ids=["external", "external-aaaa", "zone-as-prefix", "ptr-unknown", "ptr-hostnetwork-pod", "ptr-partial"])
def test_outside_names_are_forwarded(qname, qtype) -> None:
    ans = world().lookup(qname, qtype)
    assert ans.forward and not ans.answer


@pytest.mark.parametrize("mode,qname,rcode,answer", [
    ("verified", "10-1-0-9.default.pod.cluster.local.", NOERROR, {"10.1.0.9"}),
    ("verified", "10-1-0-9.prod.pod.cluster.local.", NXDOMAIN, set()),
    ("verified", "10-1-0-8.default.pod.cluster.local.", NXDOMAIN, set()),
    ("insecure", "10-1-0-8.default.pod.cluster.local.", NOERROR, {"10.1.0.8"}),
    ("disabled", "10-1-0-9.default.pod.cluster.local.", NXDOMAIN, set()),
], ids=["verified-known", "verified-wrong-namespace", "verified-unknown", "insecure-any", "disabled"])
def test_pod_modes(mode, qname, rcode, answer) -> None:
    ans = world(mode).lookup(qname, A)
    assert ans.rcode == rcode
    assert {r.data for r in ans.answer} == answer


def test_other_cluster_domain() -> None:
    r = records(services=SERVICES, slices=SLICES, zone="kyb.example")
    assert {x.data for x in r.lookup("web.default.svc.kyb.example.", A).answer} == {"10.96.0.20"}
    assert r.lookup("web.default.svc.cluster.local.", A).forward


@pytest.mark.parametrize("labels,want", [
    (["4", "3", "2", "1"], "1.2.3.4"),
    (["4", "3", "2"], None),
    (["400", "3", "2", "1"], None),
    (list("0" * 31 + "f"), "f000::"),
], ids=["ipv4", "ipv4-partial", "ipv4-bad-octet", "ipv6"])
def test_reverse_address(labels, want) -> None:
    assert reverse_address(labels) == want


def test_ipv6_headless_endpoint_names() -> None:
    r = records(services=[service("v6", cluster_ip="None")],
                slices=[endpoint_slice("v6", address_type="IPv6", endpoints=[endpoint("fd00::5")])])
    assert rrs(r.lookup("v6.default.svc.cluster.local.", AAAA).answer) == {
        ("v6.default.svc.cluster.local.", AAAA, "fd00::5")}
    assert rrs(r.lookup("fd00--5.v6.default.svc.cluster.local.", AAAA).answer) == {
        ("fd00--5.v6.default.svc.cluster.local.", AAAA, "fd00::5")}

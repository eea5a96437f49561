"""The DNS server's message handling without sockets: flags, rcodes, truncation, malformed input, metrics."""

from __future__ import annotations

import struct

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

from kybernetes.dns.server import DNSServer
from tests.unit.dns.builders import endpoint, endpoint_slice, records, service

BIG = 120  # endpoints: an A answer of ~2 KB, more than 512 bytes


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, object]] = []

    def sendto(self, data: bytes, addr: object) -> None:
        self.sent.append((data, addr))

    def is_closing(self) -> bool:
        return False


def make_server() -> DNSServer:
    return DNSServer(records(
        services=[service("web", cluster_ip="10.96.0.20"), service("big", cluster_ip="None")],
        slices=[endpoint_slice("big", endpoints=[endpoint(f"10.2.{i // 200}.{i % 200 + 1}") for i in range(BIG)])]))


def ask(server: DNSServer, qname: str, qtype: str = "A", **kw) -> dns.message.Message:
    t = FakeTransport()
    server.datagram(dns.message.make_query(qname, qtype, **kw).to_wire(), ("127.0.0.1", 5555), t, "1")
    (wire, addr), = t.sent
    assert addr == ("127.0.0.1", 5555)
    return dns.message.from_wire(wire)


@pytest.mark.parametrize("qname,qtype,rcode,aa,n_answer", [
    ("web.default.svc.cluster.local.", "A", dns.rcode.NOERROR, True, 1),
    ("missing.default.svc.cluster.local.", "A", dns.rcode.NXDOMAIN, True, 0),
    ("web.default.svc.cluster.local.", "AAAA", dns.rcode.NOERROR, True, 0),
    ("example.com.", "A", dns.rcode.REFUSED, False, 0),
    ("1.2.0.192.in-addr.arpa.", "PTR", dns.rcode.REFUSED, False, 0),
], ids=["answer", "nxdomain", "nodata", "outside-refused-without-upstream", "unknown-ptr-refused"])
def test_udp_answers(qname, qtype, rcode, aa, n_answer) -> None:
    resp = ask(make_server(), qname, qtype)
    assert resp.rcode() == rcode
    assert bool(resp.flags & dns.flags.AA) == aa
    assert bool(resp.flags & dns.flags.QR)
    assert sum(len(r) for r in resp.answer) == n_answer
    if rcode == dns.rcode.NXDOMAIN or (rcode == dns.rcode.NOERROR and not n_answer):
        assert resp.authority[0].rdtype == dns.rdatatype.SOA and resp.authority[0].ttl == 5
    if n_answer:
        assert resp.answer[0].ttl == 30


def test_big_answer_is_truncated_over_udp_and_whole_over_tcp() -> None:
    server = make_server()
    resp = ask(server, "big.default.svc.cluster.local.")
    assert resp.flags & dns.flags.TC and not resp.answer
    q = dns.message.make_query("big.default.svc.cluster.local.", "A")
    local, _, _ = server.answer_local(q)
    full = dns.message.from_wire(server.render(q, local, tcp=True))
    assert not full.flags & dns.flags.TC and len(full.answer[0]) == BIG


def test_edns_payload_raises_the_udp_limit() -> None:
    resp = ask(make_server(), "big.default.svc.cluster.local.", use_edns=0, payload=4096)
    assert not resp.flags & dns.flags.TC and len(resp.answer[0]) == BIG


def test_id_and_case_are_echoed() -> None:
    q = dns.message.make_query("Web.DEFAULT.svc.cluster.local.", "A")
    t = FakeTransport()
    make_server().datagram(q.to_wire(), ("127.0.0.1", 1), t, "1")
    resp = dns.message.from_wire(t.sent[0][0])
    assert resp.id == q.id
    assert resp.answer[0].name.to_text() == "Web.DEFAULT.svc.cluster.local."


def _notify() -> dns.message.Message:
    q = dns.message.make_query("web.default.svc.cluster.local.", "A")
    q.set_opcode(dns.opcode.NOTIFY)
    return q


@pytest.mark.parametrize("build,rcode", [
    (_notify, dns.rcode.NOTIMP),
    (lambda: dns.message.make_query("web.default.svc.cluster.local.", "A", rdclass=dns.rdataclass.CH),
     dns.rcode.REFUSED),
], ids=["opcode-notify", "class-chaos"])
def test_unsupported_requests(build, rcode) -> None:
    t = FakeTransport()
    make_server().datagram(build().to_wire(), ("127.0.0.1", 1), t, "1")
    assert dns.message.from_wire(t.sent[0][0]).rcode() == rcode


@pytest.mark.parametrize("data,replies", [
    (b"\x12\x34" + b"\x01\x00" + b"\x00\x01" + b"\x00" * 6 + b"\xff", True),  # a header, then garbage
    (b"\x12\x34", False),  # not even a header
    (b"\x12\x34\x81\x80" + b"\x00" * 8, False),  # a response (QR set): never answered
], ids=["garbage-question", "short", "response"])
def test_malformed(data, replies) -> None:
    t = FakeTransport()
    make_server().datagram(data, ("127.0.0.1", 1), t, "1")
    assert bool(t.sent) == replies
    if replies:
        resp = dns.message.from_wire(t.sent[0][0])
        assert resp.rcode() == dns.rcode.FORMERR and resp.id == struct.unpack("!H", data[:2])[0]


def test_metrics_count_requests_by_type_and_rcode() -> None:
    server = make_server()
    ask(server, "web.default.svc.cluster.local.")
    ask(server, "missing.default.svc.cluster.local.")
    ask(server, "example.com.", "AAAA")
    reg = server.metrics.registry
    srv = server.metrics.server
    assert reg.get_sample_value("coredns_dns_requests_total", {
        "server": srv, "zone": "cluster.local.", "proto": "udp", "family": "1", "type": "A"}) == 2
    assert reg.get_sample_value("coredns_dns_responses_total", {
        "server": srv, "zone": "cluster.local.", "rcode": "NXDOMAIN", "plugin": "kubernetes"}) == 1
    assert reg.get_sample_value("coredns_dns_responses_total", {
        "server": srv, "zone": ".", "rcode": "REFUSED", "plugin": ""}) == 1
    assert reg.get_sample_value("coredns_dns_request_duration_seconds_count", {
        "server": srv, "zone": "cluster.local.", "type": "A"}) == 2


def test_reply_cache_serves_until_the_serial_moves() -> None:
    server = make_server()
    ask(server, "web.default.svc.cluster.local.")
    server.records.services.upsert(service("web", cluster_ip="10.96.0.99"))
    stale = ask(server, "web.default.svc.cluster.local.")  # the serial did not move: the cached reply
    assert [r.to_text() for r in stale.answer[0]] == ["10.96.0.20"]
    server.records.serial += 1  # what the app does on every informer event
    assert [r.to_text() for r in ask(server, "web.default.svc.cluster.local.").answer[0]] == ["10.96.0.99"]
    upper = ask(server, "WEB.default.svc.cluster.local.")  # another spelling is another entry: case kept
    assert upper.answer[0].name.to_text() == "WEB.default.svc.cluster.local."
    reg, srv = server.metrics.registry, server.metrics.server
    assert reg.get_sample_value("coredns_dns_requests_total", {
        "server": srv, "zone": "cluster.local.", "proto": "udp", "family": "1", "type": "A"}) == 4


def test_cache_hit_carries_the_querys_id() -> None:
    server = make_server()
    q1 = dns.message.make_query("web.default.svc.cluster.local.", "A")
    q2 = dns.message.make_query("web.default.svc.cluster.local.", "A")
    q2.id = (q1.id + 1) % 65536
    t = FakeTransport()
    server.datagram(q1.to_wire(), ("127.0.0.1", 1), t, "1")
    server.datagram(q2.to_wire(), ("127.0.0.1", 1), t, "1")
    assert [dns.message.from_wire(w).id for w, _ in t.sent] == [q1.id, q2.id]

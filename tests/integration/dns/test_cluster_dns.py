"""Cluster DNS against a real apiserver: run_dns on a loopback port, queried over UDP and TCP with dnspython."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.reversename
import dns.rrset
import pytest
import pytest_asyncio

from kybernetes.client import RESTClient, load_kubeconfig, resource_path
from kybernetes.dns import run_dns
from tests.conftest import free_port

Z = "cluster.local."
SVC = resource_path("", "v1", "services", "default")
SLICES = resource_path("discovery.k8s.io", "v1", "endpointslices", "default")


@dataclass
class DNSUnderTest:
    client: RESTClient
    port: int
    health_port: int

    async def query(self, name: str, rdtype: str = "A", *, tcp: bool = False) -> dns.message.Message:
        q = dns.message.make_query(name, rdtype)
        if tcp:
            return await dns.asyncquery.tcp(q, "127.0.0.1", port=self.port, timeout=2)
        return await dns.asyncquery.udp(q, "127.0.0.1", port=self.port, timeout=2)


async def _start(apiserver, upstream: list[str] | None = None) -> tuple[asyncio.Task, asyncio.Event, int, int]:
    port, health_port = free_port(), free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(run_dns(kubeconfig=apiserver.kubeconfig_path, listen=[("127.0.0.1", port)],
                                       upstream=upstream, stop=stop, health_listen=("127.0.0.1", health_port)))
    deadline = time.monotonic() + 15
    while True:  # serving once the bootstrap `kubernetes` Service answers
        assert not task.done(), task
        try:
            r = await dns.asyncquery.udp(dns.message.make_query("kubernetes.default.svc." + Z, "A"), "127.0.0.1",
                                         port=port, timeout=0.2)
            if r.answer:
                return task, stop, port, health_port
        except (dns.exception.Timeout, OSError):
            pass
        assert time.monotonic() < deadline, "cluster DNS did not start"
        await asyncio.sleep(0.05)


async def _stop(task: asyncio.Task, stop: asyncio.Event) -> None:
    stop.set()
    await asyncio.wait_for(task, 10)


@pytest_asyncio.fixture
async def cdns(apiserver) -> AsyncIterator[DNSUnderTest]:
    task, stop, port, health_port = await _start(apiserver)
    async with RESTClient(load_kubeconfig(apiserver.kubeconfig_path)) as client:
        try:
            yield DNSUnderTest(client, port, health_port)
        finally:
            await _stop(task, stop)


def addresses(resp: dns.message.Message) -> set[str]:
    return {r.to_text() for rrset in resp.answer if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
            for r in rrset}


async def until(fn, timeout: float = 1.0):
    """Poll `fn` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = await fn()
        if got:
            return got
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def service(name: str, *, ports: list[dict], cluster_ip: str | None = None, **spec) -> dict:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": ports, **spec}}
    if cluster_ip is not None:
        body["spec"]["clusterIP"] = cluster_ip
    return body


def endpoint_slice(name: str, svc: str, endpoints: list[dict], ports: list[dict]) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports}


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_service_resolves_within_a_second_and_nxdomains_once_deleted(cdns: DNSUnderTest, tcp: bool) -> None:
    name = f"web.default.svc.{Z}"
    assert (await cdns.query(name, tcp=tcp)).rcode() == dns.rcode.NXDOMAIN
    created = await cdns.client.create(SVC, service("web", ports=[{"name": "http", "port": 80}]))
    ip = created["spec"]["clusterIP"]
    t0 = time.monotonic()

    async def resolved():
        r = await cdns.query(name, tcp=tcp)
        return r if addresses(r) else None

    resp = await until(resolved)
    assert time.monotonic() - t0 < 1.0
    assert addresses(resp) == {ip}
    assert resp.flags & dns.flags.AA and resp.answer[0].ttl == 30
    await cdns.client.delete(f"{SVC}/web")

    async def gone():
        r = await cdns.query(name, tcp=tcp)
        return r if r.rcode() == dns.rcode.NXDOMAIN else None

    resp = await until(gone)
    assert resp.authority[0].rdtype == dns.rdatatype.SOA and resp.authority[0].ttl == 5


async def test_headless_service_endpoint_names_and_srv(cdns: DNSUnderTest) -> None:
    await cdns.client.create(SVC, service("db", cluster_ip="None", ports=[{"name": "pg", "port": 5432}]))
    await cdns.client.create(SLICES, endpoint_slice("db-1", "db", [
        {"addresses": ["198.18.0.11"], "hostname": "db-0", "conditions": {"ready": True}},
        {"addresses": ["198.18.0.12"], "conditions": {"ready": True}},
        {"addresses": ["198.18.0.13"], "conditions": {"ready": False}},
    ], [{"name": "pg", "port": 5432, "protocol": "TCP"}]))

    async def headless():
        r = await cdns.query(f"db.default.svc.{Z}")
        return r if len(addresses(r)) == 2 else None

    assert addresses(await until(headless)) == {"198.18.0.11", "198.18.0.12"}
    assert addresses(await cdns.query(f"db-0.db.default.svc.{Z}")) == {"198.18.0.11"}
    assert addresses(await cdns.query(f"198-18-0-12.db.default.svc.{Z}", tcp=True)) == {"198.18.0.12"}
    assert (await cdns.query(f"198-18-0-13.db.default.svc.{Z}")).rcode() == dns.rcode.NXDOMAIN
    srv = await cdns.query(f"_pg._tcp.db.default.svc.{Z}", "SRV")
    assert {r.to_text() for r in srv.answer[0]} == {f"0 50 5432 db-0.db.default.svc.{Z}",
                                                    f"0 50 5432 198-18-0-12.db.default.svc.{Z}"}
    assert {rr.name.to_text() for rr in srv.additional} == {f"db-0.db.default.svc.{Z}",
                                                            f"198-18-0-12.db.default.svc.{Z}"}
    ptr = await cdns.query("11.0.18.198.in-addr.arpa.", "PTR")
    assert [r.to_text() for r in ptr.answer[0]] == [f"db-0.db.default.svc.{Z}"]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_srv_for_a_named_port_and_ptr(cdns: DNSUnderTest, tcp: bool) -> None:
    created = await cdns.client.create(SVC, service("api", ports=[
        {"name": "http", "port": 80, "protocol": "TCP"}, {"name": "syslog", "port": 514, "protocol": "UDP"}]))
    ip = created["spec"]["clusterIP"]

    async def srv():
        r = await cdns.query(f"_syslog._udp.api.default.svc.{Z}", "SRV", tcp=tcp)
        return r if r.answer else None

    resp = await until(srv)
    assert [r.to_text() for r in resp.answer[0]] == [f"0 100 514 api.default.svc.{Z}"]
    assert {r.to_text() for rrset in resp.additional for r in rrset} == {ip}
    assert (await cdns.query(f"_syslog._tcp.api.default.svc.{Z}", "SRV", tcp=tcp)).rcode() == dns.rcode.NXDOMAIN
    ptr = await cdns.query(dns.reversename.from_address(ip).to_text(), "PTR", tcp=tcp)
    assert [r.to_text() for r in ptr.answer[0]] == [f"api.default.svc.{Z}"]


async def test_externalname_is_a_cname(cdns: DNSUnderTest) -> None:
    await cdns.client.create(SVC, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                                   "spec": {"type": "ExternalName", "externalName": "db.example.org"}})

    async def cname():
        r = await cdns.query(f"ext.default.svc.{Z}")
        return r if r.answer else None

    resp = await until(cname)
    assert [(rr.rdtype, rr[0].to_text()) for rr in resp.answer] == [(dns.rdatatype.CNAME, "db.example.org.")]


async def test_big_headless_answer_truncates_over_udp_and_completes_over_tcp(cdns: DNSUnderTest) -> None:
    await cdns.client.create(SVC, service("big", cluster_ip="None", ports=[{"name": "http", "port": 80}]))
    ips = [f"198.18.1.{i}" for i in range(1, 101)]
    await cdns.client.create(SLICES, endpoint_slice("big-1", "big", [
        {"addresses": [ip], "conditions": {"ready": True}} for ip in ips], [{"name": "http", "port": 80}]))

    async def truncated():
        r = await cdns.query(f"big.default.svc.{Z}")
        return r if r.flags & dns.flags.TC else None

    await until(truncated)
    q = dns.message.make_query(f"big.default.svc.{Z}", "A")
    resp, used_tcp = await dns.asyncquery.udp_with_fallback(q, "127.0.0.1", port=cdns.port, timeout=2)
    assert used_tcp and addresses(resp) == set(ips)


async def test_names_outside_the_cluster_are_refused_without_upstream(cdns: DNSUnderTest) -> None:
    for tcp in (False, True):
        assert (await cdns.query("example.com.", tcp=tcp)).rcode() == dns.rcode.REFUSED


async def test_health_ready_and_metrics(cdns: DNSUnderTest) -> None:
    await cdns.query(f"kubernetes.default.svc.{Z}")
    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{cdns.health_port}"
        async with http.get(base + "/health") as r:
            assert r.status == 200 and await r.text() == "OK"
        async with http.get(base + "/ready") as r:
            assert r.status == 200
        async with http.get(base + "/metrics") as r:
            text = await r.text()
    assert 'coredns_dns_requests_total{family="1",proto="udp"' in text
    assert "coredns_dns_request_duration_seconds_bucket" in text


class FakeUpstream(asyncio.DatagramProtocol):
    """A resolver on loopback answering every A question with 192.0.2.7."""

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.questions: list[str] = []

    def datagram_received(self, data: bytes, addr) -> None:
        q = dns.message.from_wire(data)
        self.questions.append(q.question[0].name.to_text())
        resp = dns.message.make_response(q)
        resp.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", "192.0.2.7"))
        self.transport.sendto(resp.to_wire(), addr)


async def test_forwards_outside_names_to_a_configured_upstream(apiserver) -> None:
    upstream_port = free_port()
    transport, upstream = await asyncio.get_running_loop().create_datagram_endpoint(
        FakeUpstream, local_addr=("127.0.0.1", upstream_port))
    task, stop, port, _ = await _start(apiserver, upstream=[f"127.0.0.1:{upstream_port}"])
    try:
        for tcp in (False, True):  # a TCP client is answered too (the fake upstream is UDP only)
            q = dns.message.make_query("www.example.com.", "A")
            query = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
            resp = await query(q, "127.0.0.1", port=port, timeout=3)
            assert resp.id == q.id and addresses(resp) == {"192.0.2.7"}
        assert upstream.questions == ["www.example.com.", "www.example.com."]
        cluster = await dns.asyncquery.udp(dns.message.make_query(f"kubernetes.default.svc.{Z}", "A"), "127.0.0.1",
                                           port=port, timeout=2)
        assert cluster.answer and len(upstream.questions) == 2  # cluster names never leave
    finally:
        await _stop(task, stop)
        transport.close()


async def test_unreachable_upstream_is_servfail(apiserver) -> None:
    dead = free_port()  # nothing listens there
    task, stop, port, _ = await _start(apiserver, upstream=[f"127.0.0.1:{dead}"])
    try:
        resp = await dns.asyncquery.udp(dns.message.make_query("www.example.com.", "A"), "127.0.0.1", port=port,
                                        timeout=5)
        assert resp.rcode() == dns.rcode.SERVFAIL
    finally:
        await _stop(task, stop)

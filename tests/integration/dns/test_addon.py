"""The kube-dns add-on `kybernetes server` publishes, and the DNS running under its own least-privilege identity."""

from __future__ import annotations

import asyncio

import dns.asyncquery
import dns.message
import pytest

from kybernetes.client import RESTClient, load_kubeconfig, resource_path
from kybernetes.dns.addon import COREDNS_IDENTITY, cluster_dns_ip
from kybernetes.dns.app import run_dns
from kybernetes.dns.cli import parse_hostport, prepare_local_dns, upstreams_from_flags
from kybernetes.pki.components import ensure_component_kubeconfig


@pytest.mark.parametrize("cidr,want", [
    ("198.19.0.0/16", "198.19.0.10"),
    ("127.43.0.0/16", "127.43.0.10"),
    ("fd00:10::/108,198.19.0.0/16", "fd00:10::a"),
], ids=["default", "userspace-loopback", "ipv6-first"])
def test_cluster_dns_ip(cidr: str, want: str) -> None:
    assert cluster_dns_ip(cidr) == want


@pytest.mark.parametrize("text,want", [
    ("127.0.0.1:1053", ("127.0.0.1", 1053)), (":53", ("0.0.0.0", 53)), ("[::1]:5353", ("::1", 5353)),
    ("10.0.0.1", ("10.0.0.1", 53)),
], ids=["ipv4", "any", "ipv6", "no-port"])
def test_parse_hostport(text: str, want: tuple[str, int]) -> None:
    assert parse_hostport(text, 53) == want


def test_upstreams_skip_ourselves_and_none_disables() -> None:
    listen = [("127.0.0.1", 53)]
    assert upstreams_from_flags(["127.0.0.1", "127.0.0.2:53"], listen) == ["127.0.0.2:53"]
    assert upstreams_from_flags(["none"], listen) == []


async def test_server_publishes_kube_dns_and_the_dns_serves_under_its_own_identity(apiserver) -> None:
    data_dir = apiserver.config.data_dir
    dns_kubeconfig = ensure_component_kubeconfig(data_dir, f"https://127.0.0.1:{apiserver.port}", *COREDNS_IDENTITY)
    ip, args = await prepare_local_dns(admin_kubeconfig=apiserver.kubeconfig_path, dns_kubeconfig=dns_kubeconfig,
                                       service_cidr=apiserver.config.service_cluster_ip_range, node_ip="127.0.0.1")
    assert ip == "198.19.0.10"
    listen = parse_hostport(args[args.index("--listen") + 1], 53)
    async with RESTClient(load_kubeconfig(apiserver.kubeconfig_path)) as client:
        svc = await client.get(resource_path("", "v1", "services", "kube-system", "kube-dns"))
        assert svc["spec"]["clusterIP"] == ip and "selector" not in svc["spec"]
        assert {(p["name"], p["port"], p["protocol"]) for p in svc["spec"]["ports"]} == {
            ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")}
        eps = await client.get(resource_path("discovery.k8s.io", "v1", "endpointslices", "kube-system",
                                             "kube-dns-local"))
        assert eps["endpoints"][0]["addresses"] == ["127.0.0.1"]
        assert {p["port"] for p in eps["ports"] if p["name"].startswith("dns")} == {listen[1]}
        rv = svc["metadata"]["resourceVersion"]
        # a restart of the server publishes the same objects again: nothing changes
        await prepare_local_dns(admin_kubeconfig=apiserver.kubeconfig_path, dns_kubeconfig=dns_kubeconfig,
                                service_cidr=apiserver.config.service_cluster_ip_range, node_ip="127.0.0.1")
        again = await client.get(resource_path("", "v1", "services", "kube-system", "kube-dns"))
        assert again["metadata"]["resourceVersion"] == rv

    stop = asyncio.Event()
    task = asyncio.create_task(run_dns(kubeconfig=dns_kubeconfig, listen=[listen], stop=stop, pods="verified"))
    try:
        for _ in range(200):
            try:
                resp = await dns.asyncquery.udp(dns.message.make_query("kube-dns.kube-system.svc.cluster.local.",
                                                                       "A"), listen[0], port=listen[1], timeout=0.2)
                if resp.answer:
                    break
            except (dns.exception.Timeout, OSError):
                await asyncio.sleep(0.05)
        assert [r.to_text() for r in resp.answer[0]] == [ip]
        ptr = await dns.asyncquery.udp(dns.message.make_query("10.0.19.198.in-addr.arpa.", "PTR"), listen[0],
                                       port=listen[1], timeout=2)
        assert [r.to_text() for r in ptr.answer[0]] == ["kube-dns.kube-system.svc.cluster.local."]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)

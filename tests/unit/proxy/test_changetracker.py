"""Change tracking: Service and EndpointSlice events folded into the proxy's maps at sync time."""

from __future__ import annotations

import pytest

from kybernetes.proxy.endpointschangetracker import EndpointsChangeTracker
from kybernetes.proxy.servicechangetracker import ServiceChangeTracker, service_ports
from kybernetes.proxy.types import NamespacedName, ServicePortName

from .builders import endpoint, endpoint_slice, service

SVC = NamespacedName("default", "web")
HTTP = ServicePortName("default", "web", "http", "TCP")


@pytest.mark.parametrize("svc,expected", [
    (service("web"), [HTTP]),
    (service("web", ip="None"), []),
    (service("web", type="ExternalName", externalName="example.test", ip=""), []),
    (service("web", ports=[{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]),
     [HTTP, ServicePortName("default", "web", "dns", "UDP")]),
], ids=["clusterip", "headless", "externalname", "two-ports"])
def test_service_ports(svc, expected) -> None:
    assert sorted(service_ports(svc)) == sorted(expected)


def test_service_port_fields() -> None:
    svc = service("web", type="LoadBalancer", ports=[{"name": "http", "port": 80, "nodePort": 30080}],
                  sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}},
                  externalTrafficPolicy="Local", internalTrafficPolicy="Local")
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "198.18.0.5"}]}}
    info = service_ports(svc)[HTTP]
    assert (info.node_port, info.session_affinity_timeout, info.load_balancer_ips) == (30080, 60, ("198.18.0.5",))
    assert info.external_policy_local and info.internal_policy_local


def test_service_tracker_apply_and_undo() -> None:
    t = ServiceChangeTracker()
    smap: dict = {}
    assert t.update(None, service("web"))
    updated, _ = t.apply(smap)
    assert updated == {SVC} and list(smap) == [HTTP]
    # a change undone before the sync is dropped
    changed = service("web", ports=[{"name": "http", "port": 81}])
    t.update(service("web"), changed)
    assert not t.update(changed, service("web"))
    assert t.apply(smap) == (set(), set())


def test_service_tracker_delete_reports_udp_cluster_ip() -> None:
    t = ServiceChangeTracker()
    smap: dict = {}
    dns = service("dns", ip="198.19.0.53", ports=[{"name": "dns", "port": 53, "protocol": "UDP"}])
    t.update(None, dns)
    t.apply(smap)
    t.update(dns, None)
    updated, deleted_udp = t.apply(smap)
    assert updated == {NamespacedName("default", "dns")} and deleted_udp == {"198.19.0.53"} and smap == {}


def test_endpoints_tracker_merges_slices_and_reports_stale_udp() -> None:
    t = EndpointsChangeTracker("node-a")
    emap: dict = {}
    ports = [{"name": "dns", "port": 5353, "protocol": "UDP"}]
    s1 = endpoint_slice("dns", [endpoint("198.18.0.2", node="node-a")], name="dns-1", ports=ports)
    s2 = endpoint_slice("dns", [endpoint("198.18.0.3"), endpoint("198.18.0.2")], name="dns-2", ports=ports)
    t.update(s1)
    t.update(s2)
    changed, stale, newly = t.apply(emap)
    spn = ServicePortName("default", "dns", "dns", "UDP")
    assert changed == {NamespacedName("default", "dns")} and newly == {spn} and stale == []
    assert [(e.address, e.is_local) for e in emap[spn]] == [("198.18.0.2:5353", True), ("198.18.0.3:5353", False)]
    t.update(s2, removed=True)
    changed, stale, newly = t.apply(emap)
    assert [e.address for _, e in stale] == ["198.18.0.3:5353"] and not newly
    t.update(s1, removed=True)
    t.apply(emap)
    assert spn not in emap


def test_endpoints_tracker_unchanged_slice_is_not_a_change() -> None:
    t = EndpointsChangeTracker()
    emap: dict = {}
    s = endpoint_slice("web", [endpoint("198.18.0.2")])
    t.update(s)
    t.apply(emap)
    t.update(s)
    assert t.apply(emap) == (set(), [], set())

"""Per-cluster names of the node network, the host-gw route computation and sync, and the server's DNS address choice."""

from __future__ import annotations

import pytest

from kybernetes.cli.podnet import dns_needs_gateway
from kybernetes.kubelet.network import bridge, iproute, routes
from kybernetes.kubelet.network.routes import HostGatewayRoutes, desired_routes


def node(name: str, cidr: str | None, ip: str | None) -> dict:
    return {"metadata": {"name": name}, "spec": {"podCIDR": cidr} if cidr else {},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}] if ip else []}}


def test_names_differ_per_root_dir_and_fit_linux_limits() -> None:
    a, b = bridge.bridge_name("/var/lib/a/kubelet"), bridge.bridge_name("/var/lib/b/kubelet")
    assert a != b and a == bridge.bridge_name("/var/lib/a/kubelet")
    assert len(a) <= 15 and a.startswith(bridge.BRIDGE_PREFIX)
    assert bridge.table_name("/var/lib/a/kubelet") != bridge.table_name("/var/lib/b/kubelet")
    # a pod's veth is "kyb" + 8 hex digits: never a bridge name
    assert not all(c in "0123456789abcdef" for c in a[3:])


def test_desired_routes_other_nodes_inside_the_cluster_range() -> None:
    nodes = [node("self", "198.18.1.0/24", "10.0.0.1"), node("b", "198.18.2.0/24", "10.0.0.2"),
             node("no-cidr", None, "10.0.0.3"), node("no-ip", "198.18.4.0/24", None),
             node("loopback", "198.18.5.0/24", "127.0.0.1"), node("outside", "10.9.0.0/24", "10.0.0.6")]
    assert desired_routes(nodes, "self", "198.18.0.0/16") == {"198.18.2.0/24": "10.0.0.2"}


@pytest.fixture
def fake_ip(monkeypatch) -> list[tuple[str, ...]]:
    calls: list[tuple[str, ...]] = []
    table = ("198.18.2.0/24 via 10.0.0.2 dev eth0 proto 75\n"
             "198.18.9.0/24 via 10.0.0.9 dev eth0 proto 75\n"
             "198.18.200.0/24 via 10.0.0.7 dev eth0 proto 75\n")  # another cluster's range on this machine

    async def ip(*args: str, check: bool = True) -> str:
        calls.append(args)
        return table if args[:2] == ("-o", "route") else ""

    monkeypatch.setattr(iproute, "ip", ip)
    monkeypatch.setattr(routes.iproute, "ip", ip)
    return calls


async def test_sync_adds_changes_and_removes_only_its_own_range(fake_ip) -> None:
    r = HostGatewayRoutes("self", "198.18.0.0/17")
    assert await r.current() == {"198.18.2.0/24": "10.0.0.2", "198.18.9.0/24": "10.0.0.9"}
    await r.sync([node("b", "198.18.2.0/24", "10.0.0.22"), node("c", "198.18.3.0/24", "10.0.0.3")])
    changes = [c for c in fake_ip if c[0] == "route"]
    assert ("route", "del", "198.18.9.0/24", "proto", routes.ROUTE_PROTO) in changes
    assert ("route", "replace", "198.18.2.0/24", "via", "10.0.0.22", "proto", routes.ROUTE_PROTO) in changes
    assert ("route", "replace", "198.18.3.0/24", "via", "10.0.0.3", "proto", routes.ROUTE_PROTO) in changes
    assert not any("198.18.200.0/24" in c for c in changes)


def test_dns_moves_to_the_bridge_gateway_only_when_pods_cannot_reach_the_node_ip() -> None:
    assert dns_needs_gateway("bridge", "127.0.0.1")
    assert not dns_needs_gateway("bridge", "10.0.0.5")
    assert not dns_needs_gateway("host", "127.0.0.1")
    assert not dns_needs_gateway("bridge", "node-a.example")

"""Userspace pieces with a fake clock: UDP flow idle timeouts, round-robin and ClientIP affinity expiry."""

from __future__ import annotations

import pytest

from kybernetes.client.clock import FakeClock
from kybernetes.proxy.types import EndpointInfo, ServicePortInfo, ServicePortName
from kybernetes.proxy.userspace.proxier import ListenKey, desired_listeners
from kybernetes.proxy.userspace.roundrobin import RoundRobin
from kybernetes.proxy.userspace.udp import FlowTable

A, B, C = EndpointInfo("127.0.0.1", 9001), EndpointInfo("127.0.0.1", 9002), EndpointInfo("127.0.0.1", 9003)


@pytest.mark.parametrize("steps,expected_alive", [
    ([("add", "c1"), ("step", 29.0)], ["c1"]),
    ([("add", "c1"), ("step", 30.0)], []),
    ([("add", "c1"), ("step", 20.0), ("touch", "c1"), ("step", 20.0)], ["c1"]),
    ([("add", "c1"), ("step", 20.0), ("add", "c2"), ("step", 10.0)], ["c2"]),
    ([("add", "c1"), ("step", 20.0), ("touch", "c1"), ("step", 20.0), ("step", 10.0)], []),
], ids=["young", "idle-expired", "touched-survives", "independent-flows", "touched-then-idle"])
def test_udp_flow_idle_timeout(steps, expected_alive) -> None:
    clock = FakeClock()
    expired: list[str] = []
    table = FlowTable(30.0, clock, on_expire=lambda f: expired.append(f.client[0]))
    flows = {}
    for op, arg in steps:
        if op == "add":
            flows[arg] = table.add((arg, 1), A)
        elif op == "touch":
            table.touch(flows[arg])
        else:
            clock.step(arg)
    assert sorted(c for c, _ in table.flows) == expected_alive
    assert all(flows[c].closed for c in expired)
    assert sorted(set(flows) - set(expected_alive)) == sorted(expired)


def test_round_robin_cycles_and_skips_failed() -> None:
    rr = RoundRobin([A, B, C])
    assert [rr.pick("x").port for _ in range(4)] == [9001, 9002, 9003, 9001]
    assert rr.pick("x", {B.address}).port == 9003
    assert rr.pick("x", {A.address, B.address, C.address}) is None


def test_affinity_sticks_until_timeout() -> None:
    clock = FakeClock()
    rr = RoundRobin([A, B], affinity_timeout=10, clock=clock)
    first = rr.pick("10.0.0.1")
    assert all(rr.pick("10.0.0.1") == first for _ in range(5))
    assert rr.pick("10.0.0.2") != first
    clock.step(11)
    assert rr.pick("10.0.0.3") == A  # round robin moved on while 10.0.0.1 was idle
    again = rr.pick("10.0.0.1")  # its affinity expired: a fresh choice, then sticky again
    assert again == B != first
    assert all(rr.pick("10.0.0.1") == again for _ in range(3))


def test_affinity_dropped_when_endpoint_goes() -> None:
    rr = RoundRobin([A, B], affinity_timeout=100, clock=FakeClock())
    first = rr.pick("c")
    rr.set_endpoints([e for e in (A, B) if e != first])
    assert rr.pick("c") != first


def test_desired_listeners_for_nodeport_and_loadbalancer() -> None:
    spn = ServicePortName("ns", "web", "", "TCP")
    svc = ServicePortInfo(spn, "127.43.0.5", 80, "TCP", type="LoadBalancer", node_port=30080,
                          external_policy_local=True)
    local = EndpointInfo("127.0.0.1", 8080, is_local=True)
    remote = EndpointInfo("198.18.0.9", 8080)
    d = desired_listeners(svc, [local, remote], ["198.18.250.1"])
    assert set(d) == {ListenKey("127.43.0.5", 80, "TCP"), ListenKey("198.18.250.1", 30080, "TCP"),
                      ListenKey("198.18.250.1", 80, "TCP")}
    assert d[ListenKey("127.43.0.5", 80, "TCP")].endpoints == [local, remote]
    assert d[ListenKey("198.18.250.1", 30080, "TCP")].endpoints == [local]

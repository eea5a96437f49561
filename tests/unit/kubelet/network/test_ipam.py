"""Host-local IPAM: addresses never handed out twice, idempotent per owner, released, reused round-robin."""

from __future__ import annotations

import pytest

from kybernetes.kubelet.network.ipam import IPAM, IPAMExhausted
from kybernetes.kubelet.network.plugin import HOST, choose
from kybernetes.kubelet.network.routes import desired_routes


def test_allocate_is_idempotent_and_unique(tmp_path) -> None:
    ipam = IPAM(str(tmp_path), "198.18.3.0/24")
    a, b = ipam.allocate("pod-a"), ipam.allocate("pod-b")
    assert (a, b) == ("198.18.3.2", "198.18.3.3")  # .0 network, .1 the bridge
    assert ipam.allocate("pod-a") == a
    assert IPAM(str(tmp_path), "198.18.3.0/24").allocate("pod-c") == "198.18.3.4"  # state is on disk


def test_release_and_round_robin(tmp_path) -> None:
    ipam = IPAM(str(tmp_path), "198.18.3.0/24")
    a = ipam.allocate("pod-a")
    ipam.allocate("pod-b")
    assert ipam.release("pod-a") == [a]
    assert ipam.get("pod-a") is None
    assert ipam.allocate("pod-c") == "198.18.3.4"  # not the address just freed
    assert ipam.reservations() == {"198.18.3.3": "pod-b", "198.18.3.4": "pod-c"}


def test_exhausted(tmp_path) -> None:
    ipam = IPAM(str(tmp_path), "198.18.3.0/30")  # .1 gateway, .2 the only pod address
    assert ipam.allocate("a") == "198.18.3.2"
    with pytest.raises(IPAMExhausted):
        ipam.allocate("b")
    ipam.release("a")
    assert ipam.allocate("b") == "198.18.3.2"


def node(name: str, cidr: str | None, ip: str | None) -> dict:
    return {"metadata": {"name": name}, "spec": {"podCIDR": cidr} if cidr else {},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}] if ip else []}}


@pytest.mark.parametrize("nodes,want", [
    ([node("me", "198.18.0.0/24", "198.18.255.1")], {}),
    ([node("me", "198.18.0.0/24", "a"), node("b", "198.18.1.0/24", "198.19.255.2")],
     {"198.18.1.0/24": "198.19.255.2"}),
    ([node("b", None, "198.19.255.2"), node("c", "198.18.2.0/24", None)], {}),
    ([node("d", "10.0.0.0/24", "198.19.255.3")], {}),
    ([node("e", "198.18.4.0/24", "127.0.0.1")], {}),
], ids=["self-only", "other-node", "incomplete-nodes", "outside-cluster-range", "loopback-node"])
def test_desired_routes(nodes: list[dict], want: dict) -> None:
    assert desired_routes(nodes, "me", "198.18.0.0/16") == want


def test_choose_host_always_allowed() -> None:
    assert choose("host") == HOST
    with pytest.raises(ValueError):
        choose("calico")

"""The lease endpoint reconciler on fake leases with a fake clock: leases renew, expire, publish."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from kybernetes.apiserver.endpointreconciler import (APIServerEndpoint, LeaseEndpointReconciler, endpoint_slice_objects,
                                                     endpoints_object, lease_object, parse_lease)

A, B, C = APIServerEndpoint("10.0.0.2", 6443), APIServerEndpoint("10.0.0.1", 6443), APIServerEndpoint("10.0.0.3", 7443)


class FakeLeases:
    """Leases by name, each write a new resourceVersion (as the apiserver's storage)."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self._rv = itertools.count(1)

    async def list(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(o) for _, o in sorted(self.objects.items())]

    async def put(self, lease: dict[str, Any]) -> None:
        lease = copy.deepcopy(lease)
        lease["metadata"]["resourceVersion"] = str(next(self._rv))
        self.objects[lease["metadata"]["name"]] = lease

    async def delete(self, name: str, resource_version: str) -> None:
        if name in self.objects and self.objects[name]["metadata"]["resourceVersion"] == resource_version:
            del self.objects[name]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def reconciler(store: FakeLeases, endpoint: APIServerEndpoint, clock: Clock, published: list, ttl: float = 15.0
               ) -> LeaseEndpointReconciler:
    async def publish(eps: list[APIServerEndpoint]) -> None:
        published.append(list(eps))
    return LeaseEndpointReconciler(leases=store, publish=publish, endpoint=endpoint, ttl=ttl, monotonic=clock)


async def test_every_live_apiserver_is_published_in_address_order() -> None:
    store, clock, published = FakeLeases(), Clock(), []
    a, b = reconciler(store, A, clock, []), reconciler(store, B, clock, published)
    await a.reconcile()
    assert await b.reconcile() == [B, A]
    assert published == [[B, A]]
    assert a.renew_interval == 10.0  # upstream: a 15 s lease renewed every 10 s


async def test_a_lease_not_renewed_for_its_ttl_expires_and_is_deleted() -> None:
    store, clock, published = FakeLeases(), Clock(), []
    a, b = reconciler(store, A, clock, [], ttl=15), reconciler(store, B, clock, published, ttl=15)
    await a.reconcile()
    await b.reconcile()
    clock.now = 10.0
    await a.reconcile()  # renewed: a new revision, its age counted from when B first sees it
    clock.now = 12.0
    assert await b.reconcile() == [B, A]
    clock.now = 26.0
    assert await b.reconcile() == [B, A]  # 14 s since B saw A's last renewal
    clock.now = 27.0
    assert await b.reconcile() == [B]
    assert published[-1] == [B]
    assert list(store.objects) == [B.lease_name]


async def test_renewing_keeps_a_lease_alive_indefinitely() -> None:
    store, clock = FakeLeases(), Clock()
    a, b = reconciler(store, A, clock, [], ttl=3), reconciler(store, B, clock, [], ttl=3)
    for _ in range(10):
        await a.reconcile()
        assert await b.reconcile() == [B, A]
        clock.now += 2.0


async def test_the_ttl_is_the_one_the_lease_holder_wrote() -> None:
    store, clock = FakeLeases(), Clock()
    a, b = reconciler(store, A, clock, [], ttl=60), reconciler(store, B, clock, [], ttl=5)
    await a.reconcile()
    await b.reconcile()
    clock.now = 30.0
    assert await b.reconcile() == [B, A]


async def test_removal_publishes_the_others_but_never_an_empty_list() -> None:
    store, clock, published = FakeLeases(), Clock(), []
    a, b = reconciler(store, A, clock, published), reconciler(store, B, clock, published)
    await a.reconcile()
    await b.reconcile()
    published.clear()
    await a.remove()
    assert published == [[B]]
    await b.remove()
    assert published == [[B]]  # the last apiserver leaves its address behind
    assert store.objects == {}


async def test_a_deleted_own_lease_is_recreated() -> None:
    store, clock = FakeLeases(), Clock()
    a = reconciler(store, A, clock, [])
    await a.reconcile()
    store.objects.clear()
    assert await a.reconcile() == [A]
    assert list(store.objects) == [A.lease_name]


def test_lease_round_trip() -> None:
    lease = lease_object(APIServerEndpoint("fd00::1", 6443), 4.5)
    assert lease["metadata"]["name"] == "kube-apiserver-fd00--1-6443"
    lease["metadata"]["resourceVersion"] = "7"
    record = parse_lease(lease)
    assert record is not None
    assert (record.endpoint, record.ttl, record.resource_version) == (APIServerEndpoint("fd00::1", 6443), 5.0, "7")
    assert parse_lease({"metadata": {"name": "kube-scheduler"}, "spec": {"holderIdentity": "x"}}) is None
    lease["spec"]["holderIdentity"] = "not-an-address:1"
    assert parse_lease(lease) is None


@pytest.mark.parametrize("endpoints,subsets,slices", [
    pytest.param([A, B], [(["10.0.0.1", "10.0.0.2"], 6443)], [("kubernetes", ["10.0.0.1", "10.0.0.2"], 6443)],
                 id="one-port"),
    pytest.param([A, B, C], [(["10.0.0.1", "10.0.0.2"], 6443), (["10.0.0.3"], 7443)],
                 [("kubernetes", ["10.0.0.1", "10.0.0.2"], 6443), ("kubernetes-7443", ["10.0.0.3"], 7443)],
                 id="two-ports"),
])
def test_endpoints_and_slices(endpoints, subsets, slices) -> None:
    ep = endpoints_object(endpoints)
    assert [([a["ip"] for a in s["addresses"]], s["ports"][0]["port"]) for s in ep["subsets"]] == subsets
    assert ep["metadata"]["labels"] == {"endpointslice.kubernetes.io/skip-mirror": "true"}
    got = [(s["metadata"]["name"], [e["addresses"][0] for e in s["endpoints"]], s["ports"][0]["port"])
           for s in endpoint_slice_objects(endpoints)]
    assert got == slices

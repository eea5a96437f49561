"""Two schedulers with --leader-elect: one holds Lease kube-system/kube-scheduler and only it binds pods."""

from __future__ import annotations

import asyncio

from kybernetes.client import resource_path

from .conftest import create_node, create_pod, eventually, events_for, node, node_of, pod, running_scheduler


async def test_only_the_leader_binds(apiserver, client):
    await create_node(client, node("n1"))
    async with running_scheduler(apiserver, leader_elect=True), running_scheduler(apiserver, leader_elect=True):
        lease_path = resource_path("coordination.k8s.io", "v1", "leases", "kube-system", "kube-scheduler")
        lease = await eventually(lambda: client.get(lease_path))
        holder = lease["spec"]["holderIdentity"]
        names = [f"p{i}" for i in range(6)]
        for n in names:
            await create_pod(client, pod(n))
        for n in names:
            assert await eventually(lambda n=n: node_of(client, n)) == "n1"
        instances = set()
        for n in names:
            evs = await eventually(lambda n=n: events_for(client, n, "Scheduled"))
            assert len(evs) == 1  # bound once, by one scheduler
            instances.add(evs[0]["reportingInstance"])
        assert instances == {holder}
        await asyncio.sleep(0.5)
        assert (await client.get(lease_path))["spec"]["holderIdentity"] == holder

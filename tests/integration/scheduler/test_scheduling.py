"""The scheduler against a real apiserver: fit, insufficient resources, a node added later, host ports."""

from __future__ import annotations

import pytest

from .conftest import (create_node, create_pod, eventually, events_for, get_pod, node, node_of, pod,
                       running_scheduler)


async def test_pod_fits_and_is_bound_with_event(apiserver, client):
    await create_node(client, node("n1", cpu="1"))
    await create_node(client, node("n2", cpu="4"))
    async with running_scheduler(apiserver):
        await create_pod(client, pod("p", cpu="2"))
        assert await eventually(lambda: node_of(client, "p")) == "n2"
        evs = await eventually(lambda: events_for(client, "p", "Scheduled"))
        assert evs[0]["message"] == "Successfully assigned default/p to n2"
        assert evs[0]["type"] == "Normal"
        p = await get_pod(client, "p")
        cond = [c for c in p["status"]["conditions"] if c["type"] == "PodScheduled"]
        assert cond and cond[0]["status"] == "True"


async def test_insufficient_cpu_reports_failed_scheduling(apiserver, client):
    await create_node(client, node("n1", cpu="1"))
    await create_node(client, node("n2", cpu="1", unschedulable=True))
    await create_node(client, node("n3", cpu="2", memory="1Gi"))
    async with running_scheduler(apiserver):
        await create_pod(client, pod("big", cpu="1500m", memory="2Gi"))
        evs = await eventually(lambda: events_for(client, "big", "FailedScheduling"))
        want = ("0/3 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, "
                "1 node(s) were unschedulable.")
        # DefaultPreemption (when present) appends " preemption: ..." as upstream does
        assert evs[0]["message"].startswith(want)
        assert evs[0]["type"] == "Warning"

        async def condition():
            p = await get_pod(client, "big")
            return [c for c in p.get("status", {}).get("conditions") or [] if c["type"] == "PodScheduled"]
        cond = (await eventually(condition))[0]
        assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")
        assert cond["message"] == evs[0]["message"]
        assert await node_of(client, "big") is None


async def test_pod_becomes_schedulable_when_a_node_is_added(apiserver, client):
    await create_node(client, node("small", cpu="500m"))
    async with running_scheduler(apiserver):
        await create_pod(client, pod("waits", cpu="1"))
        await eventually(lambda: events_for(client, "waits", "FailedScheduling"))
        assert await node_of(client, "waits") is None
        await create_node(client, node("large", cpu="8"))
        assert await eventually(lambda: node_of(client, "waits"), timeout=20) == "large"


async def test_host_port_conflict_spreads_pods(apiserver, client):
    for n in ("a", "b"):
        await create_node(client, node(n))
    async with running_scheduler(apiserver):
        await create_pod(client, pod("web1", host_port=8080))
        first = await eventually(lambda: node_of(client, "web1"))
        await create_pod(client, pod("web2", host_port=8080))
        second = await eventually(lambda: node_of(client, "web2"))
        assert {first, second} == {"a", "b"}
        await create_pod(client, pod("web3", host_port=8080))
        evs = await eventually(lambda: events_for(client, "web3", "FailedScheduling"))
        assert evs[0]["message"].startswith(
            "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports.")


async def test_pods_of_other_schedulers_are_left_alone(apiserver, client):
    await create_node(client, node("n1"))
    async with running_scheduler(apiserver):
        await create_pod(client, pod("mine"))
        await create_pod(client, pod("theirs", scheduler_name="other-scheduler"))
        assert await eventually(lambda: node_of(client, "mine")) == "n1"
        assert await node_of(client, "theirs") is None
        assert await events_for(client, "theirs", "FailedScheduling") == []

"""The advanced plugins end to end against a real apiserver: zone spreading, pod affinity and anti-affinity,
taints, and preemption with eviction and nomination (nodes registered through the API, no kubelets)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from kybernetes.client import resource_path

app = pytest.importorskip("kybernetes.scheduler.app")
if not hasattr(app, "run_scheduler"):
    pytest.skip("kybernetes.scheduler.app.run_scheduler is missing", allow_module_level=True)

from .conftest import (create_node, create_pod, eventually, events_for, get_pod, node, node_of,  # noqa: E402
                       pod, running_scheduler)

HOSTNAME, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"


def zoned(name: str, zone: str, **kw: Any) -> dict[str, Any]:
    return node(name, labels={HOSTNAME: name, ZONE: zone}, **kw)


def labelled(name: str, labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    p = pod(name, cpu="100m")
    p["metadata"]["labels"] = labels
    p["spec"].update(spec)
    return p


async def test_pods_spread_evenly_across_zones(apiserver, client):
    for name, zone in (("a1", "z1"), ("a2", "z1"), ("b1", "z2"), ("b2", "z2"), ("b3", "z2")):
        await create_node(client, zoned(name, zone))
    spread = [{"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "web"}}}]
    async with running_scheduler(apiserver):
        for i in range(6):
            await create_pod(client, labelled(f"web-{i}", {"app": "web"}, topologySpreadConstraints=spread))
        nodes = [await eventually(lambda i=i: node_of(client, f"web-{i}")) for i in range(6)]
    zones = Counter("z1" if n.startswith("a") else "z2" for n in nodes)
    assert zones == {"z1": 3, "z2": 3}


async def test_pod_affinity_and_anti_affinity(apiserver, client):
    for name in ("n1", "n2", "n3"):
        await create_node(client, node(name, labels={HOSTNAME: name}))

    def term(labels: dict[str, str]) -> list[dict[str, Any]]:
        return [{"labelSelector": {"matchLabels": labels}, "topologyKey": HOSTNAME}]

    async with running_scheduler(apiserver):
        await create_pod(client, labelled("db", {"app": "db"}))
        db_node = await eventually(lambda: node_of(client, "db"))
        await create_pod(client, labelled("cache", {"app": "cache"}, affinity={
            "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": term({"app": "db"})}}))
        await create_pod(client, labelled("web", {"app": "web"}, affinity={
            "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": term({"app": "db"})}}))
        assert await eventually(lambda: node_of(client, "cache")) == db_node
        assert await eventually(lambda: node_of(client, "web")) != db_node


async def test_taints_repel_and_are_reported(apiserver, client):
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    await create_node(client, node("gpu", labels={HOSTNAME: "gpu"}, taints=[taint]))
    await create_node(client, node("plain", labels={HOSTNAME: "plain"}, cpu="1"))
    async with running_scheduler(apiserver):
        await create_pod(client, labelled("any", {}))
        assert await eventually(lambda: node_of(client, "any")) == "plain"
        await create_pod(client, labelled("tolerant", {}, nodeSelector={HOSTNAME: "gpu"}, tolerations=[
            {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]))
        assert await eventually(lambda: node_of(client, "tolerant")) == "gpu"
        big = labelled("big", {})
        big["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "950m"}}  # fits an empty "plain"
        await create_pod(client, big)
        evs = await eventually(lambda: events_for(client, "big", "FailedScheduling"))
        # upstream's exact text: FitError appends "." after the PostFilter message, which has its own period
        assert evs[0]["message"] == (
            "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: gpu}. "
            "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, "
            "1 Preemption is not helpful for scheduling..")


async def test_preemption_evicts_the_lower_priority_pod_and_nominates_the_node(apiserver, client):
    for name, value in (("low", 10), ("high", 1000)):
        await client.create(resource_path("scheduling.k8s.io", "v1", "priorityclasses"),
                            {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                             "metadata": {"name": name}, "value": value})
    await create_node(client, node("n1", labels={HOSTNAME: "n1"}, cpu="2"))
    async with running_scheduler(apiserver):
        victim = pod("victim", cpu="1500m")
        victim["spec"]["priorityClassName"] = "low"
        await create_pod(client, victim)
        assert await eventually(lambda: node_of(client, "victim")) == "n1"
        preemptor = pod("preemptor", cpu="1500m")
        preemptor["spec"]["priorityClassName"] = "high"
        await create_pod(client, preemptor)

        async def nominated() -> str | None:
            return (await get_pod(client, "preemptor")).get("status", {}).get("nominatedNodeName")

        assert await eventually(nominated) == "n1"

        async def victim_gone_or_terminating() -> dict[str, Any] | bool:
            try:
                v = await get_pod(client, "victim")
            except Exception:
                return True
            return v if v["metadata"].get("deletionTimestamp") else False

        v = await eventually(victim_gone_or_terminating)
        if isinstance(v, dict):
            conds = {c["type"]: c for c in v["status"].get("conditions", [])}
            assert conds["DisruptionTarget"]["reason"] == "PreemptionByScheduler"
            # no kubelet here: finish the graceful deletion as the kubelet would
            await client.delete(resource_path("", "v1", "pods", "default", "victim"),
                                params={"gracePeriodSeconds": 0})
        assert await eventually(lambda: node_of(client, "preemptor"), timeout=30) == "n1"

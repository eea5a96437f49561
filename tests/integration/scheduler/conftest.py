"""Fixtures and builders for scheduler integration tests: a client on the in-process apiserver, nodes, pods,
and a running scheduler task."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kybernetes.client import ApiError, RESTClient, load_kubeconfig, resource_path
from kybernetes.scheduler.app import run_scheduler


@pytest.fixture
async def client(apiserver) -> AsyncIterator[RESTClient]:
    c = RESTClient(load_kubeconfig(apiserver.kubeconfig_path))
    yield c
    await c.close()


def node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110", labels: dict | None = None,
         taints: list | None = None, unschedulable: bool = False) -> dict[str, Any]:
    alloc = {"cpu": cpu, "memory": memory, "pods": pods}
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}}, "spec": spec,
            "status": {"capacity": alloc, "allocatable": alloc,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}


def pod(name: str, *, cpu: str | None = None, memory: str | None = None, host_port: int | None = None,
        scheduler_name: str | None = None, node_name: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "c", "image": "registry.k8s.io/pause:3.10"}
    reqs = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    if reqs:
        c["resources"] = {"requests": reqs}
    if host_port:
        c["ports"] = [{"containerPort": 80, "hostPort": host_port}]
    spec: dict[str, Any] = {"containers": [c]}
    if scheduler_name:
        spec["schedulerName"] = scheduler_name
    if node_name:
        spec["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


async def create_node(client: RESTClient, obj: dict[str, Any]) -> dict[str, Any]:
    created = await client.create(resource_path("", "v1", "nodes"), obj)
    status = {**created, "status": obj["status"]}
    return await client.update(resource_path("", "v1", "nodes", name=obj["metadata"]["name"], subresource="status"),
                               status)


async def create_pod(client: RESTClient, obj: dict[str, Any]) -> dict[str, Any]:
    return await client.create(resource_path("", "v1", "pods", "default"), obj)


async def get_pod(client: RESTClient, name: str) -> dict[str, Any]:
    return await client.get(resource_path("", "v1", "pods", "default", name))


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Poll check() until it returns something truthy; fail after timeout with its last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
        except ApiError as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


async def node_of(client: RESTClient, name: str) -> str | None:
    return (await get_pod(client, name)).get("spec", {}).get("nodeName")


async def events_for(client: RESTClient, name: str, reason: str) -> list[dict[str, Any]]:
    evs = (await client.list(resource_path("", "v1", "events", "default")))["items"]
    return [e for e in evs if e["involvedObject"]["name"] == name and e["reason"] == reason]


@contextlib.asynccontextmanager
async def running_scheduler(apiserver, **kwargs: Any) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_scheduler(kubeconfig=apiserver.kubeconfig_path, stop=stop, **kwargs))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)

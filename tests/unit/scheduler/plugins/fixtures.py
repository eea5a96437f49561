"""Tiny builders for scheduler plugin tests: pods, nodes, NodeInfos, and an in-memory Handle with a fake client."""

from __future__ import annotations

import itertools
from typing import Any

from kybernetes.client.cache import Indexer
from kybernetes.scheduler.framework.interface import CycleState, NodeInfo, PodInfo, Status
from kybernetes.scheduler.framework.types import add_pod, new_node_info, new_pod_info

_uids = itertools.count(1)
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def pod(name: str = "p", ns: str = "default", *, labels: dict[str, str] | None = None, node: str = "",
        cpu: str | None = None, priority: int | None = None, start: str | None = None,
        **spec: Any) -> dict[str, Any]:
    """A pod; extra keyword arguments go into spec (affinity=..., tolerations=..., nodeSelector=...)."""
    container: dict[str, Any] = {"name": "c", "image": "busybox"}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    p: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}-{next(_uids)}",
                                      "labels": labels or {}},
                         "spec": {"containers": [container], **spec}, "status": {}}
    if node:
        p["spec"]["nodeName"] = node
    if priority is not None:
        p["spec"]["priority"] = priority
    if start:
        p["status"]["startTime"] = start
    return p


def node(name: str, labels: dict[str, str] | None = None, *, taints: list[dict[str, Any]] | None = None,
         cpu: str = "4", pods: str = "110") -> dict[str, Any]:
    n: dict[str, Any] = {"apiVersion": "v1", "kind": "Node",
                         "metadata": {"name": name, "labels": {HOSTNAME: name, **(labels or {})}},
                         "spec": {}, "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": pods}}}
    if taints:
        n["spec"]["taints"] = taints
    return n


def node_info(n: dict[str, Any], *pods: dict[str, Any]) -> NodeInfo:
    ni = new_node_info(n)
    for p in pods:
        add_pod(ni, new_pod_info(p))
    return ni


def pi(p: dict[str, Any]) -> PodInfo:
    return new_pod_info(p)


def term(key: str, op: str, *values: str) -> dict[str, Any]:
    e: dict[str, Any] = {"key": key, "operator": op}
    if values:
        e["values"] = list(values)
    return e


class FakeSnapshot:
    def __init__(self, infos: list[NodeInfo]) -> None:
        self.infos = infos

    def list(self) -> list[NodeInfo]:
        return self.infos

    def get(self, name: str) -> NodeInfo | None:
        return next((i for i in self.infos if i.name == name), None)

    def have_pods_with_affinity_list(self) -> list[NodeInfo]:
        return [i for i in self.infos if i.pods_with_affinity]

    def have_pods_with_required_anti_affinity_list(self) -> list[NodeInfo]:
        return [i for i in self.infos if i.pods_with_required_anti_affinity]


class FakeClient:
    """Records calls; `fail` maps (method, path) to an exception to raise."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.fail: dict[tuple[str, str], Exception] = {}

    async def _do(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        self.calls.append((method, path, body))
        if (method, path) in self.fail:
            raise self.fail[(method, path)]
        return body or {}

    async def update(self, path: str, body: dict[str, Any], params: Any = None) -> dict[str, Any]:
        return await self._do("PUT", path, body)

    async def patch(self, path: str, body: Any, patch_type: str = "merge", params: Any = None) -> dict[str, Any]:
        return await self._do("PATCH", path, body)

    async def delete(self, path: str, params: Any = None, body: Any = None) -> dict[str, Any]:
        return await self._do("DELETE", path, body)


class FakeHandle:
    """The framework Handle over fixed NodeInfos and listers; runs the given filter plugins for preemption."""

    def __init__(self, infos: list[NodeInfo] | None = None, objects: dict[str, list[dict[str, Any]]] | None = None,
                 filters: list[Any] | None = None) -> None:
        self._snapshot = FakeSnapshot(infos or [])
        self.listers: dict[str, Indexer] = {}
        for plural, objs in (objects or {}).items():
            idx = Indexer()
            idx.replace(objs)
            self.listers[plural] = idx
        self.filters = filters or []
        self.client = FakeClient()

    def snapshot(self) -> FakeSnapshot:
        return self._snapshot

    def lister(self, group: str, version: str, plural: str) -> Indexer:
        if plural not in self.listers:
            raise KeyError(plural)
        return self.listers[plural]

    def run_filter_plugins_with_nominated_pods(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        for f in self.filters:
            if f.name in state.skip_filter_plugins:
                continue
            s = f.filter(state, pod, node)
            if not s.is_success():
                return s
        return Status()

    def _each_extension(self) -> list[Any]:
        return [e for f in self.filters if hasattr(f, "pre_filter_extensions") and (e := f.pre_filter_extensions())]

    def run_pre_filter_extension_add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo,
                                         node: NodeInfo) -> Status:
        for e in self._each_extension():
            e.add_pod(state, pod, to_add, node)
        return Status()

    def run_pre_filter_extension_remove_pod(self, state: CycleState, pod: PodInfo, to_remove: PodInfo,
                                            node: NodeInfo) -> Status:
        for e in self._each_extension():
            e.remove_pod(state, pod, to_remove, node)
        return Status()

    def run_pre_filters(self, state: CycleState, pod: PodInfo) -> Status:
        for f in self.filters:
            if hasattr(f, "pre_filter"):
                _, s = f.pre_filter(state, pod, self._snapshot.list())
                if s.is_skip():
                    state.skip_filter_plugins.add(f.name)
                elif not s.is_success():
                    return s
        return Status()

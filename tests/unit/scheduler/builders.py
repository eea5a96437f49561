"""Tiny object builders for scheduler unit tests."""

from __future__ import annotations

import itertools
from typing import Any

from kybernetes.scheduler.framework.interface import NodeInfo, PodInfo
from kybernetes.scheduler.framework.types import add_pod, new_node_info, new_pod_info

_uids = itertools.count(1)


def make_pod(name: str = "p", *, cpu: str | None = None, memory: str | None = None, priority: int | None = None,
             node_name: str | None = None, ports: list[dict] | None = None, init: list[dict] | None = None,
             overhead: dict | None = None, extended: dict | None = None, images: list[str] | None = None,
             tolerations: list[dict] | None = None, gates: list[str] | None = None) -> dict[str, Any]:
    reqs = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    reqs.update(extended or {})
    containers = [{"name": f"c{i}", "image": img, **({"resources": {"requests": reqs}} if reqs and i == 0 else {}),
                   **({"ports": ports} if ports and i == 0 else {})}
                  for i, img in enumerate(images or ["pause"])]
    spec: dict[str, Any] = {"containers": containers}
    for key, value in (("priority", priority), ("nodeName", node_name), ("initContainers", init),
                       ("overhead", overhead), ("tolerations", tolerations)):
        if value is not None:
            spec[key] = value
    if gates:
        spec["schedulingGates"] = [{"name": g} for g in gates]
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}-{next(_uids)}"}, "spec": spec}


def make_node(name: str = "n", *, cpu: str = "4", memory: str = "8Gi", pods: str = "110",
              unschedulable: bool = False, images: list[tuple[list[str], int]] | None = None,
              extended: dict | None = None) -> dict[str, Any]:
    alloc = {"cpu": cpu, "memory": memory, "pods": pods, **(extended or {})}
    status: dict[str, Any] = {"allocatable": alloc, "capacity": alloc}
    if images:
        status["images"] = [{"names": names, "sizeBytes": size} for names, size in images]
    return {"metadata": {"name": name}, "spec": {"unschedulable": True} if unschedulable else {}, "status": status}


def node_info(node: dict[str, Any], *pods: dict[str, Any]) -> NodeInfo:
    ni = new_node_info(node)
    for p in pods:
        add_pod(ni, new_pod_info(p))
    return ni


def pod_info(pod: dict[str, Any]) -> PodInfo:
    return new_pod_info(pod)

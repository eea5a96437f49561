"""Building PodInfo and keeping NodeInfo aggregates: pod requests as upstream counts them, add/remove pod, set node."""

from __future__ import annotations

import itertools
import math
from functools import lru_cache
from typing import Any

from kybernetes.api.validation.quantity import QuantityError, parse_quantity
from kybernetes.scheduler.framework.interface import Node, NodeInfo, Pod, PodInfo, Resource

DEFAULT_MILLI_CPU_REQUEST = 100  # upstream's schedutil.DefaultMilliCPURequest, used for scoring only
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024  # 200Mi
_NATIVE = ("cpu", "memory", "ephemeral-storage", "pods")


@lru_cache(maxsize=4096)
def _quantity(value: str) -> Any:
    try:
        return parse_quantity(value)
    except QuantityError:
        return 0


@lru_cache(maxsize=4096)
def _milli(value: str) -> int:
    return math.ceil(_quantity(value) * 1000)


@lru_cache(maxsize=4096)
def _int(value: str) -> int:
    return math.ceil(_quantity(value))


def milli_value(value: Any) -> int:
    """A quantity in thousandths, rounded up (how CPU is counted)."""
    return _milli(value) if isinstance(value, str) else math.ceil(parse_quantity(value) * 1000)


def int_value(value: Any) -> int:
    """A quantity as an integer, rounded up (bytes, counts)."""
    return _int(value) if isinstance(value, str) else math.ceil(parse_quantity(value))


def resource_from_list(rl: dict[str, Any] | None) -> Resource:
    """A Resource from a v1.ResourceList ({"cpu": "100m", "memory": "1Gi", "example.com/gpu": "2", "pods": "110"})."""
    r = Resource()
    for name, q in (rl or {}).items():
        if name == "cpu":
            r.milli_cpu = milli_value(q)
        elif name == "memory":
            r.memory = int_value(q)
        elif name == "ephemeral-storage":
            r.ephemeral_storage = int_value(q)
        elif name == "pods":
            r.allowed_pod_number = int_value(q)
        else:
            r.scalar[name] = int_value(q)
    return r


def _max_into(acc: Resource, other: Resource) -> None:
    acc.milli_cpu = max(acc.milli_cpu, other.milli_cpu)
    acc.memory = max(acc.memory, other.memory)
    acc.ephemeral_storage = max(acc.ephemeral_storage, other.ephemeral_storage)
    for k, v in other.scalar.items():
        acc.scalar[k] = max(acc.scalar.get(k, 0), v)


def _container_requests(c: dict[str, Any], non_zero: bool) -> Resource:
    r = resource_from_list((c.get("resources") or {}).get("requests"))
    if non_zero:
        reqs = (c.get("resources") or {}).get("requests") or {}
        if "cpu" not in reqs:
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST
        if "memory" not in reqs:
            r.memory = DEFAULT_MEMORY_REQUEST
    return r


def pod_requests(pod: Pod, *, non_zero: bool = False) -> Resource:
    """Upstream's resourcehelper.PodRequests: max(sum(app containers) + sidecars, each init container plus the
    sidecars started before it) + overhead. non_zero: missing cpu/memory requests count as 100m/200Mi (scoring)."""
    spec = pod.get("spec") or {}
    reqs = Resource()
    for c in spec.get("containers") or ():
        reqs.add(_container_requests(c, non_zero))
    sidecars = Resource()
    init_max = Resource()
    for c in spec.get("initContainers") or ():
        cr = _container_requests(c, non_zero)
        if c.get("restartPolicy") == "Always":
            reqs.add(cr)
            sidecars.add(cr)
            _max_into(init_max, sidecars)
        else:
            cr.add(sidecars)
            _max_into(init_max, cr)
    _max_into(reqs, init_max)
    if spec.get("overhead"):
        reqs.add(resource_from_list(spec["overhead"]))
    reqs.allowed_pod_number = 0
    return reqs


def host_ports(pod: Pod) -> list[tuple[str, str, int]]:
    """(hostIP, protocol, hostPort) of every container port with a hostPort, sidecars included."""
    spec = pod.get("spec") or {}
    out = []
    containers = list(spec.get("containers") or ())
    containers += [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    for c in containers:
        for p in c.get("ports") or ():
            hp = p.get("hostPort") or 0
            if hp > 0:
                out.append((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(hp)))
    return out


def has_affinity(pod: Pod) -> tuple[bool, bool]:
    """(has pod affinity or anti-affinity, has required anti-affinity)."""
    aff = (pod.get("spec") or {}).get("affinity") or {}
    pa, paa = aff.get("podAffinity"), aff.get("podAntiAffinity")
    return bool(pa or paa), bool(paa and paa.get("requiredDuringSchedulingIgnoredDuringExecution"))


def new_pod_info(pod: Pod) -> PodInfo:
    """The PodInfo of a pod: its requests for fit and for scoring, computed once."""
    pi = PodInfo(pod, pod_requests(pod), pod_requests(pod, non_zero=True))
    pi.cache["host_ports"] = host_ports(pod)
    pi.cache["affinity"] = has_affinity(pod)
    return pi


def pod_priority(pod: Pod) -> int:
    return (pod.get("spec") or {}).get("priority") or 0


_generations = itertools.count(1)


def next_generation() -> int:
    """A new NodeInfo generation (upstream's nextGeneration): unique in the process, so a generation identifies one
    state of one NodeInfo and derived values can be remembered by it."""
    return next(_generations)


def new_node_info(node: Node | None = None) -> NodeInfo:
    ni = NodeInfo()
    if node is not None:
        set_node(ni, node)
    return ni


def set_node(ni: NodeInfo, node: Node) -> None:
    """Point the NodeInfo at a (new version of the) node and refresh its allocatable."""
    ni.node = node
    ni.allocatable = resource_from_list((node.get("status") or {}).get("allocatable"))
    spec = node.get("spec") or {}
    ni.taints = spec.get("taints") or []
    ni.unschedulable = bool(spec.get("unschedulable"))
    ni.labels = (node.get("metadata") or {}).get("labels") or {}
    ni.generation = next_generation()


def add_pod(ni: NodeInfo, pi: PodInfo) -> None:
    """Account for a pod placed on the node (assumed or bound)."""
    ni.pods.append(pi)
    ni.generation = next_generation()
    aff, anti = pi.cache.get("affinity") or has_affinity(pi.pod)
    if aff:
        ni.pods_with_affinity.append(pi)
    if anti:
        ni.pods_with_required_anti_affinity.append(pi)
    ni.requested.add(pi.requests)
    ni.non_zero_requested.add(pi.non_zero_requests)
    for port in pi.cache.get("host_ports", ()):
        ni.used_ports.add(port)


def _remove_by_uid(pods: list[PodInfo], uid: str, pod: Pod | None = None) -> PodInfo | None:
    """Swap-remove the PodInfo of this uid (found by identity of its pod object first, which is the usual case)."""
    for i, p in enumerate(pods):
        if p.pod is pod or p.uid == uid:
            pods[i] = pods[-1]
            pods.pop()
            return p
    return None


def remove_pod(ni: NodeInfo, pod: Pod) -> bool:
    """Forget a pod on the node (matched by uid); False if it was not there."""
    uid = (pod.get("metadata") or {}).get("uid", "")
    pi = _remove_by_uid(ni.pods, uid, pod)
    if pi is None:
        return False
    ni.generation = next_generation()
    if ni.pods_with_affinity:
        _remove_by_uid(ni.pods_with_affinity, uid, pod)
    if ni.pods_with_required_anti_affinity:
        _remove_by_uid(ni.pods_with_required_anti_affinity, uid, pod)
    ni.requested.sub(pi.requests)
    ni.non_zero_requested.sub(pi.non_zero_requests)
    if pi.cache.get("host_ports"):
        for port in pi.cache["host_ports"]:
            ni.used_ports.discard(port)
        for other in ni.pods:  # another pod may still hold the same port
            ni.used_ports.update(other.cache.get("host_ports", ()))
    return True

"""ResourceQuota arithmetic shared by the admission plugin and the quota controller: what an object uses."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Callable, Iterable

from kybernetes.api.validation.quantity import QuantityError, parse_quantity

Obj = dict[str, Any]
ResourceList = dict[str, Fraction]
# (group, plural) -> objects of that resource in one namespace
Lister = Callable[[str, str], Iterable[Obj]]

# the object-count names upstream accepts without the count/ prefix
LEGACY_COUNTS: dict[str, tuple[str, str]] = {
    "pods": ("", "pods"), "services": ("", "services"), "configmaps": ("", "configmaps"),
    "secrets": ("", "secrets"), "persistentvolumeclaims": ("", "persistentvolumeclaims"),
    "replicationcontrollers": ("", "replicationcontrollers"), "resourcequotas": ("", "resourcequotas"),
}
POD_COMPUTE = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "cpu", "memory",
               "requests.ephemeral-storage", "limits.ephemeral-storage", "ephemeral-storage")


def quantity(value: Any) -> Fraction:
    try:
        return parse_quantity(value)
    except (QuantityError, TypeError, ValueError):
        return Fraction(0)


def format_quantity(name: str, value: Fraction) -> str:
    """A readable quantity close to upstream's canonical form (cpu in millis, memory in binary units)."""
    if value.denominator != 1:
        milli = value * 1000
        return f"{int(milli)}m" if milli.denominator == 1 else str(float(value))
    n = int(value)
    if "memory" in name or "storage" in name:
        for suffix, size in (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if n and n % size == 0:
                return f"{n // size}{suffix}"
    return str(n)


def pretty(resources: dict[str, Fraction]) -> str:
    """Upstream's prettyPrint: name=value pairs, sorted, comma-separated."""
    return ",".join(f"{k}={format_quantity(k, resources[k])}" for k in sorted(resources))


def count_key(group: str, plural: str) -> str:
    return f"count/{plural}.{group}" if group else f"count/{plural}"


def parse_count(name: str) -> tuple[str, str] | None:
    """The (group, plural) an object-count quota name counts, or None for a compute/storage name."""
    if name in LEGACY_COUNTS:
        return LEGACY_COUNTS[name]
    if name.startswith("count/"):
        plural, _, group = name[len("count/"):].partition(".")
        return group, plural
    return None


def _sum_lists(lists: Iterable[dict[str, Any]]) -> ResourceList:
    out: ResourceList = {}
    for rl in lists:
        for k, v in (rl or {}).items():
            out[k] = out.get(k, Fraction(0)) + quantity(v)
    return out


def _max_lists(a: ResourceList, b: ResourceList) -> ResourceList:
    return {k: max(a.get(k, Fraction(0)), b.get(k, Fraction(0))) for k in set(a) | set(b)}


def pod_resources(pod: Obj, kind: str) -> ResourceList:
    """Effective pod requests or limits (kind "requests"/"limits"): max(sum(containers), each init) + overhead."""
    spec = pod.get("spec") or {}
    containers = [(c.get("resources") or {}).get(kind) or {} for c in spec.get("containers") or []]
    total = _sum_lists(containers)
    for c in spec.get("initContainers") or []:
        total = _max_lists(total, _sum_lists([(c.get("resources") or {}).get(kind) or {}]))
    for k, v in (spec.get("overhead") or {}).items():
        total[k] = total.get(k, Fraction(0)) + quantity(v)
    return total


def pod_is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def pod_usage(pod: Obj) -> ResourceList:
    """What a pod charges against compute quota (nothing once it finished)."""
    if pod_is_terminal(pod):
        return {}
    out: ResourceList = {}
    for kind in ("requests", "limits"):
        for k, v in pod_resources(pod, kind).items():
            out[f"{kind}.{k}"] = v
            if kind == "requests" and k in ("cpu", "memory", "ephemeral-storage"):
                out[k] = v
    return out


def object_usage(group: str, plural: str, obj: Obj) -> ResourceList:
    """The non-count resources one object uses."""
    if (group, plural) == ("", "pods"):
        return pod_usage(obj)
    if (group, plural) == ("", "services"):
        stype = (obj.get("spec") or {}).get("type", "ClusterIP")
        ports = len((obj.get("spec") or {}).get("ports") or [])
        out: ResourceList = {}
        if stype == "LoadBalancer":
            out["services.loadbalancers"] = Fraction(1)
        if stype in ("NodePort", "LoadBalancer"):
            out["services.nodeports"] = Fraction(ports)
        return out
    if (group, plural) == ("", "persistentvolumeclaims"):
        storage = ((obj.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")
        out = {"requests.storage": quantity(storage)} if storage else {}
        cls = (obj.get("spec") or {}).get("storageClassName")
        if cls and storage:
            out[f"{cls}.storageclass.storage.k8s.io/requests.storage"] = quantity(storage)
            out[f"{cls}.storageclass.storage.k8s.io/persistentvolumeclaims"] = Fraction(1)
        return out
    return {}


def counts_object(group: str, plural: str, obj: Obj) -> bool:
    """Whether the object counts for its resource's object count (finished pods do not)."""
    return not ((group, plural) == ("", "pods") and pod_is_terminal(obj))


def usage_of(group: str, plural: str, obj: Obj, names: Iterable[str]) -> ResourceList:
    """What one object adds to each of the quota's resource names."""
    used = object_usage(group, plural, obj)
    out: ResourceList = {}
    for name in names:
        target = parse_count(name)
        if target is not None:
            if target == (group, plural) and counts_object(group, plural, obj):
                out[name] = Fraction(1)
        elif name in used:
            out[name] = used[name]
    return out


def RESOURCES_FOR(name: str) -> tuple[str, str] | None:  # noqa: N802 - a table lookup read like a constant
    """The resource whose objects a quota name is computed from."""
    target = parse_count(name)
    if target is not None:
        return target
    if name in POD_COMPUTE:
        return "", "pods"
    if name.startswith("services."):
        return "", "services"
    if name == "requests.storage" or ".storageclass.storage.k8s.io/" in name:
        return "", "persistentvolumeclaims"
    return None


def namespace_usage(hard: dict[str, Any], lister: Lister) -> ResourceList:
    """status.used for a quota with `hard`: every tracked name summed over the namespace's objects."""
    names = list(hard)
    used: ResourceList = {n: Fraction(0) for n in names}
    for group, plural in {r for r in (RESOURCES_FOR(n) for n in names) if r is not None}:
        for obj in lister(group, plural):
            for k, v in usage_of(group, plural, obj, names).items():
                used[k] += v
    return used


def to_resource_list(values: ResourceList) -> dict[str, str]:
    return {k: format_quantity(k, v) for k, v in sorted(values.items())}

"""Per-resource write strategies: what create and update reset, keep, and bump (upstream's rest strategies)."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from kybernetes.api.registry import ResourceInfo

# resources whose metadata.generation tracks spec changes
GENERATION_RESOURCES = {
    ("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"), ("apps", "daemonsets"),
    ("", "replicationcontrollers"), ("batch", "jobs"), ("batch", "cronjobs"), ("policy", "poddisruptionbudgets"),
    ("apiextensions.k8s.io", "customresourcedefinitions"), ("networking.k8s.io", "networkpolicies"),
    ("networking.k8s.io", "ingresses"),
}

# resources whose status survives create (their status is written by the creator, as upstream keeps it)
KEEP_STATUS_ON_CREATE = {("", "nodes"), ("", "namespaces"), ("", "events"), ("coordination.k8s.io", "leases")}

# resources that PUT may create (upstream's AllowCreateOnUpdate)
CREATE_ON_UPDATE = {
    ("", "endpoints"), ("", "events"), ("events.k8s.io", "events"), ("coordination.k8s.io", "leases"),
    ("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "rolebindings"), ("rbac.authorization.k8s.io", "clusterrolebindings"),
    ("discovery.k8s.io", "endpointslices"),
}

# the initial status upstream's PrepareForCreate writes
_INITIAL_STATUS: dict[tuple[str, str], dict[str, Any]] = {
    ("", "pods"): {"phase": "Pending"},
    ("", "persistentvolumeclaims"): {"phase": "Pending"},
    ("", "persistentvolumes"): {"phase": "Pending"},
}

# top-level fields that are neither metadata nor status: the "spec" of types without a spec field
_NON_SPEC = {"apiVersion", "kind", "metadata", "status"}


def tracks_generation(info: ResourceInfo) -> bool:
    return info.crd or (info.group, info.plural) in GENERATION_RESOURCES


def has_status_subresource(info: ResourceInfo) -> bool:
    return "status" in info.subresources


def allow_create_on_update(info: ResourceInfo) -> bool:
    return (info.group, info.plural) in CREATE_ON_UPDATE


def spec_of(obj: dict[str, Any], info: ResourceInfo) -> dict[str, Any]:
    """Everything that is neither metadata nor status (status counts as spec without a status subresource)."""
    skip = _NON_SPEC if has_status_subresource(info) else {"apiVersion", "kind", "metadata"}
    return {k: v for k, v in obj.items() if k not in skip}


def prepare_for_create(info: ResourceInfo, obj: dict[str, Any]) -> None:
    md = obj["metadata"]
    if has_status_subresource(info) and (info.group, info.plural) not in KEEP_STATUS_ON_CREATE:
        initial = _INITIAL_STATUS.get((info.group, info.plural))
        if initial is not None:
            obj["status"] = copy.deepcopy(initial)
        else:
            obj.pop("status", None)
    if tracks_generation(info):
        md["generation"] = 1
    else:
        md.pop("generation", None)
    if (info.group, info.plural) == ("", "pods"):
        _pod_qos(obj)


def prepare_for_update(info: ResourceInfo, new: dict[str, Any], old: dict[str, Any], subresource: str) -> None:
    """Keep what this endpoint may not change; bump generation on spec changes."""
    if subresource == "status":
        for k in list(new):
            if k not in _NON_SPEC:
                del new[k]
        for k, v in old.items():
            if k not in _NON_SPEC:
                new[k] = _json_copy(v)
        nmd, omd = new["metadata"], old["metadata"]
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "generation"):
            if k in omd:
                nmd[k] = _json_copy(omd[k])
            else:
                nmd.pop(k, None)
        return
    if subresource == "" and has_status_subresource(info):
        if "status" in old:
            new["status"] = _json_copy(old["status"])
        else:
            new.pop("status", None)
    nmd, omd = new["metadata"], old["metadata"]
    if tracks_generation(info):
        gen = omd.get("generation", 1)
        if spec_of(new, info) != spec_of(old, info):
            gen += 1
        nmd["generation"] = gen
    elif "generation" in omd:
        nmd["generation"] = omd["generation"]
    else:
        nmd.pop("generation", None)
    if (info.group, info.plural) == ("", "pods") and "status" in new:
        new["status"]["qosClass"] = old.get("status", {}).get("qosClass") or new["status"].get("qosClass")


def _json_copy(value: Any) -> Any:
    """A deep copy of a stored (JSON) value: one C round trip instead of copy.deepcopy's Python walk."""
    if isinstance(value, (dict, list)):
        try:
            return orjson.loads(orjson.dumps(value))
        except TypeError:  # not JSON after all (nothing stored is like that)
            return copy.deepcopy(value)
    return value


def _pod_qos(pod: dict[str, Any]) -> None:
    """status.qosClass as upstream computes it: Guaranteed, Burstable or BestEffort."""
    containers = list(pod.get("spec", {}).get("containers") or []) + list(pod.get("spec", {}).get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim:
                guaranteed = False
            elif r in req and str(req[r]) != str(lim[r]):
                guaranteed = False
    status = pod.setdefault("status", {})
    if not any_set:
        status["qosClass"] = "BestEffort"
    elif guaranteed and containers:
        status["qosClass"] = "Guaranteed"
    else:
        status["qosClass"] = "Burstable"

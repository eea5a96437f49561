"""Pure helpers of the DaemonSet controller (upstream's daemon/util and the node checks of daemon_controller):
which nodes should run a daemon pod, the tolerations daemon pods get, the node-name affinity that lets the
default scheduler place them, and the rolling-update bookkeeping."""

from __future__ import annotations

import copy
import math
from typing import Any

from kybernetes.controllers.controller_utils import is_being_deleted
from kybernetes.controllers.history import CONTROLLER_REVISION_HASH_LABEL
from kybernetes.scheduler.plugins.helpers.nodeaffinity import RequiredNodeAffinity
from kybernetes.scheduler.plugins.helpers.taints import NO_EXECUTE, find_untolerated_taint

Obj = dict[str, Any]

OBJECT_NAME_FIELD = "metadata.name"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
TEMPLATE_GENERATION_LABEL = "pod-template-generation"

# (key, effect) of the tolerations every daemon pod gets (AddOrUpdateDaemonPodTolerations)
DAEMON_TOLERATIONS: tuple[tuple[str, str], ...] = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)
NETWORK_UNAVAILABLE = ("node.kubernetes.io/network-unavailable", "NoSchedule")


def add_daemon_tolerations(pod_spec: Obj) -> None:
    """Add (or replace matching) the daemon tolerations; network-unavailable only for hostNetwork pods."""
    wanted = list(DAEMON_TOLERATIONS) + ([NETWORK_UNAVAILABLE] if pod_spec.get("hostNetwork") else [])
    # MatchToleration: same key, operator, value and effect (tolerationSeconds is what may differ)
    tolerations = [t for t in pod_spec.get("tolerations") or []
                   if not ((t.get("key"), t.get("effect")) in wanted and t.get("operator") == "Exists"
                           and not t.get("value"))]
    tolerations += [{"key": key, "operator": "Exists", "effect": effect} for key, effect in wanted]
    pod_spec["tolerations"] = tolerations


def new_pod(ds: Obj, node_name: str) -> Obj:
    """NewPod: the pod the DaemonSet would run on `node_name`, used to check whether it fits there."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    spec = template.get("spec") or {}
    spec["nodeName"] = node_name
    add_daemon_tolerations(spec)
    return {"metadata": {**(template.get("metadata") or {}), "namespace": ds["metadata"].get("namespace")},
            "spec": spec}


def node_should_run_daemon_pod(node: Obj, ds: Obj) -> tuple[bool, bool]:
    """(should run a daemon pod, should keep a running one): node name, node selector and affinity, taints."""
    name = node["metadata"]["name"]
    template_node = (((ds.get("spec") or {}).get("template") or {}).get("spec") or {}).get("nodeName")
    if template_node and template_node != name:
        return False, False
    pod = new_pod(ds, name)
    if not RequiredNodeAffinity(pod).matches(node):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or []
    tolerations = pod["spec"].get("tolerations") or []
    if find_untolerated_taint(taints, tolerations) is not None:
        return False, find_untolerated_taint(taints, tolerations, frozenset((NO_EXECUTE,))) is None
    return True, True


def replace_node_name_affinity(affinity: Obj | None, node_name: str) -> Obj:
    """ReplaceDaemonSetPodNodeNameNodeAffinity: required node affinity = one term, matchFields name In [node]."""
    affinity = copy.deepcopy(affinity or {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [{"matchFields": [
        {"key": OBJECT_NAME_FIELD, "operator": "In", "values": [node_name]}]}]}
    return affinity


def target_node_name(pod: Obj) -> str | None:
    """GetTargetNodeName: spec.nodeName, else the node of the name affinity of an unscheduled daemon pod."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or ():
        for f in term.get("matchFields") or ():
            if f.get("key") == OBJECT_NAME_FIELD and f.get("operator") == "In" and len(f.get("values") or []) == 1:
                return str(f["values"][0])
    return None


def create_pod_template(ds: Obj, hash_: str) -> Obj:
    """CreatePodTemplate: the DaemonSet's template with the daemon tolerations and the revision labels."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    add_daemon_tolerations(template.setdefault("spec", {}))
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    generation = ((ds.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
    if generation:
        labels[TEMPLATE_GENERATION_LABEL] = generation
    if hash_:
        labels[CONTROLLER_REVISION_HASH_LABEL] = hash_
    return template


def is_pod_updated(pod: Obj, hash_: str) -> bool:
    return ((pod.get("metadata") or {}).get("labels") or {}).get(CONTROLLER_REVISION_HASH_LABEL) == hash_


def find_updated_pods_on_node(pods: list[Obj], hash_: str) -> tuple[Obj | None, Obj | None, bool]:
    """(the updated pod, the old pod, ok); not ok when a node has two of either kind."""
    new = old = None
    for pod in pods:
        if is_being_deleted(pod):
            continue
        if is_pod_updated(pod, hash_):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def _scaled(value: int | str | None, total: int, round_up: bool) -> int:
    if value is None:
        return 0
    if isinstance(value, str) and value.endswith("%"):
        pct = int(value[:-1]) * total / 100
        return math.ceil(pct) if round_up else math.floor(pct)
    return int(value)


def surge_and_unavailable(ds: Obj, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a RollingUpdate DaemonSet for `desired` nodes, both rounded up; when
    both come to 0, maxUnavailable is 1 (upstream's updatedDesiredNodeCounts)."""
    rolling = (((ds.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {})
    surge = _scaled(rolling.get("maxSurge", 0), desired, True)
    unavailable = _scaled(rolling.get("maxUnavailable", 1), desired, True)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_rolling_update(ds: Obj) -> bool:
    return (((ds.get("spec") or {}).get("updateStrategy") or {}).get("type") or "RollingUpdate") == "RollingUpdate"

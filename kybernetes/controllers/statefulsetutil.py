"""Pure helpers of the StatefulSet controller (upstream's stateful_set_utils): ordinals and stable pod identity,
volume claims from templates and their retention owner references, revisions of pods, pod health."""

from __future__ import annotations

import copy
import re
from typing import Any

from kybernetes.controllers.controller_utils import is_being_deleted, is_pod_available, is_pod_ready, new_controller_ref
from kybernetes.controllers.history import CONTROLLER_REVISION_HASH_LABEL, template_of_revision

Obj = dict[str, Any]

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
API_VERSION, KIND = "apps/v1", "StatefulSet"
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


def parent_and_ordinal(pod: Obj) -> tuple[str, int]:
    """('web', 2) for web-2; ('', -1) when the name has no ordinal."""
    m = _ORDINAL.match(pod["metadata"].get("name", ""))
    return (m.group(1), int(m.group(2))) if m else ("", -1)


def ordinal_of(pod: Obj) -> int:
    return parent_and_ordinal(pod)[1]


def is_member_of(sts: Obj, pod: Obj) -> bool:
    return parent_and_ordinal(pod)[0] == sts["metadata"]["name"]


def start_ordinal(sts: Obj) -> int:
    return int(((sts.get("spec") or {}).get("ordinals") or {}).get("start") or 0)


def replicas_of(sts: Obj) -> int:
    replicas = (sts.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def pod_name(sts: Obj, ordinal: int) -> str:
    return f"{sts['metadata']['name']}-{ordinal}"


def claim_name(sts: Obj, template: Obj, ordinal: int) -> str:
    """<template>-<set>-<ordinal>."""
    return f"{template['metadata']['name']}-{sts['metadata']['name']}-{ordinal}"


def revision_of(pod: Obj) -> str:
    return ((pod.get("metadata") or {}).get("labels") or {}).get(CONTROLLER_REVISION_HASH_LABEL, "")


def apply_revision(sts: Obj, revision: Obj) -> Obj:
    """ApplyRevision: the StatefulSet as it was at `revision` (its pod template restored)."""
    out = copy.deepcopy(sts)
    out.setdefault("spec", {})["template"] = template_of_revision(revision)
    return out


def claims_for(sts: Obj, ordinal: int) -> list[Obj]:
    """getPersistentVolumeClaims: one claim per volumeClaimTemplate, labelled with the set's matchLabels."""
    out = []
    match = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or ():
        claim = copy.deepcopy(template)
        md = claim.setdefault("metadata", {})
        md["name"] = claim_name(sts, template, ordinal)
        md["namespace"] = sts["metadata"]["namespace"]
        md["labels"] = {**(md.get("labels") or {}), **match}
        claim["apiVersion"], claim["kind"] = "v1", "PersistentVolumeClaim"
        claim.pop("status", None)
        out.append(claim)
    return out


def new_stateful_set_pod(sts: Obj, ordinal: int, revision_name: str) -> Obj:
    """newStatefulSetPod + setPodRevision: the pod of `ordinal` from sts's template, with its identity."""
    template = copy.deepcopy((sts.get("spec") or {}).get("template") or {})
    tmeta = template.get("metadata") or {}
    name = pod_name(sts, ordinal)
    labels = dict(tmeta.get("labels") or {})
    labels[POD_NAME_LABEL] = name
    labels[POD_INDEX_LABEL] = str(ordinal)
    if revision_name:
        labels[CONTROLLER_REVISION_HASH_LABEL] = revision_name
    meta: Obj = {"name": name, "namespace": sts["metadata"]["namespace"], "labels": labels,
                 "ownerReferences": [new_controller_ref(sts, api_version=API_VERSION, kind=KIND)]}
    for k in ("annotations", "finalizers"):
        if tmeta.get(k):
            meta[k] = copy.deepcopy(tmeta[k])
    spec = template.get("spec") or {}
    spec["hostname"] = name
    if (sts.get("spec") or {}).get("serviceName"):
        spec["subdomain"] = sts["spec"]["serviceName"]
    claims = {t["metadata"]["name"]: claim_name(sts, t, ordinal)
              for t in (sts.get("spec") or {}).get("volumeClaimTemplates") or ()}
    if claims:
        volumes = [{"name": vol, "persistentVolumeClaim": {"claimName": claim}} for vol, claim in claims.items()]
        volumes += [v for v in spec.get("volumes") or () if v.get("name") not in claims]
        spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def new_versioned_pod(current_set: Obj, update_set: Obj, current_revision: str, update_revision: str,
                      ordinal: int) -> Obj:
    """newVersionedStatefulSetPod: below the partition (RollingUpdate) a pod stays at the current revision."""
    strategy = (current_set.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        start = start_ordinal(current_set)
        if rolling is None:
            below = ordinal < start + int((current_set.get("status") or {}).get("currentReplicas") or 0)
        else:
            below = ordinal < start + int(rolling.get("partition") or 0)
        if below:
            return new_stateful_set_pod(current_set, ordinal, current_revision)
    return new_stateful_set_pod(update_set, ordinal, update_revision)


def is_running_and_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_pod_ready(pod)


def is_running_and_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_pod_available(pod, min_ready_seconds, now)


def is_healthy(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    return is_running_and_available(pod, min_ready_seconds, now) and not is_being_deleted(pod)


def is_finished(pod: Obj) -> str | None:
    phase = (pod.get("status") or {}).get("phase")
    return phase if phase in ("Failed", "Succeeded") else None


def _owner_ref(obj: Obj, api_version: str, kind: str) -> Obj:
    md = obj["metadata"]
    return {"apiVersion": api_version, "kind": kind, "name": md["name"], "uid": md["uid"]}


def desired_claim_owner_refs(sts: Obj, pod: Obj | None, claim: Obj) -> list[Obj]:
    """persistentVolumeClaimRetentionPolicy as owner references: WhenDeleted=Delete -> owned by the set;
    WhenScaled=Delete -> owned by its pod once the pod's ordinal is beyond the replicas (condemned)."""
    policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
    set_uid = sts["metadata"]["uid"]
    pod_uid = pod["metadata"].get("uid") if pod is not None else None
    pod_name_ = pod["metadata"]["name"] if pod is not None else None
    refs = [r for r in (claim.get("metadata") or {}).get("ownerReferences") or ()
            if r.get("uid") not in (set_uid, pod_uid) and not (r.get("kind") == "Pod" and r.get("name") == pod_name_)]
    if policy.get("whenDeleted") == "Delete":
        refs.append(_owner_ref(sts, API_VERSION, KIND))
    if pod is not None and policy.get("whenScaled") == "Delete" and pod["metadata"].get("uid"):
        ordinal = ordinal_of(pod)
        start = start_ordinal(sts)
        if not start <= ordinal < start + replicas_of(sts):
            refs.append(_owner_ref(pod, "v1", "Pod"))
    return refs

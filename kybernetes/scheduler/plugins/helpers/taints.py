"""Taints and tolerations as upstream's v1 helpers: ToleratesTaint and FindMatchingUntoleratedTaint."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

NO_SCHEDULE = "NoSchedule"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
NO_EXECUTE = "NoExecute"
DO_NOT_SCHEDULE_EFFECTS = frozenset((NO_SCHEDULE, NO_EXECUTE))


def tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    """Toleration.ToleratesTaint: empty effect matches all effects, empty key with Exists matches all keys."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def find_untolerated_taint(taints: Iterable[dict[str, Any]] | None, tolerations: list[dict[str, Any]] | None,
                           effects: frozenset[str] = DO_NOT_SCHEDULE_EFFECTS) -> dict[str, Any] | None:
    """The first taint with one of `effects` that no toleration tolerates, or None."""
    tolerations = tolerations or []
    for taint in taints or ():
        if taint.get("effect") not in effects:
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def node_taints(node: dict[str, Any] | None) -> list[dict[str, Any]]:
    return ((node or {}).get("spec") or {}).get("taints") or []


def pod_tolerations(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return (pod.get("spec") or {}).get("tolerations") or []

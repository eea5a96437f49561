"""Defaults of apps/v1 workloads (pkg/apis/apps/v1/defaults.go): replicas, strategies, history limits."""

from __future__ import annotations

from kybernetes.api.defaults.core import _d, _dicts, set_defaults_pod_template_spec, set_defaults_pvc


def set_defaults_deployment(obj: dict) -> None:
    spec = _d(obj, "spec")
    spec.setdefault("replicas", 1)
    strategy = _d(spec, "strategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = _d(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    set_defaults_pod_template_spec(spec.get("template"))


def set_defaults_replica_set(obj: dict) -> None:
    spec = _d(obj, "spec")
    spec.setdefault("replicas", 1)
    set_defaults_pod_template_spec(spec.get("template"))


def set_defaults_daemon_set(obj: dict) -> None:
    spec = _d(obj, "spec")
    strategy = _d(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = _d(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    set_defaults_pod_template_spec(spec.get("template"))


def set_defaults_stateful_set(obj: dict) -> None:
    spec = _d(obj, "spec")
    if not spec.get("podManagementPolicy"):
        spec["podManagementPolicy"] = "OrderedReady"
    strategy = _d(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        if strategy.get("rollingUpdate") is None:
            strategy["rollingUpdate"] = {}
    if strategy["type"] == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        strategy["rollingUpdate"].setdefault("partition", 0)
    retention = _d(spec, "persistentVolumeClaimRetentionPolicy")
    if not retention.get("whenDeleted"):
        retention["whenDeleted"] = "Retain"
    if not retention.get("whenScaled"):
        retention["whenScaled"] = "Retain"
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    set_defaults_pod_template_spec(spec.get("template"))
    for claim in _dicts(spec.get("volumeClaimTemplates")):
        set_defaults_pvc(claim)

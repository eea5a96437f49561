"""KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1): profiles, plugin sets per extension point
(multiPoint included), plugin args, percentageOfNodesToScore, back-off and leader election, with upstream's defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
DEFAULT_SCHEDULER_NAME = "default-scheduler"
POINTS = ("multiPoint", "preEnqueue", "queueSort", "preFilter", "filter", "postFilter", "preScore", "score",
          "reserve", "permit", "preBind", "bind", "postBind")

# upstream's v1 default MultiPoint set (plugins this project does not have are left out), with score weights
DEFAULT_MULTI_POINT: list[tuple[str, int]] = [
    ("SchedulingGates", 0), ("PrioritySort", 0), ("NodeUnschedulable", 0), ("NodeName", 0),
    ("TaintToleration", 3), ("NodeAffinity", 2), ("NodePorts", 0), ("NodeResourcesFit", 1),
    ("VolumeBinding", 0), ("PodTopologySpread", 2), ("InterPodAffinity", 2), ("DefaultPreemption", 0),
    ("NodeResourcesBalancedAllocation", 1), ("ImageLocality", 1), ("DefaultBinder", 0),
]


class ConfigError(ValueError):
    """The configuration file is not a valid KubeSchedulerConfiguration."""


@dataclass
class PluginRef:
    name: str
    weight: int = 0


@dataclass
class PluginSet:
    enabled: list[PluginRef] = field(default_factory=list)
    disabled: list[PluginRef] = field(default_factory=list)


@dataclass
class Profile:
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    plugins: dict[str, PluginSet] = field(default_factory=dict)  # after merging with the defaults
    plugin_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    percentage_of_nodes_to_score: int | None = None


@dataclass
class LeaderElectionConfig:
    leader_elect: bool = True
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    resource_namespace: str = "kube-system"
    resource_name: str = "kube-scheduler"


@dataclass
class KubeSchedulerConfiguration:
    profiles: list[Profile] = field(default_factory=list)
    percentage_of_nodes_to_score: int = 0  # 0: adaptive
    pod_initial_backoff_seconds: float = 1.0
    pod_max_backoff_seconds: float = 10.0
    parallelism: int = 16
    leader_election: LeaderElectionConfig = field(default_factory=LeaderElectionConfig)


def default_plugins() -> dict[str, PluginSet]:
    sets = {p: PluginSet() for p in POINTS}
    sets["multiPoint"].enabled = [PluginRef(n, w) for n, w in DEFAULT_MULTI_POINT]
    return sets


def merge_plugin_set(default: PluginSet, custom: PluginSet) -> PluginSet:
    """Upstream's mergePluginSet: defaults minus disabled ('*' disables all), custom entries override defaults
    in place (their weight wins), other custom entries appended in order."""
    disabled = {r.name for r in custom.disabled}
    custom_by_name = {r.name: r for r in custom.enabled}
    enabled: list[PluginRef] = []
    replaced: set[str] = set()
    for r in default.enabled:
        if "*" in disabled or r.name in disabled:
            continue
        if r.name in custom_by_name:
            enabled.append(custom_by_name[r.name])
            replaced.add(r.name)
        else:
            enabled.append(r)
    enabled += [r for r in custom.enabled if r.name not in replaced]
    return PluginSet(enabled, list(custom.disabled))


def _duration(v: Any, default: float) -> float:
    """'15s', '1m30s', '500ms' (metav1.Duration) to seconds."""
    if v is None:
        return default
    if isinstance(v, (int, float)):
        return float(v)
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)(ms|s|m|h)", str(v)):
        total += float(num) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def _plugin_set(doc: Any, where: str) -> PluginSet:
    if doc is None:
        return PluginSet()
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: must be an object")
    refs = []
    for key in ("enabled", "disabled"):
        items = []
        for i, r in enumerate(doc.get(key) or []):
            if not isinstance(r, dict) or not r.get("name"):
                raise ConfigError(f"{where}.{key}[{i}].name: Required value")
            items.append(PluginRef(str(r["name"]), int(r.get("weight") or 0)))
        refs.append(items)
    return PluginSet(*refs)


def _profile(doc: dict[str, Any], i: int) -> Profile:
    where = f"profiles[{i}]"
    custom = doc.get("plugins") or {}
    defaults = default_plugins()
    plugins = {p: merge_plugin_set(defaults[p], _plugin_set(custom.get(p), f"{where}.plugins.{p}")) for p in POINTS}
    args: dict[str, dict[str, Any]] = {}
    for j, pc in enumerate(doc.get("pluginConfig") or []):
        if not isinstance(pc, dict) or not pc.get("name"):
            raise ConfigError(f"{where}.pluginConfig[{j}].name: Required value")
        if pc["name"] in args:
            raise ConfigError(f"{where}.pluginConfig[{j}]: Duplicate value: {pc['name']!r}")
        args[pc["name"]] = dict(pc.get("args") or {})
    pct = doc.get("percentageOfNodesToScore")
    return Profile(doc.get("schedulerName") or DEFAULT_SCHEDULER_NAME, plugins, args,
                   None if pct is None else int(pct))


def parse_config(doc: dict[str, Any] | None) -> KubeSchedulerConfiguration:
    """A KubeSchedulerConfiguration from its decoded YAML, defaulted as upstream defaults v1."""
    doc = doc or {}
    if doc.get("apiVersion", API_VERSION) != API_VERSION or doc.get("kind", KIND) != KIND:
        raise ConfigError(f"no kind {doc.get('kind')!r} is registered for version {doc.get('apiVersion')!r}")
    profiles = [_profile(p or {}, i) for i, p in enumerate(doc.get("profiles") or [{}])]
    names = [p.scheduler_name for p in profiles]
    if len(set(names)) != len(names):
        raise ConfigError("profiles: Duplicate value: schedulerName must be unique")
    pct = int(doc.get("percentageOfNodesToScore") or 0)
    if not 0 <= pct <= 100:
        raise ConfigError("percentageOfNodesToScore: Invalid value: not in valid range [0-100]")
    le = doc.get("leaderElection") or {}
    return KubeSchedulerConfiguration(
        profiles=profiles, percentage_of_nodes_to_score=pct,
        pod_initial_backoff_seconds=float(doc.get("podInitialBackoffSeconds") or 1),
        pod_max_backoff_seconds=float(doc.get("podMaxBackoffSeconds") or 10),
        parallelism=int(doc.get("parallelism") or 16),
        leader_election=LeaderElectionConfig(
            leader_elect=bool(le.get("leaderElect", True)),
            lease_duration=_duration(le.get("leaseDuration"), 15.0),
            renew_deadline=_duration(le.get("renewDeadline"), 10.0),
            retry_period=_duration(le.get("retryPeriod"), 2.0),
            resource_namespace=le.get("resourceNamespace") or "kube-system",
            resource_name=le.get("resourceName") or "kube-scheduler"))


def load_config(path: str | None) -> KubeSchedulerConfiguration:
    """Read the file at path (None: the defaults)."""
    if path is None:
        return parse_config(None)
    with open(path) as f:
        doc = yaml.safe_load(f)
    if doc is not None and not isinstance(doc, dict):
        raise ConfigError(f"{path}: not a KubeSchedulerConfiguration object")
    return parse_config(doc)

"""Validation of apps/v1 workloads: Deployment, ReplicaSet, StatefulSet, DaemonSet, ControllerRevision."""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api.errors import FieldError, forbidden, invalid, not_supported, required
from kybernetes.api.validation import meta as m
from kybernetes.api.validation import pod as p

_d, _l = p._d, p._l
SELECTOR_MISMATCH = "`selector` does not match template `labels`"


def _meta(obj: dict, old: dict | None) -> list[FieldError]:
    if old is None:
        return m.validate_object_meta(obj.get("metadata"), True, m.name_is_dns_subdomain)
    return m.validate_object_meta_update(obj.get("metadata"), old.get("metadata"))


def _int_or_percent_value(v: Any) -> int:
    if isinstance(v, str):
        try:
            return int(v.rstrip("%"))
        except ValueError:
            return 0
    return v if isinstance(v, int) else 0


def validate_positive_int_or_percent(v: Any, path: str) -> list[FieldError]:
    if isinstance(v, str):
        return [invalid(path, v, msg) for msg in m.is_valid_percent(v)]
    if isinstance(v, int) and not isinstance(v, bool):
        return m.validate_nonnegative(v, path)
    return [invalid(path, v, "must be an integer or percentage (e.g '5%')")]


def is_not_more_than_100_percent(v: Any, path: str) -> list[FieldError]:
    if isinstance(v, str) and not m.is_valid_percent(v) and _int_or_percent_value(v) > 100:
        return [invalid(path, v, "must not be greater than 100%")]
    return []


def _selector_and_template(spec: dict, kind: str, path: str = "spec") -> list[FieldError]:
    """Selector required, valid, non-empty and matching the template's labels; the template validated."""
    errs: list[FieldError] = []
    selector = spec.get("selector")
    if selector is None:
        errs.append(required(f"{path}.selector"))
    else:
        errs.extend(m.validate_label_selector(selector, f"{path}.selector"))
        if m.selector_is_empty(selector):
            errs.append(invalid(f"{path}.selector", selector, f"empty selector is invalid for {kind}"))
    template = _d(spec.get("template"))
    labels = _d(_d(template.get("metadata")).get("labels"))
    if selector is not None and not m.selector_is_empty(selector) and m.selector_matches(selector, labels) is False:
        errs.append(invalid(f"{path}.template.metadata.labels", labels, SELECTOR_MISMATCH))
    errs.extend(p.validate_pod_template_spec(template, f"{path}.template"))
    return errs


def _always_restart(spec: dict, kind: str, path: str = "spec.template.spec") -> list[FieldError]:
    tspec = _d(_d(spec.get("template")).get("spec"))
    errs: list[FieldError] = []
    if tspec.get("restartPolicy") != "Always":
        errs.append(not_supported(f"{path}.restartPolicy", tspec.get("restartPolicy") or "", ["Always"]))
    if tspec.get("activeDeadlineSeconds") is not None:
        errs.append(forbidden(f"{path}.activeDeadlineSeconds", f"activeDeadlineSeconds in {kind} is not Supported"))
    return errs


def _selector_immutable(spec: dict, old: dict | None) -> list[FieldError]:
    if old is None:
        return []
    return m.validate_immutable(spec.get("selector"), _d(old.get("spec")).get("selector"), "spec.selector")


# ---- Deployment ----

def validate_deployment(obj: dict, old: dict | None) -> list[FieldError]:
    errs = _meta(obj, old)
    spec = _d(obj.get("spec"))
    errs.extend(m.validate_nonnegative(spec.get("replicas", 0), "spec.replicas"))
    errs.extend(_selector_and_template(spec, "deployment"))
    errs.extend(_always_restart(spec, "ReplicaSet"))
    errs.extend(_deployment_strategy(_d(spec.get("strategy")), "spec.strategy"))
    errs.extend(m.validate_nonnegative(spec.get("minReadySeconds", 0), "spec.minReadySeconds"))
    if spec.get("revisionHistoryLimit") is not None:
        errs.extend(m.validate_nonnegative(spec["revisionHistoryLimit"], "spec.revisionHistoryLimit"))
    pds = spec.get("progressDeadlineSeconds")
    if pds is not None:
        errs.extend(m.validate_nonnegative(pds, "spec.progressDeadlineSeconds"))
        if isinstance(pds, int) and pds <= (spec.get("minReadySeconds") or 0):
            errs.append(invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
    return errs + _selector_immutable(spec, old)


def _deployment_strategy(strategy: dict, path: str) -> list[FieldError]:
    stype = strategy.get("type")
    if stype == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            return [forbidden(f"{path}.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if stype == "RollingUpdate":
        ru = strategy.get("rollingUpdate")
        if ru is None:
            return [required(f"{path}.rollingUpdate", "this should be defaulted and never be nil")]
        ru, rp = _d(ru), f"{path}.rollingUpdate"
        errs = validate_positive_int_or_percent(ru.get("maxUnavailable"), f"{rp}.maxUnavailable")
        errs.extend(validate_positive_int_or_percent(ru.get("maxSurge"), f"{rp}.maxSurge"))
        if _int_or_percent_value(ru.get("maxUnavailable")) == 0 and _int_or_percent_value(ru.get("maxSurge")) == 0:
            errs.append(invalid(f"{rp}.maxUnavailable", ru.get("maxUnavailable"), "may not be 0 when `maxSurge` is 0"))
        errs.extend(is_not_more_than_100_percent(ru.get("maxUnavailable"), f"{rp}.maxUnavailable"))
        return errs
    return [not_supported(path, strategy, ["Recreate", "RollingUpdate"])]


# ---- ReplicaSet ----

def validate_replica_set(obj: dict, old: dict | None) -> list[FieldError]:
    errs = _meta(obj, old)
    spec = _d(obj.get("spec"))
    errs.extend(m.validate_nonnegative(spec.get("replicas", 0), "spec.replicas"))
    errs.extend(m.validate_nonnegative(spec.get("minReadySeconds", 0), "spec.minReadySeconds"))
    errs.extend(_selector_and_template(spec, "deployment"))
    errs.extend(_always_restart(spec, "ReplicaSet"))
    return errs + _selector_immutable(spec, old)


# ---- StatefulSet ----

STATEFULSET_UPDATABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                         "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
STATEFULSET_UPDATE_FORBIDDEN = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                                "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
                                "'minReadySeconds' are forbidden")


def validate_stateful_set(obj: dict, old: dict | None) -> list[FieldError]:
    errs = _meta(obj, old)
    spec = _d(obj.get("spec"))
    pmp = spec.get("podManagementPolicy") or ""
    if not pmp:
        errs.append(required("spec.podManagementPolicy"))
    elif pmp not in ("OrderedReady", "Parallel"):
        errs.append(invalid("spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"))
    strategy = _d(spec.get("updateStrategy"))
    stype = strategy.get("type") or ""
    if not stype:
        errs.append(required("spec.updateStrategy"))
    elif stype == "OnDelete":
        if strategy.get("rollingUpdate") is not None:
            errs.append(invalid("spec.updateStrategy.rollingUpdate", strategy["rollingUpdate"],
                                "only allowed for updateStrategy 'RollingUpdate'"))
    elif stype == "RollingUpdate":
        ru = _d(strategy.get("rollingUpdate"))
        if ru.get("partition") is not None:
            errs.extend(m.validate_nonnegative(ru["partition"], "spec.updateStrategy.rollingUpdate.partition"))
        if ru.get("maxUnavailable") is not None:
            mp = "spec.updateStrategy.rollingUpdate.maxUnavailable"
            errs.extend(validate_positive_int_or_percent(ru["maxUnavailable"], mp))
            if _int_or_percent_value(ru["maxUnavailable"]) == 0:
                errs.append(invalid(mp, ru["maxUnavailable"], "cannot be 0"))
            errs.extend(is_not_more_than_100_percent(ru["maxUnavailable"], mp))
    else:
        errs.append(invalid("spec.updateStrategy", strategy, "must be 'RollingUpdate' or 'OnDelete'"))
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if retention is not None:
        for key in ("whenDeleted", "whenScaled"):
            v = _d(retention).get(key)
            if v not in ("Retain", "Delete"):
                errs.append(not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{key}", v or "", ["Retain", "Delete"]))
    errs.extend(m.validate_nonnegative(spec.get("replicas", 0), "spec.replicas"))
    errs.extend(m.validate_nonnegative(spec.get("minReadySeconds", 0), "spec.minReadySeconds"))
    if spec.get("ordinals") is not None:
        errs.extend(m.validate_nonnegative(_d(spec["ordinals"]).get("start", 0), "spec.ordinals.start"))
    errs.extend(_selector_and_template(spec, "statefulset"))
    errs.extend(_always_restart(spec, "StatefulSet"))
    if old is not None:
        new_rest = {k: v for k, v in spec.items() if k not in STATEFULSET_UPDATABLE}
        old_rest = {k: v for k, v in _d(old.get("spec")).items() if k not in STATEFULSET_UPDATABLE}
        if _strip_vct_status(new_rest) != _strip_vct_status(old_rest):
            errs.append(forbidden("spec", STATEFULSET_UPDATE_FORBIDDEN))
    return errs


def _strip_vct_status(spec: dict) -> dict:
    spec = copy.deepcopy(spec)
    for t in _l(spec.get("volumeClaimTemplates")):
        if isinstance(t, dict):
            t.pop("status", None)
    return spec


# ---- DaemonSet ----

def validate_daemon_set(obj: dict, old: dict | None) -> list[FieldError]:
    errs = _meta(obj, old)
    spec = _d(obj.get("spec"))
    errs.extend(_selector_and_template(spec, "daemonset"))
    tspec = _d(_d(spec.get("template")).get("spec"))
    if tspec.get("restartPolicy") != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", tspec.get("restartPolicy") or "", ["Always"]))
    if tspec.get("activeDeadlineSeconds") is not None:
        errs.append(invalid("spec.template.spec.activeDeadlineSeconds", tspec["activeDeadlineSeconds"],
                            "activeDeadlineSeconds in DaemonSet is not Supported"))
    errs.extend(m.validate_nonnegative(spec.get("minReadySeconds", 0), "spec.minReadySeconds"))
    errs.extend(m.validate_nonnegative(spec.get("templateGeneration", 0), "spec.templateGeneration"))
    errs.extend(_daemon_set_strategy(_d(spec.get("updateStrategy")), "spec.updateStrategy"))
    if spec.get("revisionHistoryLimit") is not None:
        errs.extend(m.validate_nonnegative(spec["revisionHistoryLimit"], "spec.revisionHistoryLimit"))
    return errs + _selector_immutable(spec, old)


def _daemon_set_strategy(strategy: dict, path: str) -> list[FieldError]:
    stype = strategy.get("type")
    if stype == "OnDelete":
        return []
    if stype != "RollingUpdate":
        return [not_supported(path, strategy, ["RollingUpdate", "OnDelete"])]
    if strategy.get("rollingUpdate") is None:
        return [required(f"{path}.rollingUpdate")]
    ru, rp = _d(strategy["rollingUpdate"]), f"{path}.rollingUpdate"
    errs = validate_positive_int_or_percent(ru.get("maxUnavailable"), f"{rp}.maxUnavailable")
    errs.extend(validate_positive_int_or_percent(ru.get("maxSurge"), f"{rp}.maxSurge"))
    errs.extend(is_not_more_than_100_percent(ru.get("maxUnavailable"), f"{rp}.maxUnavailable"))
    errs.extend(is_not_more_than_100_percent(ru.get("maxSurge"), f"{rp}.maxSurge"))
    has_unavailable = _int_or_percent_value(ru.get("maxUnavailable")) != 0
    has_surge = _int_or_percent_value(ru.get("maxSurge")) != 0
    if has_unavailable and has_surge:
        errs.append(invalid(f"{rp}.maxSurge", ru.get("maxSurge"), "may not be set when maxUnavailable is non-zero"))
    elif not has_unavailable and not has_surge:
        errs.append(required(f"{rp}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    return errs


# ---- ControllerRevision ----

def validate_controller_revision(obj: dict, old: dict | None) -> list[FieldError]:
    errs = _meta(obj, old)
    if obj.get("data") is None and old is None:
        errs.append(required("data"))
    errs.extend(m.validate_nonnegative(obj.get("revision", 0), "revision"))
    if old is not None:
        errs.extend(m.validate_immutable(obj.get("data"), old.get("data"), "data"))
    return errs

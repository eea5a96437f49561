"""Validation of batch/v1: Job (incl. its generated selector) and CronJob (schedule, policies, job template)."""

from __future__ import annotations

from typing import Any

from kybernetes.api.errors import FieldError, invalid, not_supported, required
from kybernetes.api.validation import meta as m
from kybernetes.api.validation import pod as p
from kybernetes.api.validation.cron import CronError, parse_standard

_d, _l = p._d, p._l
MAX_PARALLELISM_INDEXED = 100000
CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID = "controller-uid"
LEGACY_JOB_NAME = "job-name"


def _job_spec(spec: dict, path: str) -> list[FieldError]:
    """validateJobSpec: what a Job and a CronJob's jobTemplate share."""
    errs: list[FieldError] = []
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished",
                "backoffLimitPerIndex", "maxFailedIndexes"):
        if spec.get(key) is not None:
            errs.extend(m.validate_nonnegative(spec[key], f"{path}.{key}"))
    mode = spec.get("completionMode")
    if mode is not None:
        if mode not in ("NonIndexed", "Indexed"):
            errs.append(not_supported(f"{path}.completionMode", mode, ["NonIndexed", "Indexed"]))
        if mode == "Indexed":
            if spec.get("completions") is None:
                errs.append(required(f"{path}.completions", "when completion mode is Indexed"))
            par = spec.get("parallelism")
            if isinstance(par, int) and par > MAX_PARALLELISM_INDEXED:
                errs.append(invalid(f"{path}.parallelism", par, f"must be less than or equal to "
                                    f"{MAX_PARALLELISM_INDEXED} when completion mode is Indexed"))
    if spec.get("backoffLimitPerIndex") is not None and mode != "Indexed":
        errs.append(required(f"{path}.completionMode", "when backoffLimitPerIndex is specified, completionMode must be Indexed"))
    prp = spec.get("podReplacementPolicy")
    if prp is not None:
        if prp not in ("TerminatingOrFailed", "Failed"):
            errs.append(not_supported(f"{path}.podReplacementPolicy", prp, ["Failed", "TerminatingOrFailed"]))
        elif spec.get("podFailurePolicy") is not None and prp != "Failed":
            errs.append(not_supported(f"{path}.podReplacementPolicy", prp, ["Failed"]))
    errs.extend(p.validate_pod_template_spec(spec.get("template"), f"{path}.template"))
    restart = _d(_d(spec.get("template")).get("spec")).get("restartPolicy") or ""
    rp = f"{path}.template.spec.restartPolicy"
    if restart in ("Always", ""):
        errs.append(required(rp, 'valid values: "OnFailure", "Never"'))
    elif restart not in ("OnFailure", "Never"):
        errs.append(not_supported(rp, restart, ["OnFailure", "Never"]))
    elif spec.get("podFailurePolicy") is not None and restart != "Never":
        errs.append(invalid(rp, restart, 'only "Never" is supported when podFailurePolicy is specified'))
    return errs


def _has_label(labels: dict, key: str, expected: str, path: str) -> list[FieldError]:
    if key not in labels:
        return [required(f"{path}.labels[{key}]", f"must be '{expected}'")]
    if labels[key] != expected:
        return [invalid(f"{path}.labels[{key}]", labels, f"must be '{expected}'")]
    return []


def _generated_selector(job: dict) -> list[FieldError]:
    spec = _d(job.get("spec"))
    if spec.get("manualSelector") is True or spec.get("selector") is None:
        return []
    meta = _d(job.get("metadata"))
    uid, name = meta.get("uid") or "", meta.get("name") or ""
    errs: list[FieldError] = []
    if not uid:
        errs.append(required("metadata.uid"))
    labels = _d(_d(_d(spec.get("template")).get("metadata")).get("labels"))
    tp = "spec.template.metadata"
    for key, value in ((LEGACY_CONTROLLER_UID, uid), (LEGACY_JOB_NAME, name), (CONTROLLER_UID, uid), (JOB_NAME, name)):
        errs.extend(_has_label(labels, key, value, tp))
    if m.selector_matches(spec["selector"], {CONTROLLER_UID: uid, JOB_NAME: name}) is False:
        errs.append(invalid("spec.selector", spec["selector"], "`selector` not auto-generated"))
    return errs


def validate_job(job: dict, old: dict | None) -> list[FieldError]:
    if old is None:
        errs = m.validate_object_meta(job.get("metadata"), True, m.name_is_dns_subdomain)
    else:
        errs = m.validate_object_meta_update(job.get("metadata"), old.get("metadata"))
    errs.extend(_generated_selector(job))
    spec = _d(job.get("spec"))
    errs.extend(_job_spec(spec, "spec"))
    if spec.get("selector") is None:
        errs.append(required("spec.selector"))
    else:
        errs.extend(m.validate_label_selector(spec["selector"], "spec.selector"))
        labels = _d(_d(_d(spec.get("template")).get("metadata")).get("labels"))
        if m.selector_matches(spec["selector"], labels) is False:
            errs.append(invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`"))
    name = _d(job.get("metadata")).get("name") or ""
    completions = spec.get("completions")
    if spec.get("completionMode") == "Indexed" and isinstance(completions, int) and completions > 0:
        hostname = f"{name}-{completions - 1}"
        if m.is_dns1123_label(hostname):
            errs.append(invalid("metadata.name", name, f"will not able to create pod with invalid DNS label: {hostname}"))
    if old is not None:
        errs.extend(_job_update(spec, _d(old.get("spec"))))
    return errs


def _job_update(new: dict, old: dict) -> list[FieldError]:
    errs = m.validate_immutable(new.get("selector"), old.get("selector"), "spec.selector")
    errs.extend(m.validate_immutable(new.get("completionMode"), old.get("completionMode"), "spec.completionMode"))
    errs.extend(m.validate_immutable(new.get("podFailurePolicy"), old.get("podFailurePolicy"), "spec.podFailurePolicy"))
    if new.get("completionMode") != "Indexed":
        errs.extend(m.validate_immutable(new.get("completions"), old.get("completions"), "spec.completions"))
    new_t, old_t = _d(new.get("template")), _d(old.get("template"))
    if new_t != old_t and not (old.get("suspend") is True and _only_scheduling_changed(new_t, old_t)):
        errs.extend(m.validate_immutable(new_t, old_t, "spec.template"))
    return errs


def _only_scheduling_changed(new: dict, old: dict) -> bool:
    """A suspended job may change its template's scheduling directives, labels and annotations."""
    def strip(t: dict) -> dict:
        spec = {k: v for k, v in _d(t.get("spec")).items()
                if k not in ("nodeSelector", "tolerations", "affinity", "schedulingGates")}
        metadata = {k: v for k, v in _d(t.get("metadata")).items() if k not in ("labels", "annotations")}
        return {"metadata": metadata, "spec": spec}
    return strip(new) == strip(old)


# ---- CronJob ----

def validate_schedule(schedule: str, allow_tz: bool, time_zone: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    try:
        parse_standard(schedule)
    except CronError as e:
        errs.append(invalid(path, schedule, str(e)))
    if allow_tz and "TZ" in schedule and time_zone is not None:
        errs.append(invalid(path, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
    elif not allow_tz and "TZ" in schedule:
        errs.append(invalid(path, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
    return errs


def _time_zone(tz: Any, path: str) -> list[FieldError]:
    if tz is None:
        return []
    if not isinstance(tz, str) or not tz or tz.lower() == "local" or " " in tz:
        return [invalid(path, tz, "unknown time zone " + str(tz))]
    try:
        import zoneinfo
        zoneinfo.ZoneInfo(tz)
    except (ValueError, KeyError, OSError):
        return [invalid(path, tz, "unknown time zone " + tz)]
    return []


def validate_cron_job(cj: dict, old: dict | None) -> list[FieldError]:
    if old is None:
        errs = m.validate_object_meta(cj.get("metadata"), True, m.name_is_dns_subdomain)
    else:
        errs = m.validate_object_meta_update(cj.get("metadata"), old.get("metadata"))
    spec, old_spec = _d(cj.get("spec")), _d((old or {}).get("spec"))
    schedule = spec.get("schedule") or ""
    if not schedule:
        errs.append(required("spec.schedule"))
    else:
        allow_tz = old is not None and "TZ" in (old_spec.get("schedule") or "")
        errs.extend(validate_schedule(schedule, allow_tz, spec.get("timeZone"), "spec.schedule"))
    if spec.get("startingDeadlineSeconds") is not None:
        errs.extend(m.validate_nonnegative(spec["startingDeadlineSeconds"], "spec.startingDeadlineSeconds"))
    if old is None or old_spec.get("timeZone") != spec.get("timeZone"):
        errs.extend(_time_zone(spec.get("timeZone"), "spec.timeZone"))
    policy = spec.get("concurrencyPolicy") or ""
    if not policy:
        errs.append(required("spec.concurrencyPolicy"))
    elif policy not in ("Allow", "Forbid", "Replace"):
        errs.append(not_supported("spec.concurrencyPolicy", policy, ["Allow", "Forbid", "Replace"]))
    template = _d(spec.get("jobTemplate"))
    tmeta = _d(template.get("metadata"))
    errs.extend(m.validate_labels(tmeta.get("labels"), "spec.jobTemplate.metadata.labels"))
    errs.extend(m.validate_annotations(tmeta.get("annotations"), "spec.jobTemplate.metadata.annotations"))
    jspec = _d(template.get("spec"))
    errs.extend(_job_spec(jspec, "spec.jobTemplate.spec"))
    if jspec.get("selector") is not None:
        errs.append(invalid("spec.jobTemplate.spec.selector", jspec["selector"], "`selector` will be auto-generated"))
    if jspec.get("manualSelector") is True:
        errs.append(not_supported("spec.jobTemplate.spec.manualSelector", True, ["nil", "false"]))
    for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        if spec.get(key) is not None:
            errs.extend(m.validate_nonnegative(spec[key], f"spec.{key}"))
    name = _d(cj.get("metadata")).get("name") or ""
    if old is None and len(name) > 52:
        errs.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    return errs

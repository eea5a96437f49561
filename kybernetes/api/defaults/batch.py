"""Defaults of batch/v1 Job and CronJob, and the Job selector the apiserver generates from the uid."""

from __future__ import annotations

from kybernetes.api.defaults.core import _d, _dicts, set_defaults_pod_template_spec

CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID = "controller-uid"
LEGACY_JOB_NAME = "job-name"
MAX_INT32 = 2**31 - 1


def set_defaults_job(obj: dict) -> None:
    """SetDefaults_Job. Like upstream, a Job without labels shares its template's labels map."""
    spec = _d(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6
    template = spec.get("template")
    labels = (template.get("metadata") or {}).get("labels") if isinstance(template, dict) else None
    meta = _d(obj, "metadata")
    if labels is not None and not meta.get("labels"):
        meta["labels"] = labels
    if spec.get("completionMode") is None:
        spec["completionMode"] = "NonIndexed"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    policy = spec.get("podFailurePolicy")
    if isinstance(policy, dict):
        for rule in _dicts(policy.get("rules")):
            for pattern in _dicts(rule.get("onPodConditions")):
                if not pattern.get("status"):
                    pattern["status"] = "True"
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if policy is not None else "TerminatingOrFailed"
    set_defaults_pod_template_spec(template)


def job_selector_labels(uid: str, name: str) -> dict[str, str]:
    """The labels the apiserver puts on a Job's pod template when it generates the selector."""
    return {LEGACY_JOB_NAME: name, JOB_NAME: name, LEGACY_CONTROLLER_UID: uid, CONTROLLER_UID: uid}


def generate_job_selector(obj: dict) -> None:
    """The job strategy's generateSelector: template labels and selector from metadata.uid/name.

    Does nothing when spec.manualSelector is true. Labels already present are kept (validation
    then reports a mismatch), as upstream does.
    """
    spec = _d(obj, "spec")
    if spec.get("manualSelector") is True:
        return
    meta = _d(obj, "metadata")
    uid, name = str(meta.get("uid") or ""), str(meta.get("name") or "")
    template = _d(spec, "template")
    tmeta = _d(template, "metadata")
    shared = meta.get("labels") is tmeta.get("labels") and tmeta.get("labels") is not None
    labels = _d(tmeta, "labels")
    for key, value in job_selector_labels(uid, name).items():
        labels.setdefault(key, value)
    if shared:
        meta["labels"] = labels
    selector = _d(spec, "selector")
    match = _d(selector, "matchLabels")
    match.setdefault(CONTROLLER_UID, uid)


def set_defaults_cron_job(obj: dict) -> None:
    spec = _d(obj, "spec")
    if not spec.get("concurrencyPolicy"):
        spec["concurrencyPolicy"] = "Allow"
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict):
        set_defaults_pod_template_spec(_d(job_template, "spec").get("template"))

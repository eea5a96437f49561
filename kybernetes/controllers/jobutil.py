"""Pure helpers of the Job controller (upstream's job utils, indexed_job_utils, pod_failure_policy,
success_policy and backoff_utils): conditions, completion indexes, policy matching, pod failure back-off."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from kybernetes.api.meta import parse_time
from kybernetes.controllers.controller_utils import is_being_deleted

Obj = dict[str, Any]

JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
JOB_COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
JOB_INDEX_LABEL = JOB_COMPLETION_INDEX_ANNOTATION  # PodIndexLabel: the same key as a label
JOB_COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"

COMPLETE, FAILED, SUSPENDED = "Complete", "Failed", "Suspended"
FAILURE_TARGET, SUCCESS_CRITERIA_MET = "FailureTarget", "SuccessCriteriaMet"
REASON_BACKOFF_LIMIT_EXCEEDED = "BackoffLimitExceeded"
REASON_DEADLINE_EXCEEDED = "DeadlineExceeded"
REASON_POD_FAILURE_POLICY = "PodFailurePolicy"
REASON_SUCCESS_POLICY = "SuccessPolicy"
REASON_COMPLETIONS_REACHED = "CompletionsReached"
MSG_BACKOFF_LIMIT_EXCEEDED = "Job has reached the specified backoff limit"
MSG_DEADLINE_EXCEEDED = "Job was active longer than specified deadline"
MSG_COMPLETIONS_REACHED = "Reached expected number of succeeded pods"

DEFAULT_POD_FAILURE_BACKOFF = 10.0
MAX_POD_FAILURE_BACKOFF = 600.0


# -- conditions ------------------------------------------------------------------------------------------------

def find_condition(job: Obj, cond_type: str) -> Obj | None:
    for c in (job.get("status") or {}).get("conditions") or ():
        if c.get("type") == cond_type:
            return c
    return None


def has_true_condition(job: Obj, cond_type: str) -> bool:
    c = find_condition(job, cond_type)
    return c is not None and c.get("status") == "True"


def is_job_finished(job: Obj) -> bool:
    return has_true_condition(job, COMPLETE) or has_true_condition(job, FAILED)


def new_condition(cond_type: str, status: str, reason: str, message: str, now: str) -> Obj:
    return {"type": cond_type, "status": status, "lastProbeTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def ensure_condition(conditions: list[Obj], cond: Obj) -> tuple[list[Obj], bool]:
    """ensureJobConditionStatus: set the condition (keeping lastTransitionTime if the status is unchanged);
    a False condition that does not exist yet is not added. Returns (conditions, changed)."""
    out = [dict(c) for c in conditions]
    for c in out:
        if c.get("type") != cond["type"]:
            continue
        if c.get("status") == cond["status"] and c.get("reason") == cond["reason"] and \
                c.get("message") == cond["message"]:
            return out, False
        if c.get("status") != cond["status"]:
            c["lastTransitionTime"] = cond["lastTransitionTime"]
        c.update(status=cond["status"], reason=cond["reason"], message=cond["message"],
                 lastProbeTime=cond["lastProbeTime"])
        return out, True
    if cond["status"] == "False":
        return out, False
    out.append(dict(cond))
    return out, True


# -- pods ------------------------------------------------------------------------------------------------------

def phase(pod: Obj) -> str:
    return (pod.get("status") or {}).get("phase") or ""


def is_terminal(pod: Obj) -> bool:
    return phase(pod) in ("Succeeded", "Failed")


def has_tracking_finalizer(pod: Obj) -> bool:
    return JOB_TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or ())


def only_replace_failed_pods(job: Obj) -> bool:
    spec = job.get("spec") or {}
    return spec.get("podReplacementPolicy") == "Failed" or spec.get("podFailurePolicy") is not None


def is_pod_failed(pod: Obj, job: Obj) -> bool:
    """isPodFailed: Failed, or (unless only failed pods are replaced) deleted before it succeeded."""
    if only_replace_failed_pods(job):
        return phase(pod) == "Failed"
    if phase(pod) == "Failed":
        return True
    return is_being_deleted(pod) and phase(pod) != "Succeeded"


def is_terminating(pod: Obj) -> bool:
    return is_being_deleted(pod) and not is_terminal(pod)


def timestamp_of(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parse_time(value).timestamp()
    except ValueError:
        return None


def pod_finish_time(pod: Obj, now: float) -> float:
    """The latest container finishedAt, else the deletion time, else now (getFinishedTime)."""
    status = pod.get("status") or {}
    times = [timestamp_of(((c.get("state") or {}).get("terminated") or {}).get("finishedAt"))
             for c in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])]
    finished = [t for t in times if t is not None]
    if finished:
        return max(finished)
    deleted = timestamp_of((pod.get("metadata") or {}).get("deletionTimestamp"))
    return deleted if deleted is not None else now


def past_backoff_limit_on_failure(job: Obj, pods: list[Obj]) -> bool:
    """With restartPolicy OnFailure, container restarts of running or pending pods count as failures."""
    spec = job.get("spec") or {}
    if ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for pod in pods:
        if phase(pod) in ("Running", "Pending"):
            status = pod.get("status") or {}
            for c in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
                restarts += int(c.get("restartCount") or 0)
    limit = int(spec.get("backoffLimit") if spec.get("backoffLimit") is not None else 6)
    return restarts > 0 if limit == 0 else restarts >= limit


# -- completion indexes ----------------------------------------------------------------------------------------

def is_indexed(job: Obj) -> bool:
    return (job.get("spec") or {}).get("completionMode") == "Indexed"


def completion_index(pod: Obj) -> int | None:
    """The pod's index from its annotation (or label); None when missing or invalid."""
    md = pod.get("metadata") or {}
    raw = (md.get("annotations") or {}).get(JOB_COMPLETION_INDEX_ANNOTATION)
    if raw is None:
        raw = (md.get("labels") or {}).get(JOB_INDEX_LABEL)
    if raw is None or not str(raw).isdigit():
        return None
    return int(raw)


def parse_indexes(text: str | None, completions: int) -> set[int]:
    """'1,3-5,7' -> {1, 3, 4, 5, 7}; indexes outside [0, completions) are dropped."""
    out: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            continue
        out.update(i for i in range(first, last + 1) if 0 <= i < completions)
    return out


def format_indexes(indexes: set[int]) -> str:
    """{1, 3, 4, 5, 7} -> '1,3-5,7' (the status.completedIndexes format)."""
    parts: list[str] = []
    run: list[int] = []
    for i in sorted(indexes):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [i]
    if run:
        parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(parts)


def first_pending_indexes(completions: int, succeeded: set[int], taken: set[int], count: int) -> list[int]:
    """The lowest `count` indexes that neither succeeded nor have a pod (active, or terminating if waited on)."""
    out: list[int] = []
    for i in range(completions):
        if len(out) >= count:
            break
        if i not in succeeded and i not in taken:
            out.append(i)
    return out


def add_completion_index_env(template: Obj) -> None:
    """JOB_COMPLETION_INDEX from the pod's annotation through the downward API, in every (init) container."""
    spec = template.setdefault("spec", {})
    env_var = {"name": JOB_COMPLETION_INDEX_ENV, "valueFrom": {"fieldRef": {
        "fieldPath": f"metadata.annotations['{JOB_COMPLETION_INDEX_ANNOTATION}']"}}}
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or ():
            env = c.setdefault("env", [])
            if not any(e.get("name") == JOB_COMPLETION_INDEX_ENV for e in env):
                env.append(copy.deepcopy(env_var))


def set_completion_index(template: Obj, index: int, job_name: str) -> None:
    """The index annotation and label, and hostname <job>-<index> unless the template sets one."""
    md = template.setdefault("metadata", {})
    md.setdefault("annotations", {})[JOB_COMPLETION_INDEX_ANNOTATION] = str(index)
    md.setdefault("labels", {})[JOB_INDEX_LABEL] = str(index)
    spec = template.setdefault("spec", {})
    if not spec.get("hostname"):
        spec["hostname"] = f"{job_name}-{index}"


# -- pod failure policy --------------------------------------------------------------------------------------------

def _exit_code_matches(code: int, requirement: Obj) -> bool:
    values = requirement.get("values") or []
    if requirement.get("operator") == "In":
        return code in values
    if requirement.get("operator") == "NotIn":
        return code not in values
    return False


def _matching_container(statuses: list[Obj], requirement: Obj) -> Obj | None:
    name = requirement.get("containerName")
    for cs in statuses:
        term = (cs.get("state") or {}).get("terminated")
        if term is None or (name and cs.get("name") != name):
            continue
        code = int(term.get("exitCode") or 0)
        if code != 0 and _exit_code_matches(code, requirement):
            return cs
    return None


def match_on_exit_codes(pod: Obj, requirement: Obj) -> Obj | None:
    status = pod.get("status") or {}
    return (_matching_container(status.get("initContainerStatuses") or [], requirement)
            or _matching_container(status.get("containerStatuses") or [], requirement))


def match_on_pod_conditions(pod: Obj, patterns: list[Obj]) -> Obj | None:
    for pattern in patterns:
        for cond in (pod.get("status") or {}).get("conditions") or ():
            if cond.get("type") == pattern.get("type") and cond.get("status") == (pattern.get("status") or "True"):
                return cond
    return None


def match_pod_failure_policy(policy: Obj | None, pod: Obj) -> tuple[str | None, bool, str | None]:
    """matchPodFailurePolicy for a failed pod: (FailJob message, whether it counts as a failure, action)."""
    if policy is None:
        return None, True, None
    md = pod.get("metadata") or {}
    for index, rule in enumerate(policy.get("rules") or ()):
        action = rule.get("action")
        message: str | None = None
        if rule.get("onExitCodes") is not None:
            cs = match_on_exit_codes(pod, rule["onExitCodes"])
            if cs is None:
                continue
            code = cs["state"]["terminated"].get("exitCode")
            message = (f"Container {cs.get('name')} for pod {md.get('namespace')}/{md.get('name')} failed with exit "
                       f"code {code} matching {action} rule at index {index}")
        elif rule.get("onPodConditions") is not None:
            cond = match_on_pod_conditions(pod, rule["onPodConditions"])
            if cond is None:
                continue
            message = (f"Pod {md.get('namespace')}/{md.get('name')} has condition {cond.get('type')} matching "
                       f"{action} rule at index {index}")
        else:
            continue
        if action == "Ignore":
            return None, False, action
        if action == "FailJob":
            return message, True, action
        return None, True, action  # Count, FailIndex
    return None, True, None


# -- success policy ----------------------------------------------------------------------------------------------

def match_success_policy(policy: Obj | None, succeeded: set[int], completions: int) -> str | None:
    """matchSuccessPolicy (Indexed jobs): the message of the first rule the succeeded indexes satisfy."""
    if not policy:
        return None
    for index, rule in enumerate(policy.get("rules") or ()):
        count = rule.get("succeededCount")
        if rule.get("succeededIndexes") is not None:
            required = parse_indexes(rule["succeededIndexes"], completions)
            if not required:
                continue
            got = len(required & succeeded)
            ok = got >= count if count is not None else required <= succeeded
        elif count is not None:
            ok = len(succeeded) >= count
        else:
            continue
        if ok:
            return f"Matched rules at index {index}"
    return None


# -- back-off of failed pods -----------------------------------------------------------------------------------

@dataclass
class BackoffRecord:
    """Failures since the last success and when the last of them happened (upstream's backoffRecord)."""

    failures_after_last_success: int = 0
    last_failure_time: float | None = None

    def updated(self, succeeded_times: list[float], failed_times: list[float]) -> BackoffRecord:
        """The record after newly finished pods: a success resets the count to the failures that came after it."""
        if succeeded_times:
            last_success = max(succeeded_times)
            after = [t for t in failed_times if t > last_success]
            return BackoffRecord(len(after), max(after) if after else None)
        if not failed_times:
            return self
        last = max(failed_times + ([self.last_failure_time] if self.last_failure_time is not None else []))
        return BackoffRecord(self.failures_after_last_success + len(failed_times), last)

    def remaining(self, now: float, base: float = DEFAULT_POD_FAILURE_BACKOFF,
                  cap: float = MAX_POD_FAILURE_BACKOFF) -> float:
        """Seconds until a replacement pod may be created: base * 2^(failures-1), capped, from the last failure."""
        if self.failures_after_last_success == 0 or self.last_failure_time is None:
            return 0.0
        delay = min(base * 2 ** (self.failures_after_last_success - 1), cap)
        return max(0.0, delay - (now - self.last_failure_time))

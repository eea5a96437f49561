"""Printers for apps/v1 and batch/v1 workloads, as upstream's pkg/printers/internalversion computes them."""

from __future__ import annotations

from datetime import datetime

from kybernetes.api.printers.common import (
    AGE, CONTAINERS, IMAGES, NAME, Column, Printer, SelectorError, age, dig, format_label_selector,
    format_labels, human_duration, layout_containers, meta, name, parse_time, pod_template_containers,
    selector_string, since, spec, status,
)

APPS = "io.k8s.api.apps.v1."
BATCH = "io.k8s.api.batch.v1."


def _replicas(o: dict) -> int:
    value = spec(o).get("replicas")
    return 1 if value is None else int(value)  # defaulted to 1 upstream before printing


def _st(o: dict, key: str) -> int:
    return int(status(o).get(key) or 0)


def _deployment_cells(o: dict, now: datetime) -> list:
    try:
        selector = selector_string(spec(o).get("selector"))
    except SelectorError:
        selector = "<invalid>"
    return [name(o), f"{_st(o, 'readyReplicas')}/{_replicas(o)}", _st(o, "updatedReplicas"),
            _st(o, "availableReplicas"), age(o, now), *layout_containers(pod_template_containers(spec(o))),
            selector]


DEPLOYMENT = Printer((
    NAME,
    Column("Ready", "string", "Number of the pod with ready state"),
    Column("Up-to-date", "string", (APPS + "DeploymentStatus", "updatedReplicas")),
    Column("Available", "string", (APPS + "DeploymentStatus", "availableReplicas")),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", "string", (APPS + "DeploymentSpec", "selector"), priority=1),
), _deployment_cells)

REPLICA_SET = Printer((
    NAME,
    Column("Desired", "integer", (APPS + "ReplicaSetSpec", "replicas")),
    Column("Current", "integer", (APPS + "ReplicaSetStatus", "replicas")),
    Column("Ready", "integer", (APPS + "ReplicaSetStatus", "readyReplicas")),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", "string", (APPS + "ReplicaSetSpec", "selector"), priority=1),
), lambda o, now: [name(o), _replicas(o), _st(o, "replicas"), _st(o, "readyReplicas"), age(o, now),
                   *layout_containers(pod_template_containers(spec(o))),
                   format_label_selector(spec(o).get("selector"))])

STATEFUL_SET = Printer((
    NAME,
    Column("Ready", "string", "Number of the pod with ready state"),
    AGE, CONTAINERS, IMAGES,
), lambda o, now: [name(o), f"{_st(o, 'readyReplicas')}/{_replicas(o)}", age(o, now),
                   *layout_containers(pod_template_containers(spec(o)))])

DAEMON_SET = Printer((
    NAME,
    Column("Desired", "integer", (APPS + "DaemonSetStatus", "desiredNumberScheduled")),
    Column("Current", "integer", (APPS + "DaemonSetStatus", "currentNumberScheduled")),
    Column("Ready", "integer", (APPS + "DaemonSetStatus", "numberReady")),
    Column("Up-to-date", "integer", (APPS + "DaemonSetStatus", "updatedNumberScheduled")),
    Column("Available", "integer", (APPS + "DaemonSetStatus", "numberAvailable")),
    Column("Node Selector", "string", ("io.k8s.api.core.v1.PodSpec", "nodeSelector")),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", "string", (APPS + "DaemonSetSpec", "selector"), priority=1),
), lambda o, now: [name(o), _st(o, "desiredNumberScheduled"), _st(o, "currentNumberScheduled"),
                   _st(o, "numberReady"), _st(o, "updatedNumberScheduled"), _st(o, "numberAvailable"),
                   format_labels(dig(o, "spec", "template", "spec", "nodeSelector")), age(o, now),
                   *layout_containers(pod_template_containers(spec(o))),
                   format_label_selector(spec(o).get("selector"))])


def _controller_name(o: dict) -> str:
    for ref in meta(o).get("ownerReferences") or []:
        if ref.get("controller"):
            group = (ref.get("apiVersion") or "").rpartition("/")[0]
            kind = ref.get("kind") or ""
            if not kind and not group:
                return ref.get("name", "")
            group_kind = f"{kind}.{group}" if group else kind
            return f"{group_kind.lower()}/{ref.get('name', '')}"
    return "<none>"


CONTROLLER_REVISION = Printer((
    NAME,
    Column("Controller", "string", "Controller of the object"),
    Column("Revision", "string", (APPS + "ControllerRevision", "revision")),
    AGE,
), lambda o, now: [name(o), _controller_name(o), int(o.get("revision") or 0), age(o, now)])


# --------------------------------------------------------------------------------------------- batch

def _job_condition(o: dict, ctype: str) -> bool:
    for c in status(o).get("conditions") or []:
        if c.get("type") == ctype:
            return c.get("status") == "True"
    return False


def job_status(o: dict) -> str:
    if _job_condition(o, "Complete"):
        return "Complete"
    if _job_condition(o, "Failed"):
        return "Failed"
    if meta(o).get("deletionTimestamp"):
        return "Terminating"
    if _job_condition(o, "Suspended"):
        return "Suspended"
    if _job_condition(o, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_cells(o: dict, now: datetime) -> list:
    s, st = spec(o), status(o)
    succeeded = int(st.get("succeeded") or 0)
    if s.get("completions") is not None:
        completions = f"{succeeded}/{s['completions']}"
    else:
        parallelism = int(s.get("parallelism") or 0)
        completions = f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"
    start, done = parse_time(st.get("startTime")), parse_time(st.get("completionTime"))
    duration = "" if start is None else human_duration((done or now) - start)
    return [name(o), job_status(o), completions, duration, age(o, now),
            *layout_containers(pod_template_containers(s)), format_label_selector(s.get("selector"))]


JOB = Printer((
    NAME,
    Column("Status", "string", "Status of the job."),
    Column("Completions", "string", (BATCH + "JobStatus", "succeeded")),
    Column("Duration", "string", "Time required to complete the job."),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", "string", (BATCH + "JobSpec", "selector"), priority=1),
), _job_cells)


def _bool_ptr(value: object) -> str:
    if value is None:
        return "<unset>"
    return "True" if value else "False"


def _cronjob_cells(o: dict, now: datetime) -> list:
    s = spec(o)
    last = status(o).get("lastScheduleTime")
    job_spec = dig(s, "jobTemplate", "spec", default={})
    return [name(o), s.get("schedule") or "", s.get("timeZone") or "<none>", _bool_ptr(s.get("suspend")),
            len(status(o).get("active") or []), since(last, now) if last else "<none>", age(o, now),
            *layout_containers(pod_template_containers(job_spec)),
            format_label_selector(job_spec.get("selector"))]


CRON_JOB = Printer((
    NAME,
    Column("Schedule", "string", (BATCH + "CronJobSpec", "schedule")),
    Column("Timezone", "string", (BATCH + "CronJobSpec", "timeZone")),
    Column("Suspend", "boolean", (BATCH + "CronJobSpec", "suspend")),
    Column("Active", "integer", (BATCH + "CronJobStatus", "active")),
    Column("Last Schedule", "string", (BATCH + "CronJobStatus", "lastScheduleTime")),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", "string", (BATCH + "JobSpec", "selector"), priority=1),
), _cronjob_cells)


PRINTERS = {
    ("apps", "deployments"): DEPLOYMENT,
    ("apps", "replicasets"): REPLICA_SET,
    ("apps", "statefulsets"): STATEFUL_SET,
    ("apps", "daemonsets"): DAEMON_SET,
    ("apps", "controllerrevisions"): CONTROLLER_REVISION,
    ("batch", "jobs"): JOB,
    ("batch", "cronjobs"): CRON_JOB,
}

"""apps/v1 and batch/v1 validation: selectors vs template labels, strategies, Job and CronJob rules, immutability."""

from __future__ import annotations

import copy

import pytest

from kybernetes.api.defaults import apply_defaults, generate_job_selector

from .helpers import DELETE, FORB, INV, NS, REQ, check, errors, info, set_path

DEPLOY = ("apps", "deployments")

# the nginx Deployment from the kubernetes.io documentation
NGINX = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "nginx-deployment", "namespace": "default", "labels": {"app": "nginx"}},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}},
             "template": {"metadata": {"labels": {"app": "nginx"}},
                          "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2",
                                                   "ports": [{"containerPort": 80}]}]}}},
}


def workload(kind_spec: dict | None = None) -> dict:
    obj = copy.deepcopy(NGINX)
    obj["spec"].pop("replicas")
    obj["spec"].update(kind_spec or {})
    return obj


DEPLOY_CASES = [
    ("nginx", NGINX, []),
    ("no-selector", set_path(NGINX, "spec.selector", DELETE), [(REQ, "spec.selector")]),
    ("mismatch", set_path(NGINX, "spec.selector.matchLabels", {"app": "other"}), [(INV, "spec.template.metadata.labels")]),
    ("empty-selector", set_path(NGINX, "spec.selector", {}), [(INV, "spec.selector")]),
    ("negative-replicas", set_path(NGINX, "spec.replicas", -1), [(INV, "spec.replicas")]),
    ("restart-never", set_path(NGINX, "spec.template.spec.restartPolicy", "Never"),
     [(NS, "spec.template.spec.restartPolicy")]),
    ("strategy-type", set_path(NGINX, "spec.strategy", {"type": "Blue"}), [(NS, "spec.strategy")]),
    ("recreate-rolling", set_path(NGINX, "spec.strategy", {"type": "Recreate", "rollingUpdate": {}}),
     [(FORB, "spec.strategy.rollingUpdate")]),
    ("both-zero", set_path(NGINX, "spec.strategy", {"type": "RollingUpdate",
                                                   "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}),
     [(INV, "spec.strategy.rollingUpdate.maxUnavailable")]),
    ("bad-percent", set_path(NGINX, "spec.strategy", {"type": "RollingUpdate",
                                                     "rollingUpdate": {"maxUnavailable": "x%", "maxSurge": 1}}),
     [(INV, "spec.strategy.rollingUpdate.maxUnavailable")]),
    ("over-100", set_path(NGINX, "spec.strategy", {"type": "RollingUpdate",
                                                  "rollingUpdate": {"maxUnavailable": "150%", "maxSurge": 1}}),
     [(INV, "spec.strategy.rollingUpdate.maxUnavailable")]),
    ("deadline", set_path(set_path(NGINX, "spec.minReadySeconds", 700), "spec.progressDeadlineSeconds", 600),
     [(INV, "spec.progressDeadlineSeconds")]),
    ("template-label-path", set_path(NGINX, "spec.template.metadata.labels.bad", "a b"),
     [(INV, "spec.template.labels")]),
]


@pytest.mark.parametrize("obj,want", [c[1:] for c in DEPLOY_CASES], ids=[c[0] for c in DEPLOY_CASES])
def test_deployment(obj: dict, want: list) -> None:
    assert check(DEPLOY, obj) == want


def test_selector_mismatch_message() -> None:
    errs = errors(DEPLOY, set_path(NGINX, "spec.selector.matchLabels", {"app": "other"}))
    assert str(errs[0]) == ('spec.template.metadata.labels: Invalid value: {"app":"nginx"}: '
                            '`selector` does not match template `labels`')


def stored(obj: dict) -> dict:
    obj = set_path(obj, "metadata.uid", "u1")
    return set_path(obj, "metadata.resourceVersion", "7")


@pytest.mark.parametrize("gp,base", [(DEPLOY, NGINX), (("apps", "replicasets"), workload()),
                                     (("apps", "daemonsets"), workload())], ids=["deployment", "replicaset", "daemonset"])
def test_selector_immutable(gp: tuple, base: dict) -> None:
    old = stored(base)
    new = set_path(set_path(old, "spec.selector.matchLabels", {"app": "nginx", "tier": "web"}),
                   "spec.template.metadata.labels", {"app": "nginx", "tier": "web"})
    assert check(gp, new, old) == [(INV, "spec.selector")]
    assert check(gp, set_path(old, "spec.template.spec.containers.0.image", "nginx:1.16"), old) == []


@pytest.mark.parametrize("spec,want", [
    ({}, []),
    ({"podManagementPolicy": "Whenever"}, [(INV, "spec.podManagementPolicy")]),
    ({"updateStrategy": {"type": "OnDelete", "rollingUpdate": {"partition": 0}}}, [(INV, "spec.updateStrategy.rollingUpdate")]),
    ({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": -1}}},
     [(INV, "spec.updateStrategy.rollingUpdate.partition")]),
    ({"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Shred", "whenScaled": "Retain"}},
     [(NS, "spec.persistentVolumeClaimRetentionPolicy.whenDeleted")]),
], ids=["ok", "pmp", "ondelete-rolling", "partition", "retention"])
def test_stateful_set(spec: dict, want: list) -> None:
    assert check(("apps", "statefulsets"), workload({"serviceName": "nginx", **spec})) == want


def test_stateful_set_update_rules() -> None:
    old = stored(workload({"serviceName": "nginx"}))
    assert check(("apps", "statefulsets"), set_path(old, "spec.replicas", 5), old) == []
    errs = errors(("apps", "statefulsets"), set_path(old, "spec.serviceName", "other"), _defaulted(("apps", "statefulsets"), old))
    assert [(e.field, e.detail) for e in errs] == [("spec", (
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
        "'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))]


def _defaulted(gp: tuple, obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    apply_defaults(info(*gp), obj)
    return obj


@pytest.mark.parametrize("strategy,want", [
    ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}},
     [(INV, "spec.updateStrategy.rollingUpdate.maxSurge")]),
    ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}},
     [(REQ, "spec.updateStrategy.rollingUpdate.maxUnavailable")]),
    ({"type": "OnDelete"}, []),
    ({"type": "Sideways"}, [(NS, "spec.updateStrategy")]),
], ids=["both", "neither", "ondelete", "type"])
def test_daemon_set_strategy(strategy: dict, want: list) -> None:
    assert check(("apps", "daemonsets"), workload({"updateStrategy": strategy})) == want


JOB = ("batch", "jobs")

# the pi Job from the kubernetes.io documentation
PI = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "namespace": "default", "uid": "6f1c"},
      "spec": {"backoffLimit": 4, "template": {"spec": {
          "containers": [{"name": "pi", "image": "perl:5.34.0", "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]}],
          "restartPolicy": "Never"}}}}


def job(obj: dict = PI) -> dict:
    obj = _defaulted(JOB, obj)
    generate_job_selector(obj)
    return obj


JOB_CASES = [
    ("pi", job(), []),
    ("restart-always", job(set_path(PI, "spec.template.spec.restartPolicy", "Always")),
     [(REQ, "spec.template.spec.restartPolicy")]),
    ("restart-unset", job(set_path(PI, "spec.template.spec.restartPolicy", DELETE)),
     [(REQ, "spec.template.spec.restartPolicy")]),
    ("no-selector", set_path(_defaulted(JOB, PI), "spec.template.metadata", {}), [(REQ, "spec.selector")]),
    ("negative-completions", job(set_path(PI, "spec.completions", -1)), [(INV, "spec.completions")]),
    ("indexed-no-completions", job(set_path(set_path(PI, "spec.completionMode", "Indexed"), "spec.parallelism", 2)),
     [(REQ, "spec.completions")]),
    ("mode", job(set_path(PI, "spec.completionMode", "Sometimes")), [(NS, "spec.completionMode")]),
    ("wrong-uid-label", set_path(job(), "spec.template.metadata.labels.controller-uid", "other"),
     [(INV, "spec.template.metadata.labels[controller-uid]")]),
    ("manual-mismatch", set_path(set_path(job(), "spec.manualSelector", True), "spec.selector",
                                 {"matchLabels": {"x": "y"}}), [(INV, "spec.template.metadata.labels")]),
]


@pytest.mark.parametrize("obj,want", [c[1:] for c in JOB_CASES], ids=[c[0] for c in JOB_CASES])
def test_job(obj: dict, want: list) -> None:
    assert check(JOB, obj, default=False) == want


def test_job_restart_policy_message() -> None:
    errs = errors(JOB, job(set_path(PI, "spec.template.spec.restartPolicy", "Always")))
    assert str(errs[0]) == 'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"'


@pytest.mark.parametrize("mutate,want", [
    (lambda o: set_path(o, "spec.parallelism", 3), []),
    (lambda o: set_path(o, "spec.completions", 3), [(INV, "spec.completions")]),
    (lambda o: set_path(o, "spec.template.spec.containers.0.image", "perl:5.36"), [(INV, "spec.template")]),
    (lambda o: set_path(o, "spec.selector.matchLabels.extra", "x"),
     [(INV, "spec.selector"), (INV, "spec.template.metadata.labels"), (INV, "spec.selector")]),
], ids=["parallelism", "completions", "template", "selector"])
def test_job_update(mutate, want: list) -> None:
    old = set_path(job(), "metadata.resourceVersion", "3")
    assert check(JOB, mutate(old), old, default=False) == want


def test_suspended_job_may_change_scheduling() -> None:
    old = set_path(set_path(job(), "metadata.resourceVersion", "3"), "spec.suspend", True)
    new = set_path(old, "spec.template.spec.nodeSelector", {"zone": "a"})
    assert check(JOB, new, old, default=False) == []


CRON = ("batch", "cronjobs")

# the hello CronJob from the kubernetes.io documentation
HELLO = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello", "namespace": "default"},
         "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
             "containers": [{"name": "hello", "image": "busybox:1.28", "imagePullPolicy": "IfNotPresent",
                             "command": ["/bin/sh", "-c", "date; echo Hello from the Kubernetes cluster"]}],
             "restartPolicy": "OnFailure"}}}}}}

CRON_CASES = [
    ("hello", HELLO, []),
    ("hourly", set_path(HELLO, "spec.schedule", "@hourly"), []),
    ("bad-schedule", set_path(HELLO, "spec.schedule", "61 * * * *"), [(INV, "spec.schedule")]),
    ("no-schedule", set_path(HELLO, "spec.schedule", DELETE), [(REQ, "spec.schedule")]),
    ("tz-in-schedule", set_path(HELLO, "spec.schedule", "CRON_TZ=UTC 0 * * * *"), [(INV, "spec.schedule")]),
    ("timezone", set_path(HELLO, "spec.timeZone", "Mars/Olympus"), [(INV, "spec.timeZone")]),
    ("timezone-ok", set_path(HELLO, "spec.timeZone", "Europe/Paris"), []),
    ("policy", set_path(HELLO, "spec.concurrencyPolicy", "Sometimes"), [(NS, "spec.concurrencyPolicy")]),
    ("selector", set_path(HELLO, "spec.jobTemplate.spec.selector", {"matchLabels": {"a": "b"}}),
     [(INV, "spec.jobTemplate.spec.selector")]),
    ("restart", set_path(HELLO, "spec.jobTemplate.spec.template.spec.restartPolicy", "Always"),
     [(REQ, "spec.jobTemplate.spec.template.spec.restartPolicy")]),
    ("long-name", set_path(HELLO, "metadata.name", "a" * 53), [(INV, "metadata.name")]),
    ("history", set_path(HELLO, "spec.successfulJobsHistoryLimit", -1), [(INV, "spec.successfulJobsHistoryLimit")]),
]


@pytest.mark.parametrize("obj,want", [c[1:] for c in CRON_CASES], ids=[c[0] for c in CRON_CASES])
def test_cron_job(obj: dict, want: list) -> None:
    assert check(CRON, obj) == want


def test_cron_schedule_message() -> None:
    errs = errors(CRON, set_path(HELLO, "spec.schedule", "* * *"))
    assert str(errs[0]) == 'spec.schedule: Invalid value: "* * *": expected exactly 5 fields, found 3: [* * *]'


def test_rc_validation() -> None:
    rc = {"metadata": {"name": "r", "namespace": "d"},
          "spec": {"selector": {"app": "x"}, "template": {"metadata": {"labels": {"app": "y"}},
                                                         "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    assert check(("", "replicationcontrollers"), rc) == [(INV, "spec.template.metadata.labels")]

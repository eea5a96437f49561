"""Job, CronJob, DaemonSet and StatefulSet controllers against a real apiserver. No kubelet runs: the tests play
it by patching pod status (Running and Ready, or Succeeded/Failed with container exit codes)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from kybernetes.api.meta import now_rfc3339
from kybernetes.client import ApiError, FakeClock, RESTClient, SharedInformerFactory, load_kubeconfig, resource_path
from kybernetes.controllers.base import Result
from kybernetes.controllers.context import ControllerContext, ControllerOptions
from kybernetes.controllers.cronjob import CronJobController
from kybernetes.controllers.daemonset import DaemonSetController
from kybernetes.controllers.job import JobController
from kybernetes.controllers.statefulset import StatefulSetController

Obj = dict[str, Any]
NS = "default"
PODS = resource_path("", "v1", "pods", NS)
JOBS = resource_path("batch", "v1", "jobs", NS)
CRONJOBS = resource_path("batch", "v1", "cronjobs", NS)
DAEMONSETS = resource_path("apps", "v1", "daemonsets", NS)
STATEFULSETS = resource_path("apps", "v1", "statefulsets", NS)
PVCS = resource_path("", "v1", "persistentvolumeclaims", NS)
NODES = resource_path("", "v1", "nodes")
FINALIZER = "batch.kubernetes.io/job-tracking"
INDEX = "batch.kubernetes.io/job-completion-index"


class Events:
    """An in-memory recorder: (reason, message, object name)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []

    def __call__(self, component: str) -> Any:
        outer = self

        class _Recorder:
            def event(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
                outer.items.append((reason, message, (obj.get("metadata") or {}).get("name", "")))
        return _Recorder()

    def reasons(self, name: str) -> list[str]:
        return [r for r, _, n in self.items if n == name]


class Harness:
    def __init__(self, kubeconfig: str) -> None:
        self.client = RESTClient(load_kubeconfig(kubeconfig))
        self.factory = SharedInformerFactory(self.client)
        self.events = Events()
        self.ctx = ControllerContext(self.client, self.factory, self.events,
                                     ControllerOptions(extra={"job_pod_failure_backoff": 0.05}))
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self, *controllers: Any, run: bool = True) -> None:
        self.factory.start()
        assert await self.factory.wait_for_cache_sync(timeout=10)
        if run:
            self.tasks += [asyncio.create_task(c.run(2)) for c in controllers]

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.factory.shutdown()
        await self.client.close()


@pytest.fixture
async def h(apiserver) -> AsyncIterator[Harness]:
    harness = Harness(apiserver.kubeconfig_path)
    try:
        yield harness
    finally:
        await harness.close()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last={last!r}")


async def pods_of(h: Harness, selector: str) -> list[Obj]:
    return [p for p in (await h.client.list(PODS, {"labelSelector": selector}))["items"]
            if not p["metadata"].get("deletionTimestamp")]


async def finish_pod(h: Harness, pod: Obj, exit_code: int) -> None:
    """Play the kubelet: the pod's only container terminated with exit_code."""
    phase = "Succeeded" if exit_code == 0 else "Failed"
    now = now_rfc3339()
    status = {"phase": phase, "containerStatuses": [{
        "name": "c", "image": "busybox", "imageID": "", "ready": False, "restartCount": 0,
        "state": {"terminated": {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                                 "startedAt": now, "finishedAt": now}}}]}
    await h.client.patch(f"{PODS}/{pod['metadata']['name']}/status", {"status": status}, "merge")


async def make_ready(h: Harness, pod: Obj) -> None:
    now = now_rfc3339()
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}
    with contextlib.suppress(ApiError):
        await h.client.patch(f"{PODS}/{pod['metadata']['name']}/status", {"status": status}, "merge")


def is_ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def condition(obj: Obj, cond_type: str) -> Obj | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == cond_type), None)


def job_body(name: str, **spec: Any) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "busybox"}]}}, **spec}}


# -- Job --------------------------------------------------------------------------------------------------------

async def test_job_with_completions_and_parallelism_completes(h: Harness) -> None:
    await h.start(JobController(h.ctx))
    await h.client.create(JOBS, job_body("count", completions=3, parallelism=2))
    selector = "job-name=count"
    most_active = 0
    finished = 0
    while finished < 3:
        active = await eventually(lambda: _active(h, selector), what="active pods")
        most_active = max(most_active, len(active))
        assert all(FINALIZER in p["metadata"].get("finalizers", []) for p in active)
        await finish_pod(h, active[0], 0)
        finished += 1
        await asyncio.sleep(0.3)

    async def complete() -> Obj | None:
        job = await h.client.get(f"{JOBS}/count")
        cond = condition(job, "Complete")
        return job if cond and cond["status"] == "True" else None

    job = await eventually(complete, what="Complete")
    status = job["status"]
    assert most_active == 2
    assert (status["succeeded"], status.get("failed", 0), status.get("active", 0)) == (3, 0, 0)
    assert condition(job, "Complete")["reason"] == "CompletionsReached"
    assert condition(job, "SuccessCriteriaMet")["status"] == "True"
    assert status["completionTime"] and status["startTime"]
    assert not (status.get("uncountedTerminatedPods") or {}).get("succeeded")
    pods = (await h.client.list(PODS, {"labelSelector": selector}))["items"]
    assert len(pods) == 3 and all(FINALIZER not in p["metadata"].get("finalizers", []) for p in pods)
    assert h.events.reasons("count").count("SuccessfulCreate") == 3
    assert "Completed" in h.events.reasons("count")


async def _active(h: Harness, selector: str) -> list[Obj]:
    return [p for p in await pods_of(h, selector) if p["status"].get("phase") not in ("Succeeded", "Failed")]


async def test_job_exceeding_backoff_limit_fails(h: Harness) -> None:
    await h.start(JobController(h.ctx))
    await h.client.create(JOBS, job_body("flaky", backoffLimit=1))
    seen: set[str] = set()
    for _ in range(2):
        pod = (await eventually(lambda: _fresh_active(h, "job-name=flaky", seen), what="a new pod"))[0]
        seen.add(pod["metadata"]["name"])
        await finish_pod(h, pod, 3)

    async def failed() -> Obj | None:
        job = await h.client.get(f"{JOBS}/flaky")
        cond = condition(job, "Failed")
        return job if cond and cond["status"] == "True" else None

    job = await eventually(failed, what="Failed")
    assert condition(job, "Failed")["reason"] == "BackoffLimitExceeded"
    assert condition(job, "FailureTarget")["reason"] == "BackoffLimitExceeded"
    assert job["status"]["failed"] == 2 and job["status"].get("succeeded", 0) == 0
    assert "BackoffLimitExceeded" in h.events.reasons("flaky")
    await asyncio.sleep(0.3)
    pods = (await h.client.list(PODS, {"labelSelector": "job-name=flaky"}))["items"]
    assert sorted(p["metadata"]["name"] for p in pods) == sorted(seen)  # no third pod
    assert all(FINALIZER not in p["metadata"].get("finalizers", []) for p in pods)


async def _fresh_active(h: Harness, selector: str, seen: set[str]) -> list[Obj]:
    return [p for p in await _active(h, selector) if p["metadata"]["name"] not in seen]


async def test_indexed_job_pods_carry_their_index(h: Harness) -> None:
    await h.start(JobController(h.ctx))
    await h.client.create(JOBS, job_body("idx", completions=3, parallelism=3, completionMode="Indexed"))
    pods = await eventually(lambda: _n(_active(h, "job-name=idx"), 3), what="3 indexed pods")
    by_index = {p["metadata"]["annotations"][INDEX]: p for p in pods}
    assert sorted(by_index) == ["0", "1", "2"]
    for ix, pod in by_index.items():
        assert pod["metadata"]["labels"][INDEX] == ix
        assert pod["metadata"]["name"].startswith(f"idx-{ix}-")
        assert pod["spec"]["hostname"] == f"idx-{ix}"
        env = pod["spec"]["containers"][0]["env"]
        assert {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
            "apiVersion": "v1", "fieldPath": f"metadata.annotations['{INDEX}']"}}} in env
    await finish_pod(h, by_index["1"], 0)

    async def indexes() -> str | None:
        return (await h.client.get(f"{JOBS}/idx"))["status"].get("completedIndexes") or None

    assert await eventually(indexes, what="completedIndexes") == "1"
    await finish_pod(h, by_index["0"], 0)
    await finish_pod(h, by_index["2"], 0)

    async def done() -> Obj | None:
        job = await h.client.get(f"{JOBS}/idx")
        return job if condition(job, "Complete") else None

    job = await eventually(done, what="Complete")
    assert job["status"]["completedIndexes"] == "0-2" and job["status"]["succeeded"] == 3


async def _n(pods: Awaitable[list[Obj]], n: int) -> list[Obj] | None:
    got = await pods
    return got if len(got) == n else None


# -- CronJob ----------------------------------------------------------------------------------------------------

async def test_cronjob_schedules_forbids_replaces_and_keeps_history(h: Harness) -> None:
    clock = FakeClock(start=time.time())
    ctl = CronJobController(h.ctx, now=clock.now)
    await h.start(ctl, run=False)  # the test drives reconcile at chosen instants of the fake clock
    cj = await h.client.create(CRONJOBS, {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
        "spec": {"schedule": "*/5 * * * *", "concurrencyPolicy": "Forbid", "successfulJobsHistoryLimit": 1,
                 "jobTemplate": {"spec": {"template": {"spec": {
                     "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}})
    created = datetime.fromisoformat(cj["metadata"]["creationTimestamp"].replace("Z", "+00:00")).timestamp()
    slot = (int(created) // 300 + 1) * 300  # the first activation after creation
    key = f"{NS}/tick"
    await eventually(lambda: _cached(ctl.cronjobs, key), what="cronjob in cache")

    clock.step(slot - 1 - clock.now())
    result = await ctl.reconcile(key)
    assert (await h.client.list(JOBS))["items"] == []
    assert result == Result(requeue_after=pytest.approx(1.1))  # wakes exactly after the activation (+100ms)

    clock.step(2.0)
    result = await ctl.reconcile(key)
    first = f"tick-{slot // 60}"
    job = await h.client.get(f"{JOBS}/{first}")
    assert job["metadata"]["ownerReferences"][0]["uid"] == cj["metadata"]["uid"]
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == \
        datetime.fromtimestamp(slot, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = (await h.client.get(f"{CRONJOBS}/tick"))["status"]
    assert [a["name"] for a in status["active"]] == [first]
    assert status["lastScheduleTime"] == datetime.fromtimestamp(slot, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result.requeue_after == pytest.approx(300 - 1 + 0.1)

    # Forbid: the next activation finds the first job still running
    await eventually(lambda: _cached(ctl.jobs, f"{NS}/{first}"), what="job in cache")
    await eventually(lambda: _active_in_cache(ctl, key, 1), what="status in cache")
    clock.step(300)
    await ctl.reconcile(key)
    assert [j["metadata"]["name"] for j in (await h.client.list(JOBS))["items"]] == [first]
    assert "JobAlreadyActive" in h.events.reasons("tick")

    # Replace: the running job is deleted and the next one made
    await h.client.patch(f"{CRONJOBS}/tick", {"spec": {"concurrencyPolicy": "Replace"}}, "merge")
    await eventually(lambda: _policy_in_cache(ctl, key, "Replace"), what="Replace in cache")
    clock.step(300)
    await ctl.reconcile(key)
    third = f"tick-{(slot + 600) // 60}"
    names = [j["metadata"]["name"] for j in (await h.client.list(JOBS))["items"]
             if not j["metadata"].get("deletionTimestamp")]
    assert names == [third]
    assert "SuccessfulDelete" in h.events.reasons("tick")

    # history: completed jobs beyond successfulJobsHistoryLimit=1 are deleted, oldest first
    await _complete_job(h, third, started="2024-01-01T00:00:00Z")
    await eventually(lambda: _completed_in_cache(ctl, f"{NS}/{third}"), what="completed job in cache")
    await h.client.patch(f"{CRONJOBS}/tick", {"spec": {"concurrencyPolicy": "Allow"}}, "merge")
    await eventually(lambda: _policy_in_cache(ctl, key, "Allow"), what="Allow in cache")
    clock.step(300)
    await ctl.reconcile(key)
    fourth = f"tick-{(slot + 900) // 60}"
    await _complete_job(h, fourth, started="2024-01-02T00:00:00Z")
    await eventually(lambda: _completed_in_cache(ctl, f"{NS}/{fourth}"), what="completed job in cache")
    await eventually(lambda: _active_in_cache(ctl, key, 1), what="status in cache")
    await ctl.reconcile(key)
    names = [j["metadata"]["name"] for j in (await h.client.list(JOBS))["items"]
             if not j["metadata"].get("deletionTimestamp")]
    assert names == [fourth]
    status = (await h.client.get(f"{CRONJOBS}/tick"))["status"]
    assert not status.get("active") and status["lastSuccessfulTime"]
    assert "SawCompletedJob" in h.events.reasons("tick")


async def _cached(informer: Any, key: str) -> bool:
    return informer.store.get_by_key(key) is not None


async def _active_in_cache(ctl: CronJobController, key: str, n: int) -> bool:
    cj = ctl.cronjobs.store.get_by_key(key) or {}
    return len((cj.get("status") or {}).get("active") or []) == n


async def _policy_in_cache(ctl: CronJobController, key: str, policy: str) -> bool:
    return ((ctl.cronjobs.store.get_by_key(key) or {}).get("spec") or {}).get("concurrencyPolicy") == policy


async def _completed_in_cache(ctl: CronJobController, key: str) -> bool:
    job = ctl.jobs.store.get_by_key(key) or {}
    return condition(job, "Complete") is not None


async def _complete_job(h: Harness, name: str, started: str) -> None:
    job = await h.client.get(f"{JOBS}/{name}")
    now = now_rfc3339()
    job["status"] = {"startTime": started, "completionTime": now, "succeeded": 1, "conditions": [
        {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "lastTransitionTime": now},
        {"type": "Complete", "status": "True", "reason": "CompletionsReached", "lastTransitionTime": now}]}
    await h.client.update(f"{JOBS}/{name}/status", job)


# -- DaemonSet --------------------------------------------------------------------------------------------------

def node(name: str, **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": spec}


async def keep_ready(h: Harness, selector: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        for pod in await pods_of(h, selector):
            if not is_ready(pod):
                await make_ready(h, pod)
        await asyncio.sleep(0.1)


def daemon_target(pod: Obj) -> str:
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    return terms["nodeSelectorTerms"][0]["matchFields"][0]["values"][0]


async def test_daemonset_one_pod_per_node_and_rolling_update(h: Harness) -> None:
    for name in ("n1", "n2"):
        await h.client.create(NODES, node(name))
    await h.client.create(NODES, node("tainted", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]))
    await h.start(DaemonSetController(h.ctx))
    labels = {"app": "agent"}
    await h.client.create(DAEMONSETS, {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "agent:1"}]}}}})
    pods = await eventually(lambda: _n(pods_of(h, "app=agent"), 2), what="2 daemon pods")
    assert sorted(daemon_target(p) for p in pods) == ["n1", "n2"]
    tolerations = {(t["key"], t["effect"]) for t in pods[0]["spec"]["tolerations"]}
    assert ("node.kubernetes.io/not-ready", "NoExecute") in tolerations
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in tolerations
    old_hash = pods[0]["metadata"]["labels"]["controller-revision-hash"]

    await h.client.create(NODES, node("n3"))
    pods = await eventually(lambda: _n(pods_of(h, "app=agent"), 3), what="a pod for the new node")
    assert sorted(daemon_target(p) for p in pods) == ["n1", "n2", "n3"]

    stop = asyncio.Event()
    kubelet = asyncio.create_task(keep_ready(h, "app=agent", stop))
    try:
        async def counted() -> Obj | None:
            st = (await h.client.get(f"{DAEMONSETS}/agent")).get("status") or {}
            return st if st.get("numberReady") == 3 else None

        status = await eventually(counted, what="3 ready")
        assert (status["desiredNumberScheduled"], status["currentNumberScheduled"],
                status["updatedNumberScheduled"], status["numberMisscheduled"]) == (3, 3, 3, 0)
        await h.client.patch(f"{DAEMONSETS}/agent", {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "agent:2"}]}}}}, "strategic")

        async def rolled() -> list[Obj] | None:
            got = await pods_of(h, "app=agent")
            images = [p["spec"]["containers"][0]["image"] for p in got]
            return got if images == ["agent:2"] * 3 else None

        pods = await eventually(rolled, timeout=30, what="all pods on agent:2")
    finally:
        stop.set()
        await kubelet
    new_hash = pods[0]["metadata"]["labels"]["controller-revision-hash"]
    assert new_hash != old_hash and sorted(daemon_target(p) for p in pods) == ["n1", "n2", "n3"]
    revisions = (await h.client.list(resource_path("apps", "v1", "controllerrevisions", NS)))["items"]
    assert {r["metadata"]["labels"]["controller-revision-hash"]: r["revision"] for r in revisions} == \
        {old_hash: 1, new_hash: 2}
    deleted = [m for r, m, n in h.events.items if r == "SuccessfulDelete" and n == "agent"]
    assert len(deleted) == 3  # maxUnavailable 1: one old pod at a time


# -- StatefulSet ------------------------------------------------------------------------------------------------

def statefulset(name: str, replicas: int, image: str = "web:1", **spec: Any) -> Obj:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": image}]}},
                     **spec}}


async def _pod(h: Harness, name: str) -> Obj | None:
    try:
        pod = await h.client.get(f"{PODS}/{name}")
    except ApiError as e:
        if e.not_found:
            return None
        raise
    return None if pod["metadata"].get("deletionTimestamp") else pod


async def test_statefulset_ordered_ready_with_claims(h: Harness) -> None:
    await h.start(StatefulSetController(h.ctx))
    claim = {"metadata": {"name": "www"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                   "resources": {"requests": {"storage": "1Gi"}}}}
    await h.client.create(STATEFULSETS, statefulset("web", 2, volumeClaimTemplates=[claim]))
    web0 = await eventually(lambda: _pod(h, "web-0"), what="web-0")
    labels = web0["metadata"]["labels"]
    assert (labels["statefulset.kubernetes.io/pod-name"], labels["apps.kubernetes.io/pod-index"]) == ("web-0", "0")
    assert (web0["spec"]["hostname"], web0["spec"]["subdomain"]) == ("web-0", "web")
    assert {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}} in web0["spec"]["volumes"]
    pvc = await h.client.get(f"{PVCS}/www-web-0")
    assert pvc["metadata"]["labels"] == {"app": "web"}
    await asyncio.sleep(0.5)
    assert await _pod(h, "web-1") is None  # OrderedReady: web-0 is not Ready yet
    await make_ready(h, web0)
    web1 = await eventually(lambda: _pod(h, "web-1"), what="web-1 after web-0 is Ready")
    assert web1["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
    await h.client.get(f"{PVCS}/www-web-1")
    await make_ready(h, web1)

    async def ready() -> Obj | None:
        st = (await h.client.get(f"{STATEFULSETS}/web")).get("status") or {}
        return st if st.get("readyReplicas") == 2 else None

    status = await eventually(ready, what="2 ready replicas")
    assert status["replicas"] == 2 and status["currentRevision"] == status["updateRevision"]
    assert status["currentReplicas"] == 2 and status["updatedReplicas"] == 2


async def test_statefulset_rolling_update_with_partition(h: Harness) -> None:
    await h.start(StatefulSetController(h.ctx))
    await h.client.create(STATEFULSETS, statefulset("db", 3, podManagementPolicy="Parallel", updateStrategy={
        "type": "RollingUpdate", "rollingUpdate": {"partition": 2}}))
    stop = asyncio.Event()
    kubelet = asyncio.create_task(keep_ready(h, "app=db", stop))
    try:
        async def all_ready() -> Obj | None:
            st = (await h.client.get(f"{STATEFULSETS}/db")).get("status") or {}
            return st if st.get("readyReplicas") == 3 else None

        before = await eventually(all_ready, what="3 ready")
        uids = {n: (await _pod(h, n))["metadata"]["uid"] for n in ("db-0", "db-1", "db-2")}  # type: ignore[index]
        await h.client.patch(f"{STATEFULSETS}/db", {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "web:2"}]}}}}, "strategic")

        async def partitioned() -> Obj | None:
            st = (await h.client.get(f"{STATEFULSETS}/db")).get("status") or {}
            return st if st.get("updatedReplicas") == 1 and st.get("readyReplicas") == 3 else None

        status = await eventually(partitioned, what="db-2 updated")
        await asyncio.sleep(0.5)
        pods = {n: await _pod(h, n) for n in ("db-0", "db-1", "db-2")}
    finally:
        stop.set()
        await kubelet
    assert status["currentRevision"] == before["currentRevision"] != status["updateRevision"]
    assert pods["db-2"]["metadata"]["uid"] != uids["db-2"]  # type: ignore[index]
    assert pods["db-2"]["spec"]["containers"][0]["image"] == "web:2"  # type: ignore[index]
    assert pods["db-2"]["metadata"]["labels"]["controller-revision-hash"] == \
        status["updateRevision"]  # type: ignore[index]
    for n in ("db-0", "db-1"):
        assert pods[n]["metadata"]["uid"] == uids[n]  # type: ignore[index]
        assert pods[n]["spec"]["containers"][0]["image"] == "web:1"  # type: ignore[index]
    assert status["currentReplicas"] == 2

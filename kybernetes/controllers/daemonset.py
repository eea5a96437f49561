"""The DaemonSet controller (upstream's pkg/controller/daemon): one pod on every eligible node, pinned there
through node-name affinity so the default scheduler binds it; RollingUpdate (maxUnavailable, maxSurge) and
OnDelete updates over ControllerRevisions; status counts per node."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from typing import Any

from kybernetes.api.selectors import LabelSelector, label_selector_from_dict
from kybernetes.client import ApiError, meta_namespace_key, resource_path
from kybernetes.controllers import daemonutil as du
from kybernetes.controllers import history
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext
from kybernetes.controllers.controller_utils import (ControllerRefManager, get_controller_of, is_being_deleted,
                                                     is_pod_available, is_pod_ready, new_controller_ref,
                                                     pod_from_template, slow_start_batch)
from kybernetes.controllers.expectations import ControllerExpectations

log = logging.getLogger(__name__)

Obj = dict[str, Any]

API_VERSION, KIND = "apps/v1", "DaemonSet"
BURST_REPLICAS = 250


def _by_creation(pod: Obj) -> tuple[str, str]:
    return pod["metadata"].get("creationTimestamp", ""), pod["metadata"]["name"]


class DaemonSetController:
    """Keeps one daemon pod on each node a DaemonSet selects, at the DaemonSet's current revision."""

    name = "daemonset"

    def __init__(self, ctx: ControllerContext, *, now: Callable[[], float] = time.time) -> None:
        self.client = ctx.client
        self.recorder = ctx.recorder("daemonset-controller")
        self.now = now
        self.expectations = ControllerExpectations()
        self.worker = QueueWorker(self.name, self.reconcile)
        self.daemonsets = ctx.informers.informer_for("apps", "v1", "daemonsets")
        self.pods = ctx.informers.informer_for("", "v1", "pods")
        self.nodes = ctx.informers.informer_for("", "v1", "nodes")
        self.revisions = ctx.informers.informer_for("apps", "v1", "controllerrevisions")
        self.daemonsets.add_event_handler(on_add=self.worker.enqueue_object,
                                          on_update=lambda old, new: self.worker.enqueue_object(new),
                                          on_delete=self._delete_ds)
        self.pods.add_event_handler(on_add=self._add_pod, on_update=self._update_pod, on_delete=self._delete_pod)
        self.nodes.add_event_handler(on_add=lambda n: self._enqueue_all(),
                                     on_update=self._update_node, on_delete=lambda n: self._enqueue_all())
        self.revisions.add_event_handler(on_add=self._owner_changed, on_update=lambda o, n: self._owner_changed(n),
                                         on_delete=self._owner_changed)

    async def run(self, workers: int = 0) -> None:
        await self.worker.run(workers or 2)

    # -- event handlers --------------------------------------------------------------------------------------------

    def _delete_ds(self, ds: Obj) -> None:
        key = meta_namespace_key(ds)
        self.expectations.delete_expectations(key)
        self.worker.enqueue(key)

    def _enqueue_all(self) -> None:
        for ds in self.daemonsets.store.list():
            self.worker.enqueue_object(ds)

    def _update_node(self, old: Obj, new: Obj) -> None:
        def relevant(n: Obj) -> Any:
            return ((n["metadata"].get("labels") or {}), (n.get("spec") or {}).get("taints"))
        if relevant(old) != relevant(new):
            self._enqueue_all()

    def _owner_key(self, obj: Obj) -> str | None:
        ref = get_controller_of(obj)
        if ref is None or ref.get("kind") != KIND:
            return None
        ds = self.daemonsets.store.get(ref.get("name", ""), obj["metadata"].get("namespace", ""))
        if ds is None or ds["metadata"].get("uid") != ref.get("uid"):
            return None
        return meta_namespace_key(ds)

    def _owner_changed(self, obj: Obj) -> None:
        key = self._owner_key(obj)
        if key is not None:
            self.worker.enqueue(key)

    def _add_pod(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is None:
            self._enqueue_selecting(pod)
            return
        self.expectations.creation_observed(key)
        self.worker.enqueue(key)

    def _update_pod(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        key = self._owner_key(new)
        if key is None:
            self._owner_changed(old)
            self._enqueue_selecting(new)
            return
        self.worker.enqueue(key)
        min_ready = int(((self.daemonsets.store.get_by_key(key) or {}).get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready > 0 and not is_pod_ready(old) and is_pod_ready(new):
            self.worker.enqueue_after(key, min_ready + 1.0)

    def _delete_pod(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is None:
            return
        self.expectations.deletion_observed(key)
        self.worker.enqueue(key)

    def _enqueue_selecting(self, pod: Obj) -> None:
        labels = pod["metadata"].get("labels") or {}
        if not labels:
            return
        for ds in self.daemonsets.store.list(pod["metadata"].get("namespace", "")):
            try:
                sel = label_selector_from_dict((ds.get("spec") or {}).get("selector"))
            except ValueError:
                continue
            if not sel.empty() and sel.matches(labels):
                self.worker.enqueue_object(ds)

    # -- reconcile -------------------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result:
        ds = self.daemonsets.store.get_by_key(key)
        if ds is None:
            self.expectations.delete_expectations(key)
            return Result()
        if is_being_deleted(ds):
            return Result()
        try:
            selector = label_selector_from_dict((ds.get("spec") or {}).get("selector"))
        except ValueError as e:
            log.error("daemonset %s: invalid selector: %s", key, e)
            return Result()
        if selector.empty():
            self.recorder.event(ds, "Warning", "SelectingAll",
                                "This daemon set is selecting all pods. A non-empty selector is required.")
            return Result()
        nodes = sorted(self.nodes.store.list(), key=lambda n: n["metadata"]["name"])
        ds, current, old = await self._construct_history(ds, selector)
        hash_ = current["metadata"]["labels"][history.CONTROLLER_REVISION_HASH_LABEL]
        node_to_pods = await self._node_to_daemon_pods(ds, selector)
        error: BaseException | None = None
        if self.expectations.satisfied_expectations(key):
            error = await self._manage(key, ds, nodes, node_to_pods, hash_)
            if error is None and du.is_rolling_update(ds):
                error = await self._rolling_update(key, ds, nodes, node_to_pods, hash_)
            if error is None:
                await self._cleanup_history(ds, old, node_to_pods)
        requeue = await self._update_status(ds, nodes, node_to_pods, hash_)
        if error is not None:
            raise error
        return Result(requeue_after=requeue)

    async def _node_to_daemon_pods(self, ds: Obj, selector: LabelSelector) -> dict[str, list[Obj]]:
        md = ds["metadata"]

        async def can_adopt() -> bool:
            try:
                fresh = await self.client.get(self._path(ds))
            except ApiError as e:
                if e.not_found:
                    return False
                raise
            return fresh["metadata"].get("uid") == md["uid"] and not is_being_deleted(fresh)

        mgr = ControllerRefManager(self.client, ds, selector, api_version=API_VERSION, kind=KIND,
                                   path_of=lambda p: resource_path("", "v1", "pods", p["metadata"]["namespace"],
                                                                   p["metadata"]["name"]),
                                   can_adopt=can_adopt)
        out: dict[str, list[Obj]] = {}
        for pod in await mgr.claim(self.pods.store.list(md["namespace"])):
            node = du.target_node_name(pod)
            if node is not None:
                out.setdefault(node, []).append(pod)
        for pods in out.values():
            pods.sort(key=_by_creation)
        return out

    # -- manage: which node needs a pod, which pod must go ------------------------------------------------------------

    def pods_should_be_on_node(self, ds: Obj, node: Obj, pods: list[Obj], hash_: str,
                               surge: bool) -> tuple[bool, list[Obj]]:
        """podsShouldBeOnNode: (whether the node needs a new daemon pod, the pods to delete from it)."""
        should_run, should_continue = du.node_should_run_daemon_pod(node, ds)
        live = [p for p in pods if not is_being_deleted(p)]
        if not should_continue:
            return False, live
        if should_run and not pods:
            return True, []
        delete: list[Obj] = []
        running: list[Obj] = []
        for pod in live:
            phase = (pod.get("status") or {}).get("phase")
            if phase == "Failed":
                md = pod["metadata"]
                self.recorder.event(ds, "Warning", "FailedDaemonPod", f"Found failed daemon pod {md['namespace']}/"
                                    f"{md['name']} on node {node['metadata']['name']}, will try to kill it")
                delete.append(pod)
            elif phase == "Succeeded":
                delete.append(pod)
            else:
                running.append(pod)
        if should_run and not running:
            return True, delete
        if surge:
            oldest_new = oldest_old = None
            for pod in sorted(running, key=_by_creation):
                if du.is_pod_updated(pod, hash_):
                    if oldest_new is None:
                        oldest_new = pod
                        continue
                elif oldest_old is None:
                    oldest_old = pod
                    continue
                delete.append(pod)
            min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
            if oldest_new is not None and oldest_old is not None and \
                    is_pod_available(oldest_new, min_ready, self.now()):
                delete.append(oldest_old)
        elif len(running) > 1:
            delete += sorted(running, key=_by_creation)[1:]
        return False, delete

    async def _manage(self, key: str, ds: Obj, nodes: list[Obj], node_to_pods: dict[str, list[Obj]],
                      hash_: str) -> BaseException | None:
        surge = du.is_rolling_update(ds) and du.surge_and_unavailable(ds, len(nodes))[0] > 0
        needing: list[str] = []
        delete: list[Obj] = []
        names = {n["metadata"]["name"] for n in nodes}
        for node in nodes:
            need, victims = self.pods_should_be_on_node(ds, node, node_to_pods.get(node["metadata"]["name"], []),
                                                        hash_, surge)
            if need:
                needing.append(node["metadata"]["name"])
            delete += victims
        for node_name, pods in node_to_pods.items():  # unscheduled pods aimed at nodes that are gone
            if node_name not in names:
                delete += [p for p in pods if not (p.get("spec") or {}).get("nodeName") and not is_being_deleted(p)]
        return await self._sync_nodes(key, ds, delete, needing, hash_)

    async def _sync_nodes(self, key: str, ds: Obj, delete: list[Obj], create_on: list[str],
                          hash_: str) -> BaseException | None:
        create_on = create_on[:BURST_REPLICAS]
        delete = delete[:BURST_REPLICAS]
        if not create_on and not delete:
            return None
        self.expectations.set_expectations(key, len(create_on), len(delete))
        template = du.create_pod_template(ds, hash_)
        ref = new_controller_ref(ds, api_version=API_VERSION, kind=KIND)
        ns = ds["metadata"]["namespace"]
        pending = iter(create_on)

        async def create_one() -> None:
            node = next(pending)
            t = copy.deepcopy(template)
            t["spec"]["affinity"] = du.replace_node_name_affinity(t["spec"].get("affinity"), node)
            pod = pod_from_template(t, ref, f"{ds['metadata']['name']}-")
            try:
                created = await self.client.create(resource_path("", "v1", "pods", ns), pod)
            except ApiError as e:
                if e.code == 403 and "being terminated" in (e.message or ""):
                    return
                self.recorder.event(ds, "Warning", "FailedCreate", f"Error creating: {e.message or e}")
                raise
            self.recorder.event(ds, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

        async def delete_one(pod: Obj) -> None:
            md = pod["metadata"]
            try:
                await self.client.delete(resource_path("", "v1", "pods", md["namespace"], md["name"]),
                                         body={"preconditions": {"uid": md["uid"]}})
            except ApiError as e:
                self.expectations.deletion_observed(key)
                if e.not_found or e.conflict:
                    return
                self.recorder.event(ds, "Warning", "FailedDelete", f"Error deleting: {e.message or e}")
                raise
            self.recorder.event(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {md['name']}")

        successes, error = await slow_start_batch(len(create_on), 1, create_one)
        for _ in range(len(create_on) - successes):
            self.expectations.creation_observed(key)
        results = await asyncio.gather(*(delete_one(p) for p in delete), return_exceptions=True)
        return error or next((r for r in results if isinstance(r, BaseException)), None)

    # -- rolling update --------------------------------------------------------------------------------------------

    async def _rolling_update(self, key: str, ds: Obj, nodes: list[Obj], node_to_pods: dict[str, list[Obj]],
                              hash_: str) -> BaseException | None:
        """rollingUpdate: replace old pods within maxUnavailable, or surge new ones first within maxSurge."""
        eligible = [n["metadata"]["name"] for n in nodes if du.node_should_run_daemon_pod(n, ds)[0]]
        max_surge, max_unavailable = du.surge_and_unavailable(ds, len(eligible))
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        now = self.now()
        if max_surge == 0:
            unavailable = 0
            allowed: list[Obj] = []
            candidates: list[Obj] = []
            for node in eligible:
                new, old, ok = du.find_updated_pods_on_node(node_to_pods.get(node, []), hash_)
                if not ok or (new is None) == (old is None):
                    unavailable += 1
                elif new is not None:
                    if not is_pod_available(new, min_ready, now):
                        unavailable += 1
                elif not is_pod_available(old, min_ready, now):  # type: ignore[arg-type]
                    allowed.append(old)  # type: ignore[arg-type]
                elif unavailable < max_unavailable:
                    candidates.append(old)  # type: ignore[arg-type]
            budget = min(max(0, max_unavailable - unavailable), len(candidates))
            return await self._sync_nodes(key, ds, allowed + candidates[:budget], [], hash_)
        surged = 0
        allowed_nodes: list[str] = []
        candidate_nodes: list[str] = []
        old_to_delete: list[Obj] = []
        for node in eligible:
            new, old, ok = du.find_updated_pods_on_node(node_to_pods.get(node, []), hash_)
            if not ok:
                surged += 1
            elif old is None:
                continue
            elif new is None:
                if not is_pod_available(old, min_ready, now):
                    allowed_nodes.append(node)
                elif surged < max_surge:
                    candidate_nodes.append(node)
            elif not is_pod_available(new, min_ready, now):
                surged += 1
            else:
                old_to_delete.append(old)
        budget = min(max(0, max_surge - surged), len(candidate_nodes))
        return await self._sync_nodes(key, ds, old_to_delete, allowed_nodes + candidate_nodes[:budget], hash_)

    # -- history ---------------------------------------------------------------------------------------------------

    async def _construct_history(self, ds: Obj, selector: LabelSelector) -> tuple[Obj, Obj, list[Obj]]:
        """constructHistory: (ds, the current revision (created or renumbered as needed), the old ones)."""
        ns = ds["metadata"]["namespace"]
        revisions = await history.claim_revisions(self.client, ds, selector, self.revisions.store.list(ns),
                                                  api_version=API_VERSION, kind=KIND, parent_path=self._path(ds))
        collision = int((ds.get("status") or {}).get("collisionCount") or 0)
        current, used = await history.ensure_update_revision(self.client, ds, revisions, api_version=API_VERSION,
                                                             kind=KIND, collision_count=collision)
        if used != collision:
            ds = await self._write_status(ds, {**(ds.get("status") or {}), "collisionCount": used})
        data = history.canonical(current.get("data"))
        old = [r for r in revisions if r["metadata"]["name"] != current["metadata"]["name"] and
               history.canonical(r.get("data")) != data]
        return ds, current, old

    async def _cleanup_history(self, ds: Obj, old: list[Obj], node_to_pods: dict[str, list[Obj]]) -> None:
        limit = int((ds.get("spec") or {}).get("revisionHistoryLimit", 10))
        live = {(p["metadata"].get("labels") or {}).get(history.CONTROLLER_REVISION_HASH_LABEL)
                for pods in node_to_pods.values() for p in pods}
        unused = [r for r in history.sort_revisions(old)
                  if (r["metadata"].get("labels") or {}).get(history.CONTROLLER_REVISION_HASH_LABEL) not in live]
        for rev in unused[:max(0, len(old) - limit)]:
            await history.delete_revision(self.client, rev)

    # -- status ----------------------------------------------------------------------------------------------------

    async def _update_status(self, ds: Obj, nodes: list[Obj], node_to_pods: dict[str, list[Obj]],
                             hash_: str) -> float:
        """Write the per-node counts; returns a requeue delay while ready pods wait out minReadySeconds."""
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        now = self.now()
        desired = current = ready = available = updated = misscheduled = 0
        for node in nodes:
            should_run, _ = du.node_should_run_daemon_pod(node, ds)
            pods = node_to_pods.get(node["metadata"]["name"], [])
            if not should_run:
                misscheduled += 1 if pods else 0
                continue
            desired += 1
            if not pods:
                continue
            current += 1
            pod = pods[0]
            if is_pod_ready(pod):
                ready += 1
                if is_pod_available(pod, min_ready, now):
                    available += 1
            if du.is_pod_updated(pod, hash_):
                updated += 1
        status = {**(ds.get("status") or {}), "desiredNumberScheduled": desired, "currentNumberScheduled": current,
                  "numberReady": ready, "numberAvailable": available, "numberUnavailable": desired - available,
                  "updatedNumberScheduled": updated, "numberMisscheduled": misscheduled,
                  "observedGeneration": ds["metadata"].get("generation", 0)}
        for k in ("numberAvailable", "numberUnavailable"):
            if not status[k]:
                status.pop(k)
        if status != (ds.get("status") or {}):
            await self._write_status(ds, status)
        return float(min_ready) if min_ready > 0 and ready != available else 0.0

    async def _write_status(self, ds: Obj, status: Obj) -> Obj:
        try:
            return await self.client.update(self._path(ds, "status"), {**ds, "status": status})
        except ApiError as e:
            if not e.conflict:
                raise
        fresh = await self.client.get(self._path(ds))
        status = {**status, "observedGeneration": min(status.get("observedGeneration", 0),
                                                      fresh["metadata"].get("generation", 0))}
        return await self.client.update(self._path(ds, "status"), {**fresh, "status": status})

    def _path(self, ds: Obj, subresource: str | None = None) -> str:
        md = ds["metadata"]
        return resource_path("apps", "v1", "daemonsets", md["namespace"], md["name"], subresource)


CONTROLLER = DaemonSetController

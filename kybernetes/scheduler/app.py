"""Wiring of `kybernetes scheduler`: client, informers, cache, queue, profiles, leader election, /healthz and
/metrics; `run_scheduler` runs it all until `stop` is set."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from typing import Any

from aiohttp import web

from kybernetes.client import LeaderElector, RESTClient, SharedInformerFactory, load_kubeconfig
from kybernetes.gctune import freeze_startup_objects
from kybernetes.scheduler.cache import Cache
from kybernetes.scheduler.config import KubeSchedulerConfiguration, load_config
from kybernetes.scheduler.eventhandlers import GenericHandler, NodeHandler, PodHandler
from kybernetes.scheduler.events import EventRecorder
from kybernetes.scheduler.framework.interface import SUCCESS, Pod, Status
from kybernetes.scheduler.framework.registry import new_framework, register_default_plugins
from kybernetes.scheduler.framework.runtime import Framework
from kybernetes.scheduler.metrics import Metrics
from kybernetes.scheduler.queue import PriorityQueue
from kybernetes.scheduler.scheduler import Scheduler

log = logging.getLogger(__name__)

# Young-generation collections every this many allocations instead of 700: scheduling allocates a lot of
# short-lived objects (decoded watch events, statuses, score lists) while the informer caches hold hundreds of
# thousands of long-lived ones that each older-generation collection would scan again.
GC_GEN0_THRESHOLD = 20000

# resources plugins read, beyond pods and nodes: (group, version, plural, ClusterEvent resource)
EXTRA_RESOURCES = [
    ("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    ("", "v1", "persistentvolumes", "PersistentVolume"),
    ("storage.k8s.io", "v1", "storageclasses", "StorageClass"),
    ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget"),
    ("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass"),
    ("", "v1", "namespaces", "Namespace"),
    # the owners PodTopologySpread's default constraints look for
    ("", "v1", "services", "Service"),
    ("", "v1", "replicationcontrollers", "ReplicationController"),
    ("apps", "v1", "replicasets", "ReplicaSet"),
    ("apps", "v1", "statefulsets", "StatefulSet"),
]


class SchedulerApp:
    """Everything one scheduler process holds, built from a configuration and a client."""

    def __init__(self, cfg: KubeSchedulerConfiguration, client: RESTClient, *, identity: str) -> None:
        self.cfg, self.client, self.identity = cfg, client, identity
        self.metrics = Metrics()
        self.factory = SharedInformerFactory(client)
        self.pods = self.factory.informer_for("", "v1", "pods")
        self.nodes = self.factory.informer_for("", "v1", "nodes")
        self.extra = {plural: self.factory.informer_for(g, v, plural) for g, v, plural, _ in EXTRA_RESOURCES}
        self.recorder = EventRecorder(client, instance=identity)
        self.cache = Cache()
        registry = register_default_plugins()
        self.profiles: dict[str, Framework] = {}
        for profile in cfg.profiles:
            self.profiles[profile.scheduler_name] = new_framework(
                profile, registry, percentage_of_nodes_to_score=cfg.percentage_of_nodes_to_score, client=client,
                lister=self.lister, recorder=self.recorder)
        first = next(iter(self.profiles.values()))
        plugin_events: dict[str, Any] = {}
        for fwk in self.profiles.values():
            plugin_events.update(fwk.events_to_register())
        self.queue = PriorityQueue(less=first.queue_sort_less(), pre_enqueue=self.pre_enqueue,
                                   plugin_events=plugin_events, victims_pending=self.cache.victims_pending,
                                   pod_initial_backoff=cfg.pod_initial_backoff_seconds,
                                   pod_max_backoff=cfg.pod_max_backoff_seconds)
        for fwk in self.profiles.values():
            fwk.nominator = self.queue
        self.metrics.watch_queue(self.queue.pending_pods)
        self.scheduler = Scheduler(client=client, cache=self.cache, queue=self.queue, profiles=self.profiles,
                                   pod_lister=self.pods.store, metrics=self.metrics)
        self.pods.add_event_handler(PodHandler(self.cache, self.queue, self.responsible, self.on_pending_delete))
        self.nodes.add_event_handler(NodeHandler(self.cache, self.queue))
        for g, v, plural, kind in EXTRA_RESOURCES:
            self.extra[plural].add_event_handler(GenericHandler(kind, self.queue))

    def lister(self, group: str, version: str, plural: str) -> Any:
        return self.factory.informer_for(group, version, plural).store

    def responsible(self, pod: Pod) -> bool:
        return ((pod.get("spec") or {}).get("schedulerName") or "default-scheduler") in self.profiles

    def pre_enqueue(self, pod: Pod) -> Status:
        fwk = self.profiles.get((pod.get("spec") or {}).get("schedulerName") or "default-scheduler")
        return fwk.run_pre_enqueue_plugins(pod) if fwk is not None else SUCCESS

    def on_pending_delete(self, pod: Pod) -> None:
        for fwk in self.profiles.values():
            fwk.reject_waiting_pod((pod.get("metadata") or {}).get("uid", ""))

    async def run_scheduling(self) -> None:
        """The leader's work: wait for the caches, then schedule until cancelled."""
        await self.factory.wait_for_cache_sync()
        freeze_synced_objects()
        self.queue.run()
        try:
            await self.scheduler.run()
        finally:
            self.queue.close()


def freeze_synced_objects() -> None:
    """Move what the initial lists built (informer caches, NodeInfos) out of the collector's sight, so that full
    collections during scheduling do not walk every cached pod and node again."""
    freeze_startup_objects(GC_GEN0_THRESHOLD)


async def _serve_metrics(app: SchedulerApp, port: int) -> web.AppRunner:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=app.metrics.exposition(), content_type="text/plain", charset="utf-8")

    wapp = web.Application()
    wapp.router.add_get("/healthz", healthz)
    wapp.router.add_get("/livez", healthz)
    wapp.router.add_get("/readyz", healthz)
    wapp.router.add_get("/metrics", metrics)
    runner = web.AppRunner(wapp, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def run_scheduler(*, kubeconfig: str, config_file: str | None = None, leader_elect: bool = False,
                        metrics_port: int = 0, stop: asyncio.Event | None = None) -> None:
    """Run a scheduler against the apiserver of `kubeconfig` until `stop` is set (or leadership is lost)."""
    cfg = load_config(config_file)
    stop = stop or asyncio.Event()
    client = RESTClient(load_kubeconfig(kubeconfig))
    identity = f"{socket.gethostname()}_{uuid.uuid4()}"
    app = SchedulerApp(cfg, client, identity=identity)
    runner = await _serve_metrics(app, metrics_port) if metrics_port > 0 else None
    app.factory.start()
    recorder = asyncio.create_task(app.recorder.run(), name="scheduler events")
    if leader_elect:
        le = cfg.leader_election
        elector = LeaderElector(client, namespace=le.resource_namespace, name=le.resource_name, identity=identity,
                                on_started_leading=app.run_scheduling, lease_duration=le.lease_duration,
                                renew_deadline=le.renew_deadline, retry_period=le.retry_period)
        work = asyncio.create_task(elector.run(), name="scheduler leader election")
    else:
        work = asyncio.create_task(app.run_scheduling(), name="scheduler")
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if work.done() and not work.cancelled() and work.exception() is not None:
            raise work.exception()  # type: ignore[misc]
    finally:
        for t in (work, stopper, recorder):
            t.cancel()
        await asyncio.gather(work, stopper, recorder, return_exceptions=True)
        await app.factory.shutdown()
        if runner is not None:
            await runner.cleanup()
        await client.close()

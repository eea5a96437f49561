"""The controller-manager process: picks controllers by upstream's --controllers syntax, shares one informer
factory between them (under its own identity), gives each controller the client it writes through (its own
ServiceAccount's with --use-service-account-credentials, see clientbuilder), optionally leads through a Lease,
and serves /healthz and /metrics (work-queue depth, adds and retries per controller)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
import uuid
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from kybernetes.client import LeaderElector, RESTClient, SharedInformerFactory, load_kubeconfig
from kybernetes.client.record import EventBroadcaster, recorder_factory
from kybernetes.controllers.base import QueueWorker
from kybernetes.controllers.clientbuilder import (ControllerClientBuilder, DynamicControllerClientBuilder,
                                                  SimpleControllerClientBuilder, default_user_agent)
from kybernetes.controllers.context import Controller, ControllerContext, ControllerOptions
from kybernetes.version import register_build_info

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "kube-controller-manager"

# upstream controller name -> (module, attribute holding the controller class)
CONTROLLERS: dict[str, tuple[str, str]] = {
    "replicaset": ("kybernetes.controllers.replicaset", "ReplicaSetController"),
    "replicationcontroller": ("kybernetes.controllers.replicaset", "ReplicationManager"),
    "deployment": ("kybernetes.controllers.deployment", "CONTROLLER"),
    "garbagecollector": ("kybernetes.controllers.garbagecollector", "CONTROLLER"),
    "namespace": ("kybernetes.controllers.namespace", "CONTROLLER"),
    "nodelifecycle": ("kybernetes.controllers.nodelifecycle", "CONTROLLER"),
    "nodeipam": ("kybernetes.controllers.nodeipam", "CONTROLLER"),
    "endpoint": ("kybernetes.controllers.endpoints", "CONTROLLER"),
    "endpointslice": ("kybernetes.controllers.endpointslice", "CONTROLLER"),
    "endpointslicemirroring": ("kybernetes.controllers.endpointslicemirroring", "CONTROLLER"),
    "serviceaccount": ("kybernetes.controllers.serviceaccount", "CONTROLLER"),
    "serviceaccount-token": ("kybernetes.controllers.serviceaccounttoken", "CONTROLLER"),
    "root-ca-cert-publisher": ("kybernetes.controllers.rootcacert", "CONTROLLER"),
    "podgc": ("kybernetes.controllers.podgc", "CONTROLLER"),
    "clusterrole-aggregation": ("kybernetes.controllers.clusterroleaggregation", "CONTROLLER"),
    "job": ("kybernetes.controllers.job", "CONTROLLER"),
    "cronjob": ("kybernetes.controllers.cronjob", "CONTROLLER"),
    "daemonset": ("kybernetes.controllers.daemonset", "CONTROLLER"),
    "statefulset": ("kybernetes.controllers.statefulset", "CONTROLLER"),
    "ttl-after-finished": ("kybernetes.controllers.ttlafterfinished", "CONTROLLER"),
    "resourcequota": ("kybernetes.controllers.resourcequota", "CONTROLLER"),
    "csrapproving": ("kybernetes.controllers.certificates.approver", "CONTROLLER"),
    "csrsigning": ("kybernetes.controllers.certificates.signer", "CONTROLLER"),
    "csrcleaner": ("kybernetes.controllers.certificates.cleaner", "CONTROLLER"),
    "bootstrapsigner": ("kybernetes.controllers.certificates.bootstrapsigner", "CONTROLLER"),
    "tokencleaner": ("kybernetes.controllers.certificates.tokencleaner", "CONTROLLER"),
}
DISABLED_BY_DEFAULT: frozenset[str] = frozenset()
# controller -> the kube-system ServiceAccount it runs as with --use-service-account-credentials (upstream's names;
# each is bound to the ClusterRole system:controller:<account>). The token controller keeps the root identity, as
# upstream starts it with the root client builder ("tokens-controller").
SERVICE_ACCOUNTS: dict[str, str] = {
    "replicaset": "replicaset-controller",
    "replicationcontroller": "replication-controller",
    "deployment": "deployment-controller",
    "garbagecollector": "generic-garbage-collector",
    "namespace": "namespace-controller",
    "nodelifecycle": "node-controller",
    "nodeipam": "node-controller",
    "endpoint": "endpoint-controller",
    "endpointslice": "endpointslice-controller",
    "endpointslicemirroring": "endpointslicemirroring-controller",
    "serviceaccount": "service-account-controller",
    "root-ca-cert-publisher": "root-ca-cert-publisher",
    "podgc": "pod-garbage-collector",
    "clusterrole-aggregation": "clusterrole-aggregation-controller",
    "job": "job-controller",
    "cronjob": "cronjob-controller",
    "daemonset": "daemon-set-controller",
    "statefulset": "statefulset-controller",
    "ttl-after-finished": "ttl-after-finished-controller",
    "resourcequota": "resourcequota-controller",
    "csrapproving": "certificate-controller",
    "csrsigning": "certificate-controller",
    "csrcleaner": "certificate-controller",
    "bootstrapsigner": "bootstrap-signer",
    "tokencleaner": "token-cleaner",
}
ROOT_CLIENT_NAMES: dict[str, str] = {"serviceaccount-token": "tokens-controller"}


def client_name(controller: str) -> tuple[str, bool]:
    """(name, is_service_account) of the client `controller` writes through: its ServiceAccount's name, or the
    user-agent suffix of a controller that keeps the root identity."""
    if controller in SERVICE_ACCOUNTS:
        return SERVICE_ACCOUNTS[controller], True
    return ROOT_CLIENT_NAMES.get(controller, controller), False


def _workers_for(name: str, options: ControllerOptions) -> int:
    per_name = {"replicaset": options.concurrent_replicaset_syncs,
                "replicationcontroller": options.concurrent_replicaset_syncs,
                "deployment": options.concurrent_deployment_syncs,
                "endpoint": options.concurrent_endpoint_syncs,
                "endpointslice": options.concurrent_endpoint_syncs,
                "endpointslicemirroring": options.concurrent_endpoint_syncs,
                "garbagecollector": options.concurrent_gc_syncs,
                "namespace": options.concurrent_namespace_syncs}
    return int(options.extra.get(f"concurrent_{name}_syncs", per_name.get(name, 1)))


def enabled_controllers(selection: Iterable[str] | None, known: Iterable[str] = CONTROLLERS,
                        disabled_by_default: Iterable[str] = DISABLED_BY_DEFAULT) -> list[str]:
    """Upstream's --controllers: '*' = all on by default, 'foo' enables foo, '-foo' disables it (wins)."""
    selection = list(selection) if selection is not None else ["*"]
    known = list(known)
    for item in selection:
        name = item[1:] if item.startswith("-") else item
        if name != "*" and name not in known:
            raise ValueError(f'"{name}" is not in the list of known controllers')
    off_by_default = set(disabled_by_default)
    out = []
    for name in known:
        if f"-{name}" in selection:
            continue
        if name in selection or ("*" in selection and name not in off_by_default):
            out.append(name)
    return out


def load_controller_class(name: str) -> type | None:
    """The controller class registered for `name`, or None while its module is missing or broken."""
    module_name, attr = CONTROLLERS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        log.warning("controller %s unavailable: %s", name, e)
        return None
    cls = getattr(module, attr, None)
    if cls is None:
        log.warning("controller %s unavailable: %s has no %s", name, module_name, attr)
    return cls


def _queue_workers(controller: Any) -> list[QueueWorker]:
    return [v for v in vars(controller).values() if isinstance(v, QueueWorker)]


class WorkqueueCollector:
    """Prometheus collector over the QueueWorkers of the running controllers (read at scrape time)."""

    def __init__(self, controllers: dict[str, Any]) -> None:
        self.controllers = controllers

    def collect(self) -> Iterable[Any]:
        depth = GaugeMetricFamily("workqueue_depth", "Current depth of workqueue", labels=["name"])
        adds = CounterMetricFamily("workqueue_adds", "Total number of adds handled by workqueue", labels=["name"])
        retries = CounterMetricFamily("workqueue_retries", "Total number of retries handled by workqueue",
                                      labels=["name"])
        for ctl in list(self.controllers.values()):
            for w in _queue_workers(ctl):
                depth.add_metric([w.name], w.depth())
                adds.add_metric([w.name], w.adds)
                retries.add_metric([w.name], w.retries)
        yield depth
        yield adds
        yield retries


class ControllerManager:
    """Builds and runs the selected controllers on one informer factory (read as the root identity); each
    controller writes through the client `client_builder` gives it (the root credentials by default)."""

    def __init__(self, client: RESTClient, *, controllers: list[str] | None = None,
                 options: ControllerOptions | None = None,
                 client_builder: ControllerClientBuilder | None = None) -> None:
        self.client = client
        self.options = options or ControllerOptions()
        self.names = enabled_controllers(controllers)
        self.informers = SharedInformerFactory(client)
        self.broadcaster: EventBroadcaster = recorder_factory(client)
        self.client_builder: ControllerClientBuilder = client_builder or SimpleControllerClientBuilder(client.config)
        self.root_builder = SimpleControllerClientBuilder(client.config)
        self.context = ControllerContext(client=client, informers=self.informers,
                                         recorder_factory=self.broadcaster, options=self.options,
                                         client_builder=self.client_builder)
        self._broadcasters: dict[str, EventBroadcaster] = {}
        self.controllers: dict[str, Controller] = {}
        self.registry = CollectorRegistry()
        register_build_info(self.registry)
        self.registry.register(WorkqueueCollector(self.controllers))  # type: ignore[arg-type]
        self.ready = False

    def context_for(self, controller: str) -> ControllerContext:
        """The shared context with the controller's own client and an event recorder writing through it."""
        name, is_sa = client_name(controller)
        builder = self.client_builder if is_sa else self.root_builder
        client = builder.client(name)
        if name not in self._broadcasters:
            self._broadcasters[name] = recorder_factory(client)
        return replace(self.context, client=client, recorder_factory=self._broadcasters[name])

    async def prepare_credentials(self) -> None:
        """Create the controllers' ServiceAccounts and fetch their first tokens (failures are retried on use)."""
        names = sorted({client_name(c)[0] for c in self.names if client_name(c)[1]})
        results = await asyncio.gather(*(self.client_builder.prepare(n) for n in names), return_exceptions=True)
        for name, result in zip(names, results):
            if isinstance(result, BaseException):
                log.warning("credentials of controller account %s not ready yet: %s", name, result)

    def build(self) -> None:
        for name in self.names:
            cls = load_controller_class(name)
            if cls is None:
                continue
            try:
                self.controllers[name] = cls(self.context_for(name))
            except Exception:  # noqa: BLE001 - one broken controller must not stop the others
                log.exception("starting controller %s failed", name)
        log.info("controllers: %s", ", ".join(self.controllers) or "(none)")

    async def run(self) -> None:
        """Build, start informers, wait for their first lists, run every controller until cancelled."""
        await self.prepare_credentials()
        self.build()
        self.informers.start()
        while not await self.informers.wait_for_cache_sync(timeout=30.0):
            log.warning("waiting for informer caches to sync")
        self.ready = True
        tasks = {asyncio.create_task(self._run_one(name, ctl), name=f"controller {name}")
                 for name, ctl in self.controllers.items()}
        try:
            if tasks:
                await asyncio.gather(*tasks)
            else:
                await asyncio.Event().wait()
        finally:
            self.ready = False
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.informers.shutdown()

    async def _run_one(self, name: str, controller: Controller) -> None:
        try:
            await controller.run(_workers_for(name, self.options))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            log.exception("controller %s stopped with an error", name)

    async def close(self) -> None:
        await self.broadcaster.aclose()
        for b in self._broadcasters.values():
            await b.aclose()
        await self.client_builder.close()
        await self.root_builder.close()


async def _start_http(manager: ControllerManager, port: int, bind_address: str) -> web.AppRunner:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(text="ok") if manager.ready else web.Response(status=503, text="not ready")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(manager.registry),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, bind_address, port).start()
    return runner


async def run_controller_manager(*, kubeconfig: str, controllers: list[str] | None = None,
                                 leader_elect: bool = False, options: ControllerOptions | None = None,
                                 metrics_port: int = 0, stop: asyncio.Event | None = None,
                                 bind_address: str = "127.0.0.1",
                                 use_service_account_credentials: bool = False) -> None:
    """Run kube-controller-manager until `stop` is set (or cancelled). With leader_elect, controllers run only
    while this process holds the Lease kube-system/kube-controller-manager; losing it raises RuntimeError.
    With use_service_account_credentials each controller writes as its own kube-system ServiceAccount."""
    stop = stop or asyncio.Event()
    config = load_kubeconfig(kubeconfig)
    config.user_agent = default_user_agent()
    client = RESTClient(config)
    builder = DynamicControllerClientBuilder(client) if use_service_account_credentials else None
    manager = ControllerManager(client, controllers=controllers, options=options, client_builder=builder)
    runner = await _start_http(manager, metrics_port, bind_address) if metrics_port > 0 else None
    if leader_elect:
        identity = f"{socket.gethostname()}_{uuid.uuid4()}"
        elector = LeaderElector(client, namespace=LEASE_NAMESPACE, name=LEASE_NAME, identity=identity,
                                on_started_leading=manager.run)
        main = asyncio.create_task(elector.run(), name="controller-manager leader election")
    else:
        main = asyncio.create_task(manager.run(), name="controller-manager")
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if main.done() and not stop.is_set():
            main.result()  # re-raise a crash
            if leader_elect:
                raise RuntimeError("leaderelection lost")
    finally:
        for t in (main, stopper):
            t.cancel()
        await asyncio.gather(main, stopper, return_exceptions=True)
        await manager.close()
        if runner is not None:
            await runner.cleanup()
        await client.close()

"""The Kubelet: wires the node agent together (node status, pod informer, pod manager and workers, PLEG relist,
probes, volumes, static pods, eviction, events) and `run_kubelet`, its entry point.

Stopping the kubelet (the `stop` event, or cancelling its task, as a crash would) leaves every container
running: a new kubelet on the same root_dir adopts them through the runtime's labels.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import logging
import os
import socket
import time
from typing import Any

from kybernetes.client.config import load_kubeconfig
from kybernetes.client.informer import SharedInformerFactory
from kybernetes.client.rest import ApiError, RESTClient, resource_path
from kybernetes.gctune import freeze_startup_objects
from kybernetes.kubelet import static as staticpods
from kybernetes.kubelet.eviction import EvictionManager
from kybernetes.kubelet.network import plugin as netplugin
from kybernetes.kubelet.network.plugin import HostNetwork, PodNetwork
from kybernetes.kubelet.nodestatus import NodeStatusManager, primary_ip
from kybernetes.kubelet.options import KubeletOptions
from kybernetes.kubelet.podmanager import PodManager
from kybernetes.kubelet.podworkers import DONE, PodWorkers
from kybernetes.kubelet.probes import ProbeManager
from kybernetes.kubelet.runtime.interface import (LABEL_CONTAINER_NAME, LABEL_POD_UID, RUNTIME_READY,
                                                  ContainerFilter, ContainerRuntime,
                                                  PodSandboxFilter)
from kybernetes.kubelet.status import needs_sync
from kybernetes.kubelet.sync import NodeInfo, PodSyncer, PodSyncState
from kybernetes.kubelet.volumes import VolumeManager

log = logging.getLogger(__name__)
Obj = dict[str, Any]
HOUSEKEEPING_PERIOD = 2.0
TOKEN_REQUESTS_IN_FLIGHT = 4
OBJECT_CACHE_TTL = 2.5  # seconds a configmap/secret read serves the volume refreshes of running pods
ALLOCATABLE_TTL = 10.0  # seconds a reading of the node's allocatable (/proc/meminfo, statvfs) is reused


def make_runtime(kind: str, root_dir: str, node_ip: str, options: KubeletOptions) -> ContainerRuntime:
    if kind != "process":
        raise ValueError(f"unknown container runtime {kind!r} (this kubelet has: process)")
    from kybernetes.kubelet.runtime.process import ProcessRuntime  # noqa: PLC0415

    return ProcessRuntime(os.path.join(root_dir, "runtime"), pod_ip=node_ip,
                          container_log_max_size=options.container_log_max_size,
                          container_log_max_files=options.container_log_max_files, **options.runtime_options)


def make_network(options: KubeletOptions, root_dir: str, node_ip: str) -> PodNetwork:
    """The pod network options.pod_network names (bridge, host or auto; see network/plugin.py)."""
    if netplugin.choose(options.pod_network) == netplugin.HOST:
        return HostNetwork(node_ip)
    from kybernetes.kubelet.network.bridge import BridgeNetwork  # noqa: PLC0415

    return BridgeNetwork(root_dir, cluster_cidr=options.cluster_cidr, service_cidr=options.service_cidr)


class Kubelet:
    """The node agent. `.runtime`, `.pod_for()` and `.container_id()` are what the 10250 server uses."""

    def __init__(self, *, client: RESTClient, runtime: ContainerRuntime, node_name: str, root_dir: str,
                 node_ip: str = "", pod_manifest_path: str = "", kube_reserved: dict | None = None,
                 system_reserved: dict | None = None, node_labels: dict | None = None,
                 register_with_taints: list | None = None, server_port: int = 10250,
                 options: KubeletOptions | None = None, network: PodNetwork | None = None) -> None:
        self.client = client
        self.runtime = runtime
        self.node_name = node_name
        self.root_dir = os.path.abspath(root_dir)
        self.node_ip = node_ip or primary_ip()
        self.pod_manifest_path = pod_manifest_path
        self.options = options or KubeletOptions()
        self.network = network or make_network(self.options, self.root_dir, self.node_ip)
        self.server_port = server_port
        self.metrics: dict[str, int] = {"pod_syncs": 0, "pod_sync_errors": 0, "evictions": 0}
        self.pod_manager = PodManager()
        self.informers = SharedInformerFactory(client)
        self.pod_informer = self.informers.informer_for("", "v1", "pods", field_selector=f"spec.nodeName={node_name}")
        self.service_informer = self.informers.informer_for("", "v1", "services")
        self.node_informer = None
        self.routes = None
        if self.network.name != netplugin.HOST:
            from kybernetes.kubelet.network.hostgw import HostGatewaySync  # noqa: PLC0415

            # its own Node only: the Node authorizer lets a kubelet read no other; routes to the other nodes'
            # pods come from a watch of all Nodes under options.network_kubeconfig (network/hostgw.py)
            self.node_informer = self.informers.informer_for("", "v1", "nodes",
                                                             field_selector=f"metadata.name={node_name}")
            if self.options.network_kubeconfig:
                self.routes = HostGatewaySync(kubeconfig=self.options.network_kubeconfig, node_name=node_name,
                                              cluster_cidr=self.options.cluster_cidr)
            else:
                log.info("no network kubeconfig: no routes to other nodes' pods (host-gw) are kept")
        self._network_dirty = asyncio.Event()
        from kybernetes.client.record import EventBroadcaster  # noqa: PLC0415

        self.broadcaster = EventBroadcaster(client, host=node_name, qps=self.options.event_record_qps,
                                            burst=self.options.event_burst)
        self.recorder = self.broadcaster.new_recorder("kubelet")
        self._allocatable_cache: tuple[float, dict[str, str]] | None = None
        self._object_reads: dict[tuple[str, str, str], asyncio.Future[Obj | None]] = {}
        self._recent_objects: dict[tuple[str, str, str], tuple[float, Obj | None]] = {}
        # token requests at once: a burst of new pods leaves the client's other slots to the status writes of
        # pods already started (which make them Running), instead of queueing those behind a hundred tokens
        self._token_requests = asyncio.Semaphore(TOKEN_REQUESTS_IN_FLIGHT)
        self.node_status = NodeStatusManager(
            client, node_name=node_name, node_ip=self.node_ip, root_dir=self.root_dir, options=self.options,
            port=server_port, kube_reserved=kube_reserved, system_reserved=system_reserved, labels=node_labels,
            taints=register_with_taints, readiness=self._runtime_readiness, pressure=self._pressure,
            network=self.network.ready if self.network.name != netplugin.HOST else None)
        self.volumes = VolumeManager(self.root_dir, get=self.get_object, cached_get=self.get_recent_object,
                                     request_token=self.request_token,
                                     allocatable=self._allocatable)
        self.probes = ProbeManager(runtime, get_pod=self.pod_manager.get, on_change=self._wake, event=self.event)
        log_dir = self.options.log_dir or os.path.join(self.root_dir, "logs", "pods")
        self.syncer = PodSyncer(runtime=runtime, client=client, volumes=self.volumes, probes=self.probes,
                                options=self.options, node=NodeInfo(node_name, self.node_ip, self._allocatable),
                                get_object=self.get_object, services=self.service_informer.store.list,
                                event=self.event, log_dir=log_dir, network=self.network,
                                observed=self._observed)
        self.workers = PodWorkers(self._sync, resync=self.options.sync_frequency)
        self.eviction = EvictionManager(root_dir=self.root_dir, thresholds=self.options.eviction_hard,
                                        pods=self.pod_manager.pods, usage=self._usage, evict=self._evict)
        self._runtime_ok: tuple[bool, str] = (True, "")
        self._pleg: dict[str, tuple] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._server: Any = None
        self._static_loaded = not pod_manifest_path
        self._pod_handler: Any = None

    # ------------------------------------------------------------------------------------------ for the server
    def pod_for(self, namespace: str, name: str) -> dict | None:
        """The pod of that namespace and name this kubelet runs (static pods by their mirror's name)."""
        return self.pod_manager.by_name(namespace, name)

    async def container_id_async(self, pod_uid: str, container_name: str, previous: bool = False) -> str | None:
        found = await self.runtime.list_containers(
            ContainerFilter(label_selector={LABEL_POD_UID: pod_uid, LABEL_CONTAINER_NAME: container_name}))
        found.sort(key=lambda c: (c.metadata.attempt, c.created_at), reverse=True)
        index = 1 if previous else 0
        return found[index].id if len(found) > index else None

    def container_id(self, pod_uid: str, container_name: str, previous: bool = False) -> str | None:
        """The runtime id of the pod's current (or previous) container of that name; None when there is none.

        Synchronous, from the runtime's state on disk (the process runtime lists without blocking I/O waits).
        """
        list_fn = getattr(self.runtime, "list_containers")
        coro = list_fn(ContainerFilter(label_selector={LABEL_POD_UID: pod_uid, LABEL_CONTAINER_NAME: container_name}))
        try:
            coro.send(None)
        except StopIteration as done:
            found = done.value
        else:  # the runtime really awaited something: not usable synchronously
            coro.close()
            raise RuntimeError("container_id needs a runtime whose list_containers does not block; "
                               "use container_id_async")
        found.sort(key=lambda c: (c.metadata.attempt, c.created_at), reverse=True)
        index = 1 if previous else 0
        return found[index].id if len(found) > index else None

    # ------------------------------------------------------------------------------------------ helpers
    def event(self, pod: Obj, event_type: str, reason: str, message: str) -> None:
        self.recorder.event({**pod, "kind": "Pod", "apiVersion": "v1"}, event_type, reason, message)

    async def get_object(self, kind: str, namespace: str, name: str) -> Obj | None:
        """A configmap or secret for a pod's volumes and env, read from the apiserver; callers asking for the same
        object while a read is in flight share its answer (pods started together read kube-root-ca.crt once)."""
        key = (kind, namespace, name)
        pending = self._object_reads.get(key)
        if pending is None:
            pending = self._object_reads[key] = asyncio.ensure_future(self._read_object(kind, namespace, name))
            pending.add_done_callback(lambda _: self._object_reads.pop(key, None))
        return await asyncio.shield(pending)

    async def get_recent_object(self, kind: str, namespace: str, name: str) -> Obj | None:
        """As get_object, or the answer of a read at most OBJECT_CACHE_TTL old (upstream's "Cache" change detection
        strategy): the periodic refresh of running pods' volumes."""
        key = (kind, namespace, name)
        now = time.monotonic()
        hit = self._recent_objects.get(key)
        if hit is not None and now - hit[0] < OBJECT_CACHE_TTL:
            return hit[1]
        obj = await self.get_object(kind, namespace, name)
        if len(self._recent_objects) > 4096:
            self._recent_objects = {k: v for k, v in self._recent_objects.items() if now - v[0] < OBJECT_CACHE_TTL}
        self._recent_objects[key] = (now, obj)
        return obj

    async def _read_object(self, kind: str, namespace: str, name: str) -> Obj | None:
        try:
            return await self.client.get(resource_path("", "v1", kind, namespace, name))
        except ApiError as e:
            if e.not_found:
                return None
            raise

    async def request_token(self, pod: Obj, service_account: str, audiences: list[str], expiry: int) -> str | None:
        md = pod["metadata"]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"audiences": audiences, "expirationSeconds": expiry,
                         "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": md["name"], "uid": md["uid"]}}}
        path = resource_path("", "v1", "serviceaccounts", md.get("namespace"), service_account, "token")
        try:
            async with self._token_requests:
                resp = await self.client.create(path, body)
        except ApiError as e:
            if e.code in (404, 405):
                return None
            raise
        return (resp.get("status") or {}).get("token")

    def _allocatable(self) -> dict[str, str]:
        """The node's allocatable for env and volumes of each container, read at most every ALLOCATABLE_TTL."""
        now = time.monotonic()
        if self._allocatable_cache is None or now - self._allocatable_cache[0] > ALLOCATABLE_TTL:
            self._allocatable_cache = (now, self.node_status.allocatable())
        return dict(self._allocatable_cache[1])

    def _wake(self, uid: str) -> None:
        self.workers.update(uid)

    def _runtime_readiness(self) -> tuple[bool, str]:
        return self._runtime_ok

    def _pressure(self) -> dict[str, bool]:
        return self.eviction.pressure()

    async def _sync(self, uid: str) -> float | None:
        self.metrics["pod_syncs"] += 1
        pod = self.pod_manager.get(uid)
        if pod is None and not self._pods_known():
            return 1.0  # never clean up what may be a pod of the list not seen yet (adoption after a restart)
        try:
            result = await self.syncer.sync(uid, pod)
        except Exception:
            self.metrics["pod_sync_errors"] += 1
            raise
        return DONE if result is not None and result < 0 else result

    def _pods_known(self) -> bool:
        return self._pod_handler is not None and self._pod_handler.has_synced() and self._static_loaded

    async def _usage(self, pod: Obj, resource: str) -> float:
        uid = pod["metadata"]["uid"]
        if resource == "memory":
            stats = await self.runtime.list_container_stats(ContainerFilter(label_selector={LABEL_POD_UID: uid}))
            return float(sum(s.memory_working_set_bytes for s in stats))
        total = 0
        for base in (self.volumes.pod_dir(uid),):
            for dirpath, _dirs, files in os.walk(base):
                for f in files:
                    try:
                        total += os.lstat(os.path.join(dirpath, f)).st_size
                    except OSError:
                        pass
        return float(total)

    async def _evict(self, pod: Obj, message: str) -> None:
        uid = pod["metadata"]["uid"]
        self.metrics["evictions"] += 1
        self.event(pod, "Warning", "Evicted", message)
        state = self.syncer.states.setdefault(uid, PodSyncState())
        state.eviction = ("Evicted", message)
        self.workers.update(uid)

    # ------------------------------------------------------------------------------------------ informer
    def _on_pod(self, pod: Obj) -> None:
        self.pod_manager.set_api_pod(pod)
        if staticpods.ANNOTATION_MIRROR in (pod["metadata"].get("annotations") or {}):
            for sp in self.pod_manager.static_pods():
                if sp["metadata"]["name"] == pod["metadata"]["name"]:
                    self.workers.update(sp["metadata"]["uid"])
            return
        self.workers.update(pod["metadata"]["uid"])

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if not needs_sync(old, new) and staticpods.ANNOTATION_MIRROR not in (new["metadata"].get("annotations") or {}):
            self.pod_manager.set_api_pod(new)  # its next sync reads this copy
            return
        self._on_pod(new)

    def _on_pod_delete(self, pod: Obj) -> None:
        self.pod_manager.delete_api_pod(pod)
        if staticpods.ANNOTATION_MIRROR not in (pod["metadata"].get("annotations") or {}):
            self.workers.update(pod["metadata"]["uid"])

    def _observed(self, uid: str, fingerprint: tuple) -> None:
        """A sync saw (and reported) these containers: the next relist wakes the pod only for later changes, not
        for the containers that sync itself started."""
        if fingerprint:
            self._pleg[uid] = fingerprint
        else:  # no containers: as the relist sees it (a recorded empty one would read as "all gone")
            self._pleg.pop(uid, None)

    # ------------------------------------------------------------------------------------------ loops
    async def _pleg_loop(self) -> None:
        """Relist the runtime; wake the worker of every pod whose containers changed, and of orphans."""
        while True:
            try:
                seen: dict[str, list] = {}
                for c in await self.runtime.list_containers():
                    uid = c.labels.get(LABEL_POD_UID)
                    if uid:
                        seen.setdefault(uid, []).append((c.id, c.state))
                fingerprints = {uid: tuple(sorted(v)) for uid, v in seen.items()}
                for uid, fp in fingerprints.items():
                    if self._pleg.get(uid) != fp:
                        self.workers.update(uid)
                for uid in set(self._pleg) - set(fingerprints):
                    if self.pod_manager.get(uid) is not None:
                        self.workers.update(uid)
                self._pleg = fingerprints
                status = await self.runtime.status()
                ok = all(c.status for c in status.conditions if c.type == RUNTIME_READY)
                self._runtime_ok = (ok, "" if ok else "container runtime is down")
            except Exception:  # noqa: BLE001 - relist again next period
                log.exception("PLEG relist")
            await asyncio.sleep(self.options.pleg_relist_period)

    async def _housekeeping_loop(self) -> None:
        """Once the pod list is known: clean up sandboxes and containers of pods this node no longer has."""
        while not self._pods_known():
            await asyncio.sleep(0.1)
        while True:
            try:
                known = set(self.pod_manager.uids()) | set(self.workers.known())
                uids = {s.labels.get(LABEL_POD_UID) for s in await self.runtime.list_pod_sandbox(PodSandboxFilter())}
                uids |= {c.labels.get(LABEL_POD_UID) for c in await self.runtime.list_containers()}
                for uid in uids - known - {None}:
                    self.workers.update(uid)
                await self._network_gc()
                for mirror in self.pod_manager.mirrors():
                    if not any(sp["metadata"]["name"] == mirror["metadata"]["name"]
                               and sp["metadata"].get("namespace") == mirror["metadata"].get("namespace")
                               for sp in self.pod_manager.static_pods()) and self._static_loaded:
                        await staticpods.delete_mirror(self.client, mirror)
            except Exception:  # noqa: BLE001
                log.exception("housekeeping")
            await asyncio.sleep(HOUSEKEEPING_PERIOD)

    async def _network_loop(self) -> None:
        """Keep the bridge on this node's podCIDR (from its own Node object)."""
        assert self.node_informer is not None
        while True:
            await self._network_dirty.wait()
            self._network_dirty.clear()
            try:
                nodes = self.node_informer.store.list()
                own = next((n for n in nodes if n["metadata"]["name"] == self.node_name), None)
                cidr = ((own or {}).get("spec") or {}).get("podCIDR")
                if cidr:
                    was_ready = self.network.ready()[0]
                    await self.network.set_pod_cidr(cidr)
                    if not was_ready and self.network.ready()[0]:
                        await self.node_status.update_status()  # NetworkUnavailable=False (and its taint) now
                        for uid in self.pod_manager.uids():  # pods waiting for the network
                            self.workers.update(uid)
            except Exception:  # noqa: BLE001 - again on the next Node change
                log.exception("pod network")
                await asyncio.sleep(1.0)
                self._network_dirty.set()

    async def _network_gc(self) -> None:
        """Release the networking of pods with neither a sandbox nor a worker (after restarts, crashes)."""
        keep = set(self.pod_manager.uids()) | set(self.workers.known())
        keep |= {s.labels.get(LABEL_POD_UID) for s in await self.runtime.list_pod_sandbox(PodSandboxFilter())}
        await self.network.gc({u for u in keep if u})

    async def _static_loop(self) -> None:
        await self.node_status.registered.wait()
        while True:
            try:
                pods = staticpods.read_manifests(self.pod_manifest_path, self.node_name)
                changed, removed = self.pod_manager.set_static_pods(pods)
                self._static_loaded = True
                for uid in changed | removed:
                    self.workers.update(uid)
                for pod in pods:
                    await staticpods.sync_mirror(self.client, pod, self.pod_manager.mirror_of(pod), self.node_status.node_uid)
            except Exception:  # noqa: BLE001
                log.exception("static pods")
            await asyncio.sleep(min(self.options.file_check_frequency, self.options.sync_frequency))

    async def _eviction_loop(self) -> None:
        while True:
            try:
                await self.eviction.synchronize()
            except Exception:  # noqa: BLE001
                log.exception("eviction")
            await asyncio.sleep(self.options.eviction_monitoring_period)

    # ------------------------------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start every loop; returns once the node is registered and the pod list is known."""
        self._pod_handler = self.pod_informer.add_event_handler(on_add=self._on_pod, on_update=self._on_pod_update,
                                            on_delete=self._on_pod_delete)
        spawn = lambda coro, name: self._tasks.append(asyncio.create_task(coro, name=name))  # noqa: E731
        spawn(self.node_status.run(), "kubelet-node-status")
        self.informers.start()
        spawn(self._pleg_loop(), "kubelet-pleg")
        spawn(self._housekeeping_loop(), "kubelet-housekeeping")
        spawn(self._eviction_loop(), "kubelet-eviction")
        if self.node_informer is not None:
            self.node_informer.add_event_handler(on_add=lambda n: self._network_dirty.set(),
                                                 on_update=lambda old, new: self._network_dirty.set(),
                                                 on_delete=lambda n: self._network_dirty.set())
            spawn(self._network_loop(), "kubelet-network")
            if self.routes is not None:
                spawn(self.routes.run(), "kubelet-host-gw-routes")
        if self.pod_manifest_path:
            spawn(self._static_loop(), "kubelet-static-pods")
        await self.node_status.registered.wait()
        await self.informers.wait_for_cache_sync()
        await self._start_server()

    async def _start_server(self) -> None:
        """Start the 10250 server (kybernetes.kubelet.server) when it exists and certificates are given."""
        if importlib.util.find_spec("kybernetes.kubelet.server") is None:
            return
        o = self.options
        if not (o.tls_cert_file and o.tls_private_key_file and o.client_ca_file):
            log.info("kubelet server not started: tls_cert_file, tls_private_key_file and client_ca_file are needed")
            return
        from kybernetes.kubelet import server  # noqa: PLC0415

        try:
            result = server.start_server(self, self.server_port, cert_file=o.tls_cert_file,
                                         key_file=o.tls_private_key_file, client_ca_file=o.client_ca_file,
                                         host=o.server_address)
            self._server = await result if inspect.isawaitable(result) else result
        except Exception:  # noqa: BLE001 - pods run without the server; logs/exec are then unavailable
            log.exception("starting the kubelet server on port %d", self.server_port)

    def pods(self) -> list[Obj]:
        """The pods this node runs (for the server's /pods)."""
        return self.pod_manager.pods()

    async def stop(self) -> None:
        """Stop the loops and workers; containers keep running."""
        server, self._server = self._server, None
        for name in ("stop", "close", "cleanup", "shutdown"):
            fn = getattr(server, name, None)
            if fn is not None:
                try:
                    res = fn()
                    if inspect.isawaitable(res):
                        await res
                except Exception:  # noqa: BLE001
                    log.exception("stopping the kubelet server")
                break
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.workers.stop()
        self.probes.stop_all()
        close = getattr(self.runtime, "close", None)
        if close is not None:
            close()  # the process runtime's shim spawner; containers and their shims keep running
        await self.informers.shutdown()
        await self.broadcaster.aclose()


async def run_kubelet(*, kubeconfig: str, node_name: str, root_dir: str, runtime: str = "process",
                      pod_manifest_path: str = "", kube_reserved: dict | None = None,
                      system_reserved: dict | None = None, node_labels: dict | None = None,
                      register_with_taints: list | None = None, node_ip: str = "", server_port: int = 10250,
                      stop: asyncio.Event | None = None, options: KubeletOptions | None = None) -> None:
    """Run a kubelet until `stop` is set or the task is cancelled (containers keep running either way)."""
    options = options or KubeletOptions()
    node_name = node_name or socket.gethostname().lower()
    os.makedirs(root_dir, exist_ok=True)
    ip = node_ip or primary_ip()
    client = RESTClient(load_kubeconfig(kubeconfig))
    kubelet = Kubelet(client=client, runtime=make_runtime(runtime, root_dir, ip, options), node_name=node_name,
                      root_dir=root_dir, node_ip=ip, pod_manifest_path=pod_manifest_path,
                      kube_reserved=kube_reserved, system_reserved=system_reserved, node_labels=node_labels,
                      register_with_taints=register_with_taints, server_port=server_port, options=options)
    try:
        await kubelet.start()
        freeze_startup_objects()  # a burst of pod starts otherwise spends a tenth of the kubelet's CPU collecting
        await (stop.wait() if stop is not None else asyncio.Event().wait())
    finally:
        await asyncio.shield(_shutdown(kubelet, client))


async def _shutdown(kubelet: Kubelet, client: RESTClient) -> None:
    try:
        await kubelet.stop()
    finally:
        await client.close()


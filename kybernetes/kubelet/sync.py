"""One level-triggered sync of one pod: compare its spec with what the runtime reports, act, report status.

Upstream's kubelet.SyncPod/SyncTerminatingPod and kuberuntime's computePodActions/SyncPod folded into one
object: sandbox, init containers in order (sidecars kept running), app containers with the restart policy and
CrashLoopBackOff, liveness/startup restarts, graceful termination with preStop, status written to pods/status
only when it changed, and the pod object removed once its containers are gone.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from kybernetes.client.rest import ApiError, RESTClient, resource_path
from kybernetes.kubelet import status as podstatus
from kybernetes.kubelet.backoff import Backoff
from kybernetes.kubelet.envvars import EnvConfigError, ObjectGetter, expand_command, make_environment
from kybernetes.kubelet.handlers import run_action
from kybernetes.kubelet.network.plugin import HOST, HostNetwork, NetworkNotReady, PodNetwork
from kybernetes.kubelet.options import KubeletOptions
from kybernetes.kubelet.probes import ProbeManager
from kybernetes.kubelet.resources import container_resources
from kybernetes.kubelet.runtime import logs as crilogs
from kybernetes.kubelet.runtime.interface import (LABEL_CONTAINER_NAME, LABEL_CONTAINER_TYPE, LABEL_POD_NAME,
                                                  LABEL_POD_NAMESPACE, LABEL_POD_UID, ContainerConfig,
                                                  ContainerFilter, ContainerMetadata, ContainerRuntime,
                                                  ContainerState, ContainerStatus, DNSConfig, ImageSpec, KeyValue,
                                                  LinuxContainerConfig, LinuxContainerSecurityContext, Mount,
                                                  NotFoundError, PodSandboxConfig, PodSandboxFilter,
                                                  PodSandboxMetadata, PodSandboxState, RuntimeServiceError)
from kybernetes.kubelet.status import ContainerView, is_restartable_init
from kybernetes.kubelet.volumes import VolumeError, VolumeManager

log = logging.getLogger(__name__)
Obj = dict[str, Any]

ANNOTATION_RESTART_COUNT = "io.kubernetes.container.restartCount"
ANNOTATION_HASH = "io.kubernetes.container.hash"
ANNOTATION_TERMINATION_PATH = "io.kubernetes.container.terminationMessageHostPath"
ANNOTATION_TERMINATION_POLICY = "io.kubernetes.container.terminationMessagePolicy"
ANNOTATION_CONFIG_MIRROR = "kubernetes.io/config.mirror"
ANNOTATION_CONFIG_SOURCE = "kubernetes.io/config.source"
DEFAULT_GRACE = 30
TERMINATION_MESSAGE_MAX = 4096
FALLBACK_LOG_LINES = 80
ERROR_RETRY = 2.0
STATUS_WRITES_IN_FLIGHT = 8

DONE = -1.0  # sync result: the worker may exit (the pod is gone and cleaned up)


def container_hash(container: Obj) -> str:
    return hashlib.sha256(orjson.dumps(container, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def container_fingerprint(found: dict[str, list[ContainerStatus]]) -> tuple:
    """The PLEG's view of a pod's containers: (id, state) of each, sorted."""
    return tuple(sorted((st.id, st.state) for lst in found.values() for st in lst))


def is_static(pod: Obj) -> bool:
    return ((pod.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_CONFIG_SOURCE, "api") != "api"


def grace_period(pod: Obj) -> float:
    md, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    if md.get("deletionGracePeriodSeconds") is not None:
        return float(md["deletionGracePeriodSeconds"])
    return float(spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE) or 0)


@dataclass
class PodSyncState:
    """What the kubelet remembers of one pod between syncs (never the source of truth: the runtime is)."""

    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)  # container name -> (reason, message)
    last_status: Obj | None = None
    start_time: str = ""
    volumes: dict[str, str] | None = None
    volumes_at: float = 0.0
    kill_deadline: float | None = None
    terminated: bool = False  # all containers stopped for a deleted or terminal pod
    deleted: bool = False  # the final delete (grace period 0) of the pod object was sent
    messages: dict[str, str] = field(default_factory=dict)  # termination message by container id
    eviction: tuple[str, str] | None = None  # (reason, message) when the eviction manager evicted the pod


@dataclass
class NodeInfo:
    name: str
    ip: str
    allocatable: Callable[[], dict[str, str]] = dict


class PodSyncer:
    """`sync(uid, pod)` for the pod workers; see the module docstring."""

    def __init__(self, *, runtime: ContainerRuntime, client: RESTClient | None, volumes: VolumeManager,
                 probes: ProbeManager, options: KubeletOptions, node: NodeInfo, get_object: ObjectGetter,
                 services: Callable[[], list[Obj]], event: Callable[[Obj, str, str, str], None],
                 log_dir: str, mirror_name: Callable[[Obj], str | None] = lambda pod: None,
                 clock: Callable[[], float] = time.time, network: PodNetwork | None = None,
                 observed: Callable[[str, tuple], None] = lambda uid, fingerprint: None) -> None:
        self.runtime = runtime
        self.observed = observed  # the containers a sync acted on (the PLEG need not wake it for them again)
        self.client = client
        self.volumes = volumes
        self.probes = probes
        self.options = options
        self.node = node
        self.network: PodNetwork = network or HostNetwork(node.ip)
        self.get_object = get_object
        self.services = services
        self.event = event
        self.log_dir = log_dir
        self.clock = clock
        self.backoff = Backoff(options.crash_loop_backoff_base, options.crash_loop_backoff_max, clock)
        self.states: dict[str, PodSyncState] = {}
        # status patches at once: a burst of pods reuses a few connections (no TLS handshake per pod) and their
        # statuses are written in the order they were computed
        self._status_slots = asyncio.Semaphore(STATUS_WRITES_IN_FLIGHT)

    # ------------------------------------------------------------------------------------------ entry
    async def sync(self, uid: str, pod: Obj | None) -> float | None:
        """One sync; returns seconds until the next wanted sync (None: the periodic resync), or DONE."""
        state = self.states.setdefault(uid, PodSyncState())
        if pod is None:
            await self._cleanup(uid)
            self.states.pop(uid, None)
            return DONE
        if pod["metadata"].get("deletionTimestamp") or state.eviction:
            return await self._terminate(pod, state)
        phase = (pod.get("status") or {}).get("phase")
        if phase in (podstatus.SUCCEEDED, podstatus.FAILED) and not is_static(pod):
            return await self._finish_terminal(pod, state)
        return await self._sync_running(pod, state)

    # ------------------------------------------------------------------------------------------ runtime view
    async def _containers(self, uid: str) -> dict[str, list[ContainerStatus]]:
        """Every runtime container of the pod by container name, newest (highest attempt) first."""
        out: dict[str, list[ContainerStatus]] = {}
        for c in await self.runtime.list_containers(ContainerFilter(label_selector={LABEL_POD_UID: uid})):
            try:
                st = await self.runtime.container_status(c.id)
            except NotFoundError:
                continue
            out.setdefault(c.metadata.name, []).append(st)
        for lst in out.values():
            lst.sort(key=lambda s: (s.metadata.attempt, s.created_at), reverse=True)
        return out

    def _views(self, pod: Obj, state: PodSyncState, found: dict[str, list[ContainerStatus]]) -> dict[str, ContainerView]:
        uid = pod["metadata"]["uid"]
        views = {}
        for c in _all_containers(pod):
            lst = found.get(c["name"], [])
            cur = lst[0] if lst else None
            v = ContainerView(c["name"], cur, lst[1] if len(lst) > 1 else None, messages=state.messages)
            if c["name"] in state.waiting:
                v.waiting_reason, v.waiting_message = state.waiting[c["name"]]
            if cur is not None and cur.state == ContainerState.CONTAINER_RUNNING:
                v.started = self.probes.is_started(uid, c["name"], cur.id)
                v.ready = v.started and self.probes.is_ready(uid, c["name"], cur.id)
            views[c["name"]] = v
        return views

    async def _sandbox(self, pod: Obj, create: bool) -> tuple[str | None, PodSandboxConfig]:
        uid = pod["metadata"]["uid"]
        config = self._sandbox_config(pod, 0)
        sandboxes = await self.runtime.list_pod_sandbox(PodSandboxFilter(label_selector={LABEL_POD_UID: uid}))
        ready = sorted((s for s in sandboxes if s.state == PodSandboxState.SANDBOX_READY),
                       key=lambda s: s.created_at, reverse=True)
        own_netns = self._own_netns(pod)
        if ready and create and own_netns and not self.network.has_netns(uid):
            for stale in ready:  # its namespace is gone (a machine restart): a new sandbox, as upstream does
                await self.runtime.stop_pod_sandbox(stale.id)
            ready = []
        if ready:
            for extra in ready[1:]:
                await self.runtime.stop_pod_sandbox(extra.id)
            config.metadata.attempt = ready[0].metadata.attempt
            if own_netns:
                config.netns_path = self.network.netns_path(uid)
            return ready[0].id, config
        if not create:
            return None, config
        config.metadata.attempt = len(sandboxes)
        if own_netns:
            try:
                net = await self.network.setup(uid, port_mappings=_port_mappings(pod))
            except NetworkNotReady as e:
                raise RuntimeServiceError(f"network is not ready: {e}") from e
            config.netns_path = net.netns_path
        sid = await self.runtime.run_pod_sandbox(config)
        return sid, config

    def _own_netns(self, pod: Obj) -> bool:
        """Does the pod get a network namespace of its own? (not with hostNetwork, nor on the host network)."""
        return self.network.name != HOST and not (pod.get("spec") or {}).get("hostNetwork")

    def pod_ip(self, pod: Obj) -> str:
        """The pod's address: its own on the pod network, else the node's."""
        if self._own_netns(pod):
            return self.network.pod_ip(pod["metadata"]["uid"]) or ""
        return self.node.ip

    def _sandbox_config(self, pod: Obj, attempt: int) -> PodSandboxConfig:
        md, spec = pod["metadata"], pod.get("spec") or {}
        ns = md.get("namespace", "default")
        labels = {**(md.get("labels") or {}), LABEL_POD_NAME: md["name"], LABEL_POD_NAMESPACE: ns,
                  LABEL_POD_UID: md["uid"], LABEL_CONTAINER_TYPE: "podsandbox"}
        dns = None
        if self.options.cluster_dns and spec.get("dnsPolicy", "ClusterFirst") == "ClusterFirst":
            d = self.options.cluster_domain
            dns = DNSConfig(servers=list(self.options.cluster_dns),
                            searches=[f"{ns}.svc.{d}", f"svc.{d}", d], options=["ndots:5"])
        return PodSandboxConfig(
            metadata=PodSandboxMetadata(md["name"], ns, md["uid"], attempt),
            hostname=spec.get("hostname") or md["name"],
            log_directory=os.path.join(self.log_dir, f"{ns}_{md['name']}_{md['uid']}"),
            dns_config=dns, labels=labels, annotations=dict(md.get("annotations") or {}))

    # ------------------------------------------------------------------------------------------ running pod
    async def _sync_running(self, pod: Obj, state: PodSyncState) -> float | None:
        uid = pod["metadata"]["uid"]
        if not state.start_time:
            state.start_time = (pod.get("status") or {}).get("startTime") or podstatus.fmt_time(self.clock())
        requeue: list[float] = []
        sandbox_id, sandbox_config = None, self._sandbox_config(pod, 0)
        try:
            if await self._setup_volumes(pod, state):
                sandbox_id, sandbox_config = await self._sandbox(pod, create=True)
        except RuntimeServiceError as e:
            self.event(pod, "Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {e}")
            requeue.append(ERROR_RETRY)
        found = await self._containers(uid)
        if sandbox_id is not None:
            await self._act(pod, state, sandbox_id, sandbox_config, found, requeue)
            found = await self._containers(uid)
        else:
            requeue.append(ERROR_RETRY)
        for c in _all_containers(pod):
            lst = found.get(c["name"], [])
            if lst and lst[0].state == ContainerState.CONTAINER_RUNNING:
                self.probes.ensure(uid, c, lst[0].id, lst[0].started_at / 1e9)
            else:
                self.probes.remove_container(uid, c["name"])
        await self._gc_containers(pod, found)
        self.observed(uid, container_fingerprint(found))
        views = self._views(pod, state, found)
        await self._read_termination_messages(pod, state, found)
        await self.write_status(pod, state, views, sandbox_ready=sandbox_id is not None)
        return min(requeue) if requeue else None

    async def _setup_volumes(self, pod: Obj, state: PodSyncState) -> bool:
        refresh = max(1.0, self.options.sync_frequency / 2)
        if state.volumes is not None and self.clock() - state.volumes_at < refresh:
            return True
        try:
            state.volumes = await self.volumes.setup(pod, refresh=state.volumes is not None)
            state.volumes_at = self.clock()
        except VolumeError as e:
            self.event(pod, "Warning", "FailedMount", str(e))
            return state.volumes is not None
        except (ApiError, OSError) as e:
            log.warning("volumes of %s: %s", pod["metadata"]["name"], e)
            return state.volumes is not None
        for wpod, message in self.volumes.warnings:
            self.event(wpod, "Warning", "FailedMount", message)
        self.volumes.warnings.clear()
        return True

    async def _act(self, pod: Obj, state: PodSyncState, sid: str, sconfig: PodSandboxConfig,
                   found: dict[str, list[ContainerStatus]], requeue: list[float]) -> None:
        """computePodActions + SyncPod: start or restart what must run, in upstream's order."""
        spec = pod.get("spec") or {}
        policy = spec.get("restartPolicy", "Always")
        uid = pod["metadata"]["uid"]
        # containers whose spec changed, or that failed liveness/startup probes, are killed first
        for c in _all_containers(pod):
            lst = found.get(c["name"]) or []
            cur = lst[0] if lst else None
            if cur is None or cur.state != ContainerState.CONTAINER_RUNNING:
                continue
            failed = self.probes.failed(uid, c["name"], cur.id)
            if failed is not None:
                probe = c.get(failed.field) or {}
                grace = probe.get("terminationGracePeriodSeconds")
                await self.kill_container(pod, c, cur.id, f"Container {c['name']} failed {failed.value.lower()} "
                                          "probe, will be restarted", grace=None if grace is None else float(grace))
                self.probes.remove_container(uid, c["name"])
            elif cur.annotations.get(ANNOTATION_HASH) not in (None, container_hash(c)):
                await self.kill_container(pod, c, cur.id, f"Container {c['name']} definition changed, "
                                          "will be restarted")
        found.update(await self._containers(uid))
        app_started = any(found.get(c["name"]) for c in spec.get("containers") or [])
        for c in spec.get("initContainers") or []:
            lst = found.get(c["name"]) or []
            cur = lst[0] if lst else None
            if is_restartable_init(c):
                if cur is None or cur.state != ContainerState.CONTAINER_RUNNING:
                    await self._start_or_backoff(pod, state, c, cur, sid, sconfig, requeue)
                    if not app_started:
                        return
                    continue
                if not app_started and not self.probes.is_started(uid, c["name"], cur.id):
                    return  # wait for the sidecar's startup probe before the next init container
                continue
            if app_started:
                continue
            if cur is None or cur.state == ContainerState.CONTAINER_CREATED:
                await self._start_or_backoff(pod, state, c, cur, sid, sconfig, requeue)
                return
            if cur.state == ContainerState.CONTAINER_RUNNING:
                return
            if cur.exit_code == 0 and cur.state == ContainerState.CONTAINER_EXITED:
                continue
            if policy != "Never":
                await self._start_or_backoff(pod, state, c, cur, sid, sconfig, requeue)
            return
        for c in spec.get("containers") or []:
            lst = found.get(c["name"]) or []
            cur = lst[0] if lst else None
            if cur is not None and cur.state == ContainerState.CONTAINER_RUNNING:
                state.waiting.pop(c["name"], None)
                continue
            if cur is not None and cur.state != ContainerState.CONTAINER_CREATED:
                restart = policy == "Always" or (policy == "OnFailure" and cur.exit_code != 0)
                if not restart:
                    state.waiting.pop(c["name"], None)
                    continue
            await self._start_or_backoff(pod, state, c, cur, sid, sconfig, requeue)

    async def _start_or_backoff(self, pod: Obj, state: PodSyncState, c: Obj, cur: ContainerStatus | None,
                                sid: str, sconfig: PodSandboxConfig, requeue: list[float]) -> None:
        uid, name = pod["metadata"]["uid"], c["name"]
        attempt = 0
        if cur is not None and cur.state == ContainerState.CONTAINER_CREATED:
            await self.runtime.remove_container(cur.id)  # a start interrupted by a crash: redo it
            attempt = cur.metadata.attempt
        elif cur is not None:
            attempt = cur.metadata.attempt + 1
            key = f"{uid}/{name}"
            finished = cur.finished_at / 1e9 if cur.finished_at else self.clock()
            if self.backoff.in_backoff_since(key, finished):
                delay = self.backoff.get(key)
                md = pod["metadata"]
                state.waiting[name] = ("CrashLoopBackOff", f"back-off {_dur(delay)} restarting failed "
                                       f"container={name} pod={md['name']}_{md.get('namespace')}({uid})")
                self.event(pod, "Warning", "BackOff", "Back-off restarting failed container "
                           f"{name} in pod {md['name']}_{md.get('namespace')}({uid})")
                requeue.append(self.backoff.remaining(key, finished) + 0.05)
                return
            self.backoff.next(key, finished)
        await self.start_container(pod, state, c, attempt, sid, sconfig, requeue)

    async def start_container(self, pod: Obj, state: PodSyncState, c: Obj, attempt: int, sid: str,
                              sconfig: PodSandboxConfig, requeue: list[float]) -> None:
        """Pull, create, start and run postStart (upstream startContainer); failures become waiting reasons."""
        name = c["name"]
        image = ImageSpec(c.get("image", ""))
        try:
            await self._ensure_image(pod, c, image)
            config = await self._container_config(pod, state, c, attempt)
        except EnvConfigError as e:
            state.waiting[name] = (e.reason, str(e))
            self.event(pod, "Warning", "Failed", f"Error: {e}")
            requeue.append(ERROR_RETRY)
            return
        except VolumeError as e:
            state.waiting[name] = ("CreateContainerConfigError", str(e))
            requeue.append(ERROR_RETRY)
            return
        try:
            cid = await self.runtime.create_container(sid, config, sconfig)
        except RuntimeServiceError as e:
            state.waiting[name] = (getattr(e, "reason", "CreateContainerError") if e.reason != "RuntimeError"
                                   else "CreateContainerError", str(e))
            self.event(pod, "Warning", "Failed", f"Error: {e}")
            requeue.append(ERROR_RETRY)
            return
        state.waiting.pop(name, None)
        self.event(pod, "Normal", "Created", f"Created container {name}")
        try:
            await self.runtime.start_container(cid)
        except RuntimeServiceError as e:
            self.event(pod, "Warning", "Failed", f"Error: {e}")
            requeue.append(0.1)
            return
        self.event(pod, "Normal", "Started", f"Started container {name}")
        post_start = (c.get("lifecycle") or {}).get("postStart")
        if post_start:
            result = await run_action(post_start, runtime=self.runtime, pod=pod, container=c, container_id=cid,
                                      timeout=max(grace_period(pod), 1.0))
            if not result.ok:
                self.event(pod, "Warning", "FailedPostStartHook", result.message or "PostStartHook failed")
                await self.kill_container(pod, c, cid, "FailedPostStartHook", run_pre_stop=False)
                requeue.append(0.1)

    async def _ensure_image(self, pod: Obj, c: Obj, image: ImageSpec) -> None:
        policy = c.get("imagePullPolicy") or "IfNotPresent"
        present = await self.runtime.image_status(image)
        if present is not None and policy != "Always":
            self.event(pod, "Normal", "Pulled", f'Container image "{image.image}" already present on machine')
            return
        if policy == "Never":
            raise EnvConfigError(f'Container image "{image.image}" is not present with pull policy of Never')
        self.event(pod, "Normal", "Pulling", f'Pulling image "{image.image}"')
        start = self.clock()
        await self.runtime.pull_image(image)
        took = self.clock() - start
        self.event(pod, "Normal", "Pulled", f'Successfully pulled image "{image.image}" in {took:.3f}s '
                   f"({took:.3f}s including waiting). Image size: 0 bytes.")

    async def _container_config(self, pod: Obj, state: PodSyncState, c: Obj, attempt: int) -> ContainerConfig:
        md, spec = pod["metadata"], pod.get("spec") or {}
        env, invalid = await make_environment(pod_with_ips(pod, self.node.ip, self.pod_ip(pod)), c, get=self.get_object,
                                              services=self.services(), allocatable=self.node.allocatable())
        if invalid:
            self.event(pod, "Warning", "InvalidEnvironmentVariableNames",
                       f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom were skipped since they are "
                       "considered invalid environment variable names.")
        command, args = expand_command(c, env)
        mounts = self.volumes.mounts(pod, c, state.volumes or {})
        term_path = c.get("terminationMessagePath") or "/dev/termination-log"
        host_term = os.path.join(self.volumes.pod_dir(md["uid"]), "containers", c["name"], f"{random.getrandbits(32):08x}")
        await asyncio.to_thread(_create_termination_file, host_term)
        if not any(m.container_path == term_path for m in mounts):
            mounts.append(Mount(container_path=term_path, host_path=host_term))
        sc = {**(spec.get("securityContext") or {}), **(c.get("securityContext") or {})}
        return ContainerConfig(
            metadata=ContainerMetadata(c["name"], attempt),
            image=ImageSpec(c.get("image", "")),
            command=command, args=args, working_dir=c.get("workingDir", ""),
            envs=[KeyValue(k, v) for k, v in env.items()], mounts=mounts,
            labels={LABEL_POD_NAME: md["name"], LABEL_POD_NAMESPACE: md.get("namespace", "default"),
                    LABEL_POD_UID: md["uid"], LABEL_CONTAINER_NAME: c["name"]},
            annotations={ANNOTATION_RESTART_COUNT: str(attempt), ANNOTATION_HASH: container_hash(c),
                         ANNOTATION_TERMINATION_PATH: host_term,
                         ANNOTATION_TERMINATION_POLICY: c.get("terminationMessagePolicy") or "File"},
            log_path=f"{c['name']}/{attempt}.log", stdin=bool(c.get("stdin")), stdin_once=bool(c.get("stdinOnce")),
            tty=bool(c.get("tty")),
            linux=LinuxContainerConfig(
                resources=container_resources(c),
                security_context=LinuxContainerSecurityContext(
                    run_as_user=sc.get("runAsUser"), run_as_group=sc.get("runAsGroup"),
                    supplemental_groups=list((spec.get("securityContext") or {}).get("supplementalGroups") or []),
                    privileged=bool(sc.get("privileged")), readonly_rootfs=bool(sc.get("readOnlyRootFilesystem")))))

    # ------------------------------------------------------------------------------------------ killing
    async def kill_container(self, pod: Obj, c: Obj | None, cid: str, message: str, *, grace: float | None = None,
                             run_pre_stop: bool = True, deadline: float | None = None) -> None:
        """preStop (within the grace period), then SIGTERM, SIGKILL after what is left of it (upstream
        killContainer, with its 2 s minimum)."""
        if grace is None:
            grace = grace_period(pod)
        if deadline is not None:
            grace = max(0.0, deadline - self.clock())
        name = c["name"] if c else cid[:12]
        self.event(pod, "Normal", "Killing", message or f"Stopping container {name}")
        pre_stop = ((c or {}).get("lifecycle") or {}).get("preStop")
        start = self.clock()
        if pre_stop and run_pre_stop and grace > 0:
            try:
                result = await asyncio.wait_for(
                    run_action(pre_stop, runtime=self.runtime, pod=pod, container=c or {}, container_id=cid,
                               timeout=grace), grace)
                if not result.ok:
                    self.event(pod, "Warning", "FailedPreStopHook", f"PreStopHook failed: {result.message}")
            except asyncio.TimeoutError:
                self.event(pod, "Warning", "FailedPreStopHook", "PreStopHook timed out")
        remaining = max(grace - (self.clock() - start), self.options.minimum_grace_period)
        await self.runtime.stop_container(cid, remaining)

    async def _stop_all(self, pod: Obj, found: dict[str, list[ContainerStatus]], deadline: float | None,
                        grace: float | None = None) -> None:
        """Stop every running container: app containers together, then sidecars in reverse order."""
        specs = {c["name"]: c for c in _all_containers(pod)}
        sidecars = [c["name"] for c in (pod.get("spec") or {}).get("initContainers") or [] if is_restartable_init(c)]

        def running(names: list[str]) -> list[ContainerStatus]:
            return [s for n in names for s in found.get(n, []) if s.state == ContainerState.CONTAINER_RUNNING]

        others = [n for n in found if n not in sidecars]
        await asyncio.gather(*(self.kill_container(pod, specs.get(s.metadata.name), s.id, "", grace=grace,
                                                   deadline=deadline) for s in running(others)))
        for name in reversed(sidecars):
            for s in running([name]):
                await self.kill_container(pod, specs.get(name), s.id, "", grace=grace, deadline=deadline)

    async def _terminate(self, pod: Obj, state: PodSyncState) -> float | None:
        """SyncTerminatingPod: stop everything within the grace period, report, then delete the pod object."""
        uid = pod["metadata"]["uid"]
        if not state.terminated:
            if state.kill_deadline is None:
                grace = 0.0 if state.eviction else grace_period(pod)
                state.kill_deadline = self.clock() + grace
            self.probes.remove_pod(uid)
            found = await self._containers(uid)
            await self._stop_all(pod, found, state.kill_deadline)
            sid, _ = await self._sandbox(pod, create=False)
            if sid is not None:
                await self.runtime.stop_pod_sandbox(sid)
            state.terminated = True
        if state.deleted:
            return None
        found = await self._containers(uid)
        await self._read_termination_messages(pod, state, found)
        views = self._views(pod, state, found)
        for v in views.values():
            v.waiting_reason = ""
        await self.write_status(pod, state, views, sandbox_ready=False, terminal=True)
        if pod["metadata"].get("deletionTimestamp") and not is_static(pod) and self.client is not None \
                and not state.deleted:
            md = pod["metadata"]
            try:
                await self.client.delete(resource_path("", "v1", "pods", md.get("namespace"), md["name"]),
                                         body={"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                                               "preconditions": {"uid": uid}})
            except ApiError as e:
                # 403: the node authorizer no longer relates this node to the pod, i.e. it is gone already
                # (the apiserver also finalizes a terminating pod on our last status write)
                if not (e.not_found or e.conflict or e.code == 403):
                    raise
            state.deleted = True  # once: a later sync may come before the informer shows the deletion
        return None

    async def _finish_terminal(self, pod: Obj, state: PodSyncState) -> float | None:
        """A pod in a terminal phase: stop what still runs (sidecars), keep the exited containers for logs."""
        uid = pod["metadata"]["uid"]
        if not state.terminated:
            found = await self._containers(uid)
            self.probes.remove_pod(uid)
            await self._stop_all(pod, found, None, grace=self.options.minimum_grace_period)
            sid, _ = await self._sandbox(pod, create=False)
            if sid is not None:
                await self.runtime.stop_pod_sandbox(sid)
            state.terminated = True
        return None

    async def _cleanup(self, uid: str) -> None:
        """The pod is gone from the API: kill and remove its containers and sandboxes, tear down its volumes."""
        self.probes.remove_pod(uid)
        for c in await self.runtime.list_containers(ContainerFilter(label_selector={LABEL_POD_UID: uid})):
            if c.state == ContainerState.CONTAINER_RUNNING:
                await self.runtime.stop_container(c.id, self.options.minimum_grace_period)
            await self.runtime.remove_container(c.id)
        for s in await self.runtime.list_pod_sandbox(PodSandboxFilter(label_selector={LABEL_POD_UID: uid})):
            await self.runtime.stop_pod_sandbox(s.id)
            await self.runtime.remove_pod_sandbox(s.id)
        await self.network.teardown(uid)
        await self.volumes.teardown(uid)
        self.backoff.gc(lambda k: not k.startswith(uid + "/"))

    async def _gc_containers(self, pod: Obj, found: dict[str, list[ContainerStatus]]) -> None:
        """Keep the current and the previous container of each name; remove older ones and unknown names."""
        names = {c["name"] for c in _all_containers(pod)}
        for name, lst in list(found.items()):
            for s in (lst[2:] if name in names else lst):
                if s.state == ContainerState.CONTAINER_RUNNING:
                    await self.runtime.stop_container(s.id, self.options.minimum_grace_period)
                await self.runtime.remove_container(s.id)
                self.state_messages_drop(pod, s.id)
            if name in names:
                found[name] = lst[:2]
            else:
                del found[name]

    def state_messages_drop(self, pod: Obj, cid: str) -> None:
        state = self.states.get(pod["metadata"]["uid"])
        if state is not None:
            state.messages.pop(cid, None)

    # ------------------------------------------------------------------------------------------ status
    async def _read_termination_messages(self, pod: Obj, state: PodSyncState,
                                         found: dict[str, list[ContainerStatus]]) -> None:
        for lst in found.values():
            for s in lst:
                if s.state != ContainerState.CONTAINER_EXITED or s.id in state.messages:
                    continue
                state.messages[s.id] = termination_message(s)

    async def write_status(self, pod: Obj, state: PodSyncState, views: dict[str, ContainerView], *,
                           sandbox_ready: bool, terminal: bool = False) -> None:
        status = self.compute_status(pod, state, views, sandbox_ready=sandbox_ready, terminal=terminal)
        if status == state.last_status:
            return
        old = pod.get("status") or {}
        if state.last_status is None and all(old.get(k) == v for k, v in status.items()):
            state.last_status = status
            return
        if self.client is None:
            state.last_status = status
            return
        md = pod["metadata"]
        name = md["name"]
        try:
            async with self._status_slots:
                await self.client.patch(resource_path("", "v1", "pods", md.get("namespace"), name, "status"),
                                        {"status": status}, "merge")
            state.last_status = status
        except ApiError as e:
            if not (e.not_found or e.code == 403):  # 403: the pod is gone (see _terminate)
                raise

    def compute_status(self, pod: Obj, state: PodSyncState, views: dict[str, ContainerView], *,
                       sandbox_ready: bool, terminal: bool = False) -> Obj:
        spec = pod.get("spec") or {}
        old = pod.get("status") or {}
        initialized = any(views[c["name"]].current for c in spec.get("containers") or [])
        init_statuses = [podstatus.container_api_status(c, views[c["name"]], "PodInitializing")
                         for c in spec.get("initContainers") or []]
        default = "ContainerCreating" if initialized or not spec.get("initContainers") else "PodInitializing"
        statuses = [podstatus.container_api_status(c, views[c["name"]], default) for c in spec.get("containers") or []]
        phase = podstatus.get_phase(spec, init_statuses, statuses, pod_is_terminal=terminal, static=is_static(pod))
        if old.get("phase") in (podstatus.SUCCEEDED, podstatus.FAILED):
            phase = old["phase"]  # the status manager never leaves a terminal phase
        if state.eviction:
            phase = podstatus.FAILED
        now = podstatus.fmt_time(self.clock())
        conditions = podstatus.pod_conditions(spec, old.get("conditions") or [], init_statuses, statuses, phase,
                                              sandbox_ready, now, (state.last_status or {}).get("conditions"))
        ip, pod_ip = self.node.ip, self.pod_ip(pod)
        status: Obj = {"phase": phase, "conditions": conditions, "hostIP": ip, "hostIPs": [{"ip": ip}],
                       "startTime": state.start_time or old.get("startTime"), "containerStatuses": statuses}
        if pod_ip:
            status["podIP"], status["podIPs"] = pod_ip, [{"ip": pod_ip}]
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        if old.get("qosClass"):
            status["qosClass"] = old["qosClass"]
        if state.eviction:
            status["reason"], status["message"] = state.eviction
        return status


def _create_termination_file(path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w"):
        pass
    os.chmod(path, 0o666)


def termination_message(s: ContainerStatus) -> str:
    """The message of an exited container: its terminationMessagePath file, or the log tail on error when the
    policy is FallbackToLogsOnError."""
    path = s.annotations.get(ANNOTATION_TERMINATION_PATH, "")
    text = ""
    if path:
        try:
            with open(path, "rb") as f:
                text = f.read(TERMINATION_MESSAGE_MAX).decode(errors="replace")
        except OSError:
            text = ""
    if not text and s.exit_code != 0 and s.annotations.get(ANNOTATION_TERMINATION_POLICY) == "FallbackToLogsOnError":
        text = log_tail(s.log_path, FALLBACK_LOG_LINES)[-TERMINATION_MESSAGE_MAX:]
    return text


def log_tail(path: str, lines: int) -> str:
    """The last `lines` lines of a CRI log file, without the CRI prefixes."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            raw = f.read()
    except OSError:
        return ""
    out: list[bytes] = []
    for line in raw.splitlines()[-lines:]:
        try:
            entry = crilogs.parse_entry(line)
        except ValueError:
            continue
        if out and out[-1].endswith(b"\x00"):
            out[-1] = out[-1][:-1] + entry.content + (b"\x00" if entry.partial else b"")
        else:
            out.append(entry.content + (b"\x00" if entry.partial else b""))
    return b"\n".join(x.rstrip(b"\x00") for x in out).decode(errors="replace")


def _port_mappings(pod: Obj) -> list[tuple[str, int, int, str]]:
    """(protocol, containerPort, hostPort, hostIP) of every container port with a hostPort."""
    return [(p.get("protocol") or "TCP", int(p["containerPort"]), int(p["hostPort"]), p.get("hostIP") or "")
            for c in _all_containers(pod) for p in c.get("ports") or [] if p.get("hostPort")]


def pod_with_ips(pod: Obj, ip: str, pod_ip: str | None = None) -> Obj:
    """The pod with status.podIP(s)/hostIP(s) filled in (for the downward API before the first status write)."""
    status = dict(pod.get("status") or {})
    pod_ip = ip if pod_ip is None else pod_ip
    if pod_ip:
        status.setdefault("podIP", pod_ip)
        status.setdefault("podIPs", [{"ip": pod_ip}])
    status.setdefault("hostIP", ip)
    status.setdefault("hostIPs", [{"ip": ip}])
    return {**pod, "status": status}


def _all_containers(pod: Obj) -> list[Obj]:
    spec = pod.get("spec") or {}
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def _dur(seconds: float) -> str:
    """Go's time.Duration formatting for whole seconds and minutes: 10s, 1m20s, 5m0s."""
    s = int(seconds) if seconds >= 1 else 0
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    if s < 60:
        return f"{s}s"
    return f"{s // 60}m{s % 60}s"


"""ProcessRuntime: the CRI-shaped runtime whose containers are host processes, each supervised by a shim.

What it isolates, and what not (docs/process-runtime.md says the same at more length):

- always: its own session and process group (signals go to the whole group; when the main process dies the
  shim kills what is left of the group), its own environment (a clean one: PATH, HOSTNAME, HOME, TERM for a
  TTY, then the config's envs), working directory, user and group when the security context sets them, stdout
  and stderr captured into a CRI log file; a container's state survives the kubelet (kill -9 included).
- as root (namespaces=True, the default when the probe succeeds): a private mount namespace with every mount
  bind-mounted at its container_path (read-only when asked; missing mount points are created on the host,
  empty, and left there), /etc/resolv.conf from the sandbox's dns_config, and a UTS namespace with the
  sandbox's hostname. exec runs in the same namespaces (nsenter).
- where cgroups are writable: a memory cgroup with the memory limit (OOMKilled is reported), CPU quota/period
  and shares; exec'd processes join it; every process left in it is killed when the container exits.
- without root: no namespaces. Each mount is exposed as a symlink `$KYBERNETES_ROOT/<container_path>` ->
  host_path (KYBERNETES_ROOT is a per-container directory), and the process sees the real host paths; the
  hostname is only in $HOSTNAME. No limits, no OOMKilled.
- with a network namespace (PodSandboxConfig.netns_path, made by the kubelet's pod network): every container,
  exec (nsenter -n) and port-forward (a connection made inside it) of the sandbox runs in it. Without one, pods
  share the node's network (two containers cannot listen on one port; netns_path is None).
- never: the filesystem (a container sees and can write the whole host filesystem outside its mounts),
  PIDs (a container sees every host process), IPC, users (root in a container is root on the host).
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from kybernetes.kubelet.runtime import logs
from kybernetes.kubelet.runtime.interface import (
    LABEL_POD_UID,
    REASON_CONTAINER_CANNOT_RUN,
    NETWORK_READY,
    RUNTIME_READY,
    Container,
    ContainerConfig,
    ContainerFilter,
    ContainerState,
    ContainerStats,
    ContainerStatus,
    CreateContainerError,
    ExecSyncResponse,
    ExecTimeoutError,
    Image,
    ImageFilter,
    ImageSpec,
    LinuxContainerResources,
    NotFoundError,
    PodSandbox,
    PodSandboxConfig,
    PodSandboxFilter,
    PodSandboxNetworkStatus,
    PodSandboxState,
    PodSandboxStatus,
    RunContainerError,
    RuntimeCondition,
    RuntimeServiceError,
    RuntimeStatus,
    StreamingSession,
    VersionResponse,
)
from kybernetes.kubelet.runtime.process import linux
from kybernetes.kubelet.runtime.process.cgroups import CgroupManager, CgroupSet
from kybernetes.kubelet.runtime.process.images import ImageStore, normalize
from kybernetes.kubelet.runtime.process.launcher import ShimLauncher
from kybernetes.kubelet.runtime.process.state import from_dict, read_json, to_dict, write_json
from kybernetes.kubelet.runtime.process.streams import (
    AttachSession,
    ExecSession,
    FdInput,
    returncode_to_exit_code,
    send_ctl,
)

T = TypeVar("T")
IO_THREADS = 16  # file-system work at once (directories, fifos, cgroups, JSON files): mostly waiting on the disk
RUNTIME_NAME = "process"
RUNTIME_VERSION = "0.1.0"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EXIT_RECORD_TIMEOUT = 5.0


def _new_id() -> str:
    """64 hex digits, as containerd's ids; from the seeded PRNG: os.urandom, a system call that releases the GIL,
    cost the kubelet's event loop ~0.3 ms per id while a burst of containers kept its threads busy."""
    return f"{random.getrandbits(256):064x}"


def _probe_namespaces(python: str) -> bool:
    """Can this process create mount and UTS namespaces? (root alone is not enough inside some containers)."""
    if os.geteuid() != 0:
        return False
    code = (
        "from kybernetes.kubelet.runtime.process import linux as l;"
        "l.unshare(l.CLONE_NEWNS | l.CLONE_NEWUTS); l.mount(None, '/', None, l.MS_REC | l.MS_PRIVATE)"
    )
    try:
        return subprocess.run([python, "-c", code], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


class ProcessRuntime:
    """RuntimeService + ImageService over host processes; all state in files under `root_dir`.

    A new instance on the same root_dir (a restarted kubelet) sees every sandbox and container of the previous
    one, running or exited, with exit codes: the shims, not this object, own the processes. Shims are forked by
    the instance's shim spawner (launcher.py, spawner.py). The files are read once and kept in memory (with an
    index by pod UID): only one instance at a time writes a root_dir.
    """

    def __init__(
        self,
        root_dir: str,
        *,
        container_log_max_size: int = logs.DEFAULT_MAX_SIZE,
        container_log_max_files: int = logs.DEFAULT_MAX_FILES,
        namespaces: bool | None = None,
        cgroups: bool | None = None,
        cgroup_parent: str = "kybernetes",
        pod_ip: str = "",
        python: str = sys.executable,
        shim_spawner: bool = True,
    ) -> None:
        self.root_dir = os.path.abspath(root_dir)
        self.container_log_max_size = container_log_max_size
        self.container_log_max_files = container_log_max_files
        self.python = python
        self.pod_ip = pod_ip
        self.namespaces = _probe_namespaces(python) if namespaces is None else namespaces
        self.cgroups = CgroupManager(cgroup_parent, enabled=cgroups)
        self.images = ImageStore(os.path.join(self.root_dir, "images.json"))
        self._sandboxes_dir = os.path.join(self.root_dir, "sandboxes")
        self._containers_dir = os.path.join(self.root_dir, "containers")
        os.makedirs(self._sandboxes_dir, exist_ok=True)
        os.makedirs(self._containers_dir, exist_ok=True)
        # What is on disk, read once: only this object writes it (one kubelet at a time on a root_dir).
        self._records: dict[str, dict] = {}  # container.json contents (immutable but for resources)
        self._records_loaded = False  # _records holds every container on disk
        self._by_pod: dict[str, set[str]] = {}  # container ids by their pod-uid label
        self._configs: dict[str, ContainerConfig] = {}  # decoded record["config"] by container id
        self._resources: dict[str, LinuxContainerResources] = {}  # decoded record["resources"] by container id
        self._started: dict[str, dict] = {}  # started.json, once the shim wrote it (never changes after)
        self._never_started: set[str] = set()  # created by this runtime and not started yet
        self._watched: dict[str, tuple[asyncio.AbstractEventLoop, int]] = {}  # running: (loop, pidfd of the process)
        self._gone: set[str] = set()  # containers whose process this runtime saw end
        self._exited: dict[str, dict] = {}  # exited.json, once written (never changes after)
        self._sandbox_records: dict[str, dict] = {}  # sandbox.json contents by sandbox id
        self._sandboxes_loaded = False
        self._sandboxes_by_pod: dict[str, set[str]] = {}  # sandbox ids by their pod-uid label
        self._sandbox_configs: dict[str, PodSandboxConfig] = {}  # decoded record["config"] by sandbox id
        self.launcher = ShimLauncher(self.root_dir, python, use_spawner=shim_spawner)
        # its own threads: a burst of containers queues behind neither the loop's few default ones nor others' work
        self._io = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="process-runtime-io")

    async def _in_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking file-system work off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._io, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Let go of the shim spawner (it exits) and the pidfds; containers and their shims keep running."""
        self.launcher.close()
        for cid in list(self._watched):
            self._unwatch(cid)

    # ------------------------------------------------------------------------------------------ runtime
    async def version(self) -> VersionResponse:
        return VersionResponse("0.1.0", RUNTIME_NAME, RUNTIME_VERSION, "v1")

    async def status(self) -> RuntimeStatus:
        return RuntimeStatus([RuntimeCondition(RUNTIME_READY, True), RuntimeCondition(NETWORK_READY, True)])

    # ------------------------------------------------------------------------------------------ paths & ids
    def _sdir(self, sid: str) -> str:
        return os.path.join(self._sandboxes_dir, sid)

    def _cdir(self, cid: str) -> str:
        return os.path.join(self._containers_dir, cid)

    def _resolve(self, parent: str, prefix: str) -> str:
        """The full id for an id or a unique prefix of one; NotFoundError otherwise."""
        known = self._all_sandboxes() if parent == self._sandboxes_dir else self._all_records()
        if prefix in known:
            return prefix
        if prefix:
            found = [n for n in known if n.startswith(prefix)]
            if len(found) == 1:
                return found[0]
        kind = "pod sandbox" if parent == self._sandboxes_dir else "container"
        raise NotFoundError(f"{kind} {prefix!r} not found")

    def _all_sandboxes(self) -> dict[str, dict]:
        """Every sandbox record by id (read from disk the first time)."""
        if not self._sandboxes_loaded:
            for sid in os.listdir(self._sandboxes_dir):
                self._read_sandbox(sid)
            self._sandboxes_loaded = True
        return self._sandbox_records

    def _all_records(self) -> dict[str, dict]:
        """Every container record by id (read from disk the first time)."""
        if not self._records_loaded:
            for cid in os.listdir(self._containers_dir):
                self._record(cid)
            self._records_loaded = True
        return self._records

    async def remove_stopped_cgroups(self, wait: float = 2.0) -> int:
        """rmdir the cgroups of every container whose process is gone (they stay until the container is removed
        otherwise: `kybernetes killall` stops everything without removing containers); returns how many are
        left because something still runs in them after `wait` seconds."""
        pending = [CgroupSet.from_json(r.get("cgroup")) for cid, r in self._all_records().items()
                   if r.get("cgroup") and self._state(cid)[0] != ContainerState.CONTAINER_RUNNING]
        deadline = time.monotonic() + wait
        while True:
            pending = [cg for cg in pending if cg is not None and not await self._in_thread(_rmdir_cgroup, cg)]
            if not pending or time.monotonic() > deadline:
                return len(pending)
            await asyncio.sleep(0.1)

    # ------------------------------------------------------------------------------------------ sandboxes
    async def run_pod_sandbox(self, config: PodSandboxConfig, runtime_handler: str = "") -> str:
        self.launcher.warm()  # a container start follows: have the spawner ready for it
        self._all_sandboxes()
        sid = _new_id()
        record = {
            "id": sid,
            "config": to_dict(config),
            "created_at": time.time_ns(),
            "state": PodSandboxState.SANDBOX_READY.value,
            "runtime_handler": runtime_handler,
            "netns_path": config.netns_path or None,
        }
        await self._in_thread(self._create_sandbox, sid, config, record)
        self._add_sandbox(sid, record)
        return sid

    def _create_sandbox(self, sid: str, config: PodSandboxConfig, record: dict) -> None:
        sdir = self._sdir(sid)
        os.makedirs(sdir)
        if config.log_directory:
            os.makedirs(config.log_directory, exist_ok=True)
        dns = config.dns_config
        if dns and dns.servers:
            lines = [f"nameserver {s}" for s in dns.servers]
            if dns.searches:
                lines.append("search " + " ".join(dns.searches))
            if dns.options:
                lines.append("options " + " ".join(dns.options))
            with open(os.path.join(sdir, "resolv.conf"), "w") as f:
                f.write("\n".join(lines) + "\n")
        write_json(os.path.join(sdir, "sandbox.json"), record)

    def _sandbox_record(self, sid: str) -> dict:
        record = self._read_sandbox(sid)
        if record is None:
            raise NotFoundError(f"pod sandbox {sid!r} not found")
        return record

    def _read_sandbox(self, sid: str) -> dict | None:
        """sandbox.json, from memory once read: only this object writes it (one kubelet at a time)."""
        record = self._sandbox_records.get(sid)
        if record is None:
            record = read_json(os.path.join(self._sdir(sid), "sandbox.json"))
            if record is not None:
                self._add_sandbox(sid, record)
        return record

    def _add_sandbox(self, sid: str, record: dict) -> None:
        self._sandbox_records[sid] = record
        uid = (record["config"].get("labels") or {}).get(LABEL_POD_UID)
        if uid is not None:
            self._sandboxes_by_pod.setdefault(uid, set()).add(sid)

    def _drop_sandbox(self, sid: str) -> None:
        record = self._sandbox_records.pop(sid, None)
        self._sandbox_configs.pop(sid, None)
        uid = ((record or {}).get("config", {}).get("labels") or {}).get(LABEL_POD_UID)
        if uid is not None and uid in self._sandboxes_by_pod:
            self._sandboxes_by_pod[uid].discard(sid)
            if not self._sandboxes_by_pod[uid]:
                del self._sandboxes_by_pod[uid]

    def _write_sandbox(self, sid: str, record: dict) -> None:
        write_json(os.path.join(self._sdir(sid), "sandbox.json"), record)
        self._sandbox_records[sid] = record

    async def stop_pod_sandbox(self, pod_sandbox_id: str) -> None:
        try:
            sid = self._resolve(self._sandboxes_dir, pod_sandbox_id)
        except NotFoundError:
            return
        containers = await self.list_containers(ContainerFilter(pod_sandbox_id=sid))
        await asyncio.gather(*(self.stop_container(c.id, 0) for c in containers))
        record = self._sandbox_record(sid)
        if record["state"] != PodSandboxState.SANDBOX_NOTREADY.value:
            record = {**record, "state": PodSandboxState.SANDBOX_NOTREADY.value}
            self._write_sandbox(sid, record)

    async def remove_pod_sandbox(self, pod_sandbox_id: str) -> None:
        try:
            sid = self._resolve(self._sandboxes_dir, pod_sandbox_id)
        except NotFoundError:
            return
        containers = await self.list_containers(ContainerFilter(pod_sandbox_id=sid))
        await asyncio.gather(*(self.remove_container(c.id) for c in containers))
        self._drop_sandbox(sid)
        await self._in_thread(shutil.rmtree, self._sdir(sid), ignore_errors=True)

    def _sandbox(self, record: dict) -> tuple[PodSandboxConfig, PodSandboxState]:
        """The sandbox's config (immutable, decoded once) and state."""
        config = self._sandbox_configs.get(record["id"])
        if config is None:
            config = self._sandbox_configs[record["id"]] = from_dict(PodSandboxConfig, record["config"])
        return config, PodSandboxState(record["state"])

    async def pod_sandbox_status(self, pod_sandbox_id: str) -> PodSandboxStatus:
        sid = self._resolve(self._sandboxes_dir, pod_sandbox_id)
        record = self._sandbox_record(sid)
        config, state = self._sandbox(record)
        return PodSandboxStatus(
            id=sid,
            metadata=config.metadata,
            state=state,
            created_at=record["created_at"],
            network=PodSandboxNetworkStatus(ip=self.pod_ip),
            labels=config.labels,
            annotations=config.annotations,
            runtime_handler=record.get("runtime_handler", ""),
            netns_path=record.get("netns_path"),
        )

    async def list_pod_sandbox(self, filter: PodSandboxFilter | None = None) -> list[PodSandbox]:
        out = []
        records = self._all_sandboxes()
        uid = filter.label_selector.get(LABEL_POD_UID) if filter else None
        for sid in sorted(self._sandboxes_by_pod.get(uid, ()) if uid is not None else records):
            record = records[sid]
            labels = record["config"].get("labels") or {}
            if filter and any(labels.get(k) != v for k, v in filter.label_selector.items()):
                continue
            config, state = self._sandbox(record)
            sb = PodSandbox(sid, config.metadata, state, record["created_at"], config.labels, config.annotations,
                            record.get("runtime_handler", ""))
            if filter is None or filter.matches(sb):
                out.append(sb)
        return out

    # ------------------------------------------------------------------------------------------ create
    async def create_container(
        self, pod_sandbox_id: str, config: ContainerConfig, sandbox_config: PodSandboxConfig
    ) -> str:
        sid = self._resolve(self._sandboxes_dir, pod_sandbox_id)
        if self._sandbox_record(sid)["state"] != PodSandboxState.SANDBOX_READY.value:
            raise CreateContainerError(f"pod sandbox {sid} is not ready")
        argv = list(config.command) + list(config.args)
        if not argv:
            raise CreateContainerError(
                f"the process runtime runs commands on the host: container {config.metadata.name} has no command "
                f"(image {config.image.image} has none to give)"
            )
        cid = _new_id()
        cdir = self._cdir(cid)
        # directories, fifos, cgroups and files: blocking file-system work, kept off the event loop
        try:
            record = await self._in_thread(self._create, cid, cdir, sid, argv, config, sandbox_config)
        except BaseException:
            shutil.rmtree(cdir, ignore_errors=True)
            raise
        self._add_record(cid, record)
        self._configs[cid] = config  # what the record holds, not decoded again
        self._never_started.add(cid)
        return cid

    def _create(
        self, cid: str, cdir: str, sid: str, argv: list[str], config: ContainerConfig, sandbox: PodSandboxConfig
    ) -> dict:
        for m in config.mounts:
            if not os.path.exists(m.host_path):
                raise CreateContainerError(f"mount source {m.host_path} of {m.container_path} does not exist")
        os.makedirs(cdir)
        record = self._prepare(cid, cdir, sid, argv, config, sandbox)
        write_json(os.path.join(cdir, "container.json"), record)
        return record

    def _prepare(
        self, cid: str, cdir: str, sid: str, argv: list[str], config: ContainerConfig, sandbox: PodSandboxConfig
    ) -> dict:
        if sandbox.log_directory and config.log_path:
            log_path = os.path.join(sandbox.log_directory, config.log_path)
        else:
            log_path = os.path.join(cdir, "container.log")
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        if config.stdin or config.tty:  # commands (close-stdin, resize) only make sense for these
            os.mkfifo(os.path.join(cdir, "ctl"))
        if config.stdin:
            os.mkfifo(os.path.join(cdir, "stdin"))
        res = config.linux.resources
        cgroup = self.cgroups.create(sandbox.linux.cgroup_parent.strip("/") or f"pod-{sid[:16]}", cid[:16])
        if cgroup:
            self._set_resources(cgroup, res, fresh=True)
        sec = config.linux.security_context
        hostname = sandbox.hostname or sandbox.metadata.name
        env = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": "/root" if not sec.run_as_user else "/"}
        if config.tty:
            env["TERM"] = "xterm"
        mounts = [to_dict(m) for m in config.mounts]
        if self.namespaces:
            resolv = os.path.join(self._sdir(sid), "resolv.conf")
            if os.path.exists(resolv) and not any(m.container_path == "/etc/resolv.conf" for m in config.mounts):
                mounts.append({"container_path": "/etc/resolv.conf", "host_path": resolv, "readonly": False})
        elif config.mounts:
            env["KYBERNETES_ROOT"] = self._link_mounts(cdir, config)
        env.update({kv.key: kv.value for kv in config.envs})
        spec = {
            "argv": argv,
            "env": env,
            "cwd": config.working_dir or "/",
            "log_path": log_path,
            "log_max_size": self.container_log_max_size,
            "log_max_files": self.container_log_max_files,
            "stdin": config.stdin,
            "stdin_once": config.stdin_once,
            "tty": config.tty,
            "namespaces": self.namespaces,
            "netns_path": self._sandbox_record(sid).get("netns_path"),
            "hostname": hostname if self.namespaces else None,
            "mounts": mounts if self.namespaces else [],
            "cgroup": cgroup.to_json() if cgroup else None,
            "oom_score_adj": res.oom_score_adj,
            "uid": sec.run_as_user,
            "gid": sec.run_as_group,
            "groups": ([sec.run_as_group] if sec.run_as_group is not None else []) + list(sec.supplemental_groups),
        }
        return {
            "spec": spec,  # what the shim runs (one file with the record: spec.json of earlier versions)
            "id": cid,
            "pod_sandbox_id": sid,
            "config": to_dict(config),
            "created_at": time.time_ns(),
            "log_path": log_path,
            "image_ref": self.images.pull(config.image),
            "cgroup": cgroup.to_json() if cgroup else None,
            "resources": to_dict(res),
        }

    def _link_mounts(self, cdir: str, config: ContainerConfig) -> str:
        """The rootless fallback: <cdir>/root/<container_path> -> host_path symlinks; returns the root."""
        root = os.path.join(cdir, "root")
        for m in config.mounts:
            link = os.path.join(root, m.container_path.lstrip("/"))
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(os.path.abspath(m.host_path), link)
        return root

    @staticmethod
    def _set_resources(cgroup: CgroupSet, res: LinuxContainerResources, *, fresh: bool = False) -> None:
        cgroup.set_resources(
            memory_limit=res.memory_limit_in_bytes,
            cpu_quota=res.cpu_quota,
            cpu_period=res.cpu_period,
            cpu_shares=res.cpu_shares,
            fresh=fresh,
        )

    # ------------------------------------------------------------------------------------------ start / stop
    async def start_container(self, container_id: str) -> None:
        cid = self._resolve(self._containers_dir, container_id)
        cdir = self._cdir(cid)
        if cid in self._never_started:  # created by this runtime, never started: no need to look at the files
            self._never_started.discard(cid)
        elif os.path.exists(os.path.join(cdir, "started.json")) or os.path.exists(os.path.join(cdir, "exited.json")):
            raise RunContainerError(f"container {cid} is not in created state")
        answer = await self.launcher.launch(cdir)
        if answer.strip() == b"ok":
            return
        exited = read_json(os.path.join(cdir, "exited.json"))
        if exited is None:
            try:
                with open(os.path.join(cdir, "shim.log")) as f:
                    detail = f.read().strip().splitlines()[-1:] or ["no detail"]
            except FileNotFoundError:
                detail = ["no detail"]
            exited = {"exit_code": 128, "signal": 0, "finished_at": time.time_ns(),
                      "reason": REASON_CONTAINER_CANNOT_RUN, "message": f"shim failed: {detail[0]}", "started": False}
            write_json(os.path.join(cdir, "exited.json"), exited)
        raise RunContainerError(exited.get("message") or "container could not start")

    async def stop_container(self, container_id: str, timeout: float) -> None:
        try:
            cid = self._resolve(self._containers_dir, container_id)
        except NotFoundError:
            return
        cdir = self._cdir(cid)
        started = read_json(os.path.join(cdir, "started.json"))
        if started is None or os.path.exists(os.path.join(cdir, "exited.json")):
            return
        pid = started["pid"]
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            pidfd = None
        try:
            # With the pidfd open the PID cannot be reused; check that it is still the container's process.
            if pidfd is not None and linux.proc_start_time(pid) == started["pid_start_time"]:
                if timeout > 0:
                    _killpg(pid, signal.SIGTERM)
                    if not await _wait_fd(pidfd, timeout):
                        _killpg(pid, signal.SIGKILL)
                        await _wait_fd(pidfd, None)
                else:
                    _killpg(pid, signal.SIGKILL)
                    await _wait_fd(pidfd, None)
        finally:
            if pidfd is not None:
                os.close(pidfd)
        await self._wait_exit_record(cid, started)

    async def _wait_exit_record(self, cid: str, started: dict) -> None:
        """Give the shim the time to drain output and write exited.json; record a lost exit if it died."""
        path = os.path.join(self._cdir(cid), "exited.json")
        deadline = time.monotonic() + EXIT_RECORD_TIMEOUT
        delay = 0.002
        shim_alive = lambda: linux.is_alive(started["shim_pid"], started["shim_start_time"])  # noqa: E731
        while not os.path.exists(path):
            if not shim_alive() or time.monotonic() > deadline:
                if not os.path.exists(path):
                    write_json(path, {"exit_code": 137, "signal": 9, "finished_at": time.time_ns(),
                                      "reason": "Error", "message": "the container's supervisor was lost"})
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        while shim_alive() and time.monotonic() < deadline:  # it exits right after writing the record
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def remove_container(self, container_id: str) -> None:
        try:
            cid = self._resolve(self._containers_dir, container_id)
        except NotFoundError:
            return
        await self.stop_container(cid, 0)
        record = self._record(cid)
        self._drop_record(cid)
        await self._in_thread(self._remove, self._cdir(cid), CgroupSet.from_json((record or {}).get("cgroup")))

    @staticmethod
    def _remove(cdir: str, cgroup: CgroupSet | None) -> None:
        """The blocking part of remove_container (off the event loop): cgroup and files."""
        if cgroup:
            cgroup.kill_all()
            cgroup.remove()
        shutil.rmtree(cdir, ignore_errors=True)

    # ------------------------------------------------------------------------------------------ inspect
    def _record(self, cid: str) -> dict | None:
        record = self._records.get(cid)
        if record is None:
            record = read_json(os.path.join(self._cdir(cid), "container.json"))
            if record is not None:
                self._add_record(cid, record)
        return record

    def _add_record(self, cid: str, record: dict) -> None:
        self._records[cid] = record
        uid = (record["config"].get("labels") or {}).get(LABEL_POD_UID)
        if uid is not None:
            self._by_pod.setdefault(uid, set()).add(cid)

    def _drop_record(self, cid: str) -> None:
        record = self._records.pop(cid, None)
        uid = ((record or {}).get("config", {}).get("labels") or {}).get(LABEL_POD_UID)
        if uid is not None and uid in self._by_pod:
            self._by_pod[uid].discard(cid)
            if not self._by_pod[uid]:
                del self._by_pod[uid]
        for cache in (self._configs, self._resources, self._started, self._exited):
            cache.pop(cid, None)
        self._never_started.discard(cid)
        self._unwatch(cid)
        self._gone.discard(cid)

    def _read_once(self, cache: dict[str, dict], cid: str, name: str) -> dict | None:
        """A file the shim writes once and never changes (started.json, exited.json): cached once there."""
        data = cache.get(cid)
        if data is None:
            data = read_json(os.path.join(self._cdir(cid), name))
            if data is not None:
                cache[cid] = data
        return data

    def _process_runs(self, cid: str, started: dict) -> bool:
        """Does the container's process run? Checked in /proc once; then a pidfd of the process, watched by the
        event loop, says when it exits (the PLEG, housekeeping and every sync ask ~170 times a second with 100
        pods: each would open, read and parse /proc/PID/stat)."""
        if cid in self._gone:
            return False
        watched = self._watched.get(cid)
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # not on an event loop: no watch
            loop = None
        if watched is not None:
            if watched[0] is loop or (loop is None and not watched[0].is_closed()):
                return True  # (asked from a thread: the loop that watches is still running)
            self._unwatch(cid)  # a watch from another (closed) loop says nothing: look again
        pid, start = started["pid"], started["pid_start_time"]
        if not linux.is_alive(pid, start):
            self._gone.add(cid)
            return False
        if loop is None:
            return True
        try:
            fd = os.pidfd_open(pid)
        except OSError:  # gone meanwhile, or no pidfds here: /proc again next time
            return linux.is_alive(pid, start)
        if linux.proc_start_time(pid) != start:  # the PID was reused between the two looks
            os.close(fd)
            self._gone.add(cid)
            return False
        loop.add_reader(fd, self._process_exited, cid)
        self._watched[cid] = (loop, fd)
        return True

    def _process_exited(self, cid: str) -> None:
        self._unwatch(cid)
        self._gone.add(cid)

    def _unwatch(self, cid: str) -> None:
        watched = self._watched.pop(cid, None)
        if watched is None:
            return
        loop, fd = watched
        if not loop.is_closed():
            loop.remove_reader(fd)
        os.close(fd)

    def _state(self, cid: str) -> tuple[ContainerState, dict | None, dict | None]:
        started = self._read_once(self._started, cid, "started.json")
        if started is not None and cid not in self._exited and self._process_runs(cid, started):
            return ContainerState.CONTAINER_RUNNING, started, None  # its process runs: there is no exit record yet
        exited = self._read_once(self._exited, cid, "exited.json")
        if exited is not None:
            return ContainerState.CONTAINER_EXITED, started, exited
        if started is None:
            return ContainerState.CONTAINER_CREATED, None, None
        if linux.is_alive(started["pid"], started["pid_start_time"]) or linux.is_alive(
            started["shim_pid"], started["shim_start_time"]
        ):
            return ContainerState.CONTAINER_RUNNING, started, None
        exited = self._read_once(self._exited, cid, "exited.json")  # written meanwhile?
        if exited is not None:
            return ContainerState.CONTAINER_EXITED, started, exited
        return ContainerState.CONTAINER_UNKNOWN, started, None

    def _config(self, record: dict) -> ContainerConfig:
        """The container's config (immutable), decoded once."""
        config = self._configs.get(record["id"])
        if config is None:
            config = self._configs[record["id"]] = from_dict(ContainerConfig, record["config"])
        return config

    def _container(self, record: dict, state: ContainerState) -> Container:
        config = self._config(record)
        return Container(record["id"], record["pod_sandbox_id"], config.metadata, config.image, record["image_ref"],
                         state, record["created_at"], config.labels, config.annotations)

    async def list_containers(self, filter: ContainerFilter | None = None) -> list[Container]:
        out = []
        records = self._all_records()
        uid = filter.label_selector.get(LABEL_POD_UID) if filter else None
        for cid in sorted(self._by_pod.get(uid, ()) if uid is not None else records):
            if filter and filter.id and not cid.startswith(filter.id):
                continue
            record = records[cid]
            if filter and filter.pod_sandbox_id and not record["pod_sandbox_id"].startswith(filter.pod_sandbox_id):
                continue
            labels = record["config"].get("labels") or {}
            if filter and any(labels.get(k) != v for k, v in filter.label_selector.items()):
                continue  # before reading the state: a pod's sync lists only its own containers
            c = self._container(record, self._state(cid)[0])
            if filter is None or filter.matches(c):
                out.append(c)
        return out

    async def container_status(self, container_id: str) -> ContainerStatus:
        cid = self._resolve(self._containers_dir, container_id)
        record = self._record(cid)
        if record is None:
            raise NotFoundError(f"container {container_id!r} not found")
        config = self._config(record)
        state, started, exited = self._state(cid)
        status = ContainerStatus(
            id=cid,
            metadata=config.metadata,
            state=state,
            created_at=record["created_at"],
            image=config.image,
            image_ref=record["image_ref"],
            labels=config.labels,
            annotations=config.annotations,
            mounts=config.mounts,
            log_path=record["log_path"],
            resources=self._container_resources(cid, record),
        )
        if started:
            status.started_at = started["started_at"]
            if state == ContainerState.CONTAINER_RUNNING:
                status.pid = started["pid"]
        if exited:
            status.finished_at = exited["finished_at"]
            status.exit_code = exited["exit_code"]
            status.reason = exited["reason"]
            status.message = exited.get("message", "")
        elif state == ContainerState.CONTAINER_UNKNOWN:
            status.reason = "Unknown"
            status.message = "the container's process and its supervisor are gone without an exit record"
        return status

    def _container_resources(self, cid: str, record: dict) -> LinuxContainerResources:
        res = self._resources.get(cid)
        if res is None:
            res = self._resources[cid] = from_dict(LinuxContainerResources, record.get("resources"))
        return res

    async def update_container_resources(self, container_id: str, resources: LinuxContainerResources) -> None:
        cid = self._resolve(self._containers_dir, container_id)
        record = self._record(cid)
        assert record is not None
        cgroup = CgroupSet.from_json(record.get("cgroup"))
        if cgroup:
            self._set_resources(cgroup, resources)
        record["resources"] = to_dict(resources)
        self._resources.pop(cid, None)
        write_json(os.path.join(self._cdir(cid), "container.json"), record)

    async def reopen_container_log(self, container_id: str) -> None:
        self._resolve(self._containers_dir, container_id)  # the shim rotates by itself: nothing to reopen

    async def container_stats(self, container_id: str) -> ContainerStats:
        cid = self._resolve(self._containers_dir, container_id)
        record = self._record(cid) or {}
        cgroup = CgroupSet.from_json(record.get("cgroup"))
        usage = cgroup.usage() if cgroup else None
        if usage is None:
            state, started, _ = self._state(cid)
            usage = _session_usage(started["pid"]) if state == ContainerState.CONTAINER_RUNNING and started else (0, 0, 0)
        cpu, working_set, rss = usage
        return ContainerStats(cid, time.time_ns(), cpu, working_set, rss)

    async def list_container_stats(self, filter: ContainerFilter | None = None) -> list[ContainerStats]:
        return [await self.container_stats(c.id) for c in await self.list_containers(filter)]

    # ------------------------------------------------------------------------------------------ streaming
    def _running(self, container_id: str) -> tuple[str, dict, dict]:
        cid = self._resolve(self._containers_dir, container_id)
        state, started, _ = self._state(cid)
        if state != ContainerState.CONTAINER_RUNNING or started is None:
            raise RuntimeServiceError(f"container {cid} is not running")
        spec = (self._record(cid) or {}).get("spec") or read_json(os.path.join(self._cdir(cid), "spec.json"))
        spec = spec or {}
        return cid, started, spec

    def _exec_command(self, started: dict, spec: dict, cmd: list[str]) -> tuple[list[str], dict[str, Any]]:
        """argv and subprocess options to run `cmd` as the container runs: namespaces, env, dir, user."""
        kwargs: dict[str, Any] = {"env": spec.get("env", {}), "start_new_session": True}
        uid, gid = spec.get("uid"), spec.get("gid")
        netns = spec.get("netns_path")
        if spec.get("namespaces"):
            argv = ["nsenter", "-t", str(started["pid"]), "-m", "-u", *(["-n"] if netns else []),
                    f"--wd={spec.get('cwd') or '/'}"]
            if gid is not None:
                argv += ["-G", str(gid)]
            if uid is not None:
                argv += ["-S", str(uid)]
            return argv + ["--"] + list(cmd), kwargs
        kwargs["cwd"] = spec.get("cwd") or "/"
        if uid is not None:
            kwargs["user"] = uid
        if gid is not None:
            kwargs["group"] = gid
        return (["nsenter", f"--net={netns}", "--"] if netns else []) + list(cmd), kwargs

    @staticmethod
    def _join_cgroup(spec: dict, pid: int) -> None:
        cgroup = CgroupSet.from_json(spec.get("cgroup"))
        if cgroup:
            try:
                cgroup.join(pid)
            except OSError:
                pass

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float = 0) -> ExecSyncResponse:
        _, started, spec = self._running(container_id)
        argv, kwargs = self._exec_command(started, spec, cmd)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs
            )
        except OSError as e:
            return ExecSyncResponse(b"", f"{cmd[0]}: {e.strerror}\n".encode(), 126 if e.errno == 13 else 127)
        self._join_cgroup(spec, proc.pid)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout or None)
        except asyncio.TimeoutError:
            _killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise ExecTimeoutError(f"command {cmd!r} timed out after {timeout}s") from None
        return ExecSyncResponse(out, err, returncode_to_exit_code(proc.returncode or 0))

    async def exec(
        self, container_id: str, cmd: list[str], *, tty: bool = False, stdin: bool = False,
        terminal_size: tuple[int, int] | None = None,
    ) -> StreamingSession:
        """Run `cmd` in the container; with a TTY, `terminal_size` (width, height) is set before it starts."""
        _, started, spec = self._running(container_id)
        argv, kwargs = self._exec_command(started, spec, cmd)
        if tty:
            kwargs["env"] = {**kwargs["env"], "TERM": kwargs["env"].get("TERM", "xterm")}
            master, slave = os.openpty()
            if terminal_size:
                linux.set_winsize(slave, *terminal_size)
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv, stdin=slave, stdout=slave, stderr=slave,
                    preexec_fn=linux.set_controlling_tty, **kwargs,
                )
            except OSError as e:
                os.close(master)
                raise RuntimeServiceError(f"exec {cmd[0]}: {e.strerror}") from e
            finally:
                os.close(slave)
            self._join_cgroup(spec, proc.pid)
            return ExecSession(proc, tty=True, master=master, stdin=stdin)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs,
            )
        except OSError as e:
            raise RuntimeServiceError(f"exec {cmd[0]}: {e.strerror}") from e
        self._join_cgroup(spec, proc.pid)
        return ExecSession(proc, tty=False, stdin=stdin)

    async def attach(self, container_id: str, *, stdin: bool = False, tty: bool = False) -> StreamingSession:
        cid, _, spec = self._running(container_id)
        cdir = self._cdir(cid)
        ctl = os.path.join(cdir, "ctl")
        session_stdin = None
        if stdin and spec.get("stdin"):
            fd = os.open(os.path.join(cdir, "stdin"), os.O_WRONLY | os.O_NONBLOCK)
            on_close = (lambda: send_ctl(ctl, "close-stdin")) if spec.get("stdin_once") else None
            session_stdin = FdInput(fd, on_close=on_close)

        async def exit_code() -> int:
            status = await self.container_status(cid)
            return status.exit_code

        return AttachSession(
            log_path=spec["log_path"],
            tty=bool(spec.get("tty")),
            stdin=session_stdin,
            ctl_path=ctl,
            exited=lambda: self._state(cid)[0] != ContainerState.CONTAINER_RUNNING,
            exit_code=exit_code,
        )

    async def port_forward(
        self, pod_sandbox_id: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        sid = self._resolve(self._sandboxes_dir, pod_sandbox_id)
        record = self._sandbox_record(sid)
        netns = record.get("netns_path")
        if netns:
            return await _open_in_netns(netns, port)
        return await asyncio.open_connection("127.0.0.1", port)

    # ------------------------------------------------------------------------------------------ images
    async def pull_image(
        self, image: ImageSpec, auth: dict | None = None, sandbox_config: PodSandboxConfig | None = None
    ) -> str:
        return self.images.pull(image)

    async def list_images(self, filter: ImageFilter | None = None) -> list[Image]:
        return self.images.list(filter)

    async def image_status(self, image: ImageSpec) -> Image | None:
        return self.images.status(image)

    async def remove_image(self, image: ImageSpec) -> None:
        self.images.remove(image)

    def image_name(self, image: ImageSpec) -> str:
        return normalize(image.image)


def _connect_in_netns(netns_path: str, port: int) -> socket.socket:
    """A TCP connection to 127.0.0.1:port made from inside `netns_path` (in a thread: setns is per thread).

    The thread creates the socket in the pod's namespace and goes back to its own one; the socket stays where it
    was made."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        linux.setns_path(netns_path, linux.CLONE_NEWNET)
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        finally:
            linux.setns(own, linux.CLONE_NEWNET)
    finally:
        os.close(own)
    sock.settimeout(None)
    sock.setblocking(False)
    return sock


async def _open_in_netns(netns_path: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        sock = await asyncio.to_thread(_connect_in_netns, netns_path, port)
    except OSError as e:
        raise RuntimeServiceError(f"port-forward to port {port} in {netns_path}: {e}") from e
    return await asyncio.open_connection(sock=sock)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


async def _wait_fd(fd: int, timeout: float | None) -> bool:
    """Wait until `fd` (a pidfd) is readable, i.e. the process has exited; False on timeout."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    loop.add_reader(fd, lambda: fut.done() or fut.set_result(None))
    try:
        await asyncio.wait_for(fut, timeout)
        return True
    except asyncio.TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)


def _session_usage(pid: int) -> tuple[int, int, int]:
    """CPU ns and RSS of every process in the session led by `pid` (the no-cgroup fallback)."""
    tick = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    cpu = rss = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2 :].split()
        if int(fields[3]) != pid:  # field 6: session id
            continue
        cpu += (int(fields[11]) + int(fields[12])) * 1_000_000_000 // tick
        rss += int(fields[21]) * page
    return cpu, rss, rss


def _rmdir_cgroup(cgroup: CgroupSet) -> bool:
    """Remove a stopped container's cgroups and their empty parents; True when none of its own is left."""
    cgroup.remove()
    return not any(os.path.isdir(d) for d in cgroup.dirs.values())

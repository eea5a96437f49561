"""The CRI-shaped contract between the kubelet and a container runtime: config/status dataclasses and Protocols.

Modelled on k8s.io/cri-api runtime/v1 (api.proto): the same services (RuntimeService, ImageService), the same
message and field names in snake_case, the same states. Differences from the gRPC API, on purpose:

- calls are async Python methods with keyword arguments instead of Request/Response messages;
- Exec/Attach/PortForward return a live session or connection, not a URL of a streaming server: the kubelet's
  own server (10250) bridges them to kubectl's WebSocket/SPDY protocols;
- timestamps are integers in nanoseconds since the epoch (as in CRI), 0 meaning "not set";
- errors are exceptions derived from `RuntimeServiceError`, each with the `reason` the kubelet puts in a
  container's waiting state (CreateContainerError, RunContainerError, ...).

Labels identify what a sandbox or container belongs to, so that a restarted kubelet adopts what still runs;
the kubelet sets them, runtimes store and return them untouched (see the LABEL_* constants).
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

# Labels the kubelet puts on sandboxes and containers (upstream pkg/kubelet/types/labels.go).
LABEL_POD_NAME = "io.kubernetes.pod.name"
LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_POD_UID = "io.kubernetes.pod.uid"
LABEL_CONTAINER_NAME = "io.kubernetes.container.name"
# Set by the kubelet on sandboxes only, as upstream's dockershim/containerd do.
LABEL_CONTAINER_TYPE = "io.kubernetes.container.type"

# Reasons a runtime reports for an exited container (ContainerStatus.reason).
REASON_COMPLETED = "Completed"
REASON_ERROR = "Error"
REASON_OOM_KILLED = "OOMKilled"
REASON_CONTAINER_CANNOT_RUN = "ContainerCannotRun"

# Runtime condition types (RuntimeStatus.conditions).
RUNTIME_READY = "RuntimeReady"
NETWORK_READY = "NetworkReady"


# ---------------------------------------------------------------------------------------------- errors


class RuntimeServiceError(Exception):
    """A call to the runtime failed; `reason` is the kubelet-facing reason (a CamelCase word)."""

    reason = "RuntimeError"


class NotFoundError(RuntimeServiceError):
    """The sandbox, container or image does not exist (CRI: codes.NotFound)."""

    reason = "NotFound"


class CreateContainerError(RuntimeServiceError):
    """create_container failed: the config cannot be turned into a container."""

    reason = "CreateContainerError"


class RunContainerError(RuntimeServiceError):
    """start_container failed: the process could not be started (the container is then EXITED)."""

    reason = "RunContainerError"


class CreatePodSandboxError(RuntimeServiceError):
    """run_pod_sandbox failed."""

    reason = "CreatePodSandboxError"


class ExecTimeoutError(RuntimeServiceError, TimeoutError):
    """exec_sync exceeded its timeout; the command was killed (CRI: codes.DeadlineExceeded)."""

    reason = "DeadlineExceeded"


# ---------------------------------------------------------------------------------------------- enums


class PodSandboxState(str, enum.Enum):
    SANDBOX_READY = "SANDBOX_READY"
    SANDBOX_NOTREADY = "SANDBOX_NOTREADY"


class ContainerState(str, enum.Enum):
    CONTAINER_CREATED = "CONTAINER_CREATED"
    CONTAINER_RUNNING = "CONTAINER_RUNNING"
    CONTAINER_EXITED = "CONTAINER_EXITED"
    CONTAINER_UNKNOWN = "CONTAINER_UNKNOWN"


class MountPropagation(str, enum.Enum):
    PROPAGATION_PRIVATE = "PROPAGATION_PRIVATE"
    PROPAGATION_HOST_TO_CONTAINER = "PROPAGATION_HOST_TO_CONTAINER"
    PROPAGATION_BIDIRECTIONAL = "PROPAGATION_BIDIRECTIONAL"


class PortProtocol(str, enum.Enum):
    """Protocol of a PortMapping (CRI's `Protocol` enum, renamed so as not to shadow typing.Protocol)."""

    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"


# ---------------------------------------------------------------------------------------------- sandbox config


@dataclass
class PodSandboxMetadata:
    name: str
    namespace: str
    uid: str
    attempt: int = 0


@dataclass
class DNSConfig:
    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


@dataclass
class PortMapping:
    container_port: int
    protocol: PortProtocol = PortProtocol.TCP
    host_port: int = 0
    host_ip: str = ""


@dataclass
class LinuxPodSandboxConfig:
    # Relative to the runtime's own cgroup parent (see the backend); "" lets the runtime choose.
    cgroup_parent: str = ""
    sysctls: dict[str, str] = field(default_factory=dict)


@dataclass
class PodSandboxConfig:
    metadata: PodSandboxMetadata
    hostname: str = ""
    # Directory where the kubelet wants container logs (upstream /var/log/pods/<ns>_<name>_<uid>);
    # ContainerConfig.log_path is relative to it. "" lets the runtime choose.
    log_directory: str = ""
    dns_config: DNSConfig | None = None
    port_mappings: list[PortMapping] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    linux: LinuxPodSandboxConfig = field(default_factory=LinuxPodSandboxConfig)
    # The pod's network namespace (a path such as /run/netns/kyb-<uid8>), made by the kubelet's pod network;
    # "" = the node's network. The runtime runs the sandbox's containers, exec and port-forward inside it.
    netns_path: str = ""


# ---------------------------------------------------------------------------------------------- container config


@dataclass
class ContainerMetadata:
    name: str
    attempt: int = 0


@dataclass
class ImageSpec:
    image: str
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class KeyValue:
    key: str
    value: str


@dataclass
class Mount:
    container_path: str
    host_path: str
    readonly: bool = False
    selinux_relabel: bool = False
    propagation: MountPropagation = MountPropagation.PROPAGATION_PRIVATE


@dataclass
class LinuxContainerResources:
    cpu_period: int = 0  # CFS period in microseconds; 0 = unset
    cpu_quota: int = 0  # CFS quota in microseconds; 0 = unlimited
    cpu_shares: int = 0  # relative weight (cgroup v1 cpu.shares); 0 = unset
    memory_limit_in_bytes: int = 0  # 0 = unlimited
    oom_score_adj: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""


@dataclass
class LinuxContainerSecurityContext:
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_username: str = ""
    supplemental_groups: list[int] = field(default_factory=list)
    privileged: bool = False
    readonly_rootfs: bool = False


@dataclass
class LinuxContainerConfig:
    resources: LinuxContainerResources = field(default_factory=LinuxContainerResources)
    security_context: LinuxContainerSecurityContext = field(default_factory=LinuxContainerSecurityContext)


@dataclass
class ContainerConfig:
    metadata: ContainerMetadata
    image: ImageSpec
    # argv = command + args, as a container engine runs an image without an entrypoint.
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    working_dir: str = ""
    envs: list[KeyValue] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    # Relative to PodSandboxConfig.log_directory (upstream: "<container name>/<restart count>.log").
    log_path: str = ""
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    linux: LinuxContainerConfig = field(default_factory=LinuxContainerConfig)


# ---------------------------------------------------------------------------------------------- statuses


@dataclass
class PodSandboxNetworkStatus:
    ip: str = ""
    additional_ips: list[str] = field(default_factory=list)


@dataclass
class PodSandbox:
    """An item of list_pod_sandbox."""

    id: str
    metadata: PodSandboxMetadata
    state: PodSandboxState
    created_at: int
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    runtime_handler: str = ""


@dataclass
class PodSandboxStatus:
    id: str
    metadata: PodSandboxMetadata
    state: PodSandboxState
    created_at: int
    network: PodSandboxNetworkStatus = field(default_factory=PodSandboxNetworkStatus)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    runtime_handler: str = ""
    # Path of the pod's network namespace (e.g. /var/run/netns/<id>); None while pods share the node's network.
    netns_path: str | None = None


@dataclass
class Container:
    """An item of list_containers."""

    id: str
    pod_sandbox_id: str
    metadata: ContainerMetadata
    image: ImageSpec
    image_ref: str
    state: ContainerState
    created_at: int
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class ContainerStatus:
    id: str
    metadata: ContainerMetadata
    state: ContainerState
    created_at: int
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0  # 128+N when killed by signal N, as container engines report
    image: ImageSpec | None = None
    image_ref: str = ""
    reason: str = ""  # Completed, Error, OOMKilled, ContainerCannotRun (EXITED only)
    message: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    mounts: list[Mount] = field(default_factory=list)
    log_path: str = ""  # absolute path of the current log file
    resources: LinuxContainerResources | None = None
    pid: int = 0  # host PID of the container's main process while RUNNING (0 otherwise); not in CRI


@dataclass
class Image:
    id: str
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    size: int = 0
    uid: int | None = None
    username: str = ""
    spec: ImageSpec | None = None
    pinned: bool = False


@dataclass
class ContainerStats:
    """Usage of one container (CRI ContainerStats, flattened)."""

    id: str
    timestamp: int  # ns
    cpu_usage_core_nano_seconds: int  # cumulative CPU time
    memory_working_set_bytes: int
    memory_rss_bytes: int = 0
    writable_layer_used_bytes: int = 0


@dataclass
class RuntimeCondition:
    type: str
    status: bool
    reason: str = ""
    message: str = ""


@dataclass
class RuntimeStatus:
    conditions: list[RuntimeCondition] = field(default_factory=list)


@dataclass
class VersionResponse:
    version: str  # version of the kubelet runtime API ("0.1.0" in CRI)
    runtime_name: str
    runtime_version: str
    runtime_api_version: str  # "v1"


@dataclass
class ExecSyncResponse:
    stdout: bytes
    stderr: bytes
    exit_code: int


# ---------------------------------------------------------------------------------------------- filters


def _labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@dataclass
class PodSandboxFilter:
    """Every set field must match (AND); an empty filter matches everything."""

    id: str = ""
    state: PodSandboxState | None = None
    label_selector: dict[str, str] = field(default_factory=dict)

    def matches(self, sandbox: PodSandbox) -> bool:
        return (
            (not self.id or sandbox.id == self.id or sandbox.id.startswith(self.id))
            and (self.state is None or sandbox.state == self.state)
            and _labels_match(self.label_selector, sandbox.labels)
        )


@dataclass
class ContainerFilter:
    """Every set field must match (AND); `id` also matches a unique prefix, as CRI runtimes do."""

    id: str = ""
    state: ContainerState | None = None
    pod_sandbox_id: str = ""
    label_selector: dict[str, str] = field(default_factory=dict)

    def matches(self, container: Container) -> bool:
        return (
            (not self.id or container.id.startswith(self.id))
            and (self.state is None or container.state == self.state)
            and (not self.pod_sandbox_id or container.pod_sandbox_id.startswith(self.pod_sandbox_id))
            and _labels_match(self.label_selector, container.labels)
        )


@dataclass
class ImageFilter:
    image: ImageSpec | None = None


# ---------------------------------------------------------------------------------------------- streaming


class StreamInput(Protocol):
    """The writing end of a session's stdin."""

    async def write(self, data: bytes) -> None:
        """Write all of `data` (waits while the other side does not read)."""

    async def close(self) -> None:
        """Signal end of input (EOF; with a TTY, sends the terminal's EOF character). Idempotent."""


class StreamingSession(Protocol):
    """A live exec or attach session.

    `stdin` is None unless asked for; `stdout` carries everything the process writes when `tty` is true, and
    `stderr` is then None. Readers reach EOF when the process (exec) or the attachment (attach) ends.
    """

    stdin: StreamInput | None
    stdout: asyncio.StreamReader | None
    stderr: asyncio.StreamReader | None
    tty: bool

    async def resize(self, width: int, height: int) -> None:
        """Set the terminal size (TIOCSWINSZ); does nothing without a TTY."""

    async def wait(self) -> int:
        """Exit code of the exec'd command (128+N when killed by signal N); for attach, the container's."""

    async def close(self) -> None:
        """End the session: an exec'd process still running is killed; attach only detaches. Idempotent."""


# ---------------------------------------------------------------------------------------------- services


@runtime_checkable
class RuntimeService(Protocol):
    """Sandbox and container lifecycle, streaming and stats (CRI RuntimeService).

    Contracts, as in CRI: stop_* and remove_* are idempotent and never fail for something already stopped or
    removed; status calls raise NotFoundError for unknown ids; ids accept a unique prefix.
    """

    async def version(self) -> VersionResponse: ...

    async def status(self) -> RuntimeStatus:
        """Conditions RuntimeReady and NetworkReady."""

    # --- sandboxes
    async def run_pod_sandbox(self, config: PodSandboxConfig, runtime_handler: str = "") -> str:
        """Create and start the pod-level sandbox; returns its id. The sandbox is READY on return."""

    async def stop_pod_sandbox(self, pod_sandbox_id: str) -> None:
        """Force-stop every container of the sandbox (SIGKILL) and release its resources; NOTREADY after."""

    async def remove_pod_sandbox(self, pod_sandbox_id: str) -> None:
        """Stop and remove the sandbox and all its containers (their logs stay in log_directory)."""

    async def pod_sandbox_status(self, pod_sandbox_id: str) -> PodSandboxStatus: ...

    async def list_pod_sandbox(self, filter: PodSandboxFilter | None = None) -> list[PodSandbox]: ...

    # --- containers
    async def create_container(
        self, pod_sandbox_id: str, config: ContainerConfig, sandbox_config: PodSandboxConfig
    ) -> str:
        """Create (not start) a container in a READY sandbox; returns its id. Raises CreateContainerError."""

    async def start_container(self, container_id: str) -> None:
        """Start a CREATED container. Raises RunContainerError (the container is then EXITED, reason
        ContainerCannotRun)."""

    async def stop_container(self, container_id: str, timeout: int) -> None:
        """SIGTERM the container's processes, SIGKILL after `timeout` seconds (0: at once); returns once it
        has exited. Idempotent."""

    async def remove_container(self, container_id: str) -> None:
        """Remove a container, killing it first if it runs. Its log file stays. Idempotent."""

    async def list_containers(self, filter: ContainerFilter | None = None) -> list[Container]: ...

    async def container_status(self, container_id: str) -> ContainerStatus: ...

    async def update_container_resources(self, container_id: str, resources: LinuxContainerResources) -> None: ...

    async def reopen_container_log(self, container_id: str) -> None:
        """Reopen the log file after an external rotation (a no-op for runtimes that rotate themselves)."""

    async def container_stats(self, container_id: str) -> ContainerStats: ...

    async def list_container_stats(self, filter: ContainerFilter | None = None) -> list[ContainerStats]: ...

    # --- streaming
    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float = 0) -> ExecSyncResponse:
        """Run `cmd` in the container (its namespaces, env, working dir, user) and collect its output.
        timeout 0 means none; past it the command is killed and ExecTimeoutError raised. For probes and hooks."""

    async def exec(
        self, container_id: str, cmd: list[str], *, tty: bool = False, stdin: bool = False
    ) -> StreamingSession:
        """Start `cmd` in the container and return the live session (kubectl exec)."""

    async def attach(self, container_id: str, *, stdin: bool = False, tty: bool = False) -> StreamingSession:
        """Connect to the running container's main process: its output from now on, and its stdin when the
        container was created with stdin=True (kubectl attach)."""

    async def port_forward(
        self, pod_sandbox_id: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a TCP connection to `port` inside the sandbox's network (kubectl port-forward)."""


@runtime_checkable
class ImageService(Protocol):
    """Image management (CRI ImageService)."""

    async def pull_image(
        self, image: ImageSpec, auth: dict | None = None, sandbox_config: PodSandboxConfig | None = None
    ) -> str:
        """Make the image present; returns its image_ref (an id)."""

    async def list_images(self, filter: ImageFilter | None = None) -> list[Image]: ...

    async def image_status(self, image: ImageSpec) -> Image | None:
        """The image, or None when it is not present (not an error)."""

    async def remove_image(self, image: ImageSpec) -> None:
        """Idempotent."""


@runtime_checkable
class ContainerRuntime(RuntimeService, ImageService, Protocol):
    """What the kubelet holds: both services from one backend."""

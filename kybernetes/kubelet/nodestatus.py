"""Node registration and heartbeats: the Node object (capacity, allocatable, addresses, labels, nodeInfo,
conditions), its status patched when it changes or every node_status_report_frequency, and the Lease in
kube-node-lease renewed every 10 s (upstream pkg/kubelet/kubelet_node_status.go, nodestatus/, nodelease)."""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import socket
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from kybernetes.api.validation.quantity import parse_quantity
from kybernetes.client.rest import ApiError, RESTClient, resource_path
from kybernetes.kubelet.options import KUBELET_VERSION, KubeletOptions

log = logging.getLogger(__name__)
Obj = dict[str, Any]

RUNTIME_VERSION = "process://0.1.0"
LEASE_NAMESPACE = "kube-node-lease"
ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}

PRESSURE = {  # condition -> (reason when False, message when False, reason when True, message when True)
    "MemoryPressure": ("KubeletHasSufficientMemory", "kubelet has sufficient memory available",
                       "KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
    "DiskPressure": ("KubeletHasNoDiskPressure", "kubelet has no disk pressure",
                     "KubeletHasDiskPressure", "kubelet has disk pressure"),
    "PIDPressure": ("KubeletHasSufficientPID", "kubelet has sufficient PID available",
                    "KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
}


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes."""
    out = {}
    for line in _read("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            out[key] = int(parts[0]) * (1024 if len(parts) > 1 and parts[1] == "kB" else 1)
    return out


def os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def primary_ip() -> str:
    """The source address of the default route (a UDP connect sends nothing), else the hostname's, else loopback."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("198.18.0.1", 9))
            return s.getsockname()[0]
    except OSError:
        pass
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def machine_capacity(root_dir: str, max_pods: int) -> dict[str, str]:
    st = os.statvfs(root_dir)
    return {"cpu": str(os.cpu_count() or 1), "memory": f"{meminfo().get('MemTotal', 0) // 1024}Ki",
            "ephemeral-storage": f"{st.f_blocks * st.f_frsize // 1024}Ki", "pods": str(max_pods),
            "hugepages-1Gi": "0", "hugepages-2Mi": "0"}


def _threshold_amount(value: str, capacity: float) -> float:
    if value.endswith("%"):
        return capacity * float(value[:-1]) / 100
    return float(parse_quantity(value))


def allocatable(capacity: dict[str, str], kube_reserved: dict[str, str], system_reserved: dict[str, str],
                eviction_hard: dict[str, str]) -> dict[str, str]:
    """capacity - kube-reserved - system-reserved - hard eviction thresholds (memory, nodefs), never < 0."""
    out = {}
    for res, cap in capacity.items():
        amount = float(parse_quantity(cap))
        for reserved in (kube_reserved, system_reserved):
            if res in reserved:
                amount -= float(parse_quantity(reserved[res]))
        signal = {"memory": "memory.available", "ephemeral-storage": "nodefs.available"}.get(res)
        if signal and signal in eviction_hard:
            amount -= _threshold_amount(eviction_hard[signal], float(parse_quantity(cap)))
        amount = max(amount, 0.0)
        if res == "cpu":
            milli = int(amount * 1000)
            out[res] = str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"
        elif res in ("memory", "ephemeral-storage"):
            out[res] = f"{int(amount) // 1024}Ki"
        else:
            out[res] = str(int(amount))
    return out


def node_labels(node_name: str, extra: dict[str, str] | None) -> dict[str, str]:
    arch = ARCH.get(platform.machine(), platform.machine())
    return {"kubernetes.io/hostname": node_name, "kubernetes.io/os": "linux", "kubernetes.io/arch": arch,
            "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": arch, **(extra or {})}


def node_info() -> Obj:
    arch = ARCH.get(platform.machine(), platform.machine())
    return {"machineID": _read("/etc/machine-id"), "systemUUID": _read("/sys/class/dmi/id/product_uuid"),
            "bootID": _read("/proc/sys/kernel/random/boot_id"), "kernelVersion": platform.release(),
            "osImage": os_image(), "containerRuntimeVersion": RUNTIME_VERSION, "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": arch}


def conditions(ready: tuple[bool, str], pressure: dict[str, bool], old: list[Obj], now: str,
               network: tuple[bool, str] | None = None) -> list[Obj]:
    """Ready, MemoryPressure, DiskPressure, PIDPressure (and NetworkUnavailable with a pod network);
    lastTransitionTime kept while the status holds."""
    prev = {c.get("type"): c for c in old}
    out = []
    if network is not None:
        up, why = network
        out.append({"type": "NetworkUnavailable", "status": "False" if up else "True",
                    "reason": "RouteCreated" if up else "NoRouteCreated",
                    "message": "pod network is ready" if up else f"pod network is not ready: {why}"})
    ok, message = ready
    items = [(t, pressure.get(t, False), *PRESSURE[t]) for t in PRESSURE]
    for ctype, on, reason_off, msg_off, reason_on, msg_on in items:
        out.append({"type": ctype, "status": "True" if on else "False", "reason": reason_on if on else reason_off,
                    "message": msg_on if on else msg_off})
    out.append({"type": "Ready", "status": "True" if ok else "False",
                "reason": "KubeletReady" if ok else "KubeletNotReady",
                "message": "kubelet is posting ready status" if ok else message})
    for c in out:
        p = prev.get(c["type"])
        c["lastHeartbeatTime"] = now
        c["lastTransitionTime"] = p["lastTransitionTime"] if p and p.get("status") == c["status"] and \
            p.get("lastTransitionTime") else now
    return out


def _without_heartbeats(status: Obj) -> Obj:
    return {**status, "conditions": [{k: v for k, v in c.items() if k != "lastHeartbeatTime"}
                                     for c in status.get("conditions") or []]}


class NodeStatusManager:
    """Registers the Node, then keeps its status and Lease fresh."""

    def __init__(self, client: RESTClient, *, node_name: str, node_ip: str, root_dir: str, options: KubeletOptions,
                 port: int, kube_reserved: dict[str, str] | None = None,
                 system_reserved: dict[str, str] | None = None, labels: dict[str, str] | None = None,
                 taints: list[Obj] | None = None, readiness: Callable[[], tuple[bool, str]] = lambda: (True, ""),
                 pressure: Callable[[], dict[str, bool]] = dict, clock: Callable[[], float] | None = None,
                 network: Callable[[], tuple[bool, str]] | None = None) -> None:
        self.client = client
        self.node_name = node_name
        self.node_ip = node_ip
        self.root_dir = root_dir
        self.options = options
        self.port = port
        self.kube_reserved = kube_reserved or {}
        self.system_reserved = system_reserved or {}
        self.labels = labels
        self.taints = taints or []
        self.readiness = readiness
        self.pressure = pressure
        self.network = network
        self.node_uid = ""
        self._last_reported: Obj | None = None
        self._last_report_at = 0.0
        self.registered = asyncio.Event()
        self._loop_time = clock or (lambda: asyncio.get_running_loop().time())

    def capacity(self) -> dict[str, str]:
        return machine_capacity(self.root_dir, self.options.max_pods)

    def allocatable(self) -> dict[str, str]:
        return allocatable(self.capacity(), self.kube_reserved, self.system_reserved, self.options.eviction_hard)

    def status(self, old: Obj) -> Obj:
        cap = self.capacity()
        return {
            "capacity": cap,
            "allocatable": allocatable(cap, self.kube_reserved, self.system_reserved, self.options.eviction_hard),
            "addresses": [{"type": "InternalIP", "address": self.node_ip},
                          {"type": "Hostname", "address": self.node_name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": node_info(),
            "conditions": conditions(self.readiness(), self.pressure(), old.get("conditions") or [], now_rfc3339(),
                                     self.network() if self.network else None),
        }

    def _node(self) -> Obj:
        node: Obj = {"apiVersion": "v1", "kind": "Node",
                     "metadata": {"name": self.node_name, "labels": node_labels(self.node_name, self.labels),
                                  "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
                     "spec": {}}
        if self.taints:
            node["spec"]["taints"] = self.taints
        node["status"] = self.status({})
        return node

    async def register(self) -> None:
        """Create the Node, or reconcile labels of an existing one (upstream tryRegisterWithAPIServer)."""
        path = resource_path("", "v1", "nodes")
        while True:
            try:
                created = await self.client.create(path, self._node())
                self.node_uid = created["metadata"]["uid"]
                break
            except ApiError as e:
                if not e.conflict:
                    log.warning("registering node %s: %s", self.node_name, e)
                    await asyncio.sleep(1)
                    continue
            try:
                existing = await self.client.get(f"{path}/{self.node_name}")
            except ApiError as e:
                log.warning("reading node %s: %s", self.node_name, e)
                await asyncio.sleep(1)
                continue
            self.node_uid = existing["metadata"]["uid"]
            labels = node_labels(self.node_name, self.labels)
            if any((existing["metadata"].get("labels") or {}).get(k) != v for k, v in labels.items()):
                await self.client.patch(f"{path}/{self.node_name}", {"metadata": {"labels": labels}}, "merge")
            break
        await self.update_status(force=True)
        self.registered.set()

    async def update_status(self, force: bool = False) -> None:
        """Patch the status if it changed (heartbeats aside) or the report period passed."""
        path = resource_path("", "v1", "nodes", None, self.node_name)
        node = await self.client.get(path)
        old = node.get("status") or {}
        status = self.status(old)
        now = self._loop_time()
        changed = self._last_reported is None or _without_heartbeats(status) != _without_heartbeats(self._last_reported)
        if not (force or changed or now - self._last_report_at >= self.options.node_status_report_frequency):
            return
        await self.client.patch(f"{path}/status", {"status": status}, "merge")
        self._last_reported, self._last_report_at = status, now

    async def renew_lease(self) -> None:
        path = resource_path("coordination.k8s.io", "v1", "leases", LEASE_NAMESPACE, self.node_name)
        spec = {"holderIdentity": self.node_name, "leaseDurationSeconds": self.options.node_lease_duration_seconds,
                "renewTime": now_micro()}
        try:
            lease = await self.client.get(path)
        except ApiError as e:
            if not e.not_found:
                raise
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.node_name, "namespace": LEASE_NAMESPACE,
                                 "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": self.node_name,
                                                      "uid": self.node_uid}]},
                    "spec": spec}
            await self.client.create(resource_path("coordination.k8s.io", "v1", "leases", LEASE_NAMESPACE), body)
            return
        lease["spec"] = {**(lease.get("spec") or {}), **spec}
        if not lease["metadata"].get("ownerReferences") and self.node_uid:
            lease["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.node_name,
                                                     "uid": self.node_uid}]
        await self.client.update(path, lease)

    async def run(self) -> None:
        """Register, then renew the lease and sync the status forever."""
        await self.register()  # kube-node-lease is the apiserver's to create, as upstream
        await asyncio.gather(self._lease_loop(), self._status_loop())

    async def _lease_loop(self) -> None:
        while True:
            try:
                await self.renew_lease()
                delay = self.options.node_lease_renew_interval
            except (ApiError, OSError, asyncio.TimeoutError) as e:
                log.warning("renewing lease of %s: %s", self.node_name, e)
                delay = min(1.0, self.options.node_lease_renew_interval)
            except Exception as e:  # noqa: BLE001 - aiohttp errors and the like: retry
                log.warning("renewing lease of %s: %s", self.node_name, e)
                delay = min(1.0, self.options.node_lease_renew_interval)
            await asyncio.sleep(delay)

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.node_status_update_frequency)
            try:
                await self.update_status()
            except Exception as e:  # noqa: BLE001 - retried next period
                log.warning("updating node status of %s: %s", self.node_name, e)

"""Printers for core/v1 resources, as upstream's pkg/printers/internalversion computes their columns."""

from __future__ import annotations

import ipaddress
from datetime import datetime

from kybernetes.api.printers.common import (
    AGE, CONTAINERS, IMAGES, META, NAME, Column, Printer, age, dig, format_labels, human_duration,
    layout_containers, meta, name, parse_time, quantity, since, spec, status,
)

CORE = "io.k8s.api.core.v1."

# ------------------------------------------------------------------------------------------------ pods

_POD_SUCCEEDED = [{"type": "Completed", "status": "True", "reason": "Succeeded",
                   "message": "The pod has completed successfully."}]
_POD_FAILED = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]


def _restartable(container: dict | None) -> bool:
    return bool(container) and container.get("restartPolicy") == "Always"


def _condition_true(conditions: list, ctype: str, *, first_only: bool = False) -> bool:
    for c in conditions:
        if c.get("type") == ctype:
            if c.get("status") == "True":
                return True
            if first_only:
                return False
    return False


def _terminated_reason(term: dict, prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + term["reason"]
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


class _Restarts:
    """A restart count and the latest finishedAt of the last terminations that caused them."""

    def __init__(self) -> None:
        self.count = 0
        self.last: datetime | None = None

    def add(self, cstatus: dict) -> None:
        self.count += int(cstatus.get("restartCount") or 0)
        term = dig(cstatus, "lastState", "terminated")
        if term is not None:
            finished = parse_time(term.get("finishedAt"))
            if finished is not None and (self.last is None or finished > self.last):
                self.last = finished


def pod_status_reason(pod: dict) -> tuple[str, int, int, _Restarts]:
    """The STATUS cell, ready and total container counts, and restarts, as upstream's printPod."""
    pspec, pstatus = spec(pod), status(pod)
    conditions = pstatus.get("conditions") or []
    phase = pstatus.get("phase") or ""
    reason = pstatus.get("reason") or phase
    for c in conditions:
        if c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_list = pspec.get("initContainers") or []
    init_specs = {c.get("name"): c for c in init_list}
    total = len(pspec.get("containers") or []) + sum(1 for c in init_list if _restartable(c))
    ready = 0
    restarts, sidecar_restarts = _Restarts(), _Restarts()

    initializing = False
    for i, cs in enumerate(pstatus.get("initContainerStatuses") or []):
        restarts.add(cs)
        sidecar = _restartable(init_specs.get(cs.get("name")))
        if sidecar:
            sidecar_restarts.add(cs)
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term is not None and not term.get("exitCode"):
            continue
        if sidecar and cs.get("started"):
            if cs.get("ready"):
                ready += 1
            continue
        if term is not None:
            reason = _terminated_reason(term, "Init:")
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_list)}"
        initializing = True
        break

    if not initializing or _condition_true(conditions, "Initialized", first_only=True):
        restarts = sidecar_restarts
        has_running = False
        for cs in reversed(pstatus.get("containerStatuses") or []):
            restarts.add(cs)
            state = cs.get("state") or {}
            term, waiting = state.get("terminated"), state.get("waiting")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif term is not None:
                reason = _terminated_reason(term)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(conditions, "Ready") else "NotReady"

    if meta(pod).get("deletionTimestamp"):
        if pstatus.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return reason, ready, total, restarts


def _pod_cells(pod: dict, now: datetime) -> list:
    reason, ready, total, restarts = pod_status_reason(pod)
    restarts_str = str(restarts.count)
    if restarts.count and restarts.last is not None:
        restarts_str = f"{restarts.count} ({human_duration(now - restarts.last)} ago)"
    pspec, pstatus = spec(pod), status(pod)
    ips = pstatus.get("podIPs") or []
    pod_ip = (ips[0].get("ip") if ips else "") or pstatus.get("podIP") or "<none>"
    gates = pspec.get("readinessGates") or []
    gates_str = "<none>"
    if gates:
        conditions = pstatus.get("conditions") or []
        passed = sum(1 for g in gates if _condition_true(conditions, g.get("conditionType"), first_only=True))
        gates_str = f"{passed}/{len(gates)}"
    return [name(pod), f"{ready}/{total}", reason, restarts_str, age(pod, now), pod_ip,
            pspec.get("nodeName") or "<none>", pstatus.get("nominatedNodeName") or "<none>", gates_str]


def _pod_conditions(pod: dict) -> list[dict] | None:
    phase = status(pod).get("phase")
    chosen = _POD_SUCCEEDED if phase == "Succeeded" else _POD_FAILED if phase == "Failed" else None
    return [dict(c) for c in chosen] if chosen else None


POD = Printer((
    NAME,
    Column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", "string", "The aggregate status of the containers in this pod."),
    Column("Restarts", "string", "The number of times the containers in this pod have been restarted and when "
                                 "the last container in this pod has restarted."),
    AGE,
    Column("IP", "string", (CORE + "PodStatus", "podIP"), priority=1),
    Column("Node", "string", (CORE + "PodSpec", "nodeName"), priority=1),
    Column("Nominated Node", "string", (CORE + "PodStatus", "nominatedNodeName"), priority=1),
    Column("Readiness Gates", "string", (CORE + "PodSpec", "readinessGates"), priority=1),
), _pod_cells, _pod_conditions)

POD_TEMPLATE = Printer((
    NAME,
    Column("Containers", "string", "Names of each container in the template."),
    Column("Images", "string", "Images referenced by each container in the template."),
    Column("Pod Labels", "string", "The labels for the pod template."),
), lambda o, now: [name(o), *layout_containers(dig(o, "template", "spec", "containers")),
                   format_labels(dig(o, "template", "metadata", "labels"))])


# ------------------------------------------------------------------------------------ replication ctrl

def _rc_cells(o: dict, now: datetime) -> list:
    s = spec(o)
    replicas = s.get("replicas")
    return [name(o), 1 if replicas is None else int(replicas), int(status(o).get("replicas") or 0),
            int(status(o).get("readyReplicas") or 0), age(o, now),
            *layout_containers(dig(s, "template", "spec", "containers")), format_labels(s.get("selector"))]


REPLICATION_CONTROLLER = Printer((
    NAME,
    Column("Desired", "integer", (CORE + "ReplicationControllerSpec", "replicas")),
    Column("Current", "integer", (CORE + "ReplicationControllerStatus", "replicas")),
    Column("Ready", "integer", (CORE + "ReplicationControllerStatus", "readyReplicas")),
    AGE, CONTAINERS, IMAGES,
    Column("Selector", "string", (CORE + "ReplicationControllerSpec", "selector"), priority=1),
), _rc_cells)


# --------------------------------------------------------------------------------------------- services

def _load_balancer_ips(svc: dict) -> list[str]:
    found = set()
    for ing in dig(svc, "status", "loadBalancer", "ingress", default=[]) or []:
        if ing.get("ip"):
            found.add(ing["ip"])
        elif ing.get("hostname"):
            found.add(ing["hostname"])
    return sorted(found)


def service_external_ip(svc: dict) -> str:
    s = spec(svc)
    external = s.get("externalIPs") or []
    stype = s.get("type")
    if stype in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if stype == "LoadBalancer":
        lb = _load_balancer_ips(svc)
        if external:
            return ",".join(lb + external)
        return ",".join(lb) if lb else "<pending>"
    if stype == "ExternalName":
        return s.get("externalName") or ""
    return "<unknown>"


def service_ports(svc: dict) -> str:
    pieces = []
    for p in spec(svc).get("ports") or []:
        proto = p.get("protocol") or ""
        node_port = p.get("nodePort") or 0
        pieces.append(f"{p.get('port', 0)}:{node_port}/{proto}" if node_port > 0 else f"{p.get('port', 0)}/{proto}")
    return ",".join(pieces) or "<none>"


def _service_cells(svc: dict, now: datetime) -> list:
    s = spec(svc)
    cluster_ips = s.get("clusterIPs") or ([s["clusterIP"]] if s.get("clusterIP") else [])
    return [name(svc), s.get("type") or "", cluster_ips[0] if cluster_ips else "<none>", service_external_ip(svc),
            service_ports(svc), age(svc, now), format_labels(s.get("selector"))]


SERVICE = Printer((
    NAME,
    Column("Type", "string", (CORE + "ServiceSpec", "type")),
    Column("Cluster-IP", "string", (CORE + "ServiceSpec", "clusterIP")),
    Column("External-IP", "string", (CORE + "ServiceSpec", "externalIPs")),
    Column("Port(s)", "string", (CORE + "ServiceSpec", "ports")),
    AGE,
    Column("Selector", "string", (CORE + "ServiceSpec", "selector"), priority=1),
), _service_cells)


# -------------------------------------------------------------------------------------------- endpoints

def _join_host_port(host: str, port: int) -> str:
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            return f"[{host}]:{port}"
    except ValueError:
        if ":" in host:
            return f"[{host}]:{port}"
    return f"{host}:{port}"


def format_endpoints(ep: dict) -> str:
    subsets = ep.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    limit, more, count = 3, False, 0
    for ss in subsets:
        addresses = ss.get("addresses") or []
        ports = ss.get("ports") or []
        groups = [(a.get("ip", ""), None) for a in addresses] if not ports else \
            [(a.get("ip", ""), p.get("port", 0)) for p in ports for a in addresses]
        for ip, port in groups:
            count += 1
            if len(shown) == limit:
                more = True
                continue
            shown.append(ip if port is None else _join_host_port(ip, port))
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text


ENDPOINTS = Printer((
    NAME,
    Column("Endpoints", "string", (CORE + "Endpoints", "subsets")),
    AGE,
), lambda o, now: [name(o), format_endpoints(o), age(o, now)])


# ------------------------------------------------------------------------------------------------ nodes

def node_status(node: dict) -> str:
    by_type = {c.get("type"): c for c in status(node).get("conditions") or []}
    parts = []
    ready = by_type.get("Ready")
    if ready is not None:
        parts.append("Ready" if ready.get("status") == "True" else "NotReady")
    if not parts:
        parts.append("Unknown")
    if spec(node).get("unschedulable"):
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def node_roles(node: dict) -> str:
    roles = set()
    for k, v in (meta(node).get("labels") or {}).items():
        if k.startswith("node-role.kubernetes.io/"):
            role = k[len("node-role.kubernetes.io/"):]
            if role:
                roles.add(role)
        elif k == "kubernetes.io/role" and v:
            roles.add(v)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(node: dict, kind: str) -> str:
    for a in status(node).get("addresses") or []:
        if a.get("type") == kind:
            return a.get("address", "")
    return "<none>"


def _node_cells(node: dict, now: datetime) -> list:
    info = status(node).get("nodeInfo") or {}
    return [name(node), node_status(node), node_roles(node), age(node, now), info.get("kubeletVersion") or "",
            _node_address(node, "InternalIP"), _node_address(node, "ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


NODE = Printer((
    NAME,
    Column("Status", "string", "The status of the node"),
    Column("Roles", "string", "The roles of the node"),
    AGE,
    Column("Version", "string", (CORE + "NodeSystemInfo", "kubeletVersion")),
    Column("Internal-IP", "string", (CORE + "NodeStatus", "addresses"), priority=1),
    Column("External-IP", "string", (CORE + "NodeStatus", "addresses"), priority=1),
    Column("OS-Image", "string", (CORE + "NodeSystemInfo", "osImage"), priority=1),
    Column("Kernel-Version", "string", (CORE + "NodeSystemInfo", "kernelVersion"), priority=1),
    Column("Container-Runtime", "string", (CORE + "NodeSystemInfo", "containerRuntimeVersion"), priority=1),
), _node_cells)


# ----------------------------------------------------------------------------------------------- events

def core_event_from_events_v1(ev: dict) -> dict:
    """An events.k8s.io/v1 Event in core/v1 field names (both are one stored type upstream)."""
    out = dict(ev)
    renames = {"regarding": "involvedObject", "note": "message", "deprecatedFirstTimestamp": "firstTimestamp",
               "deprecatedLastTimestamp": "lastTimestamp", "deprecatedCount": "count", "deprecatedSource": "source"}
    for new, old in renames.items():
        if new in ev:
            out[old] = ev[new]
    return out


def _event_source(ev: dict) -> str:
    src = ev.get("source") or {}
    component = src.get("component") or ev.get("reportingController") or ""
    instance = src.get("host") or ev.get("reportingInstance") or ""
    return component if not instance else f"{component}, {instance}"


def _event_cells(ev: dict, now: datetime) -> list:
    first = since(ev.get("firstTimestamp"), now)
    if parse_time(ev.get("firstTimestamp")) is None:
        first = since(ev.get("eventTime"), now)
    last = since(ev.get("lastTimestamp"), now)
    if parse_time(ev.get("lastTimestamp")) is None:
        last = first
    count = int(ev.get("count") or 0)
    series = ev.get("series")
    if series is not None:
        last = since(series.get("lastObservedTime"), now)
        count = int(series.get("count") or 0)
    elif count == 0:
        count = 1
    involved = ev.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    return [last, ev.get("type") or "", ev.get("reason") or "", target, involved.get("fieldPath") or "",
            _event_source(ev), (ev.get("message") or "").strip(), first, count, name(ev)]


EVENT = Printer((
    Column("Last Seen", "string", (CORE + "Event", "lastTimestamp")),
    Column("Type", "string", (CORE + "Event", "type")),
    Column("Reason", "string", (CORE + "Event", "reason")),
    Column("Object", "string", (CORE + "Event", "involvedObject")),
    Column("Subobject", "string", (CORE + "ObjectReference", "fieldPath"), priority=1),
    Column("Source", "string", (CORE + "Event", "source"), priority=1),
    Column("Message", "string", (CORE + "Event", "message")),
    Column("First Seen", "string", (CORE + "Event", "firstTimestamp"), priority=1),
    Column("Count", "string", (CORE + "Event", "count"), priority=1),
    Column("Name", "string", (META, "name"), priority=1, format="name"),
), _event_cells)

EVENT_V1 = Printer(EVENT.columns, lambda o, now: _event_cells(core_event_from_events_v1(o), now))


# ------------------------------------------------------------------------------------- small core kinds

NAMESPACE = Printer((
    NAME,
    Column("Status", "string", "The status of the namespace"),
    AGE,
), lambda o, now: [name(o), status(o).get("phase") or "", age(o, now)])

SECRET = Printer((
    NAME,
    Column("Type", "string", (CORE + "Secret", "type")),
    Column("Data", "string", (CORE + "Secret", "data")),
    AGE,
), lambda o, now: [name(o), o.get("type") or "", len(o.get("data") or {}), age(o, now)])

CONFIG_MAP = Printer((
    NAME,
    Column("Data", "string", (CORE + "ConfigMap", "data")),
    AGE,
), lambda o, now: [name(o), len(o.get("data") or {}) + len(o.get("binaryData") or {}), age(o, now)])

SERVICE_ACCOUNT = Printer((
    NAME,
    Column("Secrets", "string", (CORE + "ServiceAccount", "secrets")),
    AGE,
), lambda o, now: [name(o), len(o.get("secrets") or []), age(o, now)])

COMPONENT_STATUS = Printer((
    NAME,
    Column("Status", "string", "Status of the component conditions"),
    Column("Message", "string", "Message of the component conditions"),
    Column("Error", "string", "Error of the component conditions"),
), lambda o, now: _component_status_cells(o))


def _component_status_cells(o: dict) -> list:
    for c in o.get("conditions") or []:
        if c.get("type") == "Healthy":
            return [name(o), "Healthy" if c.get("status") == "True" else "Unhealthy",
                    c.get("message") or "", c.get("error") or ""]
    return [name(o), "Unknown", "", ""]


# -------------------------------------------------------------------------------------------- volumes

def access_modes(modes: list | None) -> str:
    modes = modes or []
    return ",".join(short for full, short in (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"),
                                              ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP"))
                    if full in modes)


_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def _storage_class(o: dict) -> str:
    annotations = meta(o).get("annotations") or {}
    if _CLASS_ANNOTATION in annotations:
        return annotations[_CLASS_ANNOTATION]
    return spec(o).get("storageClassName") or ""


def _pv_cells(o: dict, now: datetime) -> list:
    s = spec(o)
    claim = s.get("claimRef")
    claim_str = f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim is not None else ""
    phase = "Terminating" if meta(o).get("deletionTimestamp") else status(o).get("phase") or ""
    return [name(o), quantity(dig(s, "capacity", "storage")), access_modes(s.get("accessModes")),
            s.get("persistentVolumeReclaimPolicy") or "", phase, claim_str, _storage_class(o),
            s.get("volumeAttributesClassName") or "<unset>", status(o).get("reason") or "", age(o, now),
            s.get("volumeMode") or "<unset>"]


PERSISTENT_VOLUME = Printer((
    NAME,
    Column("Capacity", "string", (CORE + "PersistentVolumeSpec", "capacity")),
    Column("Access Modes", "string", (CORE + "PersistentVolumeSpec", "accessModes")),
    Column("Reclaim Policy", "string", (CORE + "PersistentVolumeSpec", "persistentVolumeReclaimPolicy")),
    Column("Status", "string", (CORE + "PersistentVolumeStatus", "phase")),
    Column("Claim", "string", (CORE + "PersistentVolumeSpec", "claimRef")),
    Column("StorageClass", "string", "StorageClass of the pv"),
    Column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
    Column("Reason", "string", (CORE + "PersistentVolumeStatus", "reason")),
    AGE,
    Column("VolumeMode", "string", (CORE + "PersistentVolumeSpec", "volumeMode"), priority=1),
), _pv_cells)


def _pvc_cells(o: dict, now: datetime) -> list:
    s, st = spec(o), status(o)
    phase = "Terminating" if meta(o).get("deletionTimestamp") else st.get("phase") or ""
    capacity = modes = ""
    if s.get("volumeName"):
        modes = access_modes(st.get("accessModes"))
        capacity = quantity(dig(st, "capacity", "storage"))
    return [name(o), phase, s.get("volumeName") or "", capacity, modes, _storage_class(o),
            s.get("volumeAttributesClassName") or "<unset>", age(o, now), s.get("volumeMode") or "<unset>"]


PERSISTENT_VOLUME_CLAIM = Printer((
    NAME,
    Column("Status", "string", (CORE + "PersistentVolumeClaimStatus", "phase")),
    Column("Volume", "string", (CORE + "PersistentVolumeClaimSpec", "volumeName")),
    Column("Capacity", "string", (CORE + "PersistentVolumeClaimStatus", "capacity")),
    Column("Access Modes", "string", (CORE + "PersistentVolumeClaimStatus", "accessModes")),
    Column("StorageClass", "string", "StorageClass of the pvc"),
    Column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
    AGE,
    Column("VolumeMode", "string", (CORE + "PersistentVolumeClaimSpec", "volumeMode"), priority=1),
), _pvc_cells)


def _quota_cells(o: dict, now: datetime) -> list:
    hard = status(o).get("hard") or {}
    used = status(o).get("used") or {}
    requests, limits = [], []
    for res in sorted(hard):
        pieces = res.split(".")
        target = limits if len(pieces) > 1 and pieces[0] == "limits" else requests
        target.append(f"{res}: {quantity(used.get(res))}/{quantity(hard[res])}")
    return [name(o), ", ".join(requests), ", ".join(limits), age(o, now)]


RESOURCE_QUOTA = Printer((
    NAME,
    Column("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
    Column("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use "
                              "independent of contention on the node."),
    AGE,
), _quota_cells)


PRINTERS = {
    "pods": POD,
    "podtemplates": POD_TEMPLATE,
    "replicationcontrollers": REPLICATION_CONTROLLER,
    "services": SERVICE,
    "endpoints": ENDPOINTS,
    "nodes": NODE,
    "events": EVENT,
    "namespaces": NAMESPACE,
    "secrets": SECRET,
    "configmaps": CONFIG_MAP,
    "serviceaccounts": SERVICE_ACCOUNT,
    "componentstatuses": COMPONENT_STATUS,
    "persistentvolumes": PERSISTENT_VOLUME,
    "persistentvolumeclaims": PERSISTENT_VOLUME_CLAIM,
    "resourcequotas": RESOURCE_QUOTA,
}

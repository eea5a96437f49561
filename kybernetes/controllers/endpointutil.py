"""Pod and Service helpers shared by the Endpoints and EndpointSlice controllers: readiness, ports, selection."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
HEADLESS_LABEL = "service.kubernetes.io/headless"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"


def is_pod_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True."""
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def pod_ip(pod: Obj) -> str:
    """The pod's primary IP ('' if none yet)."""
    st = pod.get("status") or {}
    if st.get("podIP"):
        return st["podIP"]
    ips = st.get("podIPs") or []
    return ips[0].get("ip", "") if ips else ""


def should_pod_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """Upstream's ShouldPodBeInEndpoints: no IP, terminal phase, or (unless included) terminating -> no."""
    if not pod_ip(pod):
        return False
    if not include_terminating and (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed")


def selector_matches(selector: dict[str, str] | None, labels: dict[str, str] | None) -> bool:
    """A Service's map selector (non-empty) matches all of its pairs."""
    if not selector:
        return False
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def service_selects(service: Obj, pod: Obj) -> bool:
    return selector_matches((service.get("spec") or {}).get("selector"), (pod.get("metadata") or {}).get("labels"))


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """The pod port a Service port targets: a number as is, a name looked up in the pod's containers."""
    target = service_port.get("targetPort")
    if target is None or target == "" or target == 0:
        return service_port.get("port")
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target and (p.get("protocol") or "TCP") == protocol:
                return p.get("containerPort")
    return None


def endpoint_port(service_port: Obj, port: int) -> Obj:
    out: Obj = {"name": service_port.get("name", ""), "port": port, "protocol": service_port.get("protocol") or "TCP"}
    if service_port.get("appProtocol"):
        out["appProtocol"] = service_port["appProtocol"]
    return out


def should_set_hostname(pod: Obj, service: Obj) -> bool:
    spec = pod.get("spec") or {}
    return bool(spec.get("hostname")) and spec.get("subdomain") == (service.get("metadata") or {}).get("name") \
        and (service.get("metadata") or {}).get("namespace") == (pod.get("metadata") or {}).get("namespace")


def pod_trigger_time(pod: Obj) -> str:
    """When the pod last changed in a way endpoints care about: its Ready transition, else its creation."""
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready" and c.get("lastTransitionTime"):
            return c["lastTransitionTime"]
    return (pod.get("metadata") or {}).get("creationTimestamp") or ""


def trigger_time(service: Obj, pods: list[Obj]) -> str:
    """The latest change among the Service and its pods (RFC 3339 strings compare in time order)."""
    times = [pod_trigger_time(p) for p in pods] + [(service.get("metadata") or {}).get("creationTimestamp") or ""]
    return max((t for t in times if t), default="")


def selected_pods(service: Obj, pods: list[Obj]) -> list[Obj]:
    return [p for p in pods if service_selects(service, p)]


def object_ref(obj: Obj, kind: str) -> Obj:
    md = obj.get("metadata") or {}
    return {"kind": kind, "namespace": md.get("namespace", ""), "name": md.get("name", ""), "uid": md.get("uid", "")}


def owner_ref(obj: Obj, api_version: str, kind: str) -> Obj:
    md = obj.get("metadata") or {}
    return {"apiVersion": api_version, "kind": kind, "name": md.get("name", ""), "uid": md.get("uid", ""),
            "controller": True, "blockOwnerDeletion": True}


def prune(value: Any) -> Any:
    """Drop None, empty strings, lists and maps, recursively: how two objects compare regardless of defaults."""
    if isinstance(value, dict):
        out = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value

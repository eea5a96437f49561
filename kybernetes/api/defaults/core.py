"""Defaults of core/v1 objects (pkg/apis/core/v1/defaults.go and its generated defaulters)."""

from __future__ import annotations

import base64
from typing import Any

DEFAULT_MODE = 0o644  # 420


def _d(obj: dict, key: str) -> dict:
    """obj[key] as a dict, created if absent (like defaulting a nil struct)."""
    value = obj.get(key)
    if not isinstance(value, dict):
        value = {}
        obj[key] = value
    return value


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def image_tag(image: str) -> str:
    """The tag parsers.ParseImageName finds: 'latest' when neither tag nor digest is given."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    if not tag and not digest:
        return "latest"
    return tag


# ---- containers ----

def _handler(h: dict) -> None:
    get = h.get("httpGet")
    if isinstance(get, dict):
        get.setdefault("path", "/")
        get.setdefault("scheme", "HTTP")
    grpc = h.get("grpc")
    if isinstance(grpc, dict):
        grpc.setdefault("service", "")


def _probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    _handler(probe)


def _field_ref(ref: Any) -> None:
    if isinstance(ref, dict):
        ref.setdefault("apiVersion", "v1")


def _resource_field_ref(ref: Any) -> None:
    if isinstance(ref, dict):
        ref.setdefault("divisor", "0")


def set_defaults_container(c: dict) -> None:
    if not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = "Always" if image_tag(c.get("image") or "") == "latest" else "IfNotPresent"
    if not c.get("terminationMessagePath"):
        c["terminationMessagePath"] = "/dev/termination-log"
    if not c.get("terminationMessagePolicy"):
        c["terminationMessagePolicy"] = "File"
    if not isinstance(c.get("resources"), dict):
        c["resources"] = {}
    for port in _dicts(c.get("ports")):
        port.setdefault("protocol", "TCP")
    for ev in _dicts(c.get("env")):
        vf = ev.get("valueFrom")
        if isinstance(vf, dict):
            _field_ref(vf.get("fieldRef"))
            _resource_field_ref(vf.get("resourceFieldRef"))
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(key))
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            if isinstance(lifecycle.get(hook), dict):
                _handler(lifecycle[hook])


# ---- volumes ----

def _downward_items(items: Any) -> None:
    for item in _dicts(items):
        _field_ref(item.get("fieldRef"))
        _resource_field_ref(item.get("resourceFieldRef"))


def set_defaults_pvc_spec(spec: dict) -> None:
    spec.setdefault("volumeMode", "Filesystem")


def set_defaults_volume(vol: dict) -> None:
    sources = [k for k in vol if k != "name" and vol[k] is not None]
    if not sources:
        vol["emptyDir"] = {}
        return
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        if isinstance(vol.get(key), dict):
            vol[key].setdefault("defaultMode", DEFAULT_MODE)
    if isinstance(vol.get("hostPath"), dict):
        vol["hostPath"].setdefault("type", "")
    if isinstance(vol.get("downwardAPI"), dict):
        _downward_items(vol["downwardAPI"].get("items"))
    if isinstance(vol.get("projected"), dict):
        for src in _dicts(vol["projected"].get("sources")):
            if isinstance(src.get("downwardAPI"), dict):
                _downward_items(src["downwardAPI"].get("items"))
            if isinstance(src.get("serviceAccountToken"), dict):
                src["serviceAccountToken"].setdefault("expirationSeconds", 3600)
    if isinstance(vol.get("iscsi"), dict):
        vol["iscsi"].setdefault("iscsiInterface", "default")
    if isinstance(vol.get("rbd"), dict):
        rbd = vol["rbd"]
        rbd.setdefault("pool", "rbd")
        rbd.setdefault("user", "admin")
        rbd.setdefault("keyring", "/etc/ceph/keyring")
    if isinstance(vol.get("azureDisk"), dict):
        disk = vol["azureDisk"]
        disk.setdefault("cachingMode", "ReadWrite")
        disk.setdefault("fsType", "ext4")
        disk.setdefault("readOnly", False)
        disk.setdefault("kind", "Shared")
    if isinstance(vol.get("scaleIO"), dict):
        vol["scaleIO"].setdefault("storageMode", "ThinProvisioned")
        vol["scaleIO"].setdefault("fsType", "xfs")
    if isinstance(vol.get("ephemeral"), dict):
        template = vol["ephemeral"].get("volumeClaimTemplate")
        if isinstance(template, dict):
            set_defaults_pvc_spec(_d(template, "spec"))


# ---- pods ----

def set_defaults_pod_spec(spec: dict) -> None:
    """SetDefaults_PodSpec plus the generated defaulters for everything inside a PodSpec."""
    if not spec.get("dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    if not isinstance(spec.get("securityContext"), dict):
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    if not spec.get("schedulerName"):
        spec["schedulerName"] = "default-scheduler"
    for vol in _dicts(spec.get("volumes")):
        set_defaults_volume(vol)
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in _dicts(spec.get(key)):
            set_defaults_container(c)


def set_defaults_pod_template_spec(template: Any) -> None:
    if isinstance(template, dict):
        set_defaults_pod_spec(_d(template, "spec"))


def _host_network_ports(containers: Any) -> None:
    for c in _dicts(containers):
        for port in _dicts(c.get("ports")):
            if not port.get("hostPort"):
                port["hostPort"] = port.get("containerPort", 0)


def set_defaults_pod(pod: dict) -> None:
    """SetDefaults_Pod: the spec defaults, requests from limits, enableServiceLinks, host-network ports."""
    spec = _d(pod, "spec")
    set_defaults_pod_spec(spec)
    for key in ("initContainers", "containers"):
        for c in _dicts(spec.get(key)):
            resources = _d(c, "resources")
            limits = resources.get("limits")
            if isinstance(limits, dict) and limits:
                requests = _d(resources, "requests")
                for name, quantity in limits.items():
                    requests.setdefault(name, quantity)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    if spec.get("hostNetwork"):
        _host_network_ports(spec.get("containers"))
        _host_network_ports(spec.get("initContainers"))


def set_pod_priority(pod: dict, priority_class: dict | None) -> None:
    """What the Priority admission plugin sets: priority and preemptionPolicy from the class, or 0."""
    spec = _d(pod, "spec")
    if priority_class is None:
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        return
    spec.setdefault("priority", priority_class.get("value", 0))
    spec.setdefault("preemptionPolicy", priority_class.get("preemptionPolicy") or "PreemptLowerPriority")


def set_defaults_pod_template(obj: dict) -> None:
    set_defaults_pod_template_spec(obj.get("template"))


def set_defaults_replication_controller(rc: dict) -> None:
    spec = _d(rc, "spec")
    template = spec.get("template")
    labels = (template.get("metadata") or {}).get("labels") if isinstance(template, dict) else None
    if labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = _d(rc, "metadata")
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    spec.setdefault("replicas", 1)
    set_defaults_pod_template_spec(template)


# ---- services and endpoints ----

def _externally_accessible(spec: dict) -> bool:
    stype = spec.get("type")
    return stype in ("LoadBalancer", "NodePort") or (stype == "ClusterIP" and bool(spec.get("externalIPs")))


def set_defaults_service(svc: dict) -> None:
    """SetDefaults_Service, plus the IP family fields the REST strategy fills for a single-stack cluster.

    clusterIP(s) and nodePorts are left to the apiserver's allocators.
    """
    spec = _d(svc, "spec")
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client_ip = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        if client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    for port in _dicts(spec.get("ports")):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port", 0)
    if _externally_accessible(spec) and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and spec["type"] in ("NodePort", "LoadBalancer", "ClusterIP"):
        spec["internalTrafficPolicy"] = "Cluster"
    if spec["type"] == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    if spec["type"] != "ExternalName":
        if not spec.get("ipFamilies"):
            first = (spec.get("clusterIPs") or [spec.get("clusterIP")])[0]
            spec["ipFamilies"] = ["IPv6" if isinstance(first, str) and ":" in first else "IPv4"]
        if spec.get("ipFamilyPolicy") is None:
            spec["ipFamilyPolicy"] = "SingleStack"
    status = _d(svc, "status")
    _d(status, "loadBalancer")


def set_defaults_endpoints(ep: dict) -> None:
    for subset in _dicts(ep.get("subsets")):
        for port in _dicts(subset.get("ports")):
            if not port.get("protocol"):
                port["protocol"] = "TCP"


# ---- namespaces, secrets, volumes, nodes, limit ranges ----

def set_defaults_namespace(ns: dict) -> None:
    """SetDefaults_Namespace (the name label), the phase, and the strategy's 'kubernetes' finalizer."""
    meta = _d(ns, "metadata")
    if meta.get("name"):
        _d(meta, "labels")["kubernetes.io/metadata.name"] = meta["name"]
    spec = _d(ns, "spec")
    if spec.get("finalizers") is None:
        spec["finalizers"] = ["kubernetes"]
    status = _d(ns, "status")
    if not status.get("phase"):
        status["phase"] = "Active"


def set_defaults_secret(secret: dict) -> None:
    """Type Opaque; stringData merged into data (base64) as the v1 conversion does, then dropped."""
    if not secret.get("type"):
        secret["type"] = "Opaque"
    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = _d(secret, "data")
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def set_defaults_pvc(pvc: dict) -> None:
    set_defaults_pvc_spec(_d(pvc, "spec"))
    status = _d(pvc, "status")
    if not status.get("phase"):
        status["phase"] = "Pending"


def set_defaults_pv(pv: dict) -> None:
    spec = _d(pv, "spec")
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    status = _d(pv, "status")
    if not status.get("phase"):
        status["phase"] = "Pending"
    if isinstance(spec.get("rbd"), dict):
        spec["rbd"].setdefault("pool", "rbd")
        spec["rbd"].setdefault("user", "admin")
        spec["rbd"].setdefault("keyring", "/etc/ceph/keyring")
    if isinstance(spec.get("iscsi"), dict):
        spec["iscsi"].setdefault("iscsiInterface", "default")
    if isinstance(spec.get("hostPath"), dict):
        spec["hostPath"].setdefault("type", "")


def set_defaults_node(node: dict) -> None:
    status = node.get("status")
    if isinstance(status, dict) and status.get("allocatable") is None and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])


def set_defaults_limit_range(lr: dict) -> None:
    """SetDefaults_LimitRangeItem: for Container items, default := max, defaultRequest := default or max."""
    for item in _dicts((lr.get("spec") or {}).get("limits")):
        if item.get("type") != "Container":
            continue
        maximum = item.get("max") or {}
        default = item.setdefault("default", {}) if maximum else item.get("default") or {}
        for name, q in maximum.items():
            default.setdefault(name, q)
        if not default:
            item.pop("default", None)
        request = item.get("defaultRequest") or {}
        for name, q in default.items():
            request.setdefault(name, q)
        for name, q in (item.get("min") or {}).items():
            request.setdefault(name, q)
        if request:
            item["defaultRequest"] = request

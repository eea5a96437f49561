"""Validation of core/v1 objects: Pod, PodTemplate, ReplicationController, Service, ConfigMap, Secret, ..."""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
from typing import Any

import orjson

from kybernetes.api.errors import FieldError, duplicate, forbidden, invalid, not_supported, required, too_long
from kybernetes.api.validation import meta as m
from kybernetes.api.validation import pod as p
from kybernetes.api.validation.quantity import QuantityError, parse_quantity, quantity_string

MAX_SECRET_SIZE = 1024 * 1024
IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"
UPDATABLE_POD_SPEC_FIELDS = [
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
]
POD_UPDATE_FORBIDDEN = "pod updates may not change fields other than " + ",".join(UPDATABLE_POD_SPEC_FIELDS)

_d, _l = p._d, p._l


# ---- Pod ----

def _pod_only(pod: dict) -> list[FieldError]:
    spec = _d(pod.get("spec"))
    errs: list[FieldError] = []
    if not spec.get("serviceAccountName"):
        for vi, vol in enumerate(_l(spec.get("volumes"))):
            for si, src in enumerate(_l(_d(_d(vol).get("projected")).get("sources"))):
                if _d(src).get("serviceAccountToken") is not None:
                    errs.append(forbidden(f"spec.volumes[{vi}].projected.sources[{si}].serviceAccountToken",
                                          "must not be specified when serviceAccountName is not set"))
    for kind in ("containers", "initContainers"):
        for i, c in enumerate(_l(spec.get(kind))):
            image = _d(c).get("image") or ""
            if image != image.strip():
                errs.append(invalid(f"spec.{kind}[{i}].image", image, "must not have leading or trailing whitespace"))
    return errs


def _pod_meta_and_spec(pod: dict) -> list[FieldError]:
    errs = m.validate_object_meta(pod.get("metadata"), True, m.name_is_dns_subdomain)
    errs.extend(p.validate_pod_spec(pod.get("spec"), "spec"))
    return errs + _pod_only(pod)


def validate_pod(pod: dict, old: dict | None) -> list[FieldError]:
    if old is None:
        errs = _pod_meta_and_spec(pod)
        spec = _d(pod.get("spec"))
        if _l(spec.get("ephemeralContainers")):
            errs.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
        if spec.get("nodeName") and _l(spec.get("schedulingGates")):
            errs.append(forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared"))
        return errs
    errs = m.validate_object_meta_update(pod.get("metadata"), old.get("metadata"))
    errs.extend(_pod_meta_and_spec(pod))
    return errs + _pod_spec_update(_d(pod.get("spec")), _d(old.get("spec")))


def _container_updates(new: list, old: list, path: str) -> tuple[list[FieldError], bool]:
    if len(new) != len(old):
        return [forbidden(path, "pod updates may not add or remove containers")], True
    errs: list[FieldError] = []
    for i, c in enumerate(new):
        image = _d(c).get("image") or ""
        if not image:
            errs.append(required(f"{path}[{i}].image"))
        if image != image.strip():
            errs.append(invalid(f"{path}[{i}].image", image, "must not have leading or trailing whitespace"))
    return errs, False


def _only_added_tolerations(new: list, old: list, path: str) -> list[FieldError]:
    for o in old:
        def same(n: Any) -> bool:
            return {**_d(o), "tolerationSeconds": None} == {**_d(n), "tolerationSeconds": None}
        if not any(same(n) for n in new):
            return [forbidden(path, "existing toleration can not be modified except its tolerationSeconds")]
    return p.validate_tolerations(new, path)


def _pod_spec_update(new: dict, old: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    for kind in ("containers", "initContainers"):
        ce, stop = _container_updates(_l(new.get(kind)), _l(old.get(kind)), f"spec.{kind}")
        errs.extend(ce)
        if stop:
            return errs
    new_ads, old_ads = new.get("activeDeadlineSeconds"), old.get("activeDeadlineSeconds")
    if new_ads is not None:
        if not isinstance(new_ads, int) or new_ads < 0 or new_ads > 2**31 - 1:
            return errs + [invalid("spec.activeDeadlineSeconds", new_ads, m.inclusive_range_error(0, 2**31 - 1))]
        if old_ads is not None and old_ads < new_ads:
            return errs + [invalid("spec.activeDeadlineSeconds", new_ads, "must be less than or equal to previous value")]
    elif old_ads is not None:
        errs.append(invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))
    errs.extend(_only_added_tolerations(_l(new.get("tolerations")), _l(old.get("tolerations")), "spec.tolerations"))
    new_gates = {_d(g).get("name") for g in _l(new.get("schedulingGates"))}
    old_gates = {_d(g).get("name") for g in _l(old.get("schedulingGates"))}
    for i, g in enumerate(_l(new.get("schedulingGates"))):
        if _d(g).get("name") not in old_gates:
            errs.append(forbidden(f"spec.schedulingGates[{i}].name",
                                  f"only deletion is allowed, but found new scheduling gate '{_d(g).get('name')}'"))
    if new == old:
        return errs
    munged = copy.deepcopy(new)
    for kind in ("containers", "initContainers"):
        for c, oc in zip(_l(munged.get(kind)), _l(old.get(kind))):
            if isinstance(c, dict):
                c["image"] = _d(oc).get("image")
    for key in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        munged.pop(key, None)
        if key in old:
            munged[key] = old[key]
    og, ng = old.get("terminationGracePeriodSeconds"), munged.get("terminationGracePeriodSeconds")
    if isinstance(og, int) and og < 0 and ng == 1:
        munged["terminationGracePeriodSeconds"] = og
    if old.get("schedulingGates") and new_gates != old_gates:
        for key in ("nodeSelector",):
            munged[key] = old.get(key)
            if old.get(key) is None:
                munged.pop(key, None)
    if munged != old:
        errs.append(forbidden("spec", POD_UPDATE_FORBIDDEN))
    return errs


def validate_pod_status_update(pod: dict, old: dict) -> list[FieldError]:
    errs = m.validate_object_meta_update(pod.get("metadata"), old.get("metadata"))
    if _d(pod.get("spec")).get("nodeName") != _d(old.get("spec")).get("nodeName"):
        errs.append(forbidden("status.nodeName", "may not be changed directly"))
    for i, cond in enumerate(_l(_d(pod.get("status")).get("conditions"))):
        ctype = _d(cond).get("type") or ""
        if ctype not in ("PodScheduled", "Ready", "Initialized"):
            errs.extend(m.validate_qualified_name(ctype, f"metadata.conditions[{i}].Type"))
    errs.extend(m.validate_immutable(_d(pod.get("status")).get("qosClass"), _d(old.get("status")).get("qosClass"),
                                     "status.qosClass") if _d(old.get("status")).get("qosClass") else [])
    return errs


def validate_pod_template(obj: dict, old: dict | None) -> list[FieldError]:
    errs = (m.validate_object_meta(obj.get("metadata"), True, m.name_is_dns_subdomain) if old is None
            else m.validate_object_meta_update(obj.get("metadata"), old.get("metadata")))
    return errs + p.validate_pod_template_spec(obj.get("template"), "template")


def validate_binding(obj: dict, old: dict | None) -> list[FieldError]:
    target = _d(obj.get("target"))
    errs: list[FieldError] = []
    if target.get("kind") and target["kind"] != "Node":
        errs.append(not_supported("target.kind", target["kind"], ["Node", "<empty>"]))
    if not target.get("name"):
        errs.append(required("target.name"))
    return errs


# ---- ReplicationController ----

def validate_replication_controller(rc: dict, old: dict | None) -> list[FieldError]:
    errs = (m.validate_object_meta(rc.get("metadata"), True, m.name_is_dns_subdomain) if old is None
            else m.validate_object_meta_update(rc.get("metadata"), old.get("metadata")))
    spec = _d(rc.get("spec"))
    errs.extend(m.validate_nonnegative(spec.get("minReadySeconds", 0), "spec.minReadySeconds"))
    selector = _d(spec.get("selector"))
    if not selector:
        errs.append(required("spec.selector"))
    errs.extend(m.validate_nonnegative(spec.get("replicas", 0), "spec.replicas"))
    template = spec.get("template")
    if template is None:
        errs.append(required("spec.template"))
        return errs
    labels = _d(_d(_d(template).get("metadata")).get("labels"))
    if selector and not m.map_selector_matches(selector, labels):
        errs.append(invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`"))
    errs.extend(p.validate_pod_template_spec(template, "spec.template"))
    restart = _d(_d(template).get("spec")).get("restartPolicy")
    if restart != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", restart, ["Always"]))
    if _d(_d(template).get("spec")).get("activeDeadlineSeconds") is not None:
        errs.append(forbidden("spec.template.spec.activeDeadlineSeconds",
                              "activeDeadlineSeconds in ReplicationController is not Supported"))
    return errs


# ---- Service ----

def _is_headless(svc: dict) -> bool:
    spec = _d(svc.get("spec"))
    ips = _l(spec.get("clusterIPs"))
    return spec.get("clusterIP") == "None" or (bool(ips) and ips[0] == "None")


def _externally_accessible(spec: dict) -> bool:
    t = spec.get("type")
    return t in ("LoadBalancer", "NodePort") or (t == "ClusterIP" and bool(_l(spec.get("externalIPs"))))


def _valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return "." not in value or all(len(o) == 1 or not o.startswith("0") for o in value.split(".")) or ":" in value


IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def validate_service(svc: dict, old: dict | None) -> list[FieldError]:
    if old is None:
        errs = m.validate_object_meta(svc.get("metadata"), True, m.name_is_dns1035_label)
    else:
        errs = m.validate_object_meta_update(svc.get("metadata"), old.get("metadata"))
        errs.extend(_service_cluster_ip_update(_d(svc.get("spec")), _d(old.get("spec"))))
    spec = _d(svc.get("spec"))
    stype = spec.get("type") or ""
    ports = _l(spec.get("ports"))
    headless = _is_headless(svc)
    if not ports and not headless and stype != "ExternalName":
        errs.append(required("spec.ports"))
    if stype in ("LoadBalancer", "NodePort") and headless:
        first = (_l(spec.get("clusterIPs")) or [spec.get("clusterIP")])[0]
        errs.append(invalid("spec.clusterIPs[0]", first, f"may not be set to 'None' for {stype} services"))
    if stype == "ExternalName":
        if _l(spec.get("clusterIPs")):
            errs.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        if _l(spec.get("ipFamilies")):
            errs.append(forbidden("spec.ipFamilies", "may not be set for ExternalName services"))
        if spec.get("ipFamilyPolicy") is not None:
            errs.append(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
        cname = (spec.get("externalName") or "").removesuffix(".")
        if cname:
            errs.extend(m.validate_dns1123_subdomain(cname, "spec.externalName"))
        else:
            errs.append(required("spec.externalName"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        errs.extend(_service_port(_d(port), len(ports) > 1, names, f"spec.ports[{i}]"))
    if spec.get("selector") is not None:
        errs.extend(m.validate_labels(spec.get("selector"), "spec.selector"))
    affinity = spec.get("sessionAffinity") or ""
    if not affinity:
        errs.append(required("spec.sessionAffinity"))
    elif affinity not in ("ClientIP", "None"):
        errs.append(not_supported("spec.sessionAffinity", affinity, ["ClientIP", "None"]))
    if affinity == "ClientIP":
        timeout = _d(_d(spec.get("sessionAffinityConfig")).get("clientIP")).get("timeoutSeconds")
        if timeout is None:
            errs.append(required("spec.sessionAffinityConfig", "when session affinity type is ClientIP"))
        elif not 0 < timeout <= 86400:
            errs.append(invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds", timeout,
                                "must be greater than 0 and less than 86400"))
    elif affinity == "None" and spec.get("sessionAffinityConfig") is not None:
        errs.append(forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None"))
    errs.extend(_service_ips(spec, stype))
    if not stype:
        errs.append(required("spec.type"))
    elif stype not in ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort"):
        errs.append(not_supported("spec.type", stype, ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]))
    if stype == "ClusterIP":
        for i, port in enumerate(ports):
            if _d(port).get("nodePort"):
                errs.append(forbidden(f"spec.ports[{i}].nodePort", "may not be used when `type` is 'ClusterIP'"))
    seen_node, seen_port = set(), set()
    for i, port in enumerate(ports):
        port = _d(port)
        if port.get("nodePort"):
            key = (port.get("protocol"), port["nodePort"])
            if key in seen_node:
                errs.append(duplicate(f"spec.ports[{i}].nodePort", port["nodePort"]))
            seen_node.add(key)
        key2 = (port.get("protocol"), port.get("port"))
        if key2 in seen_port:
            errs.append(duplicate(f"spec.ports[{i}]", {"port": port.get("port"), "protocol": port.get("protocol")}))
        seen_port.add(key2)
    if _l(spec.get("loadBalancerSourceRanges")) and stype != "LoadBalancer":
        errs.append(forbidden("spec.LoadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'"))
    if spec.get("allocateLoadBalancerNodePorts") is not None and stype != "LoadBalancer":
        errs.append(forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'"))
    if stype == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        errs.append(required("allocateLoadBalancerNodePorts"))
    errs.extend(_traffic_policies(spec, stype))
    return errs


def _service_port(port: dict, require_name: bool, names: set[str], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name = port.get("name") or ""
    if require_name and not name:
        errs.append(required(f"{path}.name"))
    elif name:
        errs.extend(m.validate_dns1123_label(name, f"{path}.name"))
        if name in names:
            errs.append(duplicate(f"{path}.name", name))
        else:
            names.add(name)
    errs.extend(invalid(f"{path}.port", port.get("port", 0), msg) for msg in m.is_valid_port_num(port.get("port", 0)))
    proto = port.get("protocol") or ""
    if not proto:
        errs.append(required(f"{path}.protocol"))
    elif proto not in p.PROTOCOLS:
        errs.append(not_supported(f"{path}.protocol", proto, p.PROTOCOLS))
    errs.extend(p.validate_port_num_or_name(port.get("targetPort", 0), f"{path}.targetPort"))
    if port.get("appProtocol") is not None:
        errs.extend(m.validate_qualified_name(port["appProtocol"], f"{path}.appProtocol"))
    return errs


def _service_ips(spec: dict, stype: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ip in enumerate(_l(spec.get("clusterIPs"))):
        if ip != "None" and not _valid_ip(str(ip)):
            errs.append(invalid(f"spec.clusterIPs[{i}]", ip, IP_MSG))
    ips = _l(spec.get("clusterIPs"))
    if spec.get("clusterIP") and ips and spec["clusterIP"] != ips[0]:
        errs.append(invalid("spec.clusterIPs", ips, "first value must match `clusterIP`"))
    if spec.get("clusterIP") not in (None, "", "None") and not _valid_ip(str(spec["clusterIP"])) and not ips:
        errs.append(invalid("spec.clusterIP", spec["clusterIP"], IP_MSG))
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in ("SingleStack", "PreferDualStack", "RequireDualStack"):
        errs.append(not_supported("spec.ipFamilyPolicy", policy, ["PreferDualStack", "RequireDualStack", "SingleStack"]))
    for i, fam in enumerate(_l(spec.get("ipFamilies"))):
        if fam not in ("IPv4", "IPv6"):
            errs.append(not_supported(f"spec.ipFamilies[{i}]", fam, ["IPv4", "IPv6"]))
    for i, ip in enumerate(_l(spec.get("externalIPs"))):
        if not _valid_ip(str(ip)):
            errs.append(invalid(f"spec.externalIPs[{i}]", ip, IP_MSG))
    return errs


def _traffic_policies(spec: dict, stype: str) -> list[FieldError]:
    errs: list[FieldError] = []
    etp = spec.get("externalTrafficPolicy") or ""
    if not _externally_accessible(spec):
        if etp:
            errs.append(invalid("spec.externalTrafficPolicy", etp, "may only be set for externally-accessible services"))
    elif not etp:
        errs.append(required("spec.externalTrafficPolicy"))
    elif etp not in ("Cluster", "Local"):
        errs.append(not_supported("spec.externalTrafficPolicy", etp, ["Cluster", "Local"]))
    hc = spec.get("healthCheckNodePort") or 0
    needs_hc = stype == "LoadBalancer" and etp == "Local"
    if not needs_hc and hc:
        errs.append(invalid("spec.healthCheckNodePort", hc,
                            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
    itp = spec.get("internalTrafficPolicy")
    if itp is None and stype in ("NodePort", "LoadBalancer", "ClusterIP"):
        errs.append(required("spec.internalTrafficPolicy"))
    if itp is not None and itp not in ("Cluster", "Local"):
        errs.append(not_supported("spec.internalTrafficPolicy", itp, ["Cluster", "Local"]))
    td = spec.get("trafficDistribution")
    if td is not None and td != "PreferClose":
        errs.append(not_supported("spec.trafficDistribution", td, ["PreferClose"]))
    return errs


def _service_cluster_ip_update(new: dict, old: dict) -> list[FieldError]:
    """validateUpgradeDowngradeClusterIPs/IPFamilies: primaries immutable unless to/from ExternalName."""
    if new.get("type") == "ExternalName" or old.get("type") == "ExternalName":
        return []
    errs: list[FieldError] = []
    old_ips, new_ips = _l(old.get("clusterIPs")), _l(new.get("clusterIPs"))
    if old_ips and (not new_ips or new_ips[0] != old_ips[0]):
        errs.append(invalid("spec.clusterIPs[0]", new_ips, "may not change once set"))
    elif not old_ips and old.get("clusterIP") and new.get("clusterIP") != old.get("clusterIP"):
        errs.append(invalid("spec.clusterIPs[0]", new_ips, "may not change once set"))
    old_f, new_f = _l(old.get("ipFamilies")), _l(new.get("ipFamilies"))
    if old_f and new_f and new_f[0] != old_f[0]:
        errs.append(invalid("spec.ipFamilies[0]", new_f[0], "may not change once set"))
    return errs


# ---- ConfigMap and Secret ----

def _b64_len(value: Any) -> int:
    try:
        return len(base64.b64decode(str(value), validate=True))
    except (binascii.Error, ValueError):
        return len(str(value))


def validate_config_map(cm: dict, old: dict | None) -> list[FieldError]:
    errs: list[FieldError] = []
    if old is not None:
        errs.extend(m.validate_object_meta_update(cm.get("metadata"), old.get("metadata")))
        if old.get("immutable") is True:
            if cm.get("immutable") is not True:
                errs.append(forbidden("immutable", IMMUTABLE_WHEN_SET))
            for key in ("data", "binaryData"):
                if (cm.get(key) or None) != (old.get(key) or None):
                    errs.append(forbidden(key, IMMUTABLE_WHEN_SET))
    errs.extend(m.validate_object_meta(cm.get("metadata"), True, m.name_is_dns_subdomain))
    total = 0
    data, binary = _d(cm.get("data")), _d(cm.get("binaryData"))
    for key, value in data.items():
        errs.extend(invalid(f"data[{key}]", key, msg) for msg in m.is_config_map_key(key))
        if key in binary:
            errs.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        total += len(str(value).encode())
    for key, value in binary.items():
        errs.extend(invalid(f"binaryData[{key}]", key, msg) for msg in m.is_config_map_key(key))
        total += _b64_len(value)
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("", MAX_SECRET_SIZE))
    return errs


def validate_secret(secret: dict, old: dict | None) -> list[FieldError]:
    errs: list[FieldError] = []
    if old is not None:
        errs.extend(m.validate_object_meta_update(secret.get("metadata"), old.get("metadata")))
        errs.extend(m.validate_immutable(secret.get("type") or "", old.get("type") or "", "type"))
        if old.get("immutable") is True:
            if secret.get("immutable") is not True:
                errs.append(forbidden("immutable", IMMUTABLE_WHEN_SET))
            if (secret.get("data") or None) != (old.get("data") or None):
                errs.append(forbidden("data", IMMUTABLE_WHEN_SET))
    errs.extend(m.validate_object_meta(secret.get("metadata"), True, m.name_is_dns_subdomain))
    data = _d(secret.get("data"))
    total = 0
    for key, value in data.items():
        errs.extend(invalid(f"data[{key}]", key, msg) for msg in m.is_config_map_key(key))
        total += _b64_len(value)
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("data", MAX_SECRET_SIZE))
    stype = secret.get("type") or ""
    annotations = _d(_d(secret.get("metadata")).get("annotations"))
    if stype == "kubernetes.io/service-account-token":
        if not annotations.get("kubernetes.io/service-account.name"):
            errs.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif stype in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if stype == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if key not in data:
            errs.append(required(f"data[{key}]"))
        else:
            try:
                if not isinstance(orjson.loads(base64.b64decode(str(data[key]))), dict):
                    raise ValueError("json: cannot unmarshal into Go value of type map[string]interface {}")
            except (ValueError, binascii.Error) as e:
                errs.append(invalid(f"data[{key}]", "<secret contents redacted>", str(e)))
    elif stype == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs.extend([required("data[username]"), required("data[password]")])
    elif stype == "kubernetes.io/ssh-auth":
        if not data.get("ssh-privatekey"):
            errs.append(required("data[ssh-privatekey]"))
    elif stype == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in data:
                errs.append(required(f"data[{key}]"))
    return errs


# ---- Namespace, Node, Endpoints, PVC, ServiceAccount ----

def validate_namespace(ns: dict, old: dict | None) -> list[FieldError]:
    if old is not None:
        return m.validate_object_meta_update(ns.get("metadata"), old.get("metadata"))
    errs = m.validate_object_meta(ns.get("metadata"), False, m.name_is_dns_label)
    for f in _l(_d(ns.get("spec")).get("finalizers")):
        errs.extend(m.validate_finalizer_name(str(f), "spec.finalizers"))
    return errs


def validate_node(node: dict, old: dict | None) -> list[FieldError]:
    errs = (m.validate_object_meta(node.get("metadata"), False, m.name_is_dns_subdomain) if old is None
            else m.validate_object_meta_update(node.get("metadata"), old.get("metadata")))
    spec = _d(node.get("spec"))
    seen: set[tuple] = set()
    for i, taint in enumerate(_l(spec.get("taints"))):
        taint, tp = _d(taint), f"metadata.taints[{i}]"
        errs.extend(m.validate_label_name(taint.get("key") or "", f"{tp}.key"))
        msgs = m.is_valid_label_value(taint.get("value") or "")
        if msgs:
            errs.append(invalid(f"{tp}.value", taint.get("value") or "", ";".join(msgs)))
        effect = taint.get("effect") or ""
        if not effect:
            errs.append(required(f"{tp}.effect"))
        elif effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errs.append(not_supported(f"{tp}.effect", effect, ["NoSchedule", "PreferNoSchedule", "NoExecute"]))
        key = (taint.get("key"), effect)
        if key in seen:
            e = duplicate(tp, taint)
            e.detail = "taints must be unique by key and effect pair"
            errs.append(e)
        seen.add(key)
    cidrs = _l(spec.get("podCIDRs"))
    for i, cidr in enumerate(cidrs):
        try:
            ipaddress.ip_network(str(cidr), strict=False)
            if "/" not in str(cidr):
                raise ValueError
        except ValueError:
            errs.append(invalid(f"spec.podCIDRs[{i}]", cidr,
                                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
    if len(cidrs) > 2:
        errs.append(invalid("spec.podCIDRs", cidrs, "may specify no more than one CIDR for each IP family"))
    if spec.get("podCIDR") and cidrs and spec["podCIDR"] != cidrs[0]:
        errs.append(invalid("spec.podCIDRs", cidrs, "first value must match `podCIDR`"))
    if old is not None:
        old_spec = _d(old.get("spec"))
        if old_spec.get("podCIDRs") and spec.get("podCIDRs") != old_spec.get("podCIDRs"):
            errs.append(forbidden("spec.podCIDRs", "node updates may not change podCIDR except from \"\" to valid"))
        if old_spec.get("providerID") and spec.get("providerID") != old_spec.get("providerID"):
            errs.append(forbidden("spec.providerID", "node updates may not change providerID except from \"\" to valid"))
    return errs


def validate_endpoints(ep: dict, old: dict | None) -> list[FieldError]:
    errs = (m.validate_object_meta(ep.get("metadata"), True, m.name_is_dns_subdomain) if old is None
            else m.validate_object_meta_update(ep.get("metadata"), old.get("metadata")))
    for si, subset in enumerate(_l(ep.get("subsets"))):
        subset, sp = _d(subset), f"subsets[{si}]"
        for kind in ("addresses", "notReadyAddresses"):
            for ai, addr in enumerate(_l(subset.get(kind))):
                ip = _d(addr).get("ip") or ""
                if not _valid_ip(ip):
                    errs.append(invalid(f"{sp}.{kind}[{ai}].ip", ip, IP_MSG))
        ports = _l(subset.get("ports"))
        names: set[str] = set()
        for pi, port in enumerate(ports):
            port, pp = _d(port), f"{sp}.ports[{pi}]"
            name = port.get("name") or ""
            if len(ports) > 1 and not name:
                errs.append(required(f"{pp}.name"))
            elif name:
                errs.extend(m.validate_dns1123_label(name, f"{pp}.name"))
                if name in names:
                    errs.append(duplicate(f"{pp}.name", name))
                names.add(name)
            errs.extend(invalid(f"{pp}.port", port.get("port", 0), msg) for msg in m.is_valid_port_num(port.get("port", 0)))
            proto = port.get("protocol") or ""
            if not proto:
                errs.append(required(f"{pp}.protocol"))
            elif proto not in p.PROTOCOLS:
                errs.append(not_supported(f"{pp}.protocol", proto, p.PROTOCOLS))
    return errs


ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]


def validate_pvc(pvc: dict, old: dict | None) -> list[FieldError]:
    if old is not None:
        errs = m.validate_object_meta_update(pvc.get("metadata"), old.get("metadata"))
        new_spec, old_cmp = copy.deepcopy(_d(pvc.get("spec"))), copy.deepcopy(_d(old.get("spec")))
        if not old_cmp.get("volumeName"):
            new_spec.pop("volumeName", None)
        bound = _d(pvc.get("status")).get("phase") == "Bound" or _d(old.get("status")).get("phase") == "Bound"
        if bound:
            _d(new_spec.get("resources")).pop("requests", None)
            _d(old_cmp.get("resources")).pop("requests", None)
            new_spec.pop("volumeAttributesClassName", None)
            old_cmp.pop("volumeAttributesClassName", None)
        if {k: v for k, v in new_spec.items() if v not in ({}, None)} != {k: v for k, v in old_cmp.items() if v not in ({}, None)}:
            errs.append(forbidden("spec", "spec is immutable after creation except resources.requests and "
                                          "volumeAttributesClassName for bound claims"))
        return errs + _pvc_spec(_d(pvc.get("spec")), "spec")
    errs = m.validate_object_meta(pvc.get("metadata"), True, m.name_is_path_segment)
    return errs + _pvc_spec(_d(pvc.get("spec")), "spec")


def _pvc_spec(spec: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    modes = _l(spec.get("accessModes"))
    if not modes:
        errs.append(required(f"{path}.accessModes", "at least 1 access mode is required"))
    for mode in modes:
        if mode not in ACCESS_MODES:
            errs.append(not_supported(f"{path}.accessModes", mode, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errs.append(forbidden(f"{path}.accessModes", "may not use ReadWriteOncePod with other access modes"))
    vm = spec.get("volumeMode")
    if vm is not None and vm not in ("Block", "Filesystem"):
        errs.append(not_supported(f"{path}.volumeMode", vm, ["Block", "Filesystem"]))
    storage = _d(_d(spec.get("resources")).get("requests")).get("storage")
    has_source = spec.get("dataSource") is not None or spec.get("dataSourceRef") is not None
    if storage is None:
        if not has_source:
            errs.append(required(f"{path}.resources[storage]"))
    else:
        try:
            if parse_quantity(storage) <= 0:
                errs.append(invalid(f"{path}.resources[storage]", quantity_string(storage), "must be greater than zero"))
        except QuantityError as e:
            errs.append(invalid(f"{path}.resources[storage]", quantity_string(storage), str(e)))
    return errs


def validate_persistent_volume(pv: dict, old: dict | None) -> list[FieldError]:
    errs = (m.validate_object_meta(pv.get("metadata"), False, m.name_is_path_segment) if old is None
            else m.validate_object_meta_update(pv.get("metadata"), old.get("metadata")))
    spec = _d(pv.get("spec"))
    modes = _l(spec.get("accessModes"))
    if not modes:
        errs.append(required("spec.accessModes"))
    for mode in modes:
        if mode not in ACCESS_MODES:
            errs.append(not_supported("spec.accessModes", mode, ACCESS_MODES))
    capacity = _d(spec.get("capacity"))
    if not capacity:
        errs.append(required("spec.capacity"))
    elif "storage" not in capacity or len(capacity) > 1:
        errs.append(not_supported("spec.capacity", list(capacity), ["storage"]))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy and policy not in ("Delete", "Recycle", "Retain"):
        errs.append(not_supported("spec.persistentVolumeReclaimPolicy", policy, ["Delete", "Recycle", "Retain"]))
    sources = [k for k in p.VOLUME_SOURCES + ("local",) if spec.get(k) is not None and k not in ("emptyDir", "secret",
               "configMap", "downwardAPI", "projected", "gitRepo", "ephemeral", "persistentVolumeClaim", "image")]
    if not sources:
        errs.append(required("spec", "must specify a volume type"))
    for extra in sources[1:]:
        errs.append(forbidden(f"spec.{extra}", "may not specify more than 1 volume type"))
    return errs


def validate_service_account(sa: dict, old: dict | None) -> list[FieldError]:
    if old is not None:
        return m.validate_object_meta_update(sa.get("metadata"), old.get("metadata"))
    return m.validate_object_meta(sa.get("metadata"), True, m.name_is_dns_subdomain)

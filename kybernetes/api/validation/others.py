"""Validation of the smaller groups: coordination, discovery, policy, scheduling, rbac, storage."""

from __future__ import annotations

import ipaddress

from kybernetes.api.errors import FieldError, duplicate, forbidden, invalid, not_supported, required, too_many
from kybernetes.api.validation import meta as m
from kybernetes.api.validation import pod as p
from kybernetes.api.validation.apps import is_not_more_than_100_percent, validate_positive_int_or_percent

_d, _l = p._d, p._l
RBAC_GROUP = "rbac.authorization.k8s.io"


def _meta(obj: dict, old: dict | None, namespaced: bool, name_fn: m.NameFn = m.name_is_dns_subdomain) -> list[FieldError]:
    if old is None:
        return m.validate_object_meta(obj.get("metadata"), namespaced, name_fn)
    return m.validate_object_meta_update(obj.get("metadata"), old.get("metadata"))


# ---- coordination.k8s.io Lease ----

def validate_lease(lease: dict, old: dict | None) -> list[FieldError]:
    errs = _meta(lease, old, True)
    spec = _d(lease.get("spec"))
    lds = spec.get("leaseDurationSeconds")
    if lds is not None and isinstance(lds, int) and lds <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", lds, "must be greater than 0"))
    if spec.get("leaseTransitions") is not None:
        errs.extend(m.validate_nonnegative(spec["leaseTransitions"], "spec.leaseTransitions"))
    strategy = spec.get("strategy")
    if strategy is not None and strategy != "OldestEmulationVersion":
        errs.append(not_supported("spec.strategy", strategy, ["OldestEmulationVersion"]))
    return errs


# ---- discovery.k8s.io EndpointSlice ----

ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]


def validate_endpoint_slice(eps: dict, old: dict | None) -> list[FieldError]:
    errs = _meta(eps, old, True)
    address_type = eps.get("addressType") or ""
    endpoints = _l(eps.get("endpoints"))
    if len(endpoints) > 1000:
        errs.append(too_many("endpoints", len(endpoints), 1000))
    for i, ep in enumerate(endpoints):
        ep, ap = _d(ep), f"endpoints[{i}].addresses"
        addresses = _l(ep.get("addresses"))
        if not addresses:
            errs.append(required(ap, "must contain at least 1 address"))
        elif len(addresses) > 100:
            errs.append(too_many(ap, len(addresses), 100))
        for j, addr in enumerate(addresses):
            errs.extend(_address(str(addr), address_type, f"{ap}[{j}]"))
        if ep.get("nodeName"):
            errs.extend(invalid(f"endpoints[{i}].nodeName", ep["nodeName"], msg)
                        for msg in m.name_is_dns_subdomain(ep["nodeName"], False))
        if ep.get("hostname"):
            errs.extend(m.validate_dns1123_label(ep["hostname"], f"endpoints[{i}].hostname"))
    ports = _l(eps.get("ports"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        port, pp = _d(port), f"ports[{i}]"
        name = port.get("name") or ""
        if name:
            errs.extend(m.validate_dns1123_label(name, f"{pp}.name"))
        if name in names:
            errs.append(duplicate(f"{pp}.name", name))
        names.add(name)
        proto = port.get("protocol")
        if proto is None:
            errs.append(required(f"{pp}.protocol"))
        elif proto not in p.PROTOCOLS:
            errs.append(not_supported(f"{pp}.protocol", proto, p.PROTOCOLS))
        if port.get("appProtocol") is not None:
            errs.extend(m.validate_qualified_name(port["appProtocol"], f"{pp}.appProtocol"))
    if not address_type:
        errs.append(required("addressType"))
    elif address_type not in ADDRESS_TYPES:
        errs.append(not_supported("addressType", address_type, ADDRESS_TYPES))
    if old is not None:
        errs.extend(m.validate_immutable(address_type, old.get("addressType") or "", "addressType"))
    return errs


def _address(addr: str, address_type: str, path: str) -> list[FieldError]:
    if address_type in ("IPv4", "IPv6"):
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            ip = None
        if ip is None or ip.version != (4 if address_type == "IPv4" else 6):
            return [invalid(path, addr, f"must be a valid {address_type} address")]
    elif address_type == "FQDN":
        return m.validate_dns1123_subdomain(addr, path)
    return []


# ---- policy PodDisruptionBudget ----

def validate_pdb(pdb: dict, old: dict | None) -> list[FieldError]:
    errs = _meta(pdb, old, True)
    spec = _d(pdb.get("spec"))
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        errs.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    for key in ("minAvailable", "maxUnavailable"):
        if spec.get(key) is not None:
            errs.extend(validate_positive_int_or_percent(spec[key], f"spec.{key}"))
            errs.extend(is_not_more_than_100_percent(spec[key], f"spec.{key}"))
    errs.extend(m.validate_label_selector(spec.get("selector"), "spec.selector"))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        errs.append(not_supported("spec.unhealthyPodEvictionPolicy", policy, ["AlwaysAllow", "IfHealthyBudget"]))
    return errs


# ---- scheduling.k8s.io PriorityClass ----

HIGHEST_USER_PRIORITY = 1000000000
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


def validate_priority_class(pc: dict, old: dict | None) -> list[FieldError]:
    if old is not None:
        errs = m.validate_object_meta_update(pc.get("metadata"), old.get("metadata"))
        if pc.get("value") != old.get("value"):
            errs.append(forbidden("value", "may not be changed in an update."))
        errs.extend(m.validate_immutable(pc.get("preemptionPolicy"), old.get("preemptionPolicy"), "preemptionPolicy"))
        return errs
    errs = m.validate_object_meta(pc.get("metadata"), False, m.name_is_dns_subdomain)
    name = _d(pc.get("metadata")).get("name") or ""
    value = pc.get("value", 0)
    if name.startswith("system-"):
        problem = ""
        if name not in SYSTEM_PRIORITY_CLASSES:
            problem = f"{name} is not a known system priority class"
        elif value != SYSTEM_PRIORITY_CLASSES[name]:
            problem = f"value of {name} PriorityClass must be {SYSTEM_PRIORITY_CLASSES[name]}"
        elif pc.get("globalDefault", False) is not False:
            problem = f"globalDefault of {name} PriorityClass must be false"
        if problem:
            errs.append(forbidden("metadata.name", "priority class names with 'system-' prefix are reserved for "
                                  f"system use only. error: {problem}"))
    elif isinstance(value, int) and value > HIGHEST_USER_PRIORITY:
        errs.append(forbidden("value", f"maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"))
    policy = pc.get("preemptionPolicy")
    if policy is not None:
        if not policy:
            errs.append(required("preemptionPolicy"))
        elif policy not in ("PreemptLowerPriority", "Never"):
            errs.append(not_supported("preemptionPolicy", policy, ["PreemptLowerPriority", "Never"]))
    return errs


# ---- rbac.authorization.k8s.io ----

def _policy_rule(rule: dict, namespaced: bool, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not _l(rule.get("verbs")):
        errs.append(required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = _l(rule.get("nonResourceURLs"))
    if urls:
        if namespaced:
            errs.append(invalid(f"{path}.nonResourceURLs", urls, "namespaced rules cannot apply to non-resource URLs"))
        if _l(rule.get("apiGroups")) or _l(rule.get("resources")) or _l(rule.get("resourceNames")):
            errs.append(invalid(f"{path}.nonResourceURLs", urls,
                                "rules cannot apply to both regular resources and non-resource URLs"))
        return errs
    if not _l(rule.get("apiGroups")):
        errs.append(required(f"{path}.apiGroups", "resource rules must supply at least one api group"))
    if not _l(rule.get("resources")):
        errs.append(required(f"{path}.resources", "resource rules must supply at least one resource"))
    return errs


def validate_role(role: dict, old: dict | None, namespaced: bool) -> list[FieldError]:
    errs = _meta(role, old, namespaced, m.name_is_path_segment)
    for i, rule in enumerate(_l(role.get("rules"))):
        errs.extend(_policy_rule(_d(rule), namespaced, f"rules[{i}]"))
    aggregation = role.get("aggregationRule")
    if not namespaced and aggregation is not None:
        selectors = _l(_d(aggregation).get("clusterRoleSelectors"))
        if not selectors:
            errs.append(required("aggregationRule.clusterRoleSelectors", "at least one clusterRoleSelector required if aggregationRule is non-nil"))
        for i, sel in enumerate(selectors):
            errs.extend(m.validate_label_selector(sel, f"aggregationRule.clusterRoleSelectors[{i}]"))
    return errs


def _subject(subject: dict, namespaced: bool, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name = subject.get("name") or ""
    if not name:
        errs.append(required(f"{path}.name"))
    kind, group = subject.get("kind") or "", subject.get("apiGroup") or ""
    if kind == "ServiceAccount":
        if name:
            errs.extend(invalid(f"{path}.name", name, msg) for msg in m.name_is_dns_subdomain(name, False))
        if group:
            errs.append(not_supported(f"{path}.apiGroup", group, [""]))
        if not namespaced and not subject.get("namespace"):
            errs.append(required(f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if group != RBAC_GROUP:
            errs.append(not_supported(f"{path}.apiGroup", group, [RBAC_GROUP]))
    else:
        errs.append(not_supported(f"{path}.kind", kind, ["ServiceAccount", "User", "Group"]))
    return errs


def validate_role_binding(rb: dict, old: dict | None, namespaced: bool) -> list[FieldError]:
    errs = _meta(rb, old, namespaced, m.name_is_path_segment)
    ref = _d(rb.get("roleRef"))
    if ref.get("apiGroup") != RBAC_GROUP:
        errs.append(not_supported("roleRef.apiGroup", ref.get("apiGroup") or "", [RBAC_GROUP]))
    kinds = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]
    if ref.get("kind") not in kinds:
        errs.append(not_supported("roleRef.kind", ref.get("kind") or "", kinds))
    if not ref.get("name"):
        errs.append(required("roleRef.name"))
    else:
        errs.extend(invalid("roleRef.name", ref["name"], msg) for msg in m.name_is_path_segment(ref["name"], False))
    for i, subject in enumerate(_l(rb.get("subjects"))):
        errs.extend(_subject(_d(subject), namespaced, f"subjects[{i}]"))
    if old is not None and _d(old.get("roleRef")) != ref:
        errs.append(invalid("roleRef", ref, "cannot change roleRef"))
    return errs


# ---- storage.k8s.io StorageClass ----

def validate_storage_class(sc: dict, old: dict | None) -> list[FieldError]:
    errs = _meta(sc, old, False)
    provisioner = sc.get("provisioner") or ""
    if not provisioner:
        errs.append(required("provisioner"))
    else:
        errs.extend(m.validate_qualified_name(provisioner.lower(), "provisioner"))
    policy = sc.get("reclaimPolicy")
    if policy is not None and policy not in ("Delete", "Retain"):
        errs.append(not_supported("reclaimPolicy", policy, ["Delete", "Retain"]))
    mode = sc.get("volumeBindingMode")
    if mode is None:
        errs.append(required("volumeBindingMode"))
    elif mode not in ("Immediate", "WaitForFirstConsumer"):
        errs.append(not_supported("volumeBindingMode", mode, ["Immediate", "WaitForFirstConsumer"]))
    params = _d(sc.get("parameters"))
    if len(params) > 512:
        errs.append(too_many("parameters", len(params), 512))
    for key in params:
        if not key:
            errs.append(invalid("parameters", params, "parameter name must not be empty"))
    if old is not None:
        for key in ("parameters", "provisioner", "reclaimPolicy", "volumeBindingMode"):
            if (sc.get(key) or None) != (old.get(key) or None):
                errs.append(forbidden(key, f"updates to {key} are forbidden."))
    return errs

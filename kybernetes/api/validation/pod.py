"""PodSpec validation: containers, volumes, probes, resources, tolerations (pkg/apis/core/validation)."""

from __future__ import annotations

import posixpath
from typing import Any

from kybernetes.api.errors import FieldError, duplicate, forbidden, invalid, not_supported, required
from kybernetes.api.validation import meta as m
from kybernetes.api.validation.quantity import QuantityError, parse_quantity, quantity_string

FILE_MODE_MSG = "must be a number between 0 and 0777 (octal), both inclusive"
PROTOCOLS = ["SCTP", "TCP", "UDP"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
HOST_PATH_TYPES = ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"]
ENV_FIELD_PATHS = ["metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
                   "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"]
VOLUME_FIELD_PATHS = ["metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"]
RESOURCE_FIELD_PATHS = ["limits.cpu", "limits.ephemeral-storage", "limits.memory",
                        "requests.cpu", "requests.ephemeral-storage", "requests.memory"]
# the order validateVolumeSource checks sources in
VOLUME_SOURCES = ("emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret", "nfs",
                  "iscsi", "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs", "quobyte",
                  "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "photonPersistentDisk",
                  "portworxVolume", "azureDisk", "storageos", "projected", "scaleIO", "csi", "ephemeral", "image")


def _d(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list:
    return v if isinstance(v, list) else []


# ---- paths and modes ----

def _no_backsteps(p: str, path: str) -> list[FieldError]:
    if ".." in p.split("/"):
        return [invalid(path, p, "must not contain '..'")]
    return []


def validate_local_descending_path(p: str, path: str) -> list[FieldError]:
    errs = []
    if p.startswith("/"):
        errs.append(invalid(path, p, "must be a relative path"))
    return errs + _no_backsteps(p, path)


def validate_local_non_reserved_path(p: str, path: str) -> list[FieldError]:
    errs = validate_local_descending_path(p, path)
    if posixpath.normpath(p).startswith(".."):
        errs.append(invalid(path, p, "must not start with '..'"))
    return errs


def _mode(value: Any, path: str) -> list[FieldError]:
    if value is not None and isinstance(value, int) and not 0 <= value <= 0o777:
        return [invalid(path, value, FILE_MODE_MSG)]
    return []


def _key_to_paths(items: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, kp in enumerate(_l(items)):
        kp, p = _d(kp), f"{path}[{i}]"
        if not kp.get("key"):
            errs.append(required(f"{p}.key"))
        if not kp.get("path"):
            errs.append(required(f"{p}.path"))
        errs.extend(validate_local_non_reserved_path(kp.get("path") or "", f"{p}.path"))
        errs.extend(_mode(kp.get("mode"), f"{p}.mode"))
    return errs


# ---- volumes ----

def _downward_items(items: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, item in enumerate(_l(items)):
        item, p = _d(item), f"{path}[{i}]"
        if not item.get("path"):
            errs.append(required(f"{p}.path"))
        errs.extend(validate_local_non_reserved_path(item.get("path") or "", f"{p}.path"))
        errs.extend(_mode(item.get("mode"), f"{p}.mode"))
        has_field, has_res = "fieldRef" in item, "resourceFieldRef" in item
        if has_field and has_res:
            errs.append(invalid(p, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
        elif has_field:
            errs.extend(_object_field_selector(_d(item["fieldRef"]), VOLUME_FIELD_PATHS, f"{p}.fieldRef"))
        elif has_res:
            errs.extend(_resource_field_selector(_d(item["resourceFieldRef"]), f"{p}.resourceFieldRef", True))
        else:
            errs.append(required(p, "one of fieldRef and resourceFieldRef is required"))
    return errs


def _volume_source(vol: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    count = 0
    for src in VOLUME_SOURCES:
        if vol.get(src) is None:
            continue
        if count > 0:
            errs.append(forbidden(f"{path}.{src}", "may not specify more than 1 volume type"))
            continue
        count += 1
        errs.extend(_one_source(src, _d(vol[src]), f"{path}.{src}"))
    if count == 0:
        errs.append(required(path, "must specify a volume type"))
    return errs


def _one_source(src: str, s: dict, p: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if src == "hostPath":
        if not s.get("path"):
            errs.append(required(f"{p}.path"))
            return errs
        errs.extend(_no_backsteps(s["path"], f"{p}.path"))
        if s.get("type") is not None and s["type"] not in HOST_PATH_TYPES:
            errs.append(not_supported(f"{p}.type", s["type"], HOST_PATH_TYPES))
    elif src == "emptyDir":
        if s.get("sizeLimit") is not None:
            try:
                if parse_quantity(s["sizeLimit"]) < 0:
                    raise QuantityError
            except QuantityError:
                errs.append(forbidden(f"{p}.sizeLimit", "SizeLimit field must be a valid resource quantity"))
    elif src == "secret":
        if not s.get("secretName"):
            errs.append(required(f"{p}.secretName"))
        errs.extend(_mode(s.get("defaultMode"), f"{p}.defaultMode"))
        errs.extend(_key_to_paths(s.get("items"), f"{p}.items"))
    elif src == "configMap":
        if not s.get("name"):
            errs.append(required(f"{p}.name"))
        errs.extend(_mode(s.get("defaultMode"), f"{p}.defaultMode"))
        errs.extend(_key_to_paths(s.get("items"), f"{p}.items"))
    elif src == "persistentVolumeClaim":
        if not s.get("claimName"):
            errs.append(required(f"{p}.claimName"))
    elif src == "nfs":
        if not s.get("server"):
            errs.append(required(f"{p}.server"))
        if not s.get("path"):
            errs.append(required(f"{p}.path"))
        elif not s["path"].startswith("/"):
            errs.append(invalid(f"{p}.path", s["path"], "must be an absolute path"))
    elif src == "downwardAPI":
        errs.extend(_mode(s.get("defaultMode"), f"{p}.defaultMode"))
        errs.extend(_downward_items(s.get("items"), f"{p}.items"))
    elif src == "projected":
        errs.extend(_projected(s, p))
    elif src == "csi":
        if not s.get("driver"):
            errs.append(required(f"{p}.driver"))
    elif src == "ephemeral":
        if s.get("volumeClaimTemplate") is None:
            errs.append(required(f"{p}.volumeClaimTemplate"))
    return errs


def _projected(s: dict, p: str) -> list[FieldError]:
    errs = _mode(s.get("defaultMode"), f"{p}.defaultMode")
    seen_paths: set[str] = set()
    for i, src in enumerate(_l(s.get("sources"))):
        src, sp = _d(src), f"{p}.sources[{i}]"
        kinds = [k for k in ("secret", "downwardAPI", "configMap", "serviceAccountToken", "clusterTrustBundle")
                 if src.get(k) is not None]
        for extra in kinds[1:]:
            errs.append(forbidden(f"{sp}.{extra}", "may not specify more than 1 volume type per source"))
        if not kinds:
            errs.append(required(sp, "must specify exactly 1 volume type"))
            continue
        kind, body = kinds[0], _d(src[kinds[0]])
        bp = f"{sp}.{kind}"
        if kind in ("secret", "configMap"):
            if not body.get("name"):
                errs.append(required(f"{bp}.name"))
            errs.extend(_key_to_paths(body.get("items"), f"{bp}.items"))
            paths = [_d(it).get("path") for it in _l(body.get("items"))]
        elif kind == "downwardAPI":
            errs.extend(_downward_items(body.get("items"), f"{bp}.items"))
            paths = [_d(it).get("path") for it in _l(body.get("items"))]
        elif kind == "serviceAccountToken":
            exp = body.get("expirationSeconds")
            if isinstance(exp, int) and exp < 600:
                errs.append(invalid(f"{bp}.expirationSeconds", exp, "may not specify a duration less than 10 minutes"))
            elif isinstance(exp, int) and exp > 2**32:
                errs.append(invalid(f"{bp}.expirationSeconds", exp, "may not specify a duration larger than 2^32 seconds"))
            if not body.get("path"):
                errs.append(required(f"{bp}.path"))
            paths = [body.get("path")]
        else:
            paths = [body.get("path")]
        for item_path in paths:
            if not item_path:
                continue
            if item_path in seen_paths:
                errs.append(invalid(p, item_path, "conflicting duplicate paths"))
            seen_paths.add(item_path)
    return errs


def validate_volumes(volumes: Any, path: str) -> tuple[dict[str, dict], list[FieldError]]:
    """ValidateVolumes: returns the valid volumes by name (mounts may refer only to these) and the errors."""
    errs: list[FieldError] = []
    good: dict[str, dict] = {}
    names: set[str] = set()
    for i, vol in enumerate(_l(volumes)):
        vol, p = _d(vol), f"{path}[{i}]"
        el = _volume_source(vol, p)
        name = vol.get("name") or ""
        if not name:
            el.append(required(f"{p}.name"))
        else:
            el.extend(m.validate_dns1123_label(name, f"{p}.name"))
        if name in names:
            el.append(duplicate(f"{p}.name", name))
        if el:
            errs.extend(el)
        else:
            names.add(name)
            good[name] = vol
    return good, errs


# ---- env ----

def _object_field_selector(fs: dict, allowed: list[str], path: str) -> list[FieldError]:
    if not fs.get("apiVersion"):
        return [required(f"{path}.apiVersion")]
    fp = fs.get("fieldPath") or ""
    if not fp:
        return [required(f"{path}.fieldPath")]
    base, sep, rest = fp.partition("[")
    if sep:
        if not rest.endswith("]") or len(rest) < 2:
            return [invalid(f"{path}.fieldPath", fp, "error converting fieldPath: field label not supported: " + fp)]
        sub = rest[:-1].strip("'")
        if base == "metadata.annotations":
            return m.validate_qualified_name(sub.lower(), path)
        if base == "metadata.labels":
            return m.validate_qualified_name(sub, path)
        return [invalid(path, base, "does not support subscript")]
    if fp not in allowed:
        return [not_supported(f"{path}.fieldPath", fp, allowed)]
    return []


def _resource_field_selector(fs: dict, path: str, volume: bool) -> list[FieldError]:
    res = fs.get("resource") or ""
    if volume and not fs.get("containerName"):
        return [required(f"{path}.containerName")]
    if not res:
        return [required(f"{path}.resource")]
    if res not in RESOURCE_FIELD_PATHS and not res.startswith(("requests.hugepages-", "limits.hugepages-")):
        return [not_supported(f"{path}.resource", res, RESOURCE_FIELD_PATHS)]
    return []


def _key_selector(s: dict, path: str) -> list[FieldError]:
    errs = [invalid(f"{path}.name", s.get("name") or "", msg)
            for msg in m.name_is_dns_subdomain(s.get("name") or "", False)]
    key = s.get("key") or ""
    if not key:
        errs.append(required(f"{path}.key"))
    else:
        errs.extend(invalid(f"{path}.key", key, msg) for msg in m.is_config_map_key(key))
    return errs


def validate_env(env: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ev in enumerate(_l(env)):
        ev, p = _d(ev), f"{path}[{i}]"
        name = ev.get("name") or ""
        if not name:
            errs.append(required(f"{p}.name"))
        else:
            errs.extend(invalid(f"{p}.name", name, msg) for msg in m.is_env_var_name(name))
        vf = ev.get("valueFrom")
        if vf is None:
            continue
        vf, vp = _d(vf), f"{p}.valueFrom"
        count = 0
        if vf.get("fieldRef") is not None:
            count += 1
            errs.extend(_object_field_selector(_d(vf["fieldRef"]), ENV_FIELD_PATHS, f"{vp}.fieldRef"))
        if vf.get("resourceFieldRef") is not None:
            count += 1
            errs.extend(_resource_field_selector(_d(vf["resourceFieldRef"]), f"{vp}.resourceFieldRef", False))
        for key in ("configMapKeyRef", "secretKeyRef"):
            if vf.get(key) is not None:
                count += 1
                errs.extend(_key_selector(_d(vf[key]), f"{vp}.{key}"))
        if count == 0:
            errs.append(invalid(vp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
        elif ev.get("value"):
            errs.append(invalid(vp, "", "may not be specified when `value` is not empty"))
        elif count > 1:
            errs.append(invalid(vp, "", "may not have more than one field specified at a time"))
    return errs


def validate_env_from(env_from: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ef in enumerate(_l(env_from)):
        ef, p = _d(ef), f"{path}[{i}]"
        if ef.get("prefix"):
            errs.extend(invalid(f"{p}.prefix", ef["prefix"], msg) for msg in m.is_env_var_name(ef["prefix"]))
        refs = [k for k in ("configMapRef", "secretRef") if ef.get(k) is not None]
        for k in refs:
            ref = _d(ef[k])
            if not ref.get("name"):
                errs.append(required(f"{p}.{k}.name"))
            else:
                errs.extend(invalid(f"{p}.{k}.name", ref["name"], msg) for msg in m.name_is_dns_subdomain(ref["name"], True))
        if not refs:
            errs.append(invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif len(refs) > 1:
            errs.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errs


# ---- ports, probes, resources ----

def validate_port_num_or_name(port: Any, path: str) -> list[FieldError]:
    if isinstance(port, str):
        return [invalid(path, port, msg) for msg in m.is_valid_port_name(port)]
    return [invalid(path, port, msg) for msg in m.is_valid_port_num(port)]


def validate_container_ports(ports: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(_l(ports)):
        port, p = _d(port), f"{path}[{i}]"
        name = port.get("name") or ""
        if name:
            msgs = m.is_valid_port_name(name)
            if msgs:
                errs.extend(invalid(f"{p}.name", name, msg) for msg in msgs)
            elif name in names:
                errs.append(duplicate(f"{p}.name", name))
            else:
                names.add(name)
        cp = port.get("containerPort") or 0
        if cp == 0:
            errs.append(required(f"{p}.containerPort"))
        else:
            errs.extend(invalid(f"{p}.containerPort", cp, msg) for msg in m.is_valid_port_num(cp))
        hp = port.get("hostPort") or 0
        if hp != 0:
            errs.extend(invalid(f"{p}.hostPort", hp, msg) for msg in m.is_valid_port_num(hp))
        proto = port.get("protocol") or ""
        if not proto:
            errs.append(required(f"{p}.protocol"))
        elif proto not in PROTOCOLS:
            errs.append(not_supported(f"{p}.protocol", proto, PROTOCOLS))
    return errs


def _handler(h: dict, path: str, grace: Any, kinds: tuple[str, ...]) -> list[FieldError]:
    errs: list[FieldError] = []
    count = 0
    for kind in kinds:
        if h.get(kind) is None:
            continue
        if count > 0:
            errs.append(forbidden(f"{path}.{kind}", "may not specify more than 1 handler type"))
            continue
        count += 1
        body, bp = _d(h[kind]), f"{path}.{kind}"
        if kind == "exec" and not body.get("command"):
            errs.append(required(f"{bp}.command"))
        elif kind == "httpGet":
            if not body.get("path"):
                errs.append(required(f"{bp}.path"))
            errs.extend(validate_port_num_or_name(body.get("port"), f"{bp}.port"))
            if body.get("scheme") not in ("HTTP", "HTTPS"):
                errs.append(not_supported(f"{bp}.scheme", body.get("scheme") or "", ["HTTP", "HTTPS"]))
        elif kind == "tcpSocket":
            errs.extend(validate_port_num_or_name(body.get("port"), f"{bp}.port"))
        elif kind == "grpc":
            errs.extend(validate_port_num_or_name(body.get("port") or 0, f"{bp}.port"))
        elif kind == "sleep":
            secs = body.get("seconds") or 0
            if isinstance(grace, int) and (secs <= 0 or secs > grace):
                errs.append(invalid(bp, secs, "must be greater than 0 and less than terminationGracePeriodSeconds "
                                    f"({grace}). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep."))
    if count == 0:
        errs.append(required(path, "must specify a handler type"))
    return errs


def _probe(probe: Any, path: str, grace: Any, kind: str) -> list[FieldError]:
    if probe is None:
        return []
    probe = _d(probe)
    errs = _handler(probe, path, grace, ("exec", "httpGet", "tcpSocket", "grpc"))
    for f in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        errs.extend(m.validate_nonnegative(probe.get(f, 0), f"{path}.{f}"))
    tgps = probe.get("terminationGracePeriodSeconds")
    if tgps is not None and isinstance(tgps, int) and tgps <= 0:
        errs.append(invalid(f"{path}.terminationGracePeriodSeconds", tgps, "must be greater than 0"))
    if kind in ("liveness", "startup") and probe.get("successThreshold", 1) != 1:
        errs.append(invalid(f"{path}.successThreshold", probe.get("successThreshold"), "must be 1"))
    if kind == "readiness" and tgps is not None:
        errs.append(invalid(f"{path}.terminationGracePeriodSeconds", tgps, "must not be set for readinessProbes"))
    return errs


def _lifecycle(lc: Any, path: str, grace: Any) -> list[FieldError]:
    errs: list[FieldError] = []
    for hook in ("postStart", "preStop"):
        if _d(lc).get(hook) is not None:
            errs.extend(_handler(_d(lc[hook]), f"{path}.{hook}", grace, ("exec", "httpGet", "tcpSocket", "sleep")))
    return errs


def _is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _resource_name(name: str, path: str) -> list[FieldError]:
    errs = m.validate_qualified_name(name, path)
    if "/" not in name:
        if name not in STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
            errs.append(invalid(path, name, "must be a standard resource for containers"))
    elif not _is_native(name) and name.startswith("requests."):
        errs.append(invalid(path, name, "doesn't follow extended resource name standard"))
    return errs


def _quantities(rl: Any, path: str) -> tuple[dict, list[FieldError]]:
    values: dict = {}
    errs: list[FieldError] = []
    for name, q in _d(rl).items():
        p = f"{path}[{name}]"
        errs.extend(_resource_name(name, p))
        try:
            v = parse_quantity(q)
        except QuantityError as e:
            errs.append(invalid(p, quantity_string(q), str(e)))
            continue
        values[name] = v
        if v < 0:
            errs.append(invalid(p, quantity_string(q), m.IS_NEGATIVE))
        elif not _is_native(name) and v.denominator != 1:
            errs.append(invalid(p, quantity_string(q), "must be an integer"))
    return values, errs


def validate_resources(res: Any, path: str) -> list[FieldError]:
    """ValidateContainerResourceRequirements: names, quantities, and requests <= limits."""
    res = _d(res)
    limits, errs = _quantities(res.get("limits"), f"{path}.limits")
    requests, req_errs = _quantities(res.get("requests"), f"{path}.requests")
    errs.extend(req_errs)
    raw_limits, raw_requests = _d(res.get("limits")), _d(res.get("requests"))
    overcommit = lambda n: _is_native(n) and not n.startswith(("hugepages-", "requests.hugepages-"))  # noqa: E731
    for name, req in requests.items():
        if name in limits:
            lim_text = quantity_string(raw_limits[name])
            if req != limits[name] and not overcommit(name):
                errs.append(invalid(f"{path}.requests", quantity_string(raw_requests[name]),
                                    f"must be equal to {name} limit of {lim_text}"))
            elif req > limits[name]:
                errs.append(invalid(f"{path}.requests", quantity_string(raw_requests[name]),
                                    f"must be less than or equal to {name} limit of {lim_text}"))
        elif not overcommit(name) and name not in raw_limits:
            errs.append(required(f"{path}.limits", "Limit must be set for non overcommitable resources"))
    return errs


def _volume_mounts(mounts: Any, volumes: dict[str, dict], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, mnt in enumerate(_l(mounts)):
        mnt, p = _d(mnt), f"{path}[{i}]"
        name, mount_path = mnt.get("name") or "", mnt.get("mountPath") or ""
        if not name:
            errs.append(required(f"{p}.name"))
        if name not in volumes:
            errs.append(FieldError("FieldValueNotFound", f"{p}.name", name))
        if not mount_path:
            errs.append(required(f"{p}.mountPath"))
        if mount_path in seen:
            errs.append(invalid(f"{p}.mountPath", mount_path, "must be unique"))
        seen.add(mount_path)
        if mnt.get("subPath"):
            errs.extend(validate_local_descending_path(mnt["subPath"], f"{path}.subPath"))
        if mnt.get("subPathExpr"):
            if mnt.get("subPath"):
                errs.append(invalid(f"{p}.subPathExpr", mnt["subPathExpr"], "subPathExpr and subPath are mutually exclusive"))
            errs.extend(validate_local_descending_path(mnt["subPathExpr"], f"{path}.subPathExpr"))
    return errs


# ---- containers ----

def _container_common(c: dict, volumes: dict[str, dict], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name = c.get("name") or ""
    if not name:
        errs.append(required(f"{path}.name"))
    else:
        errs.extend(m.validate_dns1123_label(name, f"{path}.name"))
    if not c.get("image"):
        errs.append(required(f"{path}.image"))
    tmp = c.get("terminationMessagePolicy") or ""
    if not tmp:
        errs.append(required(f"{path}.terminationMessagePolicy"))
    elif tmp not in ("File", "FallbackToLogsOnError"):
        errs.append(not_supported(f"{path}.terminationMessagePolicy", tmp, ["File", "FallbackToLogsOnError"]))
    errs.extend(validate_container_ports(c.get("ports"), f"{path}.ports"))
    errs.extend(validate_env(c.get("env"), f"{path}.env"))
    errs.extend(validate_env_from(c.get("envFrom"), f"{path}.envFrom"))
    errs.extend(_volume_mounts(c.get("volumeMounts"), volumes, f"{path}.volumeMounts"))
    policy = c.get("imagePullPolicy") or ""
    if not policy:
        errs.append(required(f"{path}.imagePullPolicy"))
    elif policy not in PULL_POLICIES:
        errs.append(not_supported(f"{path}.imagePullPolicy", policy, PULL_POLICIES))
    errs.extend(validate_resources(c.get("resources"), f"{path}.resources"))
    return errs


def _host_port_conflicts(containers: list, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for ci, c in enumerate(containers):
        for pi, port in enumerate(_l(_d(c).get("ports"))):
            port = _d(port)
            hp = port.get("hostPort") or 0
            if not hp:
                continue
            key = f"{port.get('protocol', '')}/{port.get('hostIP', '')}/{hp}"
            if key in seen:
                errs.append(duplicate(f"{path}[{ci}].ports[{pi}].hostPort", key))
            seen.add(key)
    return errs


def validate_containers(containers: Any, volumes: dict, grace: Any, path: str) -> list[FieldError]:
    containers = _l(containers)
    if not containers:
        return [required(path)]
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, c in enumerate(containers):
        c, p = _d(c), f"{path}[{i}]"
        errs.extend(_container_common(c, volumes, p))
        name = c.get("name") or ""
        if name in names:
            errs.append(duplicate(f"{p}.name", name))
        else:
            names.add(name)
        if c.get("lifecycle") is not None:
            errs.extend(_lifecycle(c["lifecycle"], f"{p}.lifecycle", grace))
        errs.extend(_probe(c.get("livenessProbe"), f"{p}.livenessProbe", grace, "liveness"))
        errs.extend(_probe(c.get("readinessProbe"), f"{p}.readinessProbe", grace, "readiness"))
        errs.extend(_probe(c.get("startupProbe"), f"{p}.startupProbe", grace, "startup"))
        if c.get("restartPolicy") is not None:
            errs.append(forbidden(f"{p}.restartPolicy", "may not be set for non-init containers"))
    return errs + _host_port_conflicts(containers, path)


def validate_init_containers(inits: Any, regular: Any, volumes: dict, grace: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names = {_d(c).get("name") for c in _l(regular)}
    for i, c in enumerate(_l(inits)):
        c, p = _d(c), f"{path}[{i}]"
        errs.extend(_container_common(c, volumes, p))
        restart_always = False
        if c.get("restartPolicy") is not None:
            if c["restartPolicy"] != "Always":
                errs.append(not_supported(f"{p}.restartPolicy", c["restartPolicy"], ["Always"]))
            restart_always = c["restartPolicy"] == "Always"
        name = c.get("name") or ""
        if name in names:
            errs.append(duplicate(f"{p}.name", name))
        elif name:
            names.add(name)
        errs.extend(_host_port_conflicts([c], path))
        if restart_always:
            if c.get("lifecycle") is not None:
                errs.extend(_lifecycle(c["lifecycle"], f"{p}.lifecycle", grace))
            errs.extend(_probe(c.get("livenessProbe"), f"{p}.livenessProbe", grace, "liveness"))
            errs.extend(_probe(c.get("readinessProbe"), f"{p}.readinessProbe", grace, "readiness"))
            errs.extend(_probe(c.get("startupProbe"), f"{p}.startupProbe", grace, "startup"))
        else:
            for f in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if c.get(f) is not None:
                    errs.append(forbidden(f"{p}.{f}", "may not be set for init containers without restartPolicy=Always"))
    return errs


# ---- tolerations and the spec ----

def validate_tolerations(tolerations: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, t in enumerate(_l(tolerations)):
        t, p = _d(t), f"{path}[{i}]"
        key, op, value, effect = t.get("key") or "", t.get("operator") or "", t.get("value") or "", t.get("effect") or ""
        if key:
            errs.extend(m.validate_label_name(key, f"{p}.key"))
        if not key and op != "Exists":
            errs.append(invalid(f"{p}.operator", op,
                                'operator must be Exists when `key` is empty, which means "match all values and all keys"'))
        if t.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(invalid(f"{p}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if op in ("Equal", ""):
            msgs = m.is_valid_label_value(value)
            if msgs:
                errs.append(invalid(f"{p}.operator", value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                errs.append(invalid(f"{p}.operator", value, "value must be empty when `operator` is 'Exists'"))
        else:
            errs.append(not_supported(f"{p}.operator", op, ["Equal", "Exists"]))
        if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errs.append(not_supported(f"{p}.effect", effect, ["NoSchedule", "PreferNoSchedule", "NoExecute"]))
    return errs


def validate_restart_policy(policy: Any, path: str) -> list[FieldError]:
    if policy in ("Always", "OnFailure", "Never"):
        return []
    if not policy:
        return [required(path)]
    return [not_supported(path, policy, ["Always", "OnFailure", "Never"])]


def validate_pod_spec(spec: Any, path: str = "spec") -> list[FieldError]:
    """ValidatePodSpec for a defaulted spec (defaults fill terminationGracePeriodSeconds, dnsPolicy, ...)."""
    spec = _d(spec)
    errs: list[FieldError] = []
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is None:
        errs.append(required(f"{path}.terminationGracePeriodSeconds"))
    volumes, vol_errs = validate_volumes(spec.get("volumes"), f"{path}.volumes")
    errs.extend(vol_errs)
    errs.extend(validate_containers(spec.get("containers"), volumes, grace, f"{path}.containers"))
    errs.extend(validate_init_containers(spec.get("initContainers"), spec.get("containers"), volumes, grace,
                                         f"{path}.initContainers"))
    errs.extend(_ephemeral_containers(spec, volumes, f"{path}.ephemeralContainers"))
    if spec.get("hostNetwork"):
        for ci, c in enumerate(_l(spec.get("containers"))):
            for pi, port in enumerate(_l(_d(c).get("ports"))):
                port = _d(port)
                hp, cp = port.get("hostPort") or 0, port.get("containerPort") or 0
                if hp != 0 and hp != cp:
                    errs.append(invalid(f"{path}.containers[{ci}].ports[{pi}].hostPort", hp,
                                        "must match `containerPort` when `hostNetwork` is true"))
    errs.extend(validate_restart_policy(spec.get("restartPolicy"), f"{path}.restartPolicy"))
    dns = spec.get("dnsPolicy") or ""
    dns_values = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
    if not dns:
        errs.append(required(f"{path}.dnsPolicy"))
    elif dns not in dns_values:
        errs.append(not_supported(f"{path}.dnsPolicy", dns, dns_values))
    if dns == "None":
        cfg = spec.get("dnsConfig")
        if cfg is None:
            errs.append(required(f"{path}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None"))
        elif not _d(cfg).get("nameservers"):
            errs.append(required(f"{path}.dnsConfig.nameservers",
                                 "must provide at least one DNS nameserver when `dnsPolicy` is None"))
    errs.extend(m.validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector"))
    for key, fn in (("serviceAccountName", m.name_is_dns_subdomain), ("nodeName", m.name_is_dns_subdomain),
                    ("priorityClassName", m.name_is_dns_subdomain)):
        if spec.get(key):
            errs.extend(invalid(f"{path}.{key}", spec[key], msg) for msg in fn(spec[key], False))
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and (not isinstance(ads, int) or ads < 1 or ads > 2**31 - 1):
        errs.append(invalid(f"{path}.activeDeadlineSeconds", ads, m.inclusive_range_error(1, 2**31 - 1)))
    for key in ("hostname", "subdomain"):
        if spec.get(key):
            errs.extend(m.validate_dns1123_label(spec[key], f"{path}.{key}"))
    errs.extend(validate_tolerations(spec.get("tolerations"), f"{path}.tolerations"))
    for i, gate in enumerate(_l(spec.get("schedulingGates"))):
        gname = _d(gate).get("name") or ""
        errs.extend(m.validate_qualified_name(gname, f"{path}.schedulingGates[{i}]"))
    for i, ips in enumerate(_l(spec.get("imagePullSecrets"))):
        if set(_d(ips)) - {"name"}:
            errs.append(invalid(f"{path}.imagePullSecrets[{i}]", ips, "only name may be set"))
    return errs


def _ephemeral_containers(spec: dict, volumes: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    others = {_d(c).get("name") for c in _l(spec.get("containers")) + _l(spec.get("initContainers"))}
    names = set(others)
    for i, c in enumerate(_l(spec.get("ephemeralContainers"))):
        c, p = _d(c), f"{path}[{i}]"
        errs.extend(_container_common(c, volumes, p))
        if c.get("name") in names:
            errs.append(duplicate(f"{p}.name", c.get("name")))
        else:
            names.add(c.get("name"))
        target = c.get("targetContainerName")
        if target and target not in others:
            errs.append(FieldError("FieldValueNotFound", f"{p}.targetContainerName", target))
        for f in ("ports", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle"):
            if c.get(f):
                errs.append(forbidden(f"{p}.{f}", "cannot be set for an Ephemeral Container"))
        if _d(c.get("resources")).get("limits") or _d(c.get("resources")).get("requests"):
            errs.append(forbidden(f"{p}.resources", "cannot be set for an Ephemeral Container"))
    return errs


def validate_pod_template_spec(template: Any, path: str) -> list[FieldError]:
    """ValidatePodTemplateSpec: template metadata labels/annotations and the pod spec."""
    template = _d(template)
    meta = _d(template.get("metadata"))
    errs = m.validate_labels(meta.get("labels"), f"{path}.labels")
    errs.extend(m.validate_annotations(meta.get("annotations"), f"{path}.annotations"))
    errs.extend(validate_pod_spec(template.get("spec"), f"{path}.spec"))
    if _l(_d(template.get("spec")).get("ephemeralContainers")):
        errs.append(forbidden(f"{path}.spec.ephemeralContainers", "ephemeral containers not allowed in pod template"))
    return errs

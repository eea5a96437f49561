"""Container environment as upstream's makeEnvironmentVariables: service links, envFrom, env with $(VAR)
expansion, fieldRef/resourceFieldRef/configMapKeyRef/secretKeyRef, and $(VAR) expansion in command and args."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

from kybernetes.api.validation.quantity import parse_quantity

Obj = dict[str, Any]
# (kind "configmaps"|"secrets", namespace, name) -> the object, or None when it does not exist.
ObjectGetter = Callable[[str, str, str], Awaitable[Obj | None]]

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_FIELD_KEY = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")


class EnvConfigError(Exception):
    """The environment cannot be built: the container waits with reason CreateContainerConfigError."""

    reason = "CreateContainerConfigError"


def expand(text: str, mapping: Callable[[str], str | None]) -> str:
    """Upstream's expansion.Expand: $(VAR) -> value (left as is when unknown), $$ -> $, other $ kept."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            if end < 0:
                out.append("$(")
                i += 2
            else:
                name = text[i + 2:end]
                value = mapping(name)
                out.append(value if value is not None else f"$({name})")
                i = end + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def mapping_for(*maps: dict[str, str]) -> Callable[[str], str | None]:
    def lookup(name: str) -> str | None:
        for m in maps:
            if name in m:
                return m[name]
        return None
    return lookup


def expand_command(container: Obj, env: dict[str, str]) -> tuple[list[str], list[str]]:
    """command and args with $(VAR) expanded from the container's final environment."""
    m = mapping_for(env)
    return ([expand(s, m) for s in container.get("command") or []], [expand(s, m) for s in container.get("args") or []])


# ---------------------------------------------------------------------------------------------- service links


def _env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def service_env(services: list[Obj]) -> dict[str, str]:
    """The {SVC}_SERVICE_HOST/_PORT and Docker-link variables of services that have a cluster IP."""
    env: dict[str, str] = {}
    for svc in sorted(services, key=lambda s: s["metadata"]["name"]):
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP") or ""
        ports = spec.get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        name = _env_name(svc["metadata"]["name"])
        env[f"{name}_SERVICE_HOST"] = ip
        env[f"{name}_SERVICE_PORT"] = str(ports[0].get("port"))
        for p in ports:
            if p.get("name"):
                env[f"{name}_SERVICE_PORT_{_env_name(p['name'])}"] = str(p.get("port"))
        first = ports[0]
        env[f"{name}_PORT"] = f"{first.get('protocol', 'TCP').lower()}://{ip}:{first.get('port')}"
        for p in ports:
            proto = p.get("protocol", "TCP")
            prefix = f"{name}_PORT_{p.get('port')}_{proto.upper()}"
            env[prefix] = f"{proto.lower()}://{ip}:{p.get('port')}"
            env[prefix + "_PROTO"] = proto.lower()
            env[prefix + "_PORT"] = str(p.get("port"))
            env[prefix + "_ADDR"] = ip
    return env


def services_for_pod(pod: Obj, services: list[Obj]) -> list[Obj]:
    """The `kubernetes` service of `default` always; the pod's namespace's services with enableServiceLinks."""
    ns = pod["metadata"].get("namespace", "default")
    links = (pod.get("spec") or {}).get("enableServiceLinks", True) is not False
    out: dict[str, Obj] = {}
    for svc in services:
        md = svc["metadata"]
        if md.get("namespace") == ns and links:
            out[md["name"]] = svc
    for svc in services:
        md = svc["metadata"]
        if md.get("namespace") == "default" and md["name"] == "kubernetes":
            out["kubernetes"] = svc
    return list(out.values())


# ---------------------------------------------------------------------------------------------- downward API


def field_ref_value(pod: Obj, field_path: str) -> str:
    """The value of a downward API fieldRef (env and volume files)."""
    md, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    m = _FIELD_KEY.match(field_path)
    if m:
        return str((md.get(m.group(1)) or {}).get(m.group(2), ""))
    if field_path in ("metadata.labels", "metadata.annotations"):
        values = md.get(field_path.split(".")[1]) or {}
        return "\n".join(f'{k}="{_escape(v)}"' for k, v in sorted(values.items()))
    simple = {"metadata.name": md.get("name"), "metadata.namespace": md.get("namespace"),
              "metadata.uid": md.get("uid"), "spec.nodeName": spec.get("nodeName"),
              "spec.serviceAccountName": spec.get("serviceAccountName"), "status.podIP": status.get("podIP"),
              "status.hostIP": status.get("hostIP")}
    if field_path in simple:
        return str(simple[field_path] or "")
    if field_path in ("status.podIPs", "status.hostIPs"):
        return ",".join(x.get("ip", "") for x in status.get(field_path.split(".")[1]) or [])
    raise EnvConfigError(f"unsupported fieldPath: {field_path}")


def _escape(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def resource_field_value(pod: Obj, ref: Obj, container_name: str, allocatable: dict[str, str]) -> str:
    """limits.cpu/memory/ephemeral-storage or requests.*, rounded up in units of the divisor; unset limits
    default to the node's allocatable, as upstream."""
    name = ref.get("containerName") or container_name
    containers = (pod.get("spec") or {}).get("containers", []) + (pod.get("spec") or {}).get("initContainers", [])
    container = next((c for c in containers if c.get("name") == name), None)
    if container is None:
        raise EnvConfigError(f"container {name} not found for resourceFieldRef")
    resource = ref.get("resource", "")
    kind, _, res = resource.partition(".")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(res)
    if raw is None and kind == "requests":
        raw = (resources.get("limits") or {}).get(res)
    if raw is None:
        raw = allocatable.get(res, "0") if kind == "limits" else "0"
    divisor = parse_quantity(ref.get("divisor") or "1")
    if divisor == 0:
        divisor = parse_quantity("1")
    value = parse_quantity(raw) / divisor
    return str(math.ceil(value))


# ---------------------------------------------------------------------------------------------- env


def _decode(obj: Obj, kind: str) -> dict[str, str]:
    if kind == "secrets":
        data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
        data.update(obj.get("stringData") or {})
        return data
    data = dict(obj.get("data") or {})
    data.update({k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("binaryData") or {}).items()})
    return data


async def _key_ref(get: ObjectGetter, kind: str, ns: str, ref: Obj) -> str | None:
    label = "ConfigMap" if kind == "configmaps" else "Secret"
    name, key, optional = ref.get("name", ""), ref.get("key", ""), bool(ref.get("optional"))
    obj = await get(kind, ns, name)
    if obj is None:
        if optional:
            return None
        raise EnvConfigError(f'{kind[:-1] if kind == "secrets" else "configmap"} "{name}" not found')
    data = _decode(obj, kind)
    if key not in data:
        if optional:
            return None
        raise EnvConfigError(f"couldn't find key {key} in {label} {ns}/{name}")
    return data[key]


async def make_environment(pod: Obj, container: Obj, *, get: ObjectGetter, services: list[Obj],
                           allocatable: dict[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """(environment, invalid envFrom keys skipped) for `container`; raises EnvConfigError."""
    ns = pod["metadata"].get("namespace", "default")
    svc_env = service_env(services_for_pod(pod, services))
    env: dict[str, str] = {}
    invalid: list[str] = []
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        kind, ref = ("configmaps", src["configMapRef"]) if src.get("configMapRef") else ("secrets", src.get("secretRef") or {})
        obj = await get(kind, ns, ref.get("name", ""))
        if obj is None:
            if ref.get("optional"):
                continue
            raise EnvConfigError(f'{"configmap" if kind == "configmaps" else "secret"} "{ref.get("name")}" not found')
        for k, v in _decode(obj, kind).items():
            key = prefix + k
            if not _ENV_NAME.match(key):
                invalid.append(key)
                continue
            env[key] = v
    for var in container.get("env") or []:
        name = var["name"]
        value_from = var.get("valueFrom")
        if not value_from:
            value = var.get("value") or ""
            env[name] = expand(value, mapping_for(env, svc_env)) if value else ""
            continue
        if value_from.get("fieldRef"):
            env[name] = field_ref_value(pod, value_from["fieldRef"].get("fieldPath", ""))
        elif value_from.get("resourceFieldRef"):
            env[name] = resource_field_value(pod, value_from["resourceFieldRef"], container["name"], allocatable or {})
        elif value_from.get("configMapKeyRef") or value_from.get("secretKeyRef"):
            kind = "configmaps" if value_from.get("configMapKeyRef") else "secrets"
            got = await _key_ref(get, kind, ns, value_from.get("configMapKeyRef") or value_from["secretKeyRef"])
            if got is not None:
                env[name] = got
    for k, v in svc_env.items():
        env.setdefault(k, v)
    return env, invalid

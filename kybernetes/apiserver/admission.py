"""Built-in admission: NamespaceLifecycle, ServiceAccount, DefaultTolerationSeconds, Service IP and port allocation."""

from __future__ import annotations

from typing import Any, Callable

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.allocators import IPAllocator, PortAllocator, service_ips, service_node_ports
from kybernetes.apiserver.watchcache import WatchCache

Rollback = Callable[[], None]

IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")
NAMESPACES_KEY_PREFIX = "/registry/core/namespaces/"
PRIORITY_CLASSES_KEY_PREFIX = "/registry/scheduling.k8s.io/priorityclasses/"
DEFAULT_TOLERATION_SECONDS = 300


def _noop() -> None:
    return None


class Admission:
    """Mutating and validating admission run on every write before it is stored."""

    def __init__(self, cache: WatchCache, ips: IPAllocator, ports: PortAllocator) -> None:
        self.cache = cache
        self.ips = ips
        self.ports = ports

    def sync_allocators(self) -> None:
        """Rebuild the allocators' in-use sets from the cached Services."""
        cache = self.cache.caches.get("/registry/core/services/")
        svcs = list(cache.objects.values()) if cache else []
        self.ips.reset(ip for s in svcs for ip in service_ips(s))
        self.ports.reset(p for s in svcs for p in service_node_ports(s))

    # NamespaceLifecycle

    def check_namespace(self, info: ResourceInfo, namespace: str, name: str) -> None:
        if not info.namespaced or (info.group, info.plural) == ("", "namespaces"):
            return
        ns_cache = self.cache.caches.get(NAMESPACES_KEY_PREFIX)
        ns = ns_cache.objects.get(NAMESPACES_KEY_PREFIX + namespace) if ns_cache else None
        if ns is None:
            raise errors.not_found("", "namespaces", namespace)
        if ns.get("metadata", {}).get("deletionTimestamp") or ns.get("status", {}).get("phase") == "Terminating":
            q = f"{info.plural}.{info.group}" if info.group else info.plural
            raise errors.StatusError(
                403, "Forbidden",
                f'{q} "{name}" is forbidden: unable to create new content in namespace {namespace} '
                "because it is being terminated",
                details={"name": name, "group": info.group, "kind": info.plural,
                         "causes": [{"reason": "NamespaceTerminating",
                                     "message": f"namespace {namespace} is being terminated",
                                     "field": "metadata.namespace"}]})

    def check_namespace_delete(self, info: ResourceInfo, name: str) -> None:
        if (info.group, info.plural) == ("", "namespaces") and name in IMMORTAL_NAMESPACES:
            raise errors.StatusError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                                     details={"name": name, "kind": "namespaces"})

    # create / update hooks

    def admit_create(self, info: ResourceInfo, obj: dict[str, Any]) -> Rollback:
        if (info.group, info.plural) == ("", "pods"):
            _pod_service_account(obj)
            _default_toleration_seconds(obj)
            self._pod_priority(obj)
        if (info.group, info.plural) == ("", "services"):
            return self._allocate_service(obj, None)
        return _noop

    def admit_update(self, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any], subresource: str) -> Rollback:
        if (info.group, info.plural) == ("", "services") and subresource == "":
            return self._allocate_service(obj, old)
        return _noop

    def _pod_priority(self, pod: dict[str, Any]) -> None:
        """Priority admission: spec.priority from the named PriorityClass, or the global default, or 0."""
        from kybernetes.api.defaults import set_pod_priority

        spec = pod.setdefault("spec", {})
        classes = self.cache.caches.get(PRIORITY_CLASSES_KEY_PREFIX)
        name = spec.get("priorityClassName")
        pc = None
        if name:
            pc = classes.objects.get(PRIORITY_CLASSES_KEY_PREFIX + name) if classes else None
            if pc is None:
                raise errors.StatusError(
                    403, "Forbidden",
                    f'pods "{pod.get("metadata", {}).get("name", "")}" is forbidden: no PriorityClass with name {name} was found',
                    details={"name": pod.get("metadata", {}).get("name", ""), "kind": "pods"})
        elif classes:
            defaults = [c for c in classes.objects.values() if c.get("globalDefault")]
            if defaults:
                pc = min(defaults, key=lambda c: c.get("value", 0))
                spec["priorityClassName"] = pc["metadata"]["name"]
        set_pod_priority(pod, pc)

    def released(self, info: ResourceInfo, obj: dict[str, Any]) -> None:
        """An object left storage: give back what it held."""
        if (info.group, info.plural) == ("", "services"):
            for ip in service_ips(obj):
                self.ips.release(ip)
            for p in service_node_ports(obj):
                self.ports.release(p)

    def _allocate_service(self, svc: dict[str, Any], old: dict[str, Any] | None) -> Rollback:
        spec = svc.setdefault("spec", {})
        name = (svc.get("metadata") or {}).get("name", "")
        stype = spec.get("type", "ClusterIP")
        taken_ips: list[str] = []
        taken_ports: list[int] = []
        freed_ports: list[int] = []

        def rollback() -> None:
            for ip in taken_ips:
                self.ips.release(ip)
            for p in taken_ports:
                self.ports.release(p)
            self.ports.used.update(freed_ports)

        try:
            old_spec = (old or {}).get("spec") or {}
            if stype == "ExternalName":
                if old is not None:
                    for ip in service_ips(old):
                        self.ips.release(ip)
                spec.pop("clusterIP", None)
                spec.pop("clusterIPs", None)
            elif old is not None and service_ips(old) and old_spec.get("type") != "ExternalName":
                # clusterIP is immutable: keep it (validation reports an attempt to change it)
                if not spec.get("clusterIP"):
                    spec["clusterIP"] = old_spec.get("clusterIP")
                    spec["clusterIPs"] = list(old_spec.get("clusterIPs") or [old_spec.get("clusterIP")])
            elif spec.get("clusterIP") == "None" or (spec.get("clusterIPs") or [None])[0] == "None":
                spec["clusterIP"] = "None"
                spec["clusterIPs"] = ["None"]
            else:
                want = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
                if want:
                    self.ips.allocate_specific(want, name=name, requested=list(spec.get("clusterIPs") or [want]))
                    ip = want
                else:
                    ip = self.ips.allocate()
                taken_ips.append(ip)
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
            if stype != "ExternalName":
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
            old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                         for p in old_spec.get("ports") or [] if isinstance(p, dict)}
            old_held = set(service_node_ports(old)) if old else set()
            needs_node_ports = stype == "NodePort" or (
                stype == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True))
            kept: set[int] = set()
            for i, port in enumerate(spec.get("ports") or []):
                if not isinstance(port, dict):
                    continue
                if not needs_node_ports:
                    if stype in ("ClusterIP", "ExternalName"):
                        port.pop("nodePort", None)
                    if port.get("nodePort"):
                        kept.add(port["nodePort"])
                    continue
                want = port.get("nodePort")
                if not want:
                    previous = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
                    if previous and previous not in kept:
                        port["nodePort"] = previous
                        kept.add(previous)
                        continue
                    port["nodePort"] = self.ports.allocate()
                    taken_ports.append(port["nodePort"])
                elif want in old_held and want not in kept:
                    kept.add(want)
                else:
                    self.ports.allocate_specific(want, f"spec.ports[{i}].nodePort", name)
                    taken_ports.append(want)
                    kept.add(want)
            for p in old_held - kept - set(taken_ports):
                if p != spec.get("healthCheckNodePort"):
                    self.ports.release(p)
                    freed_ports.append(p)
        except Exception:
            rollback()
            raise
        return rollback


def _pod_service_account(pod: dict[str, Any]) -> None:
    spec = pod.setdefault("spec", {})
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = sa
    spec["serviceAccount"] = sa


def _default_toleration_seconds(pod: dict[str, Any]) -> None:
    spec = pod.setdefault("spec", {})
    tolerations = spec.get("tolerations")
    if not isinstance(tolerations, list):
        tolerations = []
    keys = {(t.get("key"), t.get("effect")) for t in tolerations if isinstance(t, dict)}
    has_any = any(isinstance(t, dict) and t.get("operator") == "Exists" and not t.get("key") for t in tolerations)
    if has_any:
        return
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if (key, "NoExecute") not in keys and (key, None) not in keys and (key, "") not in keys:
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS})
    spec["tolerations"] = tolerations

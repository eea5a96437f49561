"""ServiceChangeTracker: Service events gathered between syncs, applied to the proxy's ServicePortMap at sync time."""

from __future__ import annotations

import threading

from kybernetes.proxy.types import (DEFAULT_AFFINITY_TIMEOUT, NamespacedName, Obj, ServicePortInfo, ServicePortMap,
                                    ServicePortName)


def should_skip_service(svc: Obj) -> bool:
    """Headless and ExternalName Services have nothing to proxy."""
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return True
    cluster_ip = spec.get("clusterIP") or ""
    return cluster_ip in ("", "None")


def service_ports(svc: Obj) -> ServicePortMap:
    """The ServicePortInfos of one Service (empty for those the proxy skips)."""
    if should_skip_service(svc):
        return {}
    meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    status = svc.get("status") or {}
    ns, name = meta.get("namespace", ""), meta.get("name", "")
    timeout = 0
    if spec.get("sessionAffinity") == "ClientIP":
        cfg = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
        timeout = int(cfg.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)
    svc_type = spec.get("type") or "ClusterIP"
    lb_ips = tuple(i["ip"] for i in ((status.get("loadBalancer") or {}).get("ingress") or []) if i.get("ip")) \
        if svc_type == "LoadBalancer" else ()
    out: ServicePortMap = {}
    for p in spec.get("ports") or []:
        protocol = p.get("protocol") or "TCP"
        spn = ServicePortName(ns, name, p.get("name") or "", protocol)
        out[spn] = ServicePortInfo(
            name=spn, cluster_ip=spec["clusterIP"], port=int(p["port"]), protocol=protocol, type=svc_type,
            node_port=int(p.get("nodePort") or 0) if svc_type in ("NodePort", "LoadBalancer") else 0,
            session_affinity_timeout=timeout, external_ips=tuple(spec.get("externalIPs") or ()),
            load_balancer_ips=lb_ips,
            external_policy_local=spec.get("externalTrafficPolicy") == "Local" and svc_type in ("NodePort",
                                                                                              "LoadBalancer"),
            internal_policy_local=spec.get("internalTrafficPolicy") == "Local",
            health_check_node_port=int(spec.get("healthCheckNodePort") or 0))
    return out


def _key(svc: Obj) -> NamespacedName:
    meta = svc.get("metadata") or {}
    return NamespacedName(meta.get("namespace", ""), meta.get("name", ""))


class ServiceChangeTracker:
    """Per Service, the ports as of the last sync and as of now; `apply` folds pending changes into a map.

    `update(previous, current)` takes the informer's objects (None for add/delete) and is safe to call
    from any handler; a change that is undone before the next sync is dropped.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[NamespacedName, tuple[ServicePortMap, ServicePortMap]] = {}

    def update(self, previous: Obj | None, current: Obj | None) -> bool:
        """Record a change; True if there is anything pending (a sync is worth running)."""
        svc = current if current is not None else previous
        if svc is None:
            return False
        key = _key(svc)
        with self._lock:
            if key in self._items:
                before = self._items[key][0]
            else:
                before = service_ports(previous) if previous is not None else {}
            after = service_ports(current) if current is not None else {}
            if before == after:
                self._items.pop(key, None)
            else:
                self._items[key] = (before, after)
            return bool(self._items)

    def pending(self) -> set[NamespacedName]:
        with self._lock:
            return set(self._items)

    def apply(self, service_map: ServicePortMap) -> tuple[set[NamespacedName], set[str]]:
        """Fold pending changes into `service_map` in place; return (updated Services, deleted UDP ClusterIPs)."""
        with self._lock:
            items, self._items = self._items, {}
        updated: set[NamespacedName] = set()
        deleted_udp: set[str] = set()
        for key, (before, after) in items.items():
            updated.add(key)
            for spn in before:
                info = service_map.pop(spn, None)
                if info is not None and spn not in after and info.protocol == "UDP":
                    deleted_udp.add(info.cluster_ip)
            service_map.update(after)
        return updated, deleted_udp

"""EndpointsChangeTracker: an EndpointSlice cache per Service, folded into the proxy's EndpointsMap at sync time."""

from __future__ import annotations

import threading

from kybernetes.proxy.types import EndpointInfo, EndpointsMap, NamespacedName, Obj, ServicePortName

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def slice_service(slice_: Obj) -> NamespacedName | None:
    meta = slice_.get("metadata") or {}
    name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return NamespacedName(meta.get("namespace", ""), name) if name else None


def slice_endpoints(slice_: Obj, node_name: str) -> dict[ServicePortName, list[EndpointInfo]]:
    """The endpoints one IPv4 EndpointSlice contributes, per Service port (ports carry resolved target ports)."""
    svc = slice_service(slice_)
    if svc is None or slice_.get("addressType", "IPv4") != "IPv4":
        return {}
    out: dict[ServicePortName, list[EndpointInfo]] = {}
    for port in slice_.get("ports") or []:
        if port.get("port") is None:
            continue
        spn = ServicePortName(svc.namespace, svc.name, port.get("name") or "", port.get("protocol") or "TCP")
        eps = out.setdefault(spn, [])
        for ep in slice_.get("endpoints") or []:
            addrs = ep.get("addresses") or []
            if not addrs:
                continue
            cond = ep.get("conditions") or {}
            ready = cond.get("ready") is not False  # nil means ready (upstream)
            serving = cond.get("serving") if cond.get("serving") is not None else ready
            ep_node = ep.get("nodeName") or ""
            eps.append(EndpointInfo(ip=addrs[0], port=int(port["port"]), ready=ready, serving=bool(serving),
                                    terminating=bool(cond.get("terminating")), node_name=ep_node,
                                    is_local=bool(node_name) and ep_node == node_name, zone=ep.get("zone") or ""))
    return out


def merge_slices(slices: list[Obj], node_name: str) -> dict[ServicePortName, list[EndpointInfo]]:
    """All slices of one Service merged; an address:port in several slices counts once (the first, by name)."""
    merged: dict[ServicePortName, dict[str, EndpointInfo]] = {}
    for s in sorted(slices, key=lambda s: (s.get("metadata") or {}).get("name", "")):
        for spn, eps in slice_endpoints(s, node_name).items():
            bucket = merged.setdefault(spn, {})
            for ep in eps:
                bucket.setdefault(ep.address, ep)
    return {spn: sorted(b.values(), key=lambda e: (e.ip, e.port)) for spn, b in merged.items()}


class EndpointsChangeTracker:
    """Caches EndpointSlices by Service; `apply` recomputes the Services that changed since the last sync."""

    def __init__(self, node_name: str = "") -> None:
        self.node_name = node_name
        self._lock = threading.Lock()
        self._slices: dict[NamespacedName, dict[str, Obj]] = {}
        self._pending: set[NamespacedName] = set()
        self._applied: dict[NamespacedName, dict[ServicePortName, list[EndpointInfo]]] = {}

    def update(self, slice_: Obj, removed: bool = False) -> bool:
        """Record an added/updated (or removed) slice; True if anything is pending."""
        svc = slice_service(slice_)
        if svc is None:
            return bool(self._pending)
        name = (slice_.get("metadata") or {}).get("name", "")
        with self._lock:
            bucket = self._slices.setdefault(svc, {})
            if removed:
                bucket.pop(name, None)
                if not bucket:
                    del self._slices[svc]
            else:
                bucket[name] = slice_
            self._pending.add(svc)
            return True

    def pending(self) -> set[NamespacedName]:
        with self._lock:
            return set(self._pending)

    def apply(self, endpoints_map: EndpointsMap) -> tuple[set[NamespacedName], list[tuple[ServicePortName,
                                                                                           EndpointInfo]],
                                                            set[ServicePortName]]:
        """Fold pending Services into `endpoints_map` in place.

        Returns (Services whose endpoints changed, UDP endpoints that went away, UDP ports that got their first
        serving endpoint); the last two are what stale conntrack entries must be flushed for.
        """
        with self._lock:
            pending, self._pending = self._pending, set()
            snapshot = {svc: list(self._slices.get(svc, {}).values()) for svc in pending}
        changed: set[NamespacedName] = set()
        stale: list[tuple[ServicePortName, EndpointInfo]] = []
        newly_active: set[ServicePortName] = set()
        for svc, slices in snapshot.items():
            new = merge_slices(slices, self.node_name)
            old = self._applied.get(svc, {})
            if new == old:
                continue
            changed.add(svc)
            for spn, eps in old.items():
                if spn.protocol != "UDP":
                    continue
                keep = {e.address for e in new.get(spn, []) if e.ready or e.serving}
                stale += [(spn, e) for e in eps if e.address not in keep]
            for spn, eps in new.items():
                if spn.protocol == "UDP" and any(e.serving for e in eps) \
                        and not any(e.serving for e in old.get(spn, [])):
                    newly_active.add(spn)
            for spn in old:
                endpoints_map.pop(spn, None)
            endpoints_map.update(new)
            if new:
                self._applied[svc] = new
            else:
                self._applied.pop(svc, None)
        return changed, stale, newly_active

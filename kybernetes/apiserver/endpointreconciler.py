"""The lease endpoint reconciler (upstream's --endpoint-reconciler-type=lease): the `kubernetes` Service's
Endpoints and EndpointSlices list exactly the apiservers that are alive.

Each apiserver keeps a coordination.k8s.io Lease `kube-system/kube-apiserver-<ip>-<port>` (holder "<ip>:<port>",
leaseDurationSeconds its TTL, upstream 15 s) and renews it every renew interval (upstream 10 s). A lease not
renewed for its TTL is expired, judged as client-go's leader election judges it: its resourceVersion has stayed
the same for TTL seconds of this apiserver's own clock, counted from when it first saw that version; so clocks
of different machines are never compared. An expired lease is deleted with a resourceVersion precondition, so a
late renewal always wins. Every reconcile writes the Endpoints only when they change; like upstream, it never
publishes an empty list (the last apiserver stopping leaves its address behind).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-system"
LEASE_PREFIX = "kube-apiserver-"
LEASE_LABEL = "kybernetes.io/apiserver-endpoint"  # marks the leases of this reconciler
DEFAULT_LEASE_TTL = 15.0
RENEW_FRACTION = 2 / 3  # upstream renews its 15 s lease every 10 s
PORT_NAME = "https"


@dataclass(frozen=True)
class APIServerEndpoint:
    """Where one apiserver serves: its advertise address and secure port."""

    ip: str
    port: int

    @property
    def lease_name(self) -> str:
        return f"{LEASE_PREFIX}{str(ipaddress.ip_address(self.ip)).replace(':', '-')}-{self.port}"

    @property
    def holder(self) -> str:
        return f"{self.ip}:{self.port}"

    def sort_key(self) -> tuple[int, int, Any]:
        addr = ipaddress.ip_address(self.ip)
        return (self.port, addr.version, addr)


@dataclass(frozen=True)
class LeaseRecord:
    """One apiserver's lease as read back: its name and resourceVersion, whom it announces, for how long."""

    name: str
    resource_version: str
    endpoint: APIServerEndpoint
    ttl: float


class LeaseClient(Protocol):
    """Where the leases live (the apiserver's own storage path; a fake in tests)."""

    async def list(self) -> list[dict[str, Any]]:
        """Every Lease in LEASE_NAMESPACE labelled LEASE_LABEL."""
        ...

    async def put(self, lease: dict[str, Any]) -> None:
        """Create the Lease or overwrite it."""
        ...

    async def delete(self, name: str, resource_version: str) -> None:
        """Delete the Lease only if it is still at resource_version; gone or changed is not an error."""
        ...


def _micro_time() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_object(endpoint: APIServerEndpoint, ttl: float) -> dict[str, Any]:
    """This apiserver's Lease, renewed now."""
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": endpoint.lease_name, "namespace": LEASE_NAMESPACE, "labels": {LEASE_LABEL: "true"}},
            "spec": {"holderIdentity": endpoint.holder, "leaseDurationSeconds": max(1, math.ceil(ttl)),
                     "renewTime": _micro_time()}}


def parse_lease(obj: dict[str, Any]) -> LeaseRecord | None:
    """The record of a Lease of this reconciler; None for anything else or unreadable."""
    try:
        md, spec = obj["metadata"], obj.get("spec") or {}
        if (md.get("labels") or {}).get(LEASE_LABEL) != "true":
            return None
        host, _, port = str(spec["holderIdentity"]).rpartition(":")
        ipaddress.ip_address(host)
        return LeaseRecord(md["name"], str(md.get("resourceVersion", "")), APIServerEndpoint(host, int(port)),
                           float(spec.get("leaseDurationSeconds") or DEFAULT_LEASE_TTL))
    except (KeyError, TypeError, ValueError):
        return None


class LeaseExpiry:
    """When each lease's current resourceVersion was first seen locally (client-go's observedTime)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.monotonic = monotonic
        self._seen: dict[str, tuple[str, float]] = {}

    def expired(self, record: LeaseRecord) -> bool:
        now = self.monotonic()
        seen = self._seen.get(record.name)
        if seen is None or seen[0] != record.resource_version:
            self._seen[record.name] = (record.resource_version, now)
            return False
        return now - seen[1] >= record.ttl

    def forget_except(self, names: set[str]) -> None:
        for name in set(self._seen) - names:
            del self._seen[name]


def group_by_port(endpoints: list[APIServerEndpoint]) -> list[tuple[int, list[str]]]:
    """[(port, [ip, ...]), ...] sorted by port, addresses sorted: every apiserver computes the same answer."""
    groups: dict[int, list[str]] = {}
    for ep in sorted(set(endpoints), key=APIServerEndpoint.sort_key):
        groups.setdefault(ep.port, []).append(ep.ip)
    return sorted(groups.items())


def endpoints_object(endpoints: list[APIServerEndpoint]) -> dict[str, Any]:
    """The `kubernetes` Endpoints: one subset per port (all apiservers share one port in the usual setup)."""
    return {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": ip} for ip in ips],
                     "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}]}
                    for port, ips in group_by_port(endpoints)],
    }


def endpoint_slice_name(index: int, port: int) -> str:
    return "kubernetes" if index == 0 else f"kubernetes-{port}"


def endpoint_slice_objects(endpoints: list[APIServerEndpoint]) -> list[dict[str, Any]]:
    """The `kubernetes` EndpointSlice (a slice has one port list: apiservers on another port get their own)."""
    out = []
    for i, (port, ips) in enumerate(group_by_port(endpoints)):
        out.append({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": endpoint_slice_name(i, port), "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "kubernetes",
                                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "addressType": "IPv6" if ":" in ips[0] else "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
            "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}],
        })
    return out


Publish = Callable[[list[APIServerEndpoint]], Awaitable[None]]


class LeaseEndpointReconciler:
    """Keeps this apiserver's lease alive and publishes the live apiservers through `publish`."""

    def __init__(self, *, leases: LeaseClient, publish: Publish, endpoint: APIServerEndpoint,
                 ttl: float = DEFAULT_LEASE_TTL, renew_interval: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.leases = leases
        self.publish = publish
        self.endpoint = endpoint
        self.ttl = ttl
        self.renew_interval = renew_interval if renew_interval else ttl * RENEW_FRACTION
        self.expiry = LeaseExpiry(monotonic)
        self.published: list[APIServerEndpoint] = []

    async def reconcile(self) -> list[APIServerEndpoint]:
        """Renew our lease, expire dead ones, publish the live apiservers (ours among them); returns them."""
        await self.leases.put(lease_object(self.endpoint, self.ttl))
        live = await self.live_endpoints()
        if self.endpoint not in live:
            live.append(self.endpoint)
        await self._publish(live)
        return live

    async def run(self) -> None:
        """reconcile() every renew interval until cancelled; failures are logged and retried next time."""
        while True:
            await asyncio.sleep(self.renew_interval)
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - storage may be briefly unreachable; the next round retries
                log.warning("reconciling the kubernetes endpoints failed", exc_info=True)

    async def remove(self) -> None:
        """On shutdown: drop our lease and publish the others (if any are left)."""
        live = []
        for record in self._records(await self.leases.list()):
            if record.endpoint == self.endpoint:
                await self.leases.delete(record.name, record.resource_version)
            elif not self.expiry.expired(record):
                live.append(record.endpoint)
        await self._publish(live)

    @staticmethod
    def _records(leases: list[dict[str, Any]]) -> list[LeaseRecord]:
        return [r for r in map(parse_lease, leases) if r is not None]

    async def live_endpoints(self) -> list[APIServerEndpoint]:
        """The apiservers whose lease is live (ours always); expired leases are deleted."""
        records = self._records(await self.leases.list())
        live: list[APIServerEndpoint] = []
        for record in records:
            if record.endpoint != self.endpoint and self.expiry.expired(record):
                log.info("apiserver %s stopped renewing its lease; removing it from the kubernetes endpoints",
                         record.endpoint.holder)
                await self.leases.delete(record.name, record.resource_version)
                continue
            live.append(record.endpoint)
        self.expiry.forget_except({r.name for r in records})
        return live

    async def _publish(self, live: list[APIServerEndpoint]) -> None:
        if not live:
            log.warning("no live apiserver lease; leaving the kubernetes endpoints as they are")
            return
        live = sorted(set(live), key=APIServerEndpoint.sort_key)
        await self.publish(live)
        if live != self.published:
            log.info("kubernetes endpoints: %s", ", ".join(ep.holder for ep in live))
            self.published = live

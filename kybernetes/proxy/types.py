"""The proxy's view of Services and endpoints: ServicePortName, ServicePortInfo and EndpointInfo (upstream's names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

Obj = dict[str, Any]

DEFAULT_AFFINITY_TIMEOUT = 10800


class NamespacedName(NamedTuple):
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class ServicePortName(NamedTuple):
    """One port of one Service: what a proxy rule or listener is keyed by."""

    namespace: str
    name: str
    port: str  # the ServicePort's name ("" when the Service has a single unnamed port)
    protocol: str  # TCP, UDP, SCTP

    @property
    def service(self) -> NamespacedName:
        return NamespacedName(self.namespace, self.name)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}:{self.port}" if self.port else f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ServicePortInfo:
    """What the proxy needs of one Service port (upstream's BaseServicePortInfo)."""

    name: ServicePortName
    cluster_ip: str
    port: int
    protocol: str
    type: str = "ClusterIP"
    node_port: int = 0
    session_affinity_timeout: int = 0  # seconds; 0 = no ClientIP affinity
    external_ips: tuple[str, ...] = ()
    load_balancer_ips: tuple[str, ...] = ()  # status.loadBalancer.ingress[].ip
    external_policy_local: bool = False
    internal_policy_local: bool = False
    health_check_node_port: int = 0

    @property
    def externally_accessible(self) -> bool:
        return self.node_port > 0 or bool(self.load_balancer_ips) or bool(self.external_ips)

    def uses_cluster_endpoints(self) -> bool:
        """Some traffic to this port goes to endpoints on any node."""
        return not self.internal_policy_local or (self.externally_accessible and not self.external_policy_local)

    def uses_local_endpoints(self) -> bool:
        """Some traffic to this port goes only to endpoints on this node."""
        return self.internal_policy_local or (self.externally_accessible and self.external_policy_local)


@dataclass(frozen=True)
class EndpointInfo:
    """One endpoint address:port of a Service port, with its EndpointSlice conditions."""

    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    node_name: str = ""
    is_local: bool = False
    zone: str = ""

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"


ServicePortMap = dict[ServicePortName, ServicePortInfo]
EndpointsMap = dict[ServicePortName, list[EndpointInfo]]


@dataclass
class UpdateResult:
    """What one sync applied: the Services whose ports or endpoints changed, and what UDP conntrack to flush."""

    updated_services: set[NamespacedName] = field(default_factory=set)
    deleted_udp_cluster_ips: set[str] = field(default_factory=set)
    stale_udp_endpoints: list[tuple[ServicePortName, EndpointInfo]] = field(default_factory=list)
    newly_active_udp_services: set[ServicePortName] = field(default_factory=set)

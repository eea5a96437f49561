"""The userspace backend: a forwarder per (address, port, protocol) that has endpoints; none where it has not.

A Service port with no usable endpoints has no listener, so the kernel refuses its connections at once
(TCP RST, ICMP port unreachable for UDP). ClusterIPs are listened on directly, which works without root
when they are loopback addresses (`kybernetes server` picks 127.43.0.0/16 in this mode); NodePorts and
LoadBalancer ports listen on the node's addresses.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import NamedTuple

from kybernetes.client.clock import Clock, RealClock
from kybernetes.proxy.metrics import ProxyMetrics
from kybernetes.proxy.proxier import SyncState
from kybernetes.proxy.topology import categorize_endpoints, external_endpoints, internal_endpoints
from kybernetes.proxy.types import EndpointInfo, ServicePortInfo, ServicePortName
from kybernetes.proxy.userspace.roundrobin import RoundRobin
from kybernetes.proxy.userspace.sctp import sctp_supported
from kybernetes.proxy.userspace.tcp import StreamForwarder
from kybernetes.proxy.userspace.udp import DEFAULT_IDLE_TIMEOUT, DatagramForwarder

log = logging.getLogger(__name__)


class ListenKey(NamedTuple):
    ip: str
    port: int
    protocol: str

    def __str__(self) -> str:
        return f"{self.protocol.lower()}/{self.ip}:{self.port}"


@dataclass
class Desired:
    spn: ServicePortName
    endpoints: list[EndpointInfo]
    affinity: float


@dataclass
class Listener:
    key: ListenKey
    spn: ServicePortName
    balancer: RoundRobin
    forwarder: StreamForwarder | DatagramForwarder


def desired_listeners(svc: ServicePortInfo, endpoints: list[EndpointInfo], node_ips: list[str]) \
        -> dict[ListenKey, Desired]:
    """The sockets one Service port needs, each with the endpoints its traffic may go to."""
    cat = categorize_endpoints(endpoints, svc)
    internal, external = internal_endpoints(cat, svc), external_endpoints(cat, svc)
    aff = float(svc.session_affinity_timeout)
    out: dict[ListenKey, Desired] = {ListenKey(svc.cluster_ip, svc.port, svc.protocol): Desired(svc.name, internal,
                                                                                                aff)}
    if svc.node_port:
        for ip in node_ips:
            out[ListenKey(ip, svc.node_port, svc.protocol)] = Desired(svc.name, external, aff)
    ext_ips = set(svc.external_ips)
    if svc.type == "LoadBalancer":  # k3s-style: the Service port on every node address
        ext_ips.update(node_ips)
        ext_ips.update(ip for ip in svc.load_balancer_ips if ip in node_ips)
    for ip in sorted(ext_ips):
        key = ListenKey(ip, svc.port, svc.protocol)
        out.setdefault(key, Desired(svc.name, external, aff))
    return out


class UserspaceProxier:
    """ProxyBackend for mode `userspace`."""

    mode = "userspace"

    def __init__(self, *, metrics: ProxyMetrics | None = None, udp_idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 clock: Clock | None = None) -> None:
        self.metrics = metrics or ProxyMetrics()
        self.udp_idle_timeout = udp_idle_timeout
        self.clock = clock or RealClock()
        self.listeners: dict[ListenKey, Listener] = {}
        self._failed: set[ListenKey] = set()
        self._sctp_warned: set[ServicePortName] = set()
        self._nonlocal_warned = False
        self._sctp = sctp_supported()
        if not self._sctp:
            log.warning("this kernel cannot open SCTP sockets: SCTP Services are not proxied in userspace mode")

    async def sync(self, state: SyncState) -> None:
        desired: dict[ListenKey, Desired] = {}
        for spn, svc in state.service_map.items():
            if svc.protocol == "SCTP" and not self._sctp:
                if spn not in self._sctp_warned:
                    self._sctp_warned.add(spn)
                    log.warning("SCTP Service port %s is not proxied: the kernel has no SCTP sockets", spn)
                continue
            for key, d in desired_listeners(svc, state.endpoints_map.get(spn, []), state.node_ips).items():
                desired.setdefault(key, d)
        for key in [k for k in self.listeners if k not in desired or not desired[k].endpoints]:
            await self._close(key)
        for key, d in desired.items():
            if not d.endpoints:
                continue
            lst = self.listeners.get(key)
            if lst is not None and lst.spn != d.spn:
                await self._close(key)
                lst = None
            if lst is None:
                lst = await self._open(key, d)
                if lst is None:
                    continue
            lst.balancer.set_endpoints(d.endpoints, d.affinity)
            if isinstance(lst.forwarder, DatagramForwarder):
                lst.forwarder.flows.drop_endpoints({e.address for e in d.endpoints})
        for proto in ("TCP", "UDP", "SCTP"):
            self.metrics.listeners.labels(proto).set(sum(1 for k in self.listeners if k.protocol == proto))
        self.metrics.flows.set(sum(len(lst.forwarder.flows) for lst in self.listeners.values()
                                   if isinstance(lst.forwarder, DatagramForwarder)))

    async def _open(self, key: ListenKey, d: Desired) -> Listener | None:
        balancer = RoundRobin(d.endpoints, affinity_timeout=d.affinity, clock=self.clock)
        name = f"{d.spn} {key}"

        def result(r: str, proto: str = key.protocol) -> None:
            self.metrics.connections.labels(proto, r).inc()

        def active(delta: int, proto: str = key.protocol) -> None:
            self.metrics.active_connections.labels(proto).inc(delta)

        fwd: StreamForwarder | DatagramForwarder
        if key.protocol == "UDP":
            fwd = DatagramForwarder(name, balancer.pick, idle_timeout=self.udp_idle_timeout, clock=self.clock,
                                    on_result=result)
        else:
            fwd = StreamForwarder(name, balancer.pick, protocol=key.protocol, on_result=result, on_active=active)
        try:
            await fwd.start(key.ip, key.port)
        except OSError as e:
            if key not in self._failed:
                self._failed.add(key)
                if e.errno == 99 and not self._nonlocal_warned:  # EADDRNOTAVAIL
                    self._nonlocal_warned = True
                    log.warning("%s: %s is not an address of this machine; ClusterIPs must come from a loopback "
                                "range (--service-cluster-ip-range 127.43.0.0/16) in userspace mode", name, key.ip)
                else:
                    log.warning("%s: cannot listen: %s", name, e)
            return None
        self._failed.discard(key)
        lst = Listener(key, d.spn, balancer, fwd)
        self.listeners[key] = lst
        log.info("listening on %s for %s", key, d.spn)
        return lst

    async def _close(self, key: ListenKey) -> None:
        lst = self.listeners.pop(key, None)
        if lst is not None:
            await lst.forwarder.close()
            log.info("closed %s for %s", key, lst.spn)

    async def cleanup(self) -> None:
        for key in list(self.listeners):
            await self._close(key)


def is_loopback_cidr(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).subnet_of(ipaddress.ip_network("127.0.0.0/8"))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return False



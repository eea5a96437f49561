"""Cluster DNS answers from informer caches, as CoreDNS's kubernetes plugin gives them (DNS schema 1.1.0).

`ClusterRecords.lookup(qname, qtype)` returns an `Answer` value: records in presentation format, an rcode, and
whether the name is outside the cluster's zones (to be forwarded). It reads only the caches it is given (anything
with the `Indexer` interface: `get`, `list`, `by_index`), so it is tested with plain caches and no network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from dns.rcode import NOERROR, NXDOMAIN, Rcode
from dns.rdatatype import AAAA, ANY, CNAME, NS, PTR, SOA, SRV, TXT, A, RdataType

Obj = dict[str, Any]

TTL = 30
NEGATIVE_TTL = 5
SCHEMA_VERSION = "1.1.0"
MAX_CNAME_CHAIN = 8
SERVICE_NAME_LABEL = "kubernetes.io/service-name"

# Index names the caches must carry (see INDEXERS).
BY_SERVICE = "dns.service"  # EndpointSlices by "namespace/service"
BY_ADDRESS = "dns.address"  # EndpointSlices by endpoint address
BY_CLUSTER_IP = "dns.clusterIP"  # Services by ClusterIP
BY_POD_IP = "dns.podIP"  # Pods by pod IP (host-network pods left out)


class Store(Protocol):
    """The part of client.cache.Indexer the records read."""

    def get(self, name: str, namespace: str | None = None) -> Obj | None: ...

    def list(self, namespace: str | None = None) -> list[Obj]: ...

    def by_index(self, index_name: str, value: str) -> list[Obj]: ...


def _slice_service(s: Obj) -> list[str]:
    md = s.get("metadata") or {}
    name = (md.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return [f"{md.get('namespace', '')}/{name}"] if name else []


def _slice_addresses(s: Obj) -> list[str]:
    return sorted({a for ep in s.get("endpoints") or () for a in ep.get("addresses") or ()})


def _cluster_ips(svc: Obj) -> list[str]:
    spec = svc.get("spec") or {}
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [ip for ip in ips if ip and ip != "None"]


def _pod_ips(pod: Obj) -> list[str]:
    if (pod.get("spec") or {}).get("hostNetwork"):
        return []
    st = pod.get("status") or {}
    ips = [p.get("ip") for p in st.get("podIPs") or ()] or [st.get("podIP")]
    return [ip for ip in ips if ip]


INDEXERS: dict[str, dict[str, Any]] = {
    "services": {BY_CLUSTER_IP: _cluster_ips},
    "endpointslices": {BY_SERVICE: _slice_service, BY_ADDRESS: _slice_addresses},
    "pods": {BY_POD_IP: _pod_ips},
}


@dataclass(frozen=True)
class RR:
    """One resource record: absolute owner name, type, presentation-format data, TTL."""

    name: str
    rdtype: RdataType
    data: str
    ttl: int = TTL


@dataclass
class Answer:
    """The outcome of a lookup. `forward`: not a cluster name; the server forwards it or refuses."""

    rcode: Rcode = NOERROR
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)
    forward: bool = False
    zone: str = "."


@dataclass(frozen=True)
class _Endpoint:
    hostname: str  # the DNS label: endpoint hostname, or its address with dashes
    address: str
    ports: tuple[tuple[str, str, int], ...]  # (name, protocol, port)


def dashed(ip: str) -> str:
    """An address as one DNS label: 10.0.0.1 -> 10-0-0-1, fd00::1 -> fd00--1 (CoreDNS's endpoint names)."""
    return ip.replace(".", "-").replace(":", "-")


def _undash(label: str) -> str | None:
    """The address of a dashed pod label, or None when it is not one."""
    for text in (label.replace("-", "."), label.replace("-", ":")):
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            continue
    return None


def reverse_address(labels: list[str]) -> str | None:
    """The address of a full reverse name (labels without in-addr.arpa / ip6.arpa, leftmost first)."""
    if len(labels) == 4:
        try:
            return str(ipaddress.IPv4Address(".".join(reversed(labels))))
        except ValueError:
            return None
    if len(labels) == 32 and all(len(x) == 1 for x in labels):
        nibbles = "".join(reversed(labels))
        try:
            return str(ipaddress.IPv6Address(":".join(nibbles[i:i + 4] for i in range(0, 32, 4))))
        except ValueError:
            return None
    return None


def _family_type(ip: str) -> RdataType:
    return AAAA if ":" in ip else A


def _port_matches(want_port: str | None, want_proto: str | None, name: str, proto: str) -> bool:
    """CoreDNS's matchPortAndProtocol: an absent part matches anything; names compare case-insensitively."""
    if want_port is not None and want_port != (name or "").lower():
        return False
    return want_proto is None or want_proto == (proto or "TCP").lower()


class ClusterRecords:
    """Answers for `<zone>` and the reverse zones from Service, EndpointSlice and (optionally) Pod caches.

    pods: "insecure" answers `a-b-c-d.ns.pod.<zone>` from the name alone (CoreDNS `pods insecure`),
    "verified" only when a pod in that namespace has that IP (needs the pods cache), "disabled" never.
    """

    def __init__(self, *, services: Store, endpointslices: Store, pods: Store | None = None,
                 zone: str = "cluster.local", pods_mode: str = "insecure",
                 dns_service: tuple[str, str] = ("kube-system", "kube-dns")) -> None:
        if pods_mode not in ("insecure", "verified", "disabled"):
            raise ValueError(f"pods mode {pods_mode!r}: want insecure, verified or disabled")
        if pods_mode == "verified" and pods is None:
            raise ValueError("pods verified needs a pods cache")
        self.services = services
        self.slices = endpointslices
        self.pods = pods
        self.zone = zone.lower().strip(".")
        self.origin = self.zone + "."
        self._zone_labels = len(self.zone.split("."))
        self.pods_mode = pods_mode
        self.dns_service = dns_service
        self.serial = 1  # SOA serial: the app moves it on every change it sees

    # -- entry point -----------------------------------------------------------------------------------------

    def lookup(self, qname: str, qtype: int, *, depth: int = 0) -> Answer:
        """The answer for one question. `qname` is absolute or relative to the root; case is kept in answers.
        `depth` counts CNAMEs already followed inside the zone."""
        owner = qname if qname.endswith(".") else qname + "."
        name = owner.lower().rstrip(".")
        if name == self.zone or name.endswith("." + self.zone):
            labels = name.split(".")[:-self._zone_labels] if name != self.zone else []
            return self._in_zone(owner, labels, RdataType.make(qtype), depth)
        for suffix in (".in-addr.arpa", ".ip6.arpa"):
            if name.endswith(suffix):
                return self._reverse(owner, name[:-len(suffix)].split("."), RdataType.make(qtype))
        return Answer(forward=True)

    # -- building blocks -------------------------------------------------------------------------------------

    def soa(self, zone: str | None = None) -> RR:
        z = zone or self.origin
        return RR(z, SOA, f"ns.dns.{self.origin} hostmaster.{self.origin} {self.serial} 7200 1800 86400 "
                          f"{NEGATIVE_TTL}", NEGATIVE_TTL)

    def _negative(self, rcode: Rcode) -> Answer:
        """NXDOMAIN (rcode NXDOMAIN) or NODATA (NOERROR, no answer), with the zone's SOA as authority."""
        return Answer(rcode, authority=[self.soa()], zone=self.origin)

    def _positive(self, answer: list[RR], additional: Iterable[RR] = ()) -> Answer:
        if not answer:
            return self._negative(NOERROR)
        return Answer(NOERROR, answer=list(dict.fromkeys(answer)), additional=list(additional), zone=self.origin)

    @staticmethod
    def _addresses(owner: str, ips: Iterable[str], qtype: RdataType) -> list[RR]:
        seen: list[str] = []
        for ip in ips:
            if ip not in seen and (qtype == ANY or _family_type(ip) == qtype):
                seen.append(ip)
        return [RR(owner, _family_type(ip), ip) for ip in seen]

    # -- the cluster zone ------------------------------------------------------------------------------------

    def _in_zone(self, owner: str, labels: list[str], qtype: RdataType, depth: int) -> Answer:
        if not labels:
            return self._apex(owner, qtype)
        kind, rest = labels[-1], labels[:-1]
        if kind == "svc":
            return self._svc(owner, rest, qtype, depth)
        if kind == "pod":
            return self._pod(owner, rest, qtype)
        if labels == ["dns-version"]:
            return self._positive([RR(owner, TXT, f'"{SCHEMA_VERSION}"')] if qtype in (TXT, ANY) else [])
        if labels == ["ns", "dns"]:
            return self._positive(self._addresses(owner, self._dns_ips(), qtype))
        if labels == ["dns"]:
            return self._negative(NOERROR)  # an empty non-terminal
        return self._negative(NXDOMAIN)

    def _dns_ips(self) -> list[str]:
        ns, name = self.dns_service
        svc = self.services.get(name, ns)
        return _cluster_ips(svc) if svc else []

    def _apex(self, owner: str, qtype: RdataType) -> Answer:
        if qtype == SOA:
            soa = self.soa(owner)
            return Answer(NOERROR, answer=[RR(owner, SOA, soa.data, TTL)], zone=self.origin)
        if qtype == NS:
            target = f"ns.dns.{self.origin}"
            return self._positive([RR(owner, NS, target)], self._addresses(target, self._dns_ips(), ANY))
        return self._negative(NOERROR)

    def _svc(self, owner: str, rest: list[str], qtype: RdataType, depth: int) -> Answer:
        if not rest:
            return self._negative(NOERROR)  # svc.<zone>
        if len(rest) == 1:  # <ns>.svc.<zone>: exists while the namespace has Services
            return self._negative(NOERROR if self.services.list(rest[0]) else NXDOMAIN)
        port = proto = endpoint = None
        if len(rest) == 4 and rest[0].startswith("_") and rest[1].startswith("_"):
            port, proto = rest[0][1:], rest[1][1:]
        elif len(rest) == 3:
            endpoint = rest[0]
        elif len(rest) != 2:
            return self._negative(NXDOMAIN)
        name, ns = rest[-2], rest[-1]
        svc = self.services.get(name, ns)
        if svc is None:
            return self._negative(NXDOMAIN)
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName":
            return self._external_name(owner, svc, qtype, port, proto, endpoint, depth)
        if spec.get("clusterIP") == "None" or endpoint is not None:
            return self._headless(owner, svc, qtype, port, proto, endpoint)
        return self._cluster_ip(owner, svc, qtype, port, proto)

    def _service_fqdn(self, svc: Obj) -> str:
        md = svc["metadata"]
        return f"{md['name']}.{md['namespace']}.svc.{self.origin}".lower()

    def _cluster_ip(self, owner: str, svc: Obj, qtype: RdataType, port: str | None, proto: str | None) -> Answer:
        ports = [p for p in (svc.get("spec") or {}).get("ports") or ()
                 if _port_matches(port, proto, p.get("name", ""), p.get("protocol", "TCP"))]
        if not ports:
            return self._negative(NXDOMAIN)
        ips = _cluster_ips(svc)
        if qtype != SRV:
            return self._positive(self._addresses(owner, ips, qtype))
        target = self._service_fqdn(svc)
        weight = 100 // len(ports)
        srv = [RR(owner, SRV, f"0 {weight} {p['port']} {target}") for p in ports]
        return self._positive(srv, self._addresses(target, ips, ANY))

    def endpoints(self, svc: Obj) -> list[_Endpoint]:
        """The Service's endpoints DNS publishes: ready ones (or all with publishNotReadyAddresses)."""
        md = svc["metadata"]
        publish_all = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
        out: list[_Endpoint] = []
        for s in self.slices.by_index(BY_SERVICE, f"{md['namespace']}/{md['name']}"):
            ports = tuple((p.get("name") or "", p.get("protocol") or "TCP", p["port"])
                          for p in s.get("ports") or () if p.get("port") is not None)
            for ep in s.get("endpoints") or ():
                if not publish_all and (ep.get("conditions") or {}).get("ready") is False:
                    continue
                for ip in ep.get("addresses") or ():
                    out.append(_Endpoint((ep.get("hostname") or dashed(ip)).lower(), ip, ports))
        return out

    def _headless(self, owner: str, svc: Obj, qtype: RdataType, port: str | None, proto: str | None,
                  endpoint: str | None) -> Answer:
        eps = [e for e in self.endpoints(svc) if endpoint is None or e.hostname == endpoint]
        if port is not None or proto is not None:
            eps = [e for e in eps if any(_port_matches(port, proto, *p[:2]) for p in e.ports)]
        if not eps:
            return self._negative(NXDOMAIN)
        if qtype != SRV:
            return self._positive(self._addresses(owner, (e.address for e in eps), qtype))
        base = self._service_fqdn(svc)
        pairs = [(e, p) for e in eps for p in e.ports if _port_matches(port, proto, p[0], p[1])]
        if not pairs:
            return self._negative(NOERROR)
        weight = max(1, 100 // len(pairs))
        srv, extra = [], []
        for e, p in pairs:
            target = f"{e.hostname}.{base}"
            srv.append(RR(owner, SRV, f"0 {weight} {p[2]} {target}"))
            extra.extend(self._addresses(target, [e.address], ANY))
        return self._positive(srv, dict.fromkeys(extra))

    def _external_name(self, owner: str, svc: Obj, qtype: RdataType, port: str | None, proto: str | None,
                       endpoint: str | None, depth: int) -> Answer:
        spec = svc.get("spec") or {}
        target = (spec.get("externalName") or "").rstrip(".") + "."
        if endpoint is not None or target == ".":
            return self._negative(NXDOMAIN)
        if qtype == SRV:
            ports = [p for p in spec.get("ports") or ()
                     if _port_matches(port, proto, p.get("name", ""), p.get("protocol", "TCP"))]
            if port is not None and not ports:
                return self._negative(NXDOMAIN)
            return self._positive([RR(owner, SRV, f"0 {max(1, 100 // len(ports))} {p['port']} {target}")
                                   for p in ports])
        answer = [RR(owner, CNAME, target)]
        chased = target.lower().rstrip(".")
        if qtype != CNAME and chased.endswith("." + self.zone) and chased != owner.lower().rstrip(".") \
                and depth < MAX_CNAME_CHAIN:
            inner = self.lookup(target, qtype, depth=depth + 1)  # a target inside the cluster: answered here
            if inner.rcode == NOERROR:
                answer.extend(inner.answer)
        return self._positive(answer)

    # -- pods ------------------------------------------------------------------------------------------------

    def _pod(self, owner: str, rest: list[str], qtype: RdataType) -> Answer:
        if not rest:
            return self._negative(NOERROR)  # pod.<zone>
        if len(rest) == 1:  # <ns>.pod.<zone>
            return self._negative(NXDOMAIN if self.pods_mode == "disabled" else NOERROR)
        if len(rest) != 2 or self.pods_mode == "disabled":
            return self._negative(NXDOMAIN)
        label, ns = rest
        ip = _undash(label)
        if ip is None:
            return self._negative(NXDOMAIN)
        if self.pods_mode == "verified":
            assert self.pods is not None
            if not any((p.get("metadata") or {}).get("namespace") == ns and not
                       (p.get("metadata") or {}).get("deletionTimestamp")
                       for p in self.pods.by_index(BY_POD_IP, ip)):
                return self._negative(NXDOMAIN)
        return self._positive(self._addresses(owner, [ip], qtype))

    # -- reverse zones ---------------------------------------------------------------------------------------

    def ptr_targets(self, ip: str) -> list[str]:
        """Names of an address: Services with it as ClusterIP, endpoints with it, else pods with it."""
        names = [self._service_fqdn(s) for s in self.services.by_index(BY_CLUSTER_IP, ip)]
        for s in self.slices.by_index(BY_ADDRESS, ip):
            md = s.get("metadata") or {}
            svc_name = (md.get("labels") or {}).get(SERVICE_NAME_LABEL)
            if not svc_name:
                continue
            for ep in s.get("endpoints") or ():
                if ip in (ep.get("addresses") or ()):
                    names.append(f"{(ep.get('hostname') or dashed(ip)).lower()}.{svc_name}.{md['namespace']}"
                                 f".svc.{self.origin}")
        if not names and self.pods is not None:
            names = [f"{dashed(ip)}.{p['metadata']['namespace']}.pod.{self.origin}"
                     for p in self.pods.by_index(BY_POD_IP, ip)]
        return list(dict.fromkeys(names))

    def _reverse(self, owner: str, labels: list[str], qtype: RdataType) -> Answer:
        ip = reverse_address(labels)
        targets = self.ptr_targets(ip) if ip else []
        if not targets:
            return Answer(forward=True)
        if qtype not in (PTR, ANY):
            return Answer(NOERROR, authority=[self.soa()], zone=self.origin)
        return Answer(NOERROR, answer=[RR(owner, PTR, t) for t in targets], zone=self.origin)

"""Cluster DNS metrics in an own registry, named and labelled as CoreDNS's (coredns_dns_*, coredns_forward_*)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from kybernetes.version import register_build_info

# CoreDNS's buckets: 0.25 ms doubling up to about 8 s.
DURATION_BUCKETS = tuple(0.00025 * 2 ** i for i in range(16))
# Type labels CoreDNS keeps; every other type is counted as "other".
KNOWN_TYPES = frozenset({"A", "AAAA", "NS", "PTR", "SOA", "CNAME", "MX", "TXT", "SRV", "ANY", "HTTPS", "SVCB",
                         "DS", "DNSKEY", "NSEC", "NSEC3", "CAA", "IXFR", "AXFR"})


def type_label(name: str) -> str:
    return name if name in KNOWN_TYPES else "other"


class DNSMetrics:
    """Request and response counts, request durations and forwarding counts of one DNS server."""

    def __init__(self, server: str = "dns://:53") -> None:
        self.server = server
        self.registry = CollectorRegistry()
        r = self.registry
        register_build_info(r)
        self.requests = Counter("coredns_dns_requests", "Counter of DNS requests made per zone, protocol and family.",
                                ["server", "zone", "proto", "family", "type"], registry=r)
        self.responses = Counter("coredns_dns_responses", "Counter of response status codes.",
                                 ["server", "zone", "rcode", "plugin"], registry=r)
        self.duration = Histogram("coredns_dns_request_duration_seconds",
                                  "Histogram of the time (in seconds) each request took per zone.",
                                  ["server", "zone", "type"], buckets=DURATION_BUCKETS, registry=r)
        self.forward_requests = Counter("coredns_forward_requests", "Counter of requests made per upstream.",
                                        ["to"], registry=r)
        self.forward_responses = Counter("coredns_forward_responses", "Counter of responses received per upstream.",
                                         ["to", "rcode"], registry=r)
        self.truncated = Counter("coredns_dns_truncated_responses", "Responses sent with the TC bit set.",
                                 ["server", "zone"], registry=r)
        self.ready = Gauge("coredns_kubernetes_ready", "1 once the Service, EndpointSlice and Pod caches synced.",
                           registry=r)
        self._children: dict[tuple[str, ...], tuple[object, object, object]] = {}

    def observe(self, *, zone: str, proto: str, family: str, qtype: str, rcode: str, plugin: str,
                seconds: float) -> None:
        """Count one answered request (label children cached: this runs per query)."""
        key = (zone, proto, family, qtype, rcode, plugin)
        children = self._children.get(key)
        if children is None:
            t = type_label(qtype)
            children = (self.requests.labels(self.server, zone, proto, family, t),
                        self.responses.labels(self.server, zone, rcode, plugin),
                        self.duration.labels(self.server, zone, t))
            self._children[key] = children
        children[0].inc()  # type: ignore[attr-defined]
        children[1].inc()  # type: ignore[attr-defined]
        children[2].observe(seconds)  # type: ignore[attr-defined]

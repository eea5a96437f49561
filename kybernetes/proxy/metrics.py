"""The proxy's Prometheus metrics in their own registry, with upstream's kubeproxy_* names."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from kybernetes.version import register_build_info

_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30)


class ProxyMetrics:
    """Sync durations, last-sync time, and how many rules/flows/listeners each mode holds."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        register_build_info(r)
        self.sync_duration = Histogram("kubeproxy_sync_proxy_rules_duration_seconds",
                                       "SyncProxyRules latency in seconds", buckets=_BUCKETS, registry=r)
        self.partial_sync_duration = Histogram("kubeproxy_sync_partial_proxy_rules_duration_seconds",
                                               "Partial SyncProxyRules latency in seconds", buckets=_BUCKETS,
                                               registry=r)
        self.full_sync_duration = Histogram("kubeproxy_sync_full_proxy_rules_duration_seconds",
                                            "Full SyncProxyRules latency in seconds", buckets=_BUCKETS, registry=r)
        self.last_sync = Gauge("kubeproxy_sync_proxy_rules_last_timestamp_seconds",
                               "The last time proxy rules were successfully synced", registry=r)
        self.sync_failures = Counter("kubeproxy_sync_proxy_rules_failures",
                                     "Syncs that failed and will be retried", registry=r)
        self.services = Gauge("kubeproxy_services", "Service ports the proxy programs", registry=r)
        self.endpoints = Gauge("kubeproxy_endpoints", "Endpoints behind those Service ports", registry=r)
        self.nftables_chains = Gauge("kubeproxy_sync_proxy_rules_nftables_chains",
                                     "Chains in the proxy's nftables table", registry=r)
        self.nftables_rules = Gauge("kubeproxy_sync_proxy_rules_nftables_rules",
                                    "Rules in the proxy's nftables table", registry=r)
        self.listeners = Gauge("kubeproxy_userspace_listeners", "Sockets the userspace proxy listens on",
                               ["protocol"], registry=r)
        self.flows = Gauge("kubeproxy_userspace_udp_flows", "Open UDP client flows", registry=r)
        self.connections = Counter("kubeproxy_userspace_connections_total", "Proxied connections or UDP flows",
                                   ["protocol", "result"], registry=r)
        self.active_connections = Gauge("kubeproxy_userspace_connections_active",
                                        "Proxied stream connections open now", ["protocol"], registry=r)

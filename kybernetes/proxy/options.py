"""Options of `kybernetes proxy` (upstream's KubeProxyConfiguration fields that apply), and the mode choice."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MODES = ("userspace", "nftables")
LOOPBACK_SERVICE_CIDR = "127.43.0.0/16"


@dataclass
class ProxyOptions:
    mode: str = ""  # "" = nftables where it works, else userspace
    hostname_override: str = ""
    healthz_bind_address: str = "0.0.0.0:10256"
    metrics_bind_address: str = "127.0.0.1:10249"
    nodeport_addresses: list[str] = field(default_factory=list)
    cluster_cidr: str = ""
    service_cluster_ip_range: str = ""
    min_sync_period: float = 1.0
    sync_period: float = 30.0
    udp_idle_timeout: float = 30.0
    cleanup_on_exit: bool = False


def choose_mode(requested: str) -> tuple[str, str]:
    """The proxy mode to run and why: the requested one, else nftables if usable here, else userspace."""
    from kybernetes.proxy.nftables.nft import nftables_usable

    if requested:
        if requested not in MODES:
            raise ValueError(f"unknown proxy mode {requested!r} (one of {', '.join(MODES)})")
        return requested, "requested with --proxy-mode"
    ok, why = nftables_usable()
    if ok:
        return "nftables", "root and nft are available"
    return "userspace", f"nftables unavailable: {why}"

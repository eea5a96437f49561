"""Forwarding of names outside the cluster's zones to upstream resolvers (CoreDNS's forward plugin, sequentially)."""

from __future__ import annotations

import logging
import random

import dns.asyncquery
import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.rcode

from kybernetes.dns.metrics import DNSMetrics

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 2.0


def parse_upstream(text: str) -> tuple[str, int]:
    """'1.2.3.4', '1.2.3.4:5353', '[fd00::1]:53' or 'fd00::1' -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        return host, int(port.lstrip(":") or 53)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, 53


def resolv_conf_nameservers(path: str = "/etc/resolv.conf") -> list[str]:
    """The nameservers of a resolv.conf (the node's resolvers: the production default upstream)."""
    out: list[str] = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver" and dns.inet.is_address(parts[1]):
                    out.append(parts[1])
    except OSError:
        pass
    return out


class Forwarder:
    """Sends a query to the upstreams in random order until one answers: UDP, then TCP when truncated
    (CoreDNS's forward with prefer_udp), whatever the client used."""

    def __init__(self, upstreams: list[tuple[str, int]], *, timeout: float = DEFAULT_TIMEOUT,
                 metrics: DNSMetrics | None = None) -> None:
        if not upstreams:
            raise ValueError("a Forwarder needs at least one upstream")
        self.upstreams = list(upstreams)
        self.timeout = timeout
        self.metrics = metrics

    async def forward(self, request: dns.message.Message) -> dns.message.Message | None:
        """The upstream's response to `request` (same id), or None when every upstream failed."""
        order = random.sample(self.upstreams, len(self.upstreams))
        for host, port in order:
            to = f"{host}:{port}"
            if self.metrics is not None:
                self.metrics.forward_requests.labels(to).inc()
            try:
                resp = await dns.asyncquery.udp(request, host, timeout=self.timeout, port=port,
                                                ignore_unexpected=True)
                if resp.flags & dns.flags.TC:
                    resp = await dns.asyncquery.tcp(request, host, timeout=self.timeout, port=port)
            except (OSError, EOFError, dns.exception.DNSException) as e:
                log.debug("forward to %s failed: %s", to, e)
                continue
            if self.metrics is not None:
                self.metrics.forward_responses.labels(to, dns.rcode.to_text(resp.rcode())).inc()
            return resp
        return None

"""The `kybernetes dns` command's flags and entry point, and how `kybernetes server` starts it as a child."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from kybernetes.dns.addon import DEFAULT_DNS_PORT, DEFAULT_METRICS_PORT, cluster_dns_ip, pick_port

log = logging.getLogger(__name__)


def parse_hostport(text: str, default_port: int) -> tuple[str, int]:
    """'1.2.3.4:53', '[::1]:53', ':53' (all IPv4 addresses) or '1.2.3.4' -> (host, port)."""
    from kybernetes.dns.forward import parse_upstream

    host, port = parse_upstream(text)
    if text.strip().count(":") != 1 and not text.strip().startswith("["):
        port = default_port
    return host or "0.0.0.0", port


def add_dns_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", default="", help="kubeconfig of the apiserver (default: in-cluster)")
    p.add_argument("--listen", action="append", default=[],
                   help="host:port to serve DNS on, UDP and TCP (repeatable; default: 0.0.0.0:53)")
    p.add_argument("--health-listen", default="0.0.0.0:9153",
                   help="host:port of /health, /ready and /metrics ('' to disable; default: %(default)s)")
    p.add_argument("--cluster-domain", default="cluster.local", help="the cluster's DNS zone (default: %(default)s)")
    p.add_argument("--upstream", action="append", default=[],
                   help="resolver (ip or ip:port) for names outside the cluster (repeatable; default: the "
                        "nameservers of /etc/resolv.conf; 'none': refuse those names)")
    p.add_argument("--pods", default="insecure", choices=["insecure", "verified", "disabled"],
                   help="pod A records: from the name alone, only for existing pods, or none (default: insecure)")
    p.add_argument("-v", "--v", type=int, default=2, help="log verbosity")


def upstreams_from_flags(values: list[str], listen: list[tuple[str, int]]) -> list[str]:
    """The upstream list: the flags, or the node's resolvers; never one of our own listen addresses (a loop)."""
    from kybernetes.dns.forward import parse_upstream, resolv_conf_nameservers

    if any(v.lower() == "none" for v in values):
        return []
    chosen = [v for v in values if v] or resolv_conf_nameservers()
    own = {(h, p) for h, p in listen}
    out = []
    for u in chosen:
        host, port = parse_upstream(u)
        if (host, port) in own or ("0.0.0.0", port) in own:
            log.warning("upstream %s is this server itself: skipped", u)
            continue
        out.append(u)
    return out


def cmd_dns(args: argparse.Namespace) -> int:
    from kybernetes.dns.app import run_dns

    listen = [parse_hostport(x, 53) for x in args.listen or ["0.0.0.0:53"]]
    upstream = upstreams_from_flags(args.upstream, listen)
    health = parse_hostport(args.health_listen, DEFAULT_METRICS_PORT) if args.health_listen else None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_dns(kubeconfig=args.kubeconfig, listen=listen, cluster_domain=args.cluster_domain,
                      upstream=upstream, stop=stop, health_listen=health, pods=args.pods)

    asyncio.run(main())
    return 0


async def prepare_local_dns(*, admin_kubeconfig: str, dns_kubeconfig: str, service_cidr: str, node_ip: str,
                            cluster_domain: str = "cluster.local") -> tuple[str, list[str]]:
    """For `kybernetes server`: publish kube-dns (ClusterIP = 10th service address) with endpoints on this node,
    and return (that ClusterIP, the `kybernetes dns ...` arguments of the child serving them)."""
    from kybernetes.client import RESTClient, load_kubeconfig
    from kybernetes.dns.addon import ensure_kube_dns, published_ports

    address = node_ip or "127.0.0.1"
    cluster_ip = cluster_dns_ip(service_cidr)
    async with RESTClient(load_kubeconfig(admin_kubeconfig)) as client:
        published = await published_ports(client)  # keep last start's ports when they are still free
        dns_port = pick_port(address, published.get("dns", DEFAULT_DNS_PORT))
        metrics_port = pick_port(address, published.get("metrics", DEFAULT_METRICS_PORT))
        await ensure_kube_dns(client, cluster_ip=cluster_ip, address=address, dns_port=dns_port,
                              metrics_port=metrics_port)
    host = f"[{address}]" if ":" in address else address
    log.info("cluster DNS: kube-system/kube-dns %s:53 -> %s:%d (metrics %d)", cluster_ip, address, dns_port,
             metrics_port)
    return cluster_ip, ["dns", "--kubeconfig", dns_kubeconfig, "--listen", f"{host}:{dns_port}",
                        "--health-listen", f"{host}:{metrics_port}", "--cluster-domain", cluster_domain]

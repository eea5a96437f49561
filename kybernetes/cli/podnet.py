"""`kybernetes server`'s pod-network wiring: settling the network once, and the address pods reach the node's DNS at.

With the bridge network a pod has its own loopback, so a node address of 127.0.0.1 (a server bound to loopback,
as the tests run it) is out of the pods' reach. The DNS then serves on the node's bridge gateway (its podCIDR's
first address), which pods reach through the bridge, and other nodes' pods through the host-gw routes.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import socket

from kybernetes.client import RESTClient, load_kubeconfig
from kybernetes.client.rest import ApiError, resource_path
from kybernetes.kubelet.network import plugin

log = logging.getLogger(__name__)


def settle_pod_network(args: argparse.Namespace) -> None:
    """Resolve --pod-network (auto: bridge on Linux as root, host elsewhere; logged) once, for every component."""
    try:
        args.pod_network = plugin.choose(args.pod_network)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from e


def dns_needs_gateway(pod_network: str, node_ip: str) -> bool:
    """True when pods cannot reach `node_ip` (bridge network, loopback node address)."""
    try:
        return pod_network == plugin.BRIDGE and ipaddress.ip_address(node_ip).is_loopback
    except ValueError:
        return False


def _bindable(address: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((address, 0))
        except OSError:
            return False
    return True


async def publish_kube_dns_service(*, admin_kubeconfig: str, cluster_ip: str) -> None:
    """The kube-dns Service (and the DNS's RBAC) at once, its endpoints left for when the DNS serves (clients
    look the Service up as soon as the cluster is ready)."""
    from kybernetes.dns.addon import DEFAULT_DNS_PORT, DEFAULT_METRICS_PORT, apply, rbac_objects, service_objects

    service = service_objects(cluster_ip=cluster_ip, address="", dns_port=DEFAULT_DNS_PORT,
                              metrics_port=DEFAULT_METRICS_PORT)[0]
    async with RESTClient(load_kubeconfig(admin_kubeconfig)) as client:
        for collection, obj in [*rbac_objects(), service]:
            await apply(client, collection, obj)


async def node_gateway(*, kubeconfig: str, node_name: str, interval: float = 0.5) -> str:
    """Wait for the node's podCIDR (the controller-manager's node IPAM) and for its bridge to carry the first
    address (the kubelet); that address."""
    async with RESTClient(load_kubeconfig(kubeconfig)) as client:
        while True:
            try:
                node = await client.get(resource_path("", "v1", "nodes", None, node_name))
                cidr = (node.get("spec") or {}).get("podCIDR")
            except ApiError:
                cidr = None
            if cidr:
                gateway = str(ipaddress.ip_network(cidr, strict=False).network_address + 1)
                if _bindable(gateway):
                    return gateway
            await asyncio.sleep(interval)

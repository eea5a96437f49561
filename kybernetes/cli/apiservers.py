"""Flags for running several apiservers: the components' `--server` list and discovery (client-side load
balancing), and the apiserver's endpoint reconciler (`--endpoint-reconciler-type`, lease TTL)."""

from __future__ import annotations

import argparse
from typing import Any

from kybernetes.apiserver.endpointreconciler import DEFAULT_LEASE_TTL

# the components that talk to the apiserver through a kubeconfig
CLIENT_COMMANDS = ("scheduler", "controller-manager", "kubelet", "proxy")


def add_client_flags(subparsers: Any) -> None:
    """--server and --discover-servers on every client command that is registered."""
    for name in CLIENT_COMMANDS:
        p = subparsers.choices.get(name)
        if p is None:
            continue
        p.add_argument("--server", dest="apiservers", action="append", default=[], metavar="URL",
                       help="apiserver URL, overriding the kubeconfig's server (repeatable or comma-separated; "
                            "several: the client fails over between them)")
        p.add_argument("--discover-servers", action="store_true",
                       help="also use the apiservers listed in the kubernetes Service's endpoints, refreshed "
                            "every 30 s")


def apply_client_flags(args: argparse.Namespace) -> None:
    """Make every kubeconfig this process loads use the --server list and discovery."""
    servers = [s for item in getattr(args, "apiservers", None) or [] for s in item.split(",") if s.strip()]
    discover = bool(getattr(args, "discover_servers", False))
    if servers or discover:
        from kybernetes.client.config import set_server_overrides

        set_server_overrides(servers, discover=discover)


def add_apiserver_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint-reconciler-type", default="lease", choices=["lease", "none"],
                   help="how the kubernetes Service's endpoints are kept: lease (every live apiserver, each "
                        "renewing a lease) or none (default: %(default)s)")
    p.add_argument("--endpoint-lease-ttl", type=float, default=DEFAULT_LEASE_TTL,
                   help="seconds after its last renewal that a stopped apiserver leaves the kubernetes endpoints; "
                        "renewed every 2/3 of it (default: %(default)s)")


def apiserver_config(args: argparse.Namespace) -> dict[str, Any]:
    """APIServerConfig fields of the flags above."""
    if args.endpoint_lease_ttl <= 0:
        raise SystemExit("error: --endpoint-lease-ttl must be positive")
    return {"endpoint_reconciler_type": args.endpoint_reconciler_type,
            "endpoint_lease_ttl": args.endpoint_lease_ttl}

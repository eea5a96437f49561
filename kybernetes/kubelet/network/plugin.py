"""The PodNetwork contract the kubelet drives, `HostNetwork` (pods share the node's), and choosing one.

A PodNetwork gives a pod (by UID) a network namespace and an address, and takes them back. Contracts:
`setup` and `teardown` are idempotent and may be re-run at any time (after a kubelet or machine restart);
`gc(keep)` removes the networking of every pod not in `keep`; `ready()` says whether new pods can be set up.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from typing import NamedTuple, Protocol

log = logging.getLogger(__name__)
BRIDGE, HOST = "bridge", "host"


class PodNetworkStatus(NamedTuple):
    netns_path: str  # "" when the pod uses the node's network
    ip: str


class NetworkNotReady(Exception):
    """The network cannot set pods up yet (no podCIDR, or the bridge failed)."""


class PodNetwork(Protocol):
    name: str

    def ready(self) -> tuple[bool, str]: ...

    async def set_pod_cidr(self, cidr: str) -> None: ...

    async def setup(self, uid: str, *, port_mappings: list[tuple[str, int, int, str]] = ()) -> PodNetworkStatus: ...

    async def teardown(self, uid: str) -> None: ...

    async def gc(self, keep: set[str]) -> None: ...

    def pod_ip(self, uid: str) -> str | None: ...

    def has_netns(self, uid: str) -> bool: ...

    def netns_path(self, uid: str) -> str: ...

    async def close(self) -> None: ...


class HostNetwork:
    """Every pod on the node's network, with the node's address."""

    name = HOST

    def __init__(self, node_ip: str) -> None:
        self.node_ip = node_ip

    def ready(self) -> tuple[bool, str]:
        return True, ""

    async def set_pod_cidr(self, cidr: str) -> None:
        return None

    async def setup(self, uid: str, *, port_mappings: list[tuple[str, int, int, str]] = ()) -> PodNetworkStatus:
        return PodNetworkStatus("", self.node_ip)

    async def teardown(self, uid: str) -> None:
        return None

    async def gc(self, keep: set[str]) -> None:
        return None

    def pod_ip(self, uid: str) -> str | None:
        return None

    def has_netns(self, uid: str) -> bool:
        return True

    def netns_path(self, uid: str) -> str:
        return ""

    async def close(self) -> None:
        return None


def bridge_supported() -> tuple[bool, str]:
    """Can this process run the bridge network? (Linux, root, iproute2 and nft on the PATH)."""
    if not sys.platform.startswith("linux"):
        return False, "not Linux"
    if os.geteuid() != 0:
        return False, "not root"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return False, f"no {tool} on the PATH"
    return True, ""


def choose(kind: str) -> str:
    """`bridge`, `host`, or `auto` (bridge where supported, host elsewhere); the choice is logged."""
    if kind not in (BRIDGE, HOST, "auto"):
        raise ValueError(f"unknown pod network {kind!r} (bridge, host or auto)")
    ok, why = bridge_supported()
    if kind == HOST:
        log.info("pod network: host (as asked)")
        return HOST
    if not ok:
        if kind == BRIDGE:
            raise ValueError(f"--pod-network bridge needs Linux, root, ip and nft: {why}")
        log.info("pod network: host (bridge unavailable: %s)", why)
        return HOST
    log.info("pod network: bridge")
    return BRIDGE

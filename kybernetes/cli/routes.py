"""Pin the cluster's address ranges to this machine, so no packet for a pod or service address can leave it."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil

log = logging.getLogger(__name__)


async def _ip(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec("ip", *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    return proc.returncode or 0, err.decode(errors="replace").strip()


async def _exists(route: tuple[str, ...]) -> bool:
    """Whether `ip route show` already lists this route (same table, type and prefix)."""
    args = list(route)
    table: list[str] = []
    if args[:1] == ["table"]:
        table, args = args[:2], args[2:]
    kind, prefix = args[0], args[1]
    proc = await asyncio.create_subprocess_exec("ip", "route", "show", *table, "type", kind, prefix,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    return bool(out.strip())


class RangePins:
    """The service range as a local route (nftables DNAT picks its packets up on this machine) and the pod
    range as a blackhole (until the pod network routes parts of it); both removed by unpin().

    Needs root and iproute2; elsewhere nothing can be pinned and that is logged (the userspace proxy then
    hands out loopback ClusterIPs, which never leave the machine).
    """

    def __init__(self, service_cidr: str, cluster_cidr: str) -> None:
        self.service_cidr = service_cidr
        self.cluster_cidr = cluster_cidr
        self.pinned: list[tuple[str, ...]] = []

    async def pin(self) -> None:
        if os.geteuid() != 0 or shutil.which("ip") is None:
            log.info("not pinning %s and %s: needs root and the ip tool", self.service_cidr, self.cluster_cidr)
            return
        routes = []
        if not self.service_cidr.startswith("127."):
            routes.append(("table", "local", "local", self.service_cidr, "dev", "lo", "proto", "static"))
        routes.append(("blackhole", self.cluster_cidr, "proto", "static"))
        for route in routes:
            if await _exists(route):
                # another cluster on this machine pinned it: leave it to that one to remove
                log.info("already pinned: %s", " ".join(route))
                continue
            code, err = await _ip("route", "replace", *route)
            if code == 0:
                self.pinned.append(route)
                log.info("pinned %s", " ".join(route))
            else:
                log.warning("could not pin %s: %s", " ".join(route), err)

    async def unpin(self) -> None:
        for route in reversed(self.pinned):
            await _ip("route", "del", *route)
        self.pinned.clear()

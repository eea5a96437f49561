"""Pin the cluster's address ranges to this machine, so no packet for a pod or service address can leave it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil

import orjson

log = logging.getLogger(__name__)

PINS_FILE = "pinned-routes.json"  # in the data dir: the routes a server pinned, for whoever cleans up after it


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

    With `record_dir` (the data dir) the pinned routes are also listed in PINS_FILE there, so that routes a
    killed server left are removed by `kybernetes killall` (unpin_recorded) or by the next start on that dir.
    """

    def __init__(self, service_cidr: str, cluster_cidr: str, record_dir: str = "") -> None:
        self.service_cidr = service_cidr
        self.cluster_cidr = cluster_cidr
        self.record_dir = record_dir
        self.pinned: list[tuple[str, ...]] = []

    async def pin(self) -> None:
        if os.geteuid() != 0 or shutil.which("ip") is None:
            log.info("not pinning %s and %s: needs root and the ip tool", self.service_cidr, self.cluster_cidr)
            return
        if self.record_dir:
            await unpin_recorded(self.record_dir)  # a killed run's pins, before looking at what is pinned
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
        if self.record_dir and self.pinned:
            path = os.path.join(self.record_dir, PINS_FILE)
            with open(path + ".tmp", "wb") as f:
                f.write(orjson.dumps(self.pinned))
            os.replace(path + ".tmp", path)

    async def unpin(self) -> None:
        for route in reversed(self.pinned):
            await _ip("route", "del", *route)
        self.pinned.clear()
        if self.record_dir:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.record_dir, PINS_FILE))


async def unpin_recorded(data_dir: str) -> int:
    """Remove the routes a server on `data_dir` pinned and did not unpin (it was killed); how many were listed."""
    path = os.path.join(data_dir, PINS_FILE)
    try:
        with open(path, "rb") as f:
            routes = orjson.loads(f.read())
    except FileNotFoundError:
        return 0
    except orjson.JSONDecodeError:
        routes = []
    if os.geteuid() == 0 and shutil.which("ip") is not None:
        for route in reversed(routes):
            code, err = await _ip("route", "del", *route)
            if code != 0 and "No such process" not in err:
                log.warning("could not remove the pinned route %s: %s", " ".join(route), err)
    os.unlink(path)
    return len(routes)

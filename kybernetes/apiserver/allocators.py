"""Service ClusterIP and NodePort allocation: each address and port handed out once, never twice, also across
apiservers once their ranges are attached to storage (kybernetes.apiserver.rangeallocation)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
from collections.abc import Iterator, Set
from typing import Any, Callable, Generic, Iterable, TypeVar

from kybernetes.api import errors
from kybernetes.apiserver.rangeallocation import AllocationRange, Bitmap, LocalRange, RangeMismatchError

T = TypeVar("T")
log = logging.getLogger(__name__)
_background: set[asyncio.Task[bool]] = set()


def range_offset(size: int, *, low: int, high: int, step: int) -> int:
    """The size of the low band kept for static choices (upstream's calculateRangeOffset)."""
    if size < low:
        return 0
    return max(low, min(high, size // step))


class UsedView(Set, Generic[T]):  # type: ignore[type-arg]
    """The allocated values of a range as a read-only set (the last known state)."""

    def __init__(self, bitmap: Callable[[], Bitmap], value: Callable[[int], T], offset: Callable[[T], int | None]):
        self._bitmap, self._value, self._offset = bitmap, value, offset

    def __contains__(self, item: object) -> bool:
        o = self._offset(item)  # type: ignore[arg-type]
        return o is not None and self._bitmap().has(o)

    def __iter__(self) -> Iterator[T]:
        return (self._value(o) for o in self._bitmap().offsets())

    def __len__(self) -> int:
        return self._bitmap().count


class _RangeAllocator:
    """What the IP and port allocators share: a range of `size` offsets, where they live, the static band."""

    size: int
    band: int
    range: AllocationRange
    rand: random.Random

    def attach(self, backing: AllocationRange) -> None:
        """Allocate from `backing` from now on (a StoredRange shared by every apiserver)."""
        self.range = backing

    def reset_offsets(self, offsets: Iterable[int]) -> None:
        """Rebuild an in-memory range from what is in use (a stored one is rebuilt by its repair loop)."""
        if isinstance(self.range, LocalRange):
            bitmap = Bitmap(self.size)
            for o in offsets:
                bitmap.set(o)
            self.range.bitmap = bitmap

    async def _take(self, offset: int) -> bool:
        try:
            return await self.range.take(offset)
        except RangeMismatchError as e:
            raise errors.StatusError(500, "InternalError", f"Internal error occurred: {e}") from e

    async def _take_next(self) -> int | None:
        try:
            return await self.range.take_next(self.band)
        except RangeMismatchError as e:
            raise errors.StatusError(500, "InternalError", f"Internal error occurred: {e}") from e

    def retake_offset(self, offset: int) -> None:
        """Take back an offset released by a write that then failed (in order with later operations)."""
        if isinstance(self.range, LocalRange):
            self.range.bitmap.set(offset)
            return
        task = asyncio.get_running_loop().create_task(self.range.take(offset))
        _background.add(task)

        def done(t: asyncio.Task[bool]) -> None:
            _background.discard(t)
            if not t.cancelled() and (t.exception() is not None or not t.result()):
                log.warning("%s: offset %d was not taken back after a failed write (another apiserver has it, or "
                            "storage failed); the repair loop reports a duplicate", type(self).__name__, offset)
        task.add_done_callback(done)

    def _peek(self) -> int | None:
        """A free offset as far as this apiserver knows, not taken (dry runs)."""
        return self.range.bitmap.free(self.band, self.rand)


class IPAllocator(_RangeAllocator):
    """Allocates ClusterIPs from the service CIDR; the first address is the `kubernetes` Service's."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        self._first = int(self.network.network_address) + 1
        self.size = max(int(self.network.broadcast_address) - self._first, 1)
        self.band = range_offset(self.network.num_addresses, low=16, high=256, step=16)
        self.rand = random.Random()
        self.range = LocalRange(self.size, self.rand)
        self.used: UsedView[str] = UsedView(lambda: self.range.bitmap, self.ip_at, self.offset_of)

    @property
    def kubernetes_ip(self) -> str:
        return self.ip_at(0)

    @property
    def cidr(self) -> str:
        return str(self.network)

    def ip_at(self, offset: int) -> str:
        return str(ipaddress.ip_address(self._first + offset))

    def offset_of(self, ip: str) -> int | None:
        try:
            n = int(ipaddress.ip_address(ip)) - self._first
        except ValueError:
            return None
        return n if 0 <= n < self.size else None

    def contains(self, ip: str) -> bool:
        return self.offset_of(ip) is not None

    def reset(self, in_use: Iterable[str]) -> None:
        self.reset_offsets(o for o in map(self.offset_of, (ip for ip in in_use if ip and ip != "None"))
                           if o is not None)

    async def allocate(self, *, dry_run: bool = False) -> str:
        offset = self._peek() if dry_run else await self._take_next()
        if offset is None:
            raise errors.StatusError(500, "InternalError",
                                     "Internal error occurred: failed to allocate a serviceIP: range is full")
        return self.ip_at(offset)

    async def allocate_specific(self, ip: str, field: str = "spec.clusterIPs", name: str = "",
                                requested: list[str] | None = None, *, dry_run: bool = False) -> None:
        """Take ip; a 422 like upstream's names the Service and shows the requested clusterIPs."""
        offset = self.offset_of(ip)
        if offset is None:
            why = f"the provided IP ({ip}) is not in the valid range. The range of valid IPs is {self.network}"
        elif (not self.range.bitmap.has(offset)) if dry_run else await self._take(offset):
            return
        else:
            why = "provided IP is already allocated"
        shown = "[]string{" + ", ".join(f'"{v}"' for v in (requested or [ip])) + "}"
        raise errors.invalid_object("", "Service", name, [errors.FieldError(
            "FieldValueInvalid", field, detail=f"{shown}: failed to allocate IP {ip}: {why}")])

    def release(self, ip: str | None) -> None:
        offset = self.offset_of(ip) if ip else None
        if offset is not None:
            self.range.release(offset)

    def retake(self, ip: str) -> None:
        offset = self.offset_of(ip)
        if offset is not None:
            self.retake_offset(offset)


class PortAllocator(_RangeAllocator):
    """Allocates NodePorts from the node-port range (30000-32767 by default)."""

    def __init__(self, port_range: str = "30000-32767") -> None:
        lo, _, hi = port_range.partition("-")
        self.lo, self.hi = int(lo), int(hi or lo)
        self.size = self.hi - self.lo + 1
        self.band = range_offset(self.size, low=16, high=128, step=32)
        self.rand = random.Random()
        self.range = LocalRange(self.size, self.rand)
        self.used: UsedView[int] = UsedView(lambda: self.range.bitmap, lambda o: self.lo + o, self.offset_of)

    @property
    def port_range(self) -> str:
        return f"{self.lo}-{self.hi}"

    def offset_of(self, port: int) -> int | None:
        return port - self.lo if isinstance(port, int) and self.lo <= port <= self.hi else None

    def reset(self, in_use: Iterable[int]) -> None:
        self.reset_offsets(o for o in map(self.offset_of, in_use) if o is not None)

    async def allocate(self, *, dry_run: bool = False) -> int:
        offset = self._peek() if dry_run else await self._take_next()
        if offset is None:
            raise errors.StatusError(500, "InternalError",
                                     "Internal error occurred: failed to allocate a nodePort: range is full")
        return self.lo + offset

    async def allocate_specific(self, port: int, field: str, name: str = "", *, dry_run: bool = False) -> None:
        offset = self.offset_of(port)
        if offset is None:
            raise errors.invalid_object("", "Service", name, [errors.invalid(
                field, port, f"provided port is not in the valid range. The range of valid ports is {self.lo}-{self.hi}")])
        if (not self.range.bitmap.has(offset)) if dry_run else await self._take(offset):
            return
        raise errors.invalid_object("", "Service", name, [errors.invalid(
            field, port, "provided port is already allocated")])

    def release(self, port: int | None) -> None:
        offset = self.offset_of(port) if port else None
        if offset is not None:
            self.range.release(offset)

    def retake(self, port: int) -> None:
        offset = self.offset_of(port)
        if offset is not None:
            self.retake_offset(offset)


def service_ips(svc: dict[str, Any]) -> list[str]:
    spec = svc.get("spec") or {}
    ips = list(spec.get("clusterIPs") or [])
    if spec.get("clusterIP") and spec["clusterIP"] not in ips:
        ips.insert(0, spec["clusterIP"])
    return [ip for ip in ips if ip and ip != "None"]


def service_node_ports(svc: dict[str, Any]) -> list[int]:
    spec = svc.get("spec") or {}
    out = [p["nodePort"] for p in spec.get("ports") or [] if isinstance(p, dict) and p.get("nodePort")]
    if spec.get("healthCheckNodePort"):
        out.append(spec["healthCheckNodePort"])
    return out

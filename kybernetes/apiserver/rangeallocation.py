"""Allocation ranges as bitmaps: in memory (one apiserver) or a RangeAllocation object in storage updated by
compare-and-swap, shared by every apiserver on it (upstream's allocator.AllocationBitmap and allocator/storage)."""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from kybernetes.api import errors
from kybernetes.storage.interface import KeyExistsError, KeyValue, Store

log = logging.getLogger(__name__)

SERVICE_IPS_KEY = "/registry/ranges/serviceips"
NODE_PORTS_KEY = "/registry/ranges/servicenodeports"
MAX_ATTEMPTS = 20  # compare-and-swap rounds before an allocation gives up (upstream retries likewise)


class Bitmap:
    """Offsets 0..size-1 of a range, a set bit per allocated offset (big.Int in upstream, an int here)."""

    __slots__ = ("size", "bits")

    def __init__(self, size: int, bits: int = 0) -> None:
        self.size = size
        self.bits = bits

    def copy(self) -> Bitmap:
        return Bitmap(self.size, self.bits)

    def has(self, offset: int) -> bool:
        return bool(self.bits >> offset & 1)

    def set(self, offset: int) -> bool:
        """Take offset; False if it was taken already."""
        if self.has(offset):
            return False
        self.bits |= 1 << offset
        return True

    def clear(self, offset: int) -> None:
        if self.has(offset):
            self.bits &= ~(1 << offset)

    @property
    def count(self) -> int:
        return self.bits.bit_count()

    def offsets(self) -> list[int]:
        """Every set offset, ascending."""
        out, bits, base = [], self.bits, 0
        while bits:
            low = bits & -bits
            out.append(base + low.bit_length() - 1)
            bits ^= low
        return out

    def free_in(self, lo: int, hi: int, rand: random.Random) -> int | None:
        """A free offset in [lo, hi): scanning up from a random start, wrapping around (upstream's random scan)."""
        if lo >= hi:
            return None
        window = ((1 << hi) - 1) ^ ((1 << lo) - 1)
        free = window & ~self.bits
        if not free:
            return None
        start = rand.randrange(lo, hi)
        above = free >> start
        if above:
            return start + (above & -above).bit_length() - 1
        return (free & -free).bit_length() - 1

    def free(self, lo: int, rand: random.Random) -> int | None:
        """A free offset, from [lo, size) first (upstream keeps the low band for static choices), then [0, lo)."""
        lo = min(lo, self.size)
        found = self.free_in(lo, self.size, rand)
        return found if found is not None else self.free_in(0, lo, rand)

    def to_bytes(self) -> bytes:
        """Big-endian, no leading zeros: upstream's snapshot data."""
        return self.bits.to_bytes((self.bits.bit_length() + 7) // 8, "big")

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Bitmap:
        bits = int.from_bytes(data, "big")
        return cls(size, bits & ((1 << size) - 1))


def encode_range(range_text: str, bitmap: Bitmap) -> bytes:
    """The stored RangeAllocation (core/v1 internal kind): the range it covers and its bitmap."""
    return orjson.dumps({"apiVersion": "v1", "kind": "RangeAllocation", "metadata": {"name": ""},
                         "range": range_text, "data": base64.b64encode(bitmap.to_bytes()).decode()})


def decode_range(value: bytes) -> tuple[str, bytes]:
    """(range, bitmap bytes) of a stored RangeAllocation."""
    obj = orjson.loads(value)
    return str(obj.get("range") or ""), base64.b64decode(obj.get("data") or "")


class RangeMismatchError(Exception):
    """The stored range covers another range than this apiserver's (the repair loop rewrites it)."""


class AllocationRange(Protocol):
    """Where allocations of one range live. Contract: operations take effect in the order they are called;
    release() returns at once and takes effect before any later operation."""

    size: int
    bitmap: Bitmap  # the last known state, for reads that need no guarantee (dry runs, `used`)

    async def take(self, offset: int) -> bool: ...

    async def take_next(self, lo: int) -> int | None: ...

    def release(self, offset: int) -> None: ...


class LocalRange:
    """A range held only in this process (one apiserver, or before storage is attached)."""

    def __init__(self, size: int, rand: random.Random | None = None) -> None:
        self.size = size
        self.bitmap = Bitmap(size)
        self.rand = rand or random.Random()

    async def take(self, offset: int) -> bool:
        return self.bitmap.set(offset)

    async def take_next(self, lo: int) -> int | None:
        found = self.bitmap.free(lo, self.rand)
        if found is not None:
            self.bitmap.set(found)
        return found

    def release(self, offset: int) -> None:
        self.bitmap.clear(offset)


@dataclass
class _Op:
    kind: str  # take | next | release
    offset: int = -1
    lo: int = 0
    future: asyncio.Future[int | None] | None = field(default=None, repr=False)


class StoredRange:
    """The range as a RangeAllocation at `key`, changed only by compare-and-swap on its mod revision.

    Operations queue up and are applied together, in order, in one write (one write per batch, not per
    allocation); a lost race re-applies the batch to the stored state and tries again. The cached state is
    written against directly, so one apiserver alone never reads before writing.
    """

    def __init__(self, store: Store, key: str, range_text: str, size: int,
                 rand: random.Random | None = None) -> None:
        self.store = store
        self.key = key
        self.range_text = range_text
        self.size = size
        self.bitmap = Bitmap(size)
        self.revision = 0  # mod revision of the stored object; 0 while it does not exist (or is not read)
        self.rand = rand or random.Random()
        self.lock = asyncio.Lock()  # one writer at a time in this process: the batch committer or the repair
        self.writes = 0  # successful writes (observability, tests)
        self._pending: list[_Op] = []
        self._committer: asyncio.Task[None] | None = None

    # reading

    async def load(self) -> int:
        """Read the stored state; returns the store revision it was read at."""
        revision, kv = await self.store.get(self.key)
        self.adopt(kv)
        return revision

    def adopt(self, kv: KeyValue | None) -> None:
        """Take kv (the stored object, None if absent) as the known state."""
        if kv is None:
            self.bitmap, self.revision = Bitmap(self.size), 0
            return
        range_text, data = decode_range(kv.value)
        self.revision = kv.mod_revision
        if range_text != self.range_text:
            raise RangeMismatchError(f"the stored range {range_text} at {self.key} does not match this "
                                     f"apiserver's range {self.range_text}")
        self.bitmap = Bitmap.from_bytes(self.size, data)

    # operations

    async def take(self, offset: int) -> bool:
        return await self._submit(_Op("take", offset)) is not None

    async def take_next(self, lo: int) -> int | None:
        return await self._submit(_Op("next", lo=lo))

    def release(self, offset: int) -> None:
        self._enqueue(_Op("release", offset))

    async def flush(self) -> None:
        """Wait until every queued operation is written (or failed)."""
        while self._committer is not None:
            await asyncio.shield(self._committer)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.flush(), 5.0)
        except Exception:  # noqa: BLE001 - releases not written leak until the repair loop frees them
            log.warning("%s: queued releases not written", self.key, exc_info=True)
        if self._committer is not None:
            self._committer.cancel()

    async def _submit(self, op: _Op) -> int | None:
        op.future = asyncio.get_running_loop().create_future()
        self._enqueue(op)
        try:
            return await asyncio.shield(op.future)
        except asyncio.CancelledError:
            # the caller went away: whatever the batch takes for it goes back
            op.future.add_done_callback(self._give_back)
            raise

    def _give_back(self, future: asyncio.Future[int | None]) -> None:
        if not future.cancelled() and future.exception() is None and future.result() is not None:
            self.release(future.result())  # type: ignore[arg-type]

    def _enqueue(self, op: _Op) -> None:
        self._pending.append(op)
        if self._committer is None:
            self._committer = asyncio.get_running_loop().create_task(self._commit_pending(), name=f"{self.key}")

    async def _commit_pending(self) -> None:
        try:
            while self._pending:
                ops, self._pending = self._pending, []
                try:
                    async with self.lock:
                        results = await self._commit(ops)
                except Exception as e:  # noqa: BLE001 - every waiter gets the failure
                    for op in ops:
                        if op.future is not None and not op.future.done():
                            op.future.set_exception(e)
                    if any(op.kind == "release" for op in ops):
                        log.warning("%s: releases not written (the repair loop frees them): %s", self.key, e)
                    continue
                for op, result in zip(ops, results):
                    if op.future is not None and not op.future.done():
                        op.future.set_result(result)
        finally:
            self._committer = None

    def _apply(self, ops: list[_Op], bitmap: Bitmap) -> list[int | None]:
        results: list[int | None] = []
        for op in ops:
            if op.kind == "release":
                bitmap.clear(op.offset)
                results.append(None)
            elif op.kind == "take":
                results.append(op.offset if bitmap.set(op.offset) else None)
            else:
                found = bitmap.free(op.lo, self.rand)
                if found is not None:
                    bitmap.set(found)
                results.append(found)
        return results

    async def _commit(self, ops: list[_Op]) -> list[int | None]:
        fresh = False
        for _ in range(MAX_ATTEMPTS):
            bitmap = self.bitmap.copy()
            results = self._apply(ops, bitmap)
            refused = any(r is None and op.kind != "release" for op, r in zip(ops, results))
            if refused and not fresh:
                # the cached state may be behind other apiservers: refuse nothing before reading it
                await self.load()
                fresh = True
                continue
            if bitmap.bits == self.bitmap.bits:
                return results
            if await self.write(bitmap):
                return results
            fresh = True  # the failed write told us the stored state
        raise errors.StatusError(500, "InternalError", f"Internal error occurred: {self.key}: too many "
                                 "concurrent allocations; try again")

    async def write(self, bitmap: Bitmap, revision: int | None = None) -> bool:
        """Write bitmap if the stored object is still at `revision` (default: the known one); False (and the
        stored state adopted) when it moved on."""
        revision = self.revision if revision is None else revision
        value = encode_range(self.range_text, bitmap)
        if revision == 0:
            try:
                kv = await self.store.create(self.key, value)
            except KeyExistsError:
                await self.load()
                return False
            self.revision = kv.mod_revision
        else:
            res = await self.store.update(self.key, value, mod_revision=revision)
            if not res.succeeded:
                if res.kv is None or res.kv.key != self.key:
                    await self.load()
                else:
                    self.adopt(res.kv)
                return False
            self.revision = res.revision
        self.bitmap = bitmap
        self.writes += 1
        return True


"""The etcd-shaped storage contract every backend implements: revisions, CAS writes, watch, compaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Literal, Protocol


class StorageError(Exception):
    """Base of the storage errors the apiserver maps to API statuses."""


class KeyExistsError(StorageError):
    """create() found the key already present."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key exists: {key}")
        self.key = key


class CompactedError(StorageError):
    """A read or watch asked for a revision older than the compacted one ("too old"; the API answers 410)."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"required revision {requested} has been compacted (compacted revision {compacted})")
        self.requested = requested
        self.compacted = compacted


class FutureRevisionError(StorageError):
    """A read asked for a revision newer than the store's current one."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"required revision {requested} is a future revision (current {current})")
        self.requested = requested
        self.current = current


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key at one revision; mod_revision is the object's resourceVersion."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class Event:
    """A change: PUT (create or update) carries kv (and prev_kv on update); DELETE carries prev_kv.

    For DELETE, kv.mod_revision is the deleting revision and kv.value is empty.
    """

    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev_kv: KeyValue | None = None

    @property
    def is_create(self) -> bool:
        return self.type == "PUT" and self.kv.create_revision == self.kv.mod_revision

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


@dataclass(frozen=True, slots=True)
class RangeResult:
    """A page of a range read: the store revision it was read at, the kvs, whether more follow."""

    revision: int
    kvs: list[KeyValue]
    more: bool
    count: int  # total keys in the range at that revision (from start_key on)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of a compare-and-swap write.

    succeeded False means the comparison failed (a lost race, not an error); kv is then the
    current value (None if the key is gone). On success kv is the value written (for delete:
    the deleted value) and revision the revision of the write.
    """

    succeeded: bool
    revision: int
    kv: KeyValue | None


class Store(Protocol):
    """An etcd-shaped key/value store with a single global revision.

    Contracts:
    - every successful write increases the global revision by exactly one;
    - a write returns only once it is durable (survives kill -9 of the process);
    - watch() yields every event with revision > start_revision under the prefix, in revision
      order, with no gaps and no repeats; events of one revision come together;
    - reads and watches below the compacted revision raise CompactedError.
    """

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def current_revision(self) -> int: ...

    async def compacted_revision(self) -> int: ...

    async def get(self, key: str, *, revision: int = 0) -> tuple[int, KeyValue | None]:
        """Value of key at revision (0 = latest). Returns (store revision read at, kv or None)."""
        ...

    async def range(self, prefix: str, *, revision: int = 0, limit: int = 0,
                    start_key: str | None = None) -> RangeResult:
        """Keys under prefix in key order, from start_key (inclusive) on, at most limit (0 = all)."""
        ...

    async def create(self, key: str, value: bytes) -> KeyValue:
        """Put key only if absent; raises KeyExistsError otherwise. Returns the written kv."""
        ...

    async def update(self, key: str, value: bytes, *, mod_revision: int) -> WriteResult:
        """Put key if its current mod_revision equals mod_revision (0 = unconditionally, key must exist)."""
        ...

    async def delete(self, key: str, *, mod_revision: int = 0) -> WriteResult:
        """Delete key if its mod_revision equals mod_revision (0 = unconditionally)."""
        ...

    def watch(self, prefix: str, *, start_revision: int) -> AsyncIterator[list[Event]]:
        """Events after start_revision under prefix, batched per revision group, forever until closed."""
        ...

    async def compact(self, revision: int) -> None:
        """Forget history at and below revision (the latest value of each key is always kept)."""
        ...

"""The informer's local cache: objects by "namespace/name" key, with named secondary indexes (client-go Indexer)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], list[str]]

NAMESPACE_INDEX = "namespace"


def meta_namespace_key(obj: Obj) -> str:
    """'namespace/name' for namespaced objects, 'name' for cluster-scoped ones."""
    meta = obj.get("metadata") or {}
    ns, name = meta.get("namespace"), meta.get("name", "")
    return f"{ns}/{name}" if ns else name


def split_key(key: str) -> tuple[str, str]:
    """('namespace', 'name') from a key; namespace '' for cluster-scoped keys."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else ("", ns)


def namespace_index(obj: Obj) -> list[str]:
    return [(obj.get("metadata") or {}).get("namespace") or ""]


class Indexer:
    """A thread-safe map key -> object plus indexes name -> value -> set of keys. Objects must not be mutated."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None,
                 key_func: Callable[[Obj], str] = meta_namespace_key) -> None:
        self.key_func = key_func
        self._lock = threading.RLock()
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: namespace_index, **(indexers or {})}
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        """Add index functions (allowed any time; existing objects are indexed immediately)."""
        with self._lock:
            for name, fn in indexers.items():
                if name in self._indexers:
                    raise ValueError(f"indexer {name!r} already exists")
                self._indexers[name] = fn
                self._indices[name] = {}
                for key, obj in self._items.items():
                    for value in fn(obj):
                        self._indices[name].setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]

    def _index(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            for value in fn(obj):
                self._indices[name].setdefault(value, set()).add(key)

    def upsert(self, obj: Obj) -> Obj | None:
        """Store `obj`; return the object it replaced, if any."""
        key = self.key_func(obj)
        with self._lock:
            old = self._items.get(key)
            if old is not None:
                self._unindex(key, old)
            self._items[key] = obj
            self._index(key, obj)
            return old

    def delete(self, obj: Obj) -> Obj | None:
        """Remove the object with `obj`'s key; return what was stored, if anything."""
        key = self.key_func(obj)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._unindex(key, old)
            return old

    def replace(self, objs: Iterable[Obj]) -> dict[str, Obj]:
        """Make the cache hold exactly `objs`; return the previous contents."""
        with self._lock:
            previous = self._items
            self._items = {}
            self._indices = {name: {} for name in self._indexers}
            for obj in objs:
                key = self.key_func(obj)
                self._items[key] = obj
                self._index(key, obj)
            return previous

    def get_by_key(self, key: str) -> Obj | None:
        with self._lock:
            return self._items.get(key)

    def get(self, name: str, namespace: str | None = None) -> Obj | None:
        return self.get_by_key(f"{namespace}/{name}" if namespace else name)

    def list(self, namespace: str | None = None) -> list[Obj]:
        """All objects, or those of one namespace."""
        with self._lock:
            if namespace is None:
                return list(self._items.values())
            return self.by_index(NAMESPACE_INDEX, namespace)

    def list_keys(self) -> list[str]:
        with self._lock:
            return list(self._items)

    def by_index(self, index_name: str, value: str) -> list[Obj]:
        """Objects whose index function `index_name` yields `value`."""
        with self._lock:
            if index_name not in self._indices:
                raise KeyError(f"no indexer {index_name!r}")
            return [self._items[k] for k in sorted(self._indices[index_name].get(value, ()))]

    def index_keys(self, index_name: str, value: str) -> list[str]:
        with self._lock:
            return sorted(self._indices[index_name].get(value, ()))

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return True

    def __contains__(self, key: str) -> bool:
        return key in self._items

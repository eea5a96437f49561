"""Helpers of the storage contract tests: expectations written from revision 0, shifted to a store's base."""

from __future__ import annotations

from kybernetes.storage.interface import Event, KeyValue, WriteResult


def shift(kv: KeyValue | None, base: int) -> KeyValue | None:
    """kv with its revisions moved up by base (a create_revision of 0, as on a delete event, stays 0)."""
    if kv is None:
        return None
    return KeyValue(kv.key, kv.value, kv.create_revision + base if kv.create_revision else 0,
                    kv.mod_revision + base)


def shift_event(event: Event, base: int) -> Event:
    return Event(event.type, shift(event.kv, base), shift(event.prev_kv, base))  # type: ignore[arg-type]


def shift_result(result: WriteResult, base: int) -> WriteResult:
    return WriteResult(result.succeeded, result.revision + base, shift(result.kv, base))

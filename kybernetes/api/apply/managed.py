"""metadata.managedFields: decoding and encoding entries, ownership on updates, server-side apply and its conflicts.

The layering follows kube-apiserver's field manager: last-applied handling for "kubectl", "before-first-apply"
on the first apply to an untracked object, at most ten Update entries, the per-manager time stamps, and the
metadata fields that are never tracked.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

import orjson

from kybernetes.api import schema as sch
from kybernetes.api.apply.fieldpath import EMPTY, FieldSet, Path, make_path, path_string
from kybernetes.api.apply.merge import merge, remove_items
from kybernetes.api.apply.typed import (OBJECT_META, Type, TypedError, compare, ensure_named_fields_are_members,
                                        equal, root_type, to_field_set)
from kybernetes.api.errors import StatusError, bad_request

APPLY, UPDATE = "Apply", "Update"
BEFORE_FIRST_APPLY = "before-first-apply"
ANCIENT_CHANGES = "ancient-changes"
MAX_UPDATE_MANAGERS = 10
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_ANNOTATIONS_SIZE = 256 * 1024
_CURRENT_OPERATION = "current-operation"

# stripMetaManager: fields no manager ever owns
STRIPPED = FieldSet([make_path("apiVersion"), make_path("kind"), make_path("metadata")] + [
    make_path("metadata", f) for f in ("name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
                                       "generation", "managedFields", "resourceVersion")])


def reset_fields(subresource: str) -> FieldSet:
    """What a write through this (sub)resource never owns: status for the main resource, spec for /status."""
    if subresource == "":
        return FieldSet([make_path("status")])
    if subresource == "status":
        return FieldSet([make_path("spec")])
    return EMPTY


# ---- entries ----

@dataclass
class ManagerEntry:
    """One managedFields entry in memory."""

    manager: str
    operation: str
    api_version: str
    subresource: str
    fields: FieldSet
    time: str | None = None

    @property
    def identifier(self) -> str:
        """Upstream's manager identifier: the entry without fields and time (and apiVersion for appliers)."""
        return _identifier(self.manager, self.operation, self.api_version, self.subresource)

    @property
    def display(self) -> str:
        """printManager: '"kubectl"', '"kcm" with subresource "status" using apps/v1'."""
        out = orjson.dumps(self.manager).decode()
        if self.subresource:
            out += f" with subresource {orjson.dumps(self.subresource).decode()}"
        if self.operation == UPDATE:
            out += f" using {self.api_version}"
        return out

    def encode(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"manager": self.manager, "operation": self.operation,
                                 "apiVersion": self.api_version}
        if self.time:
            entry["time"] = self.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = self.fields.to_fields_v1()
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


@functools.lru_cache(maxsize=1024)
def _identifier(manager: str, operation: str, api_version: str, subresource: str) -> str:
    ident: dict[str, str] = {}
    if manager:
        ident["manager"] = manager
    if operation:
        ident["operation"] = operation
    if api_version and operation != APPLY:
        ident["apiVersion"] = api_version
    if subresource:
        ident["subresource"] = subresource
    return orjson.dumps(ident).decode()


Managers = dict[str, ManagerEntry]


def decode_managed_fields(entries: Any) -> Managers:
    """Entries by manager identifier; ValueError on an entry upstream would reject."""
    managers: Managers = {}
    if entries is None:
        return managers
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise ValueError(f"invalid managed fields entry {i}")
        if e.get("operation") not in (APPLY, UPDATE):
            raise ValueError("operation must be `Apply` or `Update`")
        if not e.get("apiVersion"):
            raise ValueError("apiVersion must not be empty")
        if not e.get("fieldsType"):
            raise ValueError(f"missing fieldsType in managed fields entry {i}")
        if e["fieldsType"] != "FieldsV1":
            raise ValueError(f'invalid fieldsType "{e["fieldsType"]}" in managed fields entry {i}')
        entry = ManagerEntry(e.get("manager") or "", e["operation"], e["apiVersion"], e.get("subresource") or "",
                             FieldSet.from_fields_v1(e.get("fieldsV1") or {}), e.get("time"))
        managers[entry.identifier] = entry
    return managers


@functools.lru_cache(maxsize=1024)
def _seconds(t: str | None) -> float:
    if not t:
        return 0
    try:
        return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def encode_managed_fields(managers: Managers) -> list[dict[str, Any]]:
    """Entries sorted as upstream sorts them: Apply first, then by time, manager, apiVersion, subresource."""
    ordered = sorted(managers.values(), key=lambda e: (e.operation, _seconds(e.time), e.manager, e.api_version,
                                                       e.subresource))
    return [e.encode() for e in ordered]


def _copy_managers(managers: Managers) -> Managers:
    return {k: dataclasses.replace(v) for k, v in managers.items()}


# ---- conflicts ----

class ApplyConflictError(Exception):
    """An apply changed fields other managers own; .conflicts lists (manager, field path)."""

    def __init__(self, conflicts: list[tuple[ManagerEntry, Path]]) -> None:
        self.entries = conflicts
        self.conflicts: list[tuple[str, str]] = [(e.manager, path_string(p)) for e, p in conflicts]
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if len(self.entries) == 1:
            e, p = self.entries[0]
            return f"Apply failed with 1 conflict: conflict with {e.display}: {path_string(p)}"
        by_manager: dict[str, tuple[ManagerEntry, list[Path]]] = {}
        for e, p in self.entries:
            by_manager.setdefault(e.identifier, (e, []))[1].append(p)
        lines: list[str] = []
        for ident in sorted(by_manager):
            e, paths = by_manager[ident]
            lines.append(f"conflicts with {e.display}:")
            lines.extend(f"- {path_string(p)}" for p in paths)
        return f"Apply failed with {len(self.entries)} conflicts: " + "\n".join(lines)

    def causes(self) -> list[dict[str, str]]:
        return [{"reason": "FieldManagerConflict", "message": f"conflict with {e.display}", "field": path_string(p)}
                for e, p in self.entries]

    def status(self, group: str = "", kind_plural: str = "", name: str = "") -> StatusError:
        """The 409 kube-apiserver answers (errors.NewApplyConflict: its details carry only the causes)."""
        return StatusError(409, "Conflict", self.message, details={"causes": self.causes()})


class _Conflicts(Exception):
    def __init__(self, items: list[tuple[ManagerEntry, Path]]) -> None:
        super().__init__("conflicts")
        self.items = items


# ---- the structured core (structured-merge-diff's Updater) ----

def _update(managers: Managers, old: Any, new: Any, t: Type, workflow: str, force: bool,
            ignore: FieldSet) -> tuple[FieldSet, FieldSet, FieldSet]:
    """Take changed fields from other managers (or raise _Conflicts); drop removed ones; drop empty entries."""
    c = compare(old, new, t)
    added, modified, removed = (s.recursive_difference(ignore) for s in c.sets())
    changed = modified | added
    conflicts: dict[str, FieldSet] = {}
    for ident, entry in managers.items():
        if ident != workflow:
            taken = entry.fields & changed
            if taken:
                conflicts[ident] = taken
    if conflicts and not force:
        items = [(managers[ident], p) for ident in sorted(conflicts) for p in conflicts[ident]]
        raise _Conflicts(items)
    for ident, entry in managers.items():
        if ident != workflow:
            entry.fields = entry.fields - conflicts.get(ident, EMPTY) - removed
    for ident in [i for i, e in managers.items() if e.fields.empty()]:
        del managers[ident]
    return added, modified, removed


def _record_update(managers: Managers, old: Any, new: Any, t: Type, *, manager: str, api_version: str,
                   subresource: str, now: str, ignore: FieldSet) -> None:
    """An Update by manager: what it changed becomes its own (managedFieldsUpdater + stripMeta + Updater.Update)."""
    added, modified, removed = _update(managers, old, new, t, _CURRENT_OPERATION, True, ignore)
    taken = ((modified | added) - removed) - STRIPPED  # added and modified are without ignore's paths already
    if taken.empty():
        return
    entry = ManagerEntry(manager, UPDATE, api_version, subresource, taken, now)
    previous = managers.get(entry.identifier)
    if previous is not None:
        entry.fields = previous.fields | taken
    managers[entry.identifier] = entry
    _cap_update_managers(managers)


def _cap_update_managers(managers: Managers) -> None:
    """Merge the oldest Update entries into per-version "ancient-changes" buckets, keeping at most ten."""
    updaters = [i for i, e in managers.items() if e.operation != APPLY]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return
    updaters.sort(key=lambda i: (_seconds(managers[i].time), i))
    first_by_version: dict[str, str] = {}
    length = len(updaters)
    for ident in updaters:
        if length <= MAX_UPDATE_MANAGERS:
            break
        entry = managers[ident]
        bucket = ManagerEntry(ANCIENT_CHANGES, UPDATE, entry.api_version, "", EMPTY)
        first = first_by_version.get(entry.api_version)
        if first is None:
            first_by_version[entry.api_version] = ident
            continue
        if bucket.identifier not in managers:
            bucket.fields = managers.pop(first).fields
            managers[bucket.identifier] = bucket
        existing = managers[bucket.identifier]
        existing.fields = entry.fields | existing.fields
        existing.time = entry.time
        del managers[ident]
        length -= 1


def _prune(merged: Any, managers: Managers, applier: str, last: FieldSet | None, t: Type) -> Any:
    """Remove what the applier applied last time, no longer applies, and nobody else owns (Updater.prune)."""
    if not last:
        return merged

    def named(s: FieldSet) -> FieldSet:
        return ensure_named_fields_are_members(s, t)

    last_named = named(last)
    owned = EMPTY
    for entry in managers.values():
        owned = owned | entry.fields
    owned = named(owned)
    merged_set = named(to_field_set(merged, t))
    pruned = remove_items(merged, last_named, t)
    pruned = remove_items(merged, merged_set - (named(to_field_set(pruned, t)) | owned), t)
    pruned_set = named(to_field_set(pruned, t))
    return remove_items(merged, (merged_set - pruned_set) & last_named, t)


def _apply(live: dict, applied: dict, managers: Managers, t: Type, *, manager: str, api_version: str,
           subresource: str, now: str, force: bool, ignore: FieldSet) -> dict:
    """Updater.Apply wrapped as managedFieldsUpdater and stripMeta wrap it; managers is updated in place."""
    merged = merge(live, applied, t)
    entry = ManagerEntry(manager, APPLY, api_version, subresource,
                         to_field_set(applied, t).recursive_difference(ignore))
    previous = managers.get(entry.identifier)
    last = previous.fields if previous is not None else None
    entry.time = previous.time if previous is not None else None
    managers[entry.identifier] = entry
    pruned = _prune(merged, managers, entry.identifier, last, t)
    _update(managers, live, pruned, t, entry.identifier, force, ignore)
    if entry.identifier in managers:
        entry.fields = entry.fields - STRIPPED
        if entry.fields.empty():
            del managers[entry.identifier]
    if equal(live, pruned):
        return copy.deepcopy(live)
    entry.time = now
    return pruned


# ---- helpers on objects ----

def _without_managed_fields(obj: dict) -> dict:
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


def _set_managed_fields(obj: dict, managers: Managers) -> None:
    meta = obj.setdefault("metadata", {})
    entries = encode_managed_fields(managers)
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)


def _keep_times_if_unchanged(old: dict, new: dict) -> None:
    """IgnoreManagedFieldsTimestampsTransformer: a write that changes nothing but time stamps keeps the old ones."""
    old_mf = (old.get("metadata") or {}).get("managedFields") or []
    new_mf = (new.get("metadata") or {}).get("managedFields") or []
    if len(old_mf) != len(new_mf) or not old_mf:
        return
    for a, b in zip(old_mf, new_mf):
        if {k: v for k, v in a.items() if k != "time"} != {k: v for k, v in b.items() if k != "time"}:
            return
    if equal(_without_managed_fields(old), _without_managed_fields(new)):
        new["metadata"]["managedFields"] = copy.deepcopy(old_mf)


# Structs that Go stores by value (so an empty object has them) though the schema cannot say so.
_VALUE_STRUCTS = frozenset({"metadata", "spec", "status", "template", "strategy", "updateStrategy", "jobTemplate"})
_POINTER_REQUIRED = frozenset({"selector"})


def zero_object(schema: dict | None) -> dict:
    """The empty object a create is compared against: Go's zero value for built-in kinds, {} for others."""
    return copy.deepcopy(_shared_zero_object(schema))


_zero_cache: dict[int, tuple[dict | None, dict]] = {}


def _shared_zero_object(schema: dict | None) -> dict:
    """zero_object, computed once per schema: callers only read it."""
    hit = _zero_cache.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    res = sch.resolve(schema) or {}
    zero = _zero_struct(schema, 0) if res.get("x-kubernetes-group-version-kind") else {}
    if len(_zero_cache) > 1024:
        _zero_cache.clear()
    _zero_cache[id(schema)] = (schema, zero)
    return zero


def _zero_struct(raw: dict | None, depth: int) -> dict:
    if sch.ref_name(raw or {}) == OBJECT_META or sch.resolve(raw) is sch.definition(OBJECT_META):
        return {"creationTimestamp": None}
    res = sch.resolve(raw) or {}
    required = set(res.get("required") or ())
    out: dict[str, Any] = {}
    for name, sub in (res.get("properties") or {}).items():
        is_struct = bool((sch.resolve(sub) or {}).get("properties"))
        if is_struct and depth < 8 and (name in _VALUE_STRUCTS or (name in required and name not in _POINTER_REQUIRED)):
            out[name] = _zero_struct(sub, depth + 1)
        elif name in required:
            out[name] = None
    return out


def _gvknn(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    api_version = obj.get("apiVersion") or ""
    group, _, version = api_version.rpartition("/")
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}; {group}/{version}, Kind={obj.get('kind') or ''}"


def _internal(message: str) -> StatusError:
    return StatusError(500, "InternalError", message)


# ---- last-applied (client-side apply interop for manager "kubectl") ----

def _allowed_from_last_applied(live: dict, t: Type) -> FieldSet | None:
    """Fields still equal to kubectl's last-applied annotation: conflicts on them are forced through."""
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not text:
        return None
    try:
        last = orjson.loads(text)
        if not isinstance(last, dict):
            return None
        fields = to_field_set(last, t)
        added, modified, removed = compare(last, live, t).sets()
    except (orjson.JSONDecodeError, TypedError):
        return None
    return fields - modified - added - removed


def _build_last_applied(applied: dict) -> str:
    obj = copy.deepcopy(applied)
    annotations = (obj.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode() + "\n"


def _update_last_applied(result: dict, applied: dict) -> None:
    """lastAppliedUpdater: keep an existing last-applied annotation in step with what kubectl applies."""
    annotations = (result.get("metadata") or {}).get("annotations")
    if not isinstance(annotations, dict) or not annotations.get(LAST_APPLIED):
        return
    annotations[LAST_APPLIED] = _build_last_applied(applied)
    if sum(len(k) + len(v or "") for k, v in annotations.items()) > MAX_ANNOTATIONS_SIZE:
        del annotations[LAST_APPLIED]


# ---- public API ----

def server_side_apply(live: dict | None, applied: dict, *, schema: dict | None, manager: str, force: bool,
                      api_version: str, now: str, subresource: str = "",
                      reset: Iterable[Path] | None = None) -> dict:
    """Merge an apply configuration into live (None: create) and return the new object with managedFields.

    Raises ApplyConflictError when applied values differ from values other managers own and force is False,
    and StatusError (400/500) for configurations upstream rejects. `reset` overrides the paths this
    subresource never owns (default: status for the main resource, spec for /status).
    """
    if applied.get("apiVersion") != api_version:
        raise bad_request("Incorrect version specified in apply patch. Specified patch version: "
                          f"{applied.get('apiVersion') or ''}, expected: {api_version}")
    if (applied.get("metadata") or {}).get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")
    t = root_type(schema)
    ignore = FieldSet(reset) if reset is not None else reset_fields(subresource)
    live_v = _without_managed_fields(live) if live is not None else {}
    try:
        managers = decode_managed_fields((live or {}).get("metadata", {}).get("managedFields"))
    except ValueError as e:
        raise _internal(f"failed to decode managed fields: {e}") from None
    try:
        to_field_set(applied, t, allow_duplicates=False)
    except TypedError as e:
        raise _internal(f"failed to create typed patch object ({_gvknn(applied)}): {e}") from None
    try:
        if not managers and live is not None:
            _record_update(managers, _shared_zero_object(schema), live_v, t, manager=BEFORE_FIRST_APPLY,
                           api_version=api_version, subresource=subresource, now=now, ignore=ignore)
        result, managers = _apply_with_last_applied(live_v, applied, managers, t, manager=manager,
                                                    api_version=api_version, subresource=subresource, now=now,
                                                    force=force, ignore=ignore)
    except TypedError as e:
        raise _internal(f"failed to create typed live object ({_gvknn(live_v)}): {e}") from None
    if manager == "kubectl":
        _update_last_applied(result, applied)
    _set_managed_fields(result, managers)
    if live is not None:
        _keep_times_if_unchanged(live, result)
    return result


def _apply_with_last_applied(live: dict, applied: dict, managers: Managers, t: Type, *, manager: str,
                             force: bool, **kw: Any) -> tuple[dict, Managers]:
    """lastAppliedManager: kubectl's apply may take over fields unchanged since its client-side apply."""
    attempt = _copy_managers(managers)
    try:
        return _apply(live, applied, attempt, t, manager=manager, force=force, **kw), attempt
    except _Conflicts as c:
        if manager != "kubectl":
            raise ApplyConflictError(c.items) from None
        allowed = _allowed_from_last_applied(live, t)
        if allowed is None:
            raise ApplyConflictError(c.items) from None
        remaining = [(e, p) for e, p in c.items if p not in allowed]
        if remaining:
            raise ApplyConflictError(remaining) from None
    attempt = _copy_managers(managers)
    return _apply(live, applied, attempt, t, manager=manager, force=True, **kw), attempt


def update_managed_fields(old: dict | None, new: dict, *, schema: dict | None, manager: str, api_version: str,
                          now: str, subresource: str = "", reset: Iterable[Path] | None = None) -> None:
    """Record a create/update/patch by manager in new['metadata']['managedFields'] (old None: create).

    managedFields sent in new are honoured when they decode and are non-empty (main resource only), else the
    old object's are kept. An existing object without managedFields stays untracked until its first apply.
    """
    t = root_type(schema)
    ignore = FieldSet(reset) if reset is not None else reset_fields(subresource)
    meta = new.setdefault("metadata", {})
    managers: Managers = {}
    if not subresource:
        try:
            managers = decode_managed_fields(meta.get("managedFields"))
        except ValueError:
            managers = {}
    if not managers:
        try:
            managers = decode_managed_fields(((old or {}).get("metadata") or {}).get("managedFields"))
        except ValueError:
            managers = {}
    if not managers and old is not None:
        meta.pop("managedFields", None)
        return
    old_v = _without_managed_fields(old) if old is not None else _shared_zero_object(schema)
    try:
        _record_update(managers, old_v, _without_managed_fields(new), t, manager=manager, api_version=api_version,
                       subresource=subresource, now=now, ignore=ignore)
    except TypedError:
        meta.pop("managedFields", None)
        return
    _set_managed_fields(new, managers)
    if old is not None:
        _keep_times_if_unchanged(old, new)


def fields_v1(obj: Any, schema: dict | None = None) -> dict[str, Any]:
    """The FieldsV1 document of a FieldSet, or of every field of an object typed by schema."""
    if isinstance(obj, FieldSet):
        return obj.to_fields_v1()
    return to_field_set(obj, root_type(schema)).to_fields_v1()

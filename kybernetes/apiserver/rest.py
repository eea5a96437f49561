"""The generic resource store (upstream's registry.Store): create, get, list, update, patch, delete on storage."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import orjson

from kybernetes.api import errors, meta
from kybernetes.api import schema as schemas
from kybernetes.api.registry import ResourceInfo
from kybernetes.api.unknown_fields import find_unknown_fields
from kybernetes.apiserver import strategy
from kybernetes.apiserver.admission import Admission
from kybernetes.apiserver.conversion import from_storage, to_storage
from kybernetes.apiserver.watchcache import WatchCache, decode
from kybernetes.storage.interface import CompactedError, KeyExistsError, Store

log = logging.getLogger(__name__)

MAX_RETRIES = 1000  # unconditional writes retry lost races; each lost race means another writer made progress
FRESH_TIMEOUT = 5.0


@dataclass
class RequestContext:
    """Per-request options every write honours."""

    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Strict"
    user_agent: str = ""
    user: str = ""
    groups: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def manager(self, default: str = "unknown") -> str:
        if self.field_manager:
            return self.field_manager
        ua = self.user_agent.split("/", 1)[0] if self.user_agent else ""
        return ua or default


class _Retry(Exception):
    """A compare-and-swap lost a race; read again and retry."""


def deep_copy(obj: Any) -> Any:
    return orjson.loads(orjson.dumps(obj))


def encode_for_storage(obj: dict[str, Any]) -> bytes:
    """The stored form: the object without its resourceVersion (that is the key's mod revision)."""
    md = obj.get("metadata") or {}
    if "resourceVersion" in md:
        obj = dict(obj)
        md = dict(md)
        del md["resourceVersion"]
        obj["metadata"] = md
    return orjson.dumps(obj)


def type_schema(info: ResourceInfo) -> dict[str, Any] | None:
    if info.crd:
        return info.extra.get("openapi_schema")
    return schemas.definition(info.definition) if info.definition else None


def qualified(info: ResourceInfo) -> str:
    return f"{info.plural}.{info.group}" if info.group else info.plural


def kind_qualified(info: ResourceInfo) -> str:
    return f"{info.kind}.{info.group}" if info.group else info.kind


def encode_continue(revision: int, start: str) -> str:
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        d = orjson.loads(raw)
        if d.get("v") != "meta.k8s.io/v1":
            raise ValueError("version")
        return int(d["rv"]), str(d["start"])
    except Exception:
        raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")


def _objects_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal apart from resourceVersion and the timestamps of managedFields."""
    def strip(o: dict[str, Any]) -> dict[str, Any]:
        o = dict(o)
        md = dict(o.get("metadata") or {})
        md.pop("resourceVersion", None)
        mf = md.get("managedFields")
        if isinstance(mf, list):
            md["managedFields"] = [{k: v for k, v in e.items() if k != "time"} for e in mf if isinstance(e, dict)]
        o["metadata"] = md
        return o
    return strip(a) == strip(b)


class ResourceStore:
    """Every verb on every resource, against storage, through the watch cache."""

    def __init__(self, *, store: Store, cache: WatchCache, admission: Admission,
                 on_change: Callable[[ResourceInfo, dict[str, Any]], None] | None = None) -> None:
        self.store = store
        self.cache = cache
        self.admission = admission
        self.on_change = on_change

    # reads

    async def current(self, info: ResourceInfo, key: str) -> dict[str, Any] | None:
        """The latest object (shared: copy before changing it)."""
        if await self.cache.wait_fresh(FRESH_TIMEOUT):
            obj = self.cache.cache_for(info.storage_prefix).objects.get(key)
        else:
            _, kv = await self.store.get(key)
            obj = decode(kv) if kv else None
        return self.present(info, obj) if obj is not None else None

    async def get(self, info: ResourceInfo, namespace: str, name: str, resource_version: str = "") -> dict[str, Any]:
        key = info.key(namespace, name)
        if resource_version in ("", None):
            obj = await self.current(info, key)
        elif resource_version == "0":
            obj = self.cache.cache_for(info.storage_prefix).objects.get(key)
        else:
            await self.wait_for_resource_version(parse_resource_version(resource_version))
            obj = self.cache.cache_for(info.storage_prefix).objects.get(key)
        if obj is None:
            raise errors.not_found(info.group, info.plural, name)
        return self.present(info, obj)

    async def wait_for_resource_version(self, revision: int) -> None:
        """Wait until the cache has caught up with revision; 504 when it is newer than anything stored."""
        if not await self.cache.wait_for_revision(revision, FRESH_TIMEOUT):
            raise too_large_resource_version(revision, self.cache.revision)

    def present(self, info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
        """The object as served at info's version (a shared object: copy before changing it)."""
        return from_storage(info, obj)

    async def list(self, info: ResourceInfo, namespace: str, *, matches: Callable[[dict[str, Any]], bool] | None,
                   resource_version: str = "", resource_version_match: str = "", limit: int = 0,
                   continue_: str = "") -> tuple[list[dict[str, Any]], int, str, int | None]:
        """Items, list resourceVersion, continue token, remainingItemCount."""
        prefix = info.list_prefix(namespace)
        if limit > 0 and not continue_ and resource_version == "" and resource_version_match != "Exact" \
                and await self.cache.wait_fresh(FRESH_TIMEOUT):
            # the first page of a consistent list comes from the fresh cache; later pages read storage at its revision
            return self._page_from_cache(info, prefix, matches, self.cache.revision, prefix, limit)
        if continue_ and limit > 0:
            # later pages: from the cache while it still holds exactly the revision the list started at
            rev, suffix = decode_continue(continue_)
            if rev == self.cache.revision:
                return self._page_from_cache(info, prefix, matches, rev, prefix + suffix, limit)
        if continue_ or (limit > 0 and resource_version != "0") or resource_version_match == "Exact":
            return await self._list_from_storage(info, prefix, matches=matches, limit=limit, continue_=continue_,
                                                 resource_version=resource_version,
                                                 exact=resource_version_match == "Exact")
        if resource_version == "":
            if not await self.cache.wait_fresh(FRESH_TIMEOUT):
                return await self._list_from_storage(info, prefix, matches=matches, limit=0, continue_="",
                                                     resource_version="", exact=False)
        elif resource_version != "0":
            await self.wait_for_resource_version(parse_resource_version(resource_version))
        rev = self.cache.revision
        items = self.cache.cache_for(info.storage_prefix).list(prefix, matches)
        return [self.present(info, o) for o in items], rev, "", None

    def _page_from_cache(self, info: ResourceInfo, prefix: str, matches: Callable[[dict[str, Any]], bool] | None,
                         rev: int, start: str, limit: int) -> tuple[list[dict[str, Any]], int, str, int | None]:
        """One page of a list, from key `start` on, out of the cache at revision rev (the cache's own)."""
        rcache = self.cache.cache_for(info.storage_prefix)
        token, remaining = "", None
        if matches is None:
            lo, hi = rcache.key_range(prefix, start)
            keys = rcache.sorted_keys()[lo:min(hi, lo + limit)]
            page = [(k, rcache.objects[k]) for k in keys]
            more = hi - lo - len(keys)
            if more > 0:
                remaining = more
        else:
            keyed = rcache.list_keyed(prefix, matches, start)
            page = keyed[:limit]
            more = len(keyed) - len(page)
        if more > 0:
            token = encode_continue(rev, page[-1][0][len(prefix):] + "\x00")
        return [self.present(info, o) for _, o in page], rev, token, remaining

    async def _list_from_storage(self, info: ResourceInfo, prefix: str, *, matches: Callable[[dict[str, Any]], bool] | None,
                                 limit: int, continue_: str, resource_version: str,
                                 exact: bool) -> tuple[list[dict[str, Any]], int, str, int | None]:
        revision = 0
        start = prefix
        if continue_:
            revision, suffix = decode_continue(continue_)
            start = prefix + suffix
        elif exact and resource_version not in ("", "0"):
            revision = parse_resource_version(resource_version)
        items: list[dict[str, Any]] = []
        chunk = max(limit, 100) if limit else 0
        more = False
        next_key = ""
        try:
            while True:
                res = await self.store.range(prefix, revision=revision, limit=chunk, start_key=start)
                revision = res.revision
                for i, kv in enumerate(res.kvs):
                    obj = decode(kv)
                    if matches is None or matches(obj):
                        items.append(self.present(info, obj))
                        if limit and len(items) >= limit:
                            rest_in_page = i + 1 < len(res.kvs)
                            if rest_in_page or res.more:
                                more = True
                                next_key = kv.key + "\x00"
                            break
                if more or not res.more or not res.kvs:
                    break
                start = res.kvs[-1].key + "\x00"
        except CompactedError:
            if continue_:
                raise errors.gone("The provided continue parameter is too old to display a consistent list result. "
                                  "You can start a new list without the continue parameter.")
            raise errors.gone("The resourceVersion for the provided list is too old.")
        token = encode_continue(revision, next_key[len(prefix):]) if more else ""
        remaining = None
        if more and matches is None:
            tail = await self.store.range(prefix, revision=revision, limit=1, start_key=next_key)
            remaining = tail.count
        return items, revision, token, remaining

    # create

    def check_body_type(self, info: ResourceInfo, obj: Any) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise errors.bad_request("the object provided is not a valid object: expected a JSON object")
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        if api_version and api_version != info.group_version:
            if info.crd and api_version.rpartition("/")[0] == info.group:
                pass  # another version of the same CRD: served versions share one schema family
            else:
                raise errors.bad_request(
                    f"the API version in the data ({api_version}) does not match the expected API version ({info.group_version})")
        if kind and kind != info.kind:
            raise errors.bad_request(f"the kind in the data ({kind}) does not match the expected kind ({info.kind})")
        obj["apiVersion"] = info.group_version
        obj["kind"] = info.kind
        if not isinstance(obj.get("metadata"), dict):
            if obj.get("metadata") is not None:
                raise errors.bad_request("metadata: expected a JSON object")
            obj["metadata"] = {}
        return obj

    def check_unknown_fields(self, info: ResourceInfo, obj: dict[str, Any], ctx: RequestContext, *,
                             decoding: bool = False, changed_by: dict[str, Any] | None = None) -> None:
        """Drop fields the type does not know; report them per fieldValidation (decoding: a create/update body).

        changed_by: the merge patch that made obj out of a stored object. Stored objects hold no unknown fields
        (every write dropped them), so only what the patch set is looked at, in obj's order, as a full walk would.
        """
        if info.crd:
            return
        if isinstance(changed_by, dict):
            view = _merge_patched_view(obj, changed_by)
            unknown = find_unknown_fields(view, type_schema(info), prune=True)
            if unknown:
                _drop_pruned(view, obj, changed_by)
        else:
            unknown = find_unknown_fields(obj, type_schema(info), prune=True)
        self._report_unknown(unknown, ctx, info if decoding else None)

    def _report_unknown(self, unknown: list[str], ctx: RequestContext, decoded: ResourceInfo | None = None) -> None:
        if not unknown or ctx.field_validation == "Ignore":
            return
        msgs = [f'unknown field "{p}"' for p in unknown]
        if ctx.field_validation == "Strict":
            prefix = f"{decoded.kind} in version {orjson.dumps(decoded.version).decode()} cannot be handled as a " \
                f"{decoded.kind}: " if decoded else ""
            raise errors.bad_request(prefix + "strict decoding error: " + ", ".join(msgs))
        ctx.warnings.extend(msgs)

    def _defaults_and_validate(self, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None,
                               ctx: RequestContext, subresource: str = "") -> None:
        from kybernetes.apiserver import typehooks

        if info.crd:
            pruned = typehooks.prune_custom_resource(info, obj)
            if pruned and subresource == "":
                self._report_unknown(pruned, ctx)
            typehooks.default_custom_resource(info, obj)
            errs = typehooks.validate_custom_resource(info, obj, old)
        else:
            typehooks.apply_defaults(info, obj)
            errs = typehooks.validate(info, obj, old, subresource=subresource)
        if errs:
            raise errors.invalid_object(info.group, info.kind, meta.name_of(obj), errs)

    async def create(self, info: ResourceInfo, namespace: str, obj: dict[str, Any], ctx: RequestContext,
                     *, managed: bool = True, adopt: bool = False) -> dict[str, Any]:
        """Create obj. With adopt (obj holds JSON values only, e.g. decoded from JSON) the watch cache keeps the
        created object itself, so the result is shared with it: nobody may change it afterwards."""
        obj = self.check_body_type(info, obj)
        md = obj["metadata"]
        if info.namespaced:
            if md.get("namespace") and md["namespace"] != namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
            md["namespace"] = namespace
        else:
            md.pop("namespace", None)
        if not md.get("name") and md.get("generateName"):
            md["name"] = meta.generate_name(md["generateName"])
        if not md.get("name"):
            raise errors.invalid_object(info.group, info.kind, "", [errors.required("metadata.name", "name or generateName is required")])
        name = md["name"]
        self.admission.check_namespace(info, namespace, name)
        for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            md.pop(k, None)
        md["uid"] = meta.new_uid()
        md["creationTimestamp"] = meta.now_rfc3339()
        strategy.prepare_for_create(info, obj)
        from kybernetes.apiserver import typehooks

        typehooks.prepare_for_create(info, obj, ctx)
        self._defaults_and_validate(info, obj, None, ctx)
        rollback = await self.admission.admit_create(
            info, obj, ctx, revalidate=lambda o: self._defaults_and_validate(info, o, None, ctx))
        key = info.key(namespace, name)
        announced = None
        try:
            try:
                if managed:
                    typehooks.track_managed_fields(info, None, obj, ctx)
                if ctx.dry_run:
                    rollback()
                    return self.present(info, obj)
                stored = to_storage(info, obj)
                value = encode_for_storage(stored)
                announced = self.cache.expect_write(key, value, stored) if adopt else None
                try:
                    kv = await self.store.create(key, value)
                except KeyExistsError:
                    raise errors.already_exists(info.group, info.plural, name)
            except BaseException:
                rollback()
                raise
            md["resourceVersion"] = str(kv.mod_revision)
            await self.cache.wait_for_revision(kv.mod_revision, FRESH_TIMEOUT)
        finally:
            if announced is not None:
                self.cache.forget_write(key, announced)
        return self.present(info, obj)

    # update and patch

    async def update(self, info: ResourceInfo, namespace: str, name: str, obj: Any, ctx: RequestContext,
                     subresource: str = "") -> tuple[dict[str, Any], bool]:
        """PUT: returns (object, created)."""
        obj = self.check_body_type(info, obj)
        md = obj["metadata"]
        if md.get("name") and md["name"] != name:
            raise errors.bad_request(f"the name of the object ({md['name']}) does not match the name on the URL ({name})")
        if info.namespaced and md.get("namespace") and md["namespace"] != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
        md["name"] = name
        want_rv = md.get("resourceVersion") or ""
        key = info.key(namespace, name)
        for _ in range(MAX_RETRIES):
            old = await self.current(info, key)
            if old is None:
                if subresource == "" and strategy.allow_create_on_update(info):
                    created = await self.create(info, namespace, deep_copy(obj), ctx, adopt=True)
                    return created, True
                raise errors.not_found(info.group, info.plural, name)
            if want_rv and want_rv != old["metadata"].get("resourceVersion"):
                raise errors.conflict(info.group, info.plural, name,
                                      "the object has been modified; please apply your changes to the latest version and try again")
            try:
                return await self._write_update(info, key, old, deep_copy(obj), ctx, subresource,
                                                retry=not want_rv, adopt=True), False
            except _Retry:
                continue
        raise errors.conflict(info.group, info.plural, name, "too many concurrent writers; try again")

    async def patch(self, info: ResourceInfo, namespace: str, name: str, patch_type: str, body: bytes,
                    ctx: RequestContext, subresource: str = "", force: bool = False) -> tuple[dict[str, Any], bool]:
        """PATCH with json, merge, strategic or apply patches; returns (object, created)."""
        from kybernetes.apiserver import typehooks

        key = info.key(namespace, name)
        for _ in range(MAX_RETRIES):
            old = await self.current(info, key)
            if patch_type == "apply":
                applied = typehooks.decode_apply_body(body)
                if old is None:
                    if subresource:
                        raise errors.not_found(info.group, info.plural, name)
                    obj = self.check_body_type(info, deep_copy(applied))
                    _check_patch_identity(obj, name, namespace if info.namespaced else "")
                    obj["metadata"]["name"] = name
                    self.check_unknown_fields(info, obj, ctx)
                    new = typehooks.server_side_apply(info, None, obj, ctx, force=force, subresource=subresource)
                    return await self.create(info, namespace, new, ctx, managed=False), True
                self.check_body_type(info, deep_copy(applied))
                _check_patch_identity(applied, name, namespace if info.namespaced else "")
                self.check_unknown_fields(info, applied, ctx)
                new = typehooks.server_side_apply(info, deep_copy(old), applied, ctx, force=force,
                                                  subresource=subresource)
                want_rv = (applied.get("metadata") or {}).get("resourceVersion") or ""
                managed = adopt = False  # an apply configuration is YAML
            else:
                if old is None:
                    raise errors.not_found(info.group, info.plural, name)
                # merge and strategic patches change the object they get; a JSON patch copies it itself
                doc, adopt = typehooks.decode_patch(body)
                new = typehooks.apply_patch(info, patch_type, old if patch_type == "json" else deep_copy(old), body,
                                            decoded=doc)
                if not isinstance(new, dict):
                    raise errors.bad_request("patched object is not a JSON object")
                self.check_unknown_fields(info, new, ctx, changed_by=doc if patch_type == "merge" else None)
                new_md = new.get("metadata") if isinstance(new.get("metadata"), dict) else {}
                want_rv = new_md.get("resourceVersion") or ""
                if want_rv == old["metadata"].get("resourceVersion"):
                    want_rv = ""  # the patch did not set it
                managed = True
            new_md = new.setdefault("metadata", {})
            if new_md.get("name", name) != name:
                raise errors.bad_request(f"the name of the object ({new_md.get('name')}) does not match the name on the URL ({name})")
            new_md["name"] = name
            if info.namespaced:
                new_md["namespace"] = namespace
            if want_rv and want_rv != old["metadata"].get("resourceVersion"):
                raise errors.conflict(info.group, info.plural, name,
                                      "the object has been modified; please apply your changes to the latest version and try again")
            new = self.check_body_type(info, new)
            try:
                return await self._write_update(info, key, old, new, ctx, subresource, retry=not want_rv,
                                                managed=managed, adopt=adopt), False
            except _Retry:
                continue
        raise errors.conflict(info.group, info.plural, name, "too many concurrent writers; try again")

    async def _write_update(self, info: ResourceInfo, key: str, old: dict[str, Any], new: dict[str, Any],
                            ctx: RequestContext, subresource: str, *, retry: bool,
                            managed: bool = True, adopt: bool = False) -> dict[str, Any]:
        """Write new over old; with adopt (new holds JSON values only) the result is shared with the watch cache."""
        from kybernetes.apiserver import typehooks

        omd, nmd = old["metadata"], new["metadata"]
        name = omd["name"]
        if nmd.get("uid") and nmd["uid"] != omd.get("uid"):
            raise errors.conflict(info.group, info.plural, name,
                                  f"Precondition failed: UID in precondition: {nmd['uid']}, UID in object meta: {omd.get('uid')}")
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if k in omd:
                nmd[k] = omd[k]
            else:
                nmd.pop(k, None)
        if info.namespaced:
            nmd["namespace"] = omd.get("namespace")
        nmd["resourceVersion"] = omd.get("resourceVersion")
        if omd.get("deletionTimestamp"):
            added = set(nmd.get("finalizers") or []) - set(omd.get("finalizers") or [])
            if added:
                raise errors.invalid_object(info.group, info.kind, name, [errors.forbidden(
                    "metadata.finalizers", "no new finalizers can be added if the object is being deleted, found new finalizers "
                    "[]string{" + ", ".join(f'"{f}"' for f in sorted(added)) + "}")])
        strategy.prepare_for_update(info, new, old, subresource)
        typehooks.prepare_for_update(info, new, old, subresource, ctx)
        self._defaults_and_validate(info, new, old, ctx, subresource)
        rollback = await self.admission.admit_update(
            info, new, old, subresource, ctx,
            revalidate=lambda o: self._defaults_and_validate(info, o, old, ctx, subresource))
        announced = None
        try:
            try:
                if managed:
                    typehooks.track_managed_fields(info, old, new, ctx, subresource=subresource)
                finalizing = _update_finishes_deletion(info, old, new)
                if _objects_equal(new, old) and not finalizing:
                    rollback()
                    return self.present(info, old)
                if ctx.dry_run:
                    rollback()
                    return self.present(info, new)
                old_rv = int(omd["resourceVersion"])
                if finalizing:
                    res = await self.store.delete(key, mod_revision=old_rv)
                else:
                    stored = to_storage(info, new)
                    value = encode_for_storage(stored)
                    announced = self.cache.expect_write(key, value, stored) if adopt else None
                    res = await self.store.update(key, value, mod_revision=old_rv)
            except BaseException:
                rollback()
                raise
            if not res.succeeded:
                rollback()
                await self.cache.wait_for_revision(res.kv.mod_revision if res.kv else res.revision, FRESH_TIMEOUT)
                if retry:
                    raise _Retry()
                raise errors.conflict(info.group, info.plural, name, "the object has been modified; please apply "
                                      "your changes to the latest version and try again")
            nmd["resourceVersion"] = str(res.revision)
            if finalizing:
                await self.admission.released(info, new)
            await self.cache.wait_for_revision(res.revision, FRESH_TIMEOUT)
        finally:
            if announced is not None:
                self.cache.forget_write(key, announced)
        return self.present(info, new)

    # delete

    async def delete(self, info: ResourceInfo, namespace: str, name: str, options: dict[str, Any],
                     ctx: RequestContext) -> tuple[dict[str, Any], bool]:
        """Returns (object, deleted now); not deleted now means marked with a deletionTimestamp."""
        self.admission.check_namespace_delete(info, name)
        key = info.key(namespace, name)
        for _ in range(MAX_RETRIES):
            try:
                return await self._delete_once(info, key, name, options, ctx)
            except _Retry:
                continue
        raise errors.conflict(info.group, info.plural, name, "too many concurrent writers; try again")

    async def _delete_once(self, info: ResourceInfo, key: str, name: str, options: dict[str, Any],
                           ctx: RequestContext) -> tuple[dict[str, Any], bool]:
        from kybernetes.apiserver import typehooks

        pre = options.get("preconditions") or {}
        old = await self.current(info, key)
        if old is None:
            raise errors.not_found(info.group, info.plural, name)
        await self.admission.admit_delete(info, old, ctx)
        omd = old["metadata"]
        if pre.get("uid") and pre["uid"] != omd.get("uid"):
            raise errors.conflict(info.group, info.plural, name,
                                  f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {omd.get('uid')}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != omd.get("resourceVersion"):
            raise errors.conflict(info.group, info.plural, name,
                                  f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                                  f"ResourceVersion in object meta: {omd.get('resourceVersion')}")
        new = deep_copy(old)
        nmd = new["metadata"]
        finalizers = list(nmd.get("finalizers") or [])
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        if policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        elif policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        grace = typehooks.grace_period(info, old, options)
        blocking = typehooks.blocks_final_deletion(info, new)
        if omd.get("deletionTimestamp"):
            # already being deleted: only a shorter grace period or new propagation finalizers change anything
            changed = finalizers != list(omd.get("finalizers") or [])
            cur_grace = omd.get("deletionGracePeriodSeconds")
            if grace is not None and cur_grace is not None and grace < cur_grace:
                if grace == 0 and not finalizers and not blocking:
                    return await self._delete_now(info, key, old, ctx)
                nmd["deletionGracePeriodSeconds"] = grace
                nmd["deletionTimestamp"] = meta.format_time(datetime.now(timezone.utc) + timedelta(seconds=grace))
                changed = True
            if not changed:
                return self.present(info, old), False
        elif finalizers or (grace or 0) > 0 or blocking:
            now = datetime.now(timezone.utc)
            nmd["deletionTimestamp"] = meta.format_time(now + timedelta(seconds=grace or 0))
            nmd["deletionGracePeriodSeconds"] = grace or 0
            typehooks.prepare_for_delete(info, new)
        else:
            return await self._delete_now(info, key, old, ctx)
        if finalizers:
            nmd["finalizers"] = finalizers
        if ctx.dry_run:
            return self.present(info, new), False
        res = await self._update_stored(info, key, new, int(omd["resourceVersion"]))
        if not res.succeeded:
            raise _Retry()
        return self.present(info, new), False

    async def _update_stored(self, info: ResourceInfo, key: str, new: dict[str, Any], mod_revision: int) -> Any:
        """Compare-and-swap key to new (JSON values only) and wait for the watch cache, which keeps new itself:
        from here on new is shared. On success new carries the new resourceVersion."""
        stored = to_storage(info, new)
        value = encode_for_storage(stored)
        announced = self.cache.expect_write(key, value, stored)
        try:
            res = await self.store.update(key, value, mod_revision=mod_revision)
            if res.succeeded:
                new["metadata"]["resourceVersion"] = str(res.revision)
            await self.cache.wait_for_revision(res.revision, FRESH_TIMEOUT)
        finally:
            self.cache.forget_write(key, announced)
        return res

    async def _delete_now(self, info: ResourceInfo, key: str, old: dict[str, Any],
                          ctx: RequestContext) -> tuple[dict[str, Any], bool]:
        if ctx.dry_run:
            return self.present(info, old), True
        res = await self.store.delete(key, mod_revision=int(old["metadata"]["resourceVersion"]))
        if not res.succeeded:
            await self.cache.wait_for_revision(res.revision, FRESH_TIMEOUT)
            raise _Retry()
        await self.admission.released(info, old)
        await self.cache.wait_for_revision(res.revision, FRESH_TIMEOUT)
        out = dict(old)
        out["metadata"] = dict(old["metadata"], resourceVersion=str(res.revision))
        return self.present(info, out), True


def _merge_patched_view(obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """What a merge patch can have set in obj: obj's maps along the patch's maps (new dicts, obj's key order), and
    obj's own values where the patch set a value."""
    view: dict[str, Any] = {}
    for k, v in obj.items():
        if k in patch:
            sub = patch[k]
            view[k] = _merge_patched_view(v, sub) if isinstance(v, dict) and isinstance(sub, dict) else v
    return view


def _drop_pruned(view: dict[str, Any], obj: dict[str, Any], patch: dict[str, Any]) -> None:
    """Remove from obj what find_unknown_fields pruned from the view's own dicts (below those it pruned obj)."""
    for k in [k for k in obj if k in patch and k not in view]:
        del obj[k]
    for k, seen in view.items():
        v = obj.get(k)
        if seen is not v and isinstance(seen, dict) and isinstance(v, dict):
            _drop_pruned(seen, v, patch[k])


def _update_finishes_deletion(info: ResourceInfo, old: dict[str, Any], new: dict[str, Any]) -> bool:
    """An update of a deleting object removes it when it takes away what held it (the last finalizer, or a
    namespace's spec.finalizers) and no grace period is running; any other write leaves it Terminating."""
    from kybernetes.apiserver import typehooks

    omd, nmd = old["metadata"], new["metadata"]
    if not omd.get("deletionTimestamp") or omd.get("deletionGracePeriodSeconds"):
        return False
    was_held = bool(omd.get("finalizers")) or typehooks.blocks_final_deletion(info, old)
    now_free = not nmd.get("finalizers") and not typehooks.blocks_final_deletion(info, new)
    return was_held and now_free


def parse_resource_version(rv: str) -> int:
    try:
        n = int(rv)
        if n < 0:
            raise ValueError
        return n
    except (TypeError, ValueError):
        raise errors.bad_request(f'invalid resource version "{rv}"') from None


def too_large_resource_version(requested: int, current: int) -> errors.StatusError:
    """Upstream's 504 for a resourceVersion the cache did not reach in time."""
    return errors.StatusError(504, "Timeout", f"Too large resource version: {requested}, current: {current}",
                              details={"causes": [{"reason": "ResourceVersionTooLarge",
                                                   "message": "Too large resource version"}],
                                       "retryAfterSeconds": 1})


def _check_patch_identity(obj: dict[str, Any], name: str, namespace: str) -> None:
    md = obj.get("metadata") or {}
    if md.get("name") and md["name"] != name:
        raise errors.bad_request(f"the name of the object ({md['name']}) does not match the name on the URL ({name})")
    if namespace and md.get("namespace") and md["namespace"] != namespace:
        raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")


async def guaranteed_update(rest: ResourceStore, info: ResourceInfo, namespace: str, name: str,
                            mutate: Callable[[dict[str, Any]], dict[str, Any] | None],
                            ctx: RequestContext) -> dict[str, Any]:
    """Read, mutate a copy, compare-and-swap; retry on a lost race. mutate returns None for 'no change'.

    mutate may only put JSON values in the object: the result is the watch cache's object (shared).

    For internal subresources (binding, finalize): no defaulting or validation beyond what mutate does.
    """
    key = info.key(namespace, name)
    for _ in range(MAX_RETRIES):
        old = await rest.current(info, key)
        if old is None:
            raise errors.not_found(info.group, info.plural, name)
        new = mutate(deep_copy(old))
        if new is None:
            return rest.present(info, old)
        if ctx.dry_run:
            return rest.present(info, new)
        res = await rest._update_stored(info, key, new, int(old["metadata"]["resourceVersion"]))  # noqa: SLF001
        if not res.succeeded:
            continue
        return rest.present(info, new)
    raise errors.conflict(info.group, info.plural, name, "too many concurrent writers; try again")

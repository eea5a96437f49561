"""HTTP handlers for resource requests: one function per verb, dispatching subresources."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from aiohttp import web

from kybernetes.api import errors, meta
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver import negotiation as neg
from kybernetes.apiserver.requestinfo import RequestInfo
from kybernetes.apiserver.rest import RequestContext, deep_copy, parse_resource_version

if TYPE_CHECKING:
    from kybernetes.apiserver.server import APIServer

log = logging.getLogger(__name__)

Filter = Callable[[dict[str, Any]], bool]

_DRY_RUN_VALUES = ("All",)
_FIELD_VALIDATION = ("Strict", "Warn", "Ignore")


def request_context(request: web.Request) -> RequestContext:
    q = request.query
    dry = q.getall("dryRun", [])
    for d in dry:
        if d not in _DRY_RUN_VALUES:
            raise errors.invalid_object("meta.k8s.io", "DryRun", "", [errors.not_supported("dryRun", d, ["All"])])
    fv = q.get("fieldValidation", "")
    if fv and fv not in _FIELD_VALIDATION:
        raise errors.bad_request(f'fieldValidation must be one of "Ignore", "Warn", or "Strict", got: {fv}')
    fm = q.get("fieldManager", "")
    if len(fm) > 128:
        raise errors.invalid_object("meta.k8s.io", "UpdateOptions", "", [errors.too_long("fieldManager", 128)])
    from kybernetes.apiserver.app import USER_KEY

    user = request.get(USER_KEY) or {}
    return RequestContext(dry_run=bool(dry), field_manager=fm, field_validation=fv or "Warn",
                          user_agent=request.headers.get("User-Agent", ""), user=user.get("username", ""),
                          groups=list(user.get("groups", [])))


def _warning_headers(ctx: RequestContext) -> dict[str, str]:
    return {}


def respond_with(ctx: RequestContext, obj: Any, accept: neg.Accept, status: int = 200) -> web.Response:
    resp = neg.respond(obj, accept, status)
    for w in ctx.warnings:
        resp.headers.add("Warning", warning_header(w))
    return resp


def warning_header(text: str) -> str:
    """An RFC 7234 warning value as upstream writes it: code 299, agent "-", the text as a quoted-string."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'


def _is_json(content_type: str) -> bool:
    """Whether decode_object reads a body of this type as JSON (so that it holds JSON values only)."""
    return content_type.split(";", 1)[0].strip().lower() in neg.JSON_TYPES


def _int_param(request: web.Request, name: str) -> int:
    v = request.query.get(name, "")
    if not v:
        return 0
    try:
        n = int(v)
    except ValueError:
        raise errors.bad_request(f"invalid value for {name}: {v!r}") from None
    return n


class ResourceHandlers:
    """get, list, create, update, patch, delete, deletecollection and their subresources."""

    def __init__(self, server: APIServer) -> None:
        self.server = server

    @property
    def rest(self):  # noqa: ANN201 - a ResourceStore
        return self.server.rest

    # helpers

    def make_filter(self, info: ResourceInfo, request: web.Request) -> Filter | None:
        from kybernetes.apiserver.filters import build_filter

        return build_filter(info, request.query.get("labelSelector", ""), request.query.get("fieldSelector", ""))

    def _output(self, info: ResourceInfo, obj: dict[str, Any], accept: neg.Accept, request: web.Request) -> Any:
        if accept.as_kind == "Table":
            from kybernetes.api.tables import build_table

            return build_table(info, [obj], include_object=request.query.get("includeObject", "Metadata"),
                               resource_version=meta.resource_version_of(obj))
        if accept.as_kind in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            return partial_metadata(obj, accept.version)
        return obj

    # verbs

    async def get(self, request: web.Request, ri: RequestInfo, info: ResourceInfo, accept: neg.Accept) -> web.Response:
        obj = await self.rest.get(info, ri.namespace, ri.name, request.query.get("resourceVersion", ""))
        return neg.respond(self._output(info, obj, accept, request), accept)

    async def list(self, request: web.Request, ri: RequestInfo, info: ResourceInfo, accept: neg.Accept) -> web.Response:
        q = request.query
        matches = self.make_filter(info, request)
        rv = q.get("resourceVersion", "")
        rvm = q.get("resourceVersionMatch", "")
        limit = _int_param(request, "limit")
        cont = q.get("continue", "")
        if rvm and rvm not in ("NotOlderThan", "Exact"):
            raise errors.invalid_object("meta.k8s.io", "ListOptions", "", [errors.not_supported(
                "resourceVersionMatch", rvm, ["Exact", "NotOlderThan", ""])])
        if rvm and not rv:
            raise errors.invalid_object("meta.k8s.io", "ListOptions", "", [errors.forbidden(
                "resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided")])
        if cont and rv:
            raise errors.invalid_object("meta.k8s.io", "ListOptions", "", [errors.forbidden(
                "resourceVersion", "specifying resource version is not allowed when using continue")])
        if rv and rv != "0":
            parse_resource_version(rv)
        namespace = ri.namespace if info.namespaced else ""
        items, rev, token, remaining = await self.rest.list(
            info, namespace, matches=matches, resource_version=rv, resource_version_match=rvm, limit=limit,
            continue_=cont)
        list_meta: dict[str, Any] = {"resourceVersion": str(rev)}
        if token:
            list_meta["continue"] = token
        if remaining is not None:
            list_meta["remainingItemCount"] = remaining
        if accept.as_kind == "Table":
            from kybernetes.api.tables import build_table

            body = build_table(info, items, include_object=q.get("includeObject", "Metadata"),
                               resource_version=str(rev), continue_=token, remaining_item_count=remaining)
        elif accept.as_kind in ("PartialObjectMetadataList", "PartialObjectMetadata"):
            body = {"kind": "PartialObjectMetadataList", "apiVersion": f"meta.k8s.io/{accept.version}",
                    "metadata": list_meta, "items": [partial_metadata(o, accept.version) for o in items]}
        else:
            body = {"kind": info.list_kind, "apiVersion": info.group_version, "metadata": list_meta, "items": items}
        return neg.respond(body, accept)

    async def create(self, request: web.Request, ri: RequestInfo, info: ResourceInfo, accept: neg.Accept) -> web.Response:
        ctx = request_context(request)
        content_type = request.headers.get("Content-Type", "")
        body = neg.decode_object(await neg.read_body(request), content_type)
        obj = self.rest.check_body_type(info, body)
        self.rest.check_unknown_fields(info, obj, ctx, decoding=True)
        created = await self.rest.create(info, ri.namespace, obj, ctx, adopt=_is_json(content_type))
        return respond_with(ctx, self._output(info, created, accept, request), accept, 201)

    async def update(self, request: web.Request, ri: RequestInfo, info: ResourceInfo, accept: neg.Accept,
                     subresource: str = "") -> web.Response:
        ctx = request_context(request)
        body = neg.decode_object(await neg.read_body(request), request.headers.get("Content-Type", ""))
        obj = self.rest.check_body_type(info, body)
        self.rest.check_unknown_fields(info, obj, ctx, decoding=True)
        out, created = await self.rest.update(info, ri.namespace, ri.name, obj, ctx, subresource)
        return respond_with(ctx, self._output(info, out, accept, request), accept, 201 if created else 200)

    async def patch(self, request: web.Request, ri: RequestInfo, info: ResourceInfo, accept: neg.Accept,
                    subresource: str = "") -> web.Response:
        ctx = request_context(request)
        ptype = neg.patch_type(request.headers.get("Content-Type", ""))
        force = request.query.get("force", "") in ("true", "1")
        if force and ptype != "apply":
            raise errors.invalid_object("meta.k8s.io", "PatchOptions", "", [errors.forbidden(
                "force", "may not be specified for non-apply patch")])
        if ptype == "apply" and not ctx.field_manager:
            raise errors.invalid_object("meta.k8s.io", "PatchOptions", "", [errors.required(
                "fieldManager", "is required for apply requests")])
        body = await neg.read_body(request)
        out, created = await self.rest.patch(info, ri.namespace, ri.name, ptype, body, ctx, subresource, force)
        return respond_with(ctx, self._output(info, out, accept, request), accept, 201 if created else 200)

    async def delete_options(self, request: web.Request) -> dict[str, Any]:
        body = await neg.read_body(request)
        opts: dict[str, Any] = {}
        if body.strip():
            decoded = neg.decode_object(body, request.headers.get("Content-Type", "application/json"))
            if isinstance(decoded, dict):
                opts = decoded
        q = request.query
        if "gracePeriodSeconds" in q:
            opts["gracePeriodSeconds"] = _int_param(request, "gracePeriodSeconds")
        if "propagationPolicy" in q:
            opts["propagationPolicy"] = q["propagationPolicy"]
        if "orphanDependents" in q:
            opts["orphanDependents"] = q["orphanDependents"] in ("true", "1")
        if q.getall("dryRun", []):
            opts["dryRun"] = q.getall("dryRun")
        pol = opts.get("propagationPolicy")
        if pol is not None and pol not in ("Orphan", "Background", "Foreground"):
            raise errors.invalid_object("meta.k8s.io", "DeleteOptions", "", [errors.not_supported(
                "propagationPolicy", pol, ["Foreground", "Background", "Orphan", "nil"])])
        g = opts.get("gracePeriodSeconds")
        if g is not None and (not isinstance(g, int) or g < 0):
            raise errors.invalid_object("meta.k8s.io", "DeleteOptions", "", [errors.invalid(
                "gracePeriodSeconds", g, "must be greater than or equal to 0")])
        return opts

    async def delete(self, request: web.Request, ri: RequestInfo, info: ResourceInfo, accept: neg.Accept) -> web.Response:
        ctx = request_context(request)
        opts = await self.delete_options(request)
        if opts.get("dryRun"):
            ctx.dry_run = True
        obj, deleted = await self.rest.delete(info, ri.namespace, ri.name, opts, ctx)
        if deleted and not returns_deleted_object(info):
            md = obj.get("metadata") or {}
            details = {"name": ri.name, "kind": info.plural, "uid": md.get("uid")}
            if info.group:
                details["group"] = info.group
            return respond_with(ctx, neg.success_status(details), accept)
        return respond_with(ctx, self._output(info, obj, accept, request), accept, 200 if deleted else 200)

    async def delete_collection(self, request: web.Request, ri: RequestInfo, info: ResourceInfo,
                                accept: neg.Accept) -> web.Response:
        ctx = request_context(request)
        opts = await self.delete_options(request)
        if opts.get("dryRun"):
            ctx.dry_run = True
        matches = self.make_filter(info, request)
        namespace = ri.namespace if info.namespaced else ""
        items, rev, _, _ = await self.rest.list(info, namespace, matches=matches)
        deleted = []
        for item in items:
            md = item["metadata"]
            try:
                obj, _ = await self.rest.delete(info, md.get("namespace", ""), md["name"], dict(opts), ctx)
                deleted.append(obj)
            except errors.StatusError as e:
                if e.code != 404:
                    raise
        body = {"kind": info.list_kind, "apiVersion": info.group_version,
                "metadata": {"resourceVersion": str(self.server.cache.revision)}, "items": deleted}
        return respond_with(ctx, body, accept)


def returns_deleted_object(info: ResourceInfo) -> bool:
    """Upstream answers a finished delete with the object for these, with a Status for the rest."""
    return info.crd or (info.group, info.plural) in {("", "pods"), ("", "namespaces"), ("", "services"),
                                                     ("", "nodes"), ("apps", "deployments"),
                                                     ("apps", "replicasets"), ("apps", "statefulsets"),
                                                     ("apps", "daemonsets"), ("batch", "jobs")}


def partial_metadata(obj: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}",
            "metadata": obj.get("metadata", {})}


__all__ = ["ResourceHandlers", "request_context", "deep_copy"]

"""The aiohttp application: routing of resource and non-resource paths, errors as Status, metrics."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from kybernetes.api import errors
from kybernetes.apiserver import discovery, virtual
from kybernetes.apiserver.audit import AUDIT_ID_HEADER
from kybernetes.apiserver.authn import UserInfo, oidc
from kybernetes.apiserver.authz import Decision, forbidden, request_attributes
from kybernetes.apiserver.authz.escalation import current_rbac
from kybernetes.apiserver.authz.impersonation import impersonate
from kybernetes.version import version_info
from kybernetes.apiserver import negotiation as neg
from kybernetes.apiserver.handlers import ResourceHandlers
from kybernetes.apiserver.requestinfo import RequestInfo, parse_request_info
from kybernetes.apiserver.subresources import Subresources
from kybernetes.apiserver.watch import WatchServer

if TYPE_CHECKING:
    from kybernetes.apiserver.server import APIServer

log = logging.getLogger(__name__)

USER_KEY = web.RequestKey("user", dict) if hasattr(web, "RequestKey") else "user"
USER_INFO_KEY = web.RequestKey("user_info", UserInfo) if hasattr(web, "RequestKey") else "user_info"
REQUEST_INFO_KEY = web.RequestKey("request_info", RequestInfo) if hasattr(web, "RequestKey") else "request_info"
AUDIT_KEY = web.RequestKey("audit", object) if hasattr(web, "RequestKey") else "audit"  # a RequestAudit or None

# Subresources proxied by kybernetes.apiserver.proxy: to the node's kubelet, or to pods and services.
KUBELET_PROXIED = {("", "pods", "log"), ("", "pods", "exec"), ("", "pods", "attach"), ("", "pods", "portforward"),
                   ("", "nodes", "proxy"), ("", "pods", "proxy"), ("", "services", "proxy")}


def _json(obj: Any, status: int = 200, content_type: str = "application/json") -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, headers={"Content-Type": content_type})


def _not_found() -> web.Response:
    return neg.status_response(errors.StatusError(404, "NotFound", "the server could not find the requested resource",
                                                  details={}))


class Router:
    """Dispatches every request: non-resource endpoints by path, resource requests by RequestInfo."""

    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.resources = ResourceHandlers(server)
        self.subresources = Subresources(server)
        self.watches = WatchServer(server)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        ri = request.get(REQUEST_INFO_KEY) or parse_request_info(request.method, path, dict(request.query))
        if ri.is_resource_request:
            return await self.resource_request(request, ri)
        return await self.non_resource_request(request, path)

    # non-resource

    async def non_resource_request(self, request: web.Request, path: str) -> web.StreamResponse:
        server = self.server
        registry = server.registry
        p = path.rstrip("/") or "/"
        if request.method not in ("GET", "HEAD"):
            if p in ("/api", "/apis") or p.startswith(("/api/", "/apis/")):
                return neg.status_response(errors.method_not_allowed())
            return _not_found()
        accept = request.headers.get("Accept", "")
        if p == "/version":
            return _json(version_info())
        if p in ("/healthz", "/livez", "/readyz") or p.startswith(("/healthz/", "/livez/", "/readyz/")):
            return self.health(request, p)
        if p == "/metrics":
            return web.Response(body=server.metrics.render(),
                                headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
        if p == "/api":
            agg = discovery.negotiate_aggregated(accept)
            if agg:
                return _json(discovery.aggregated_discovery(registry, legacy=True, version=agg),
                             content_type=discovery.aggregated_content_type(agg))
            return _json(discovery.api_versions(f"{server.config.advertise_address}:{server.port}"))
        if p == "/apis":
            agg = discovery.negotiate_aggregated(accept)
            if agg:
                return _json(discovery.aggregated_discovery(registry, legacy=False, version=agg),
                             content_type=discovery.aggregated_content_type(agg))
            return _json(discovery.api_group_list(registry))
        if p == "/api/v1":
            doc = discovery.api_resource_list(registry, "", "v1")
            return _json(doc) if doc else _not_found()
        parts = p.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2:
            doc = discovery.api_group(registry, parts[1])
            return _json(doc) if doc else _not_found()
        if parts[0] == "apis" and len(parts) == 3:
            doc = discovery.api_resource_list(registry, parts[1], parts[2])
            return _json(doc) if doc else _not_found()
        if p.startswith("/openapi/"):
            return self.openapi(request, p)
        if p in oidc.PATHS:
            return oidc.serve(server, p) or _not_found()
        if p == "/":
            paths = sorted({"/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/metrics", "/version",
                            "/openapi/v2", "/openapi/v3"} |
                           {f"/apis/{g}" for g in registry.groups() if g} |
                           {f"/apis/{g}/{v}" for g, vs in registry.groups().items() if g for v in vs})
            return _json({"paths": paths})
        return _not_found()

    def health(self, request: web.Request, p: str) -> web.Response:
        """/healthz, /livez, /readyz (and /<endpoint>/<check>): each check evaluated now, as upstream lists them."""
        base, _, only = p.lstrip("/").partition("/")
        checks = self.server.health_checks(readiness=base == "readyz")
        if only:
            if only not in checks:
                return web.Response(status=404, text="not found")
            ok, _ = checks[only]()
            return web.Response(text="ok" if ok else f"{only} failed", status=200 if ok else 500)
        results = {name: check() for name, check in checks.items()}
        ok = all(passed for passed, _ in results.values())
        if "verbose" in request.query or not ok:
            lines = [f"[+]{name} ok" if passed else f"[-]{name} failed: {reason}"
                     for name, (passed, reason) in results.items()]
            lines.append(f"{base} check {'passed' if ok else 'failed'}")
            return web.Response(text="\n".join(lines) + "\n", status=200 if ok else 500)
        return web.Response(text="ok")

    def openapi(self, request: web.Request, p: str) -> web.Response:
        from kybernetes.api import openapi

        registry = self.server.registry
        if p == "/openapi/v2":
            ctype = openapi.openapi_v2_content_type(request.headers.get("Accept"))
            etag = openapi.openapi_v2_etag(registry)
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            body = openapi.openapi_v2_protobuf(registry) if ctype != "application/json" else openapi.openapi_v2(registry)
            return web.Response(body=body, headers={"Content-Type": ctype, "ETag": etag})
        if p == "/openapi/v3":
            return _json(openapi.openapi_v3_index(registry))
        gv = openapi.parse_v3_path(p[len("/openapi/v3/"):])
        if gv is None:
            return _not_found()
        body = openapi.openapi_v3_group_version(registry, *gv)
        if body is None:
            return _not_found()
        digest = openapi.openapi_v3_hash(registry, *gv) or ""
        headers = {"Content-Type": "application/json", "ETag": f'"{digest}"'}
        if request.query.get("hash") == digest:
            headers["Cache-Control"] = "public, immutable"
            headers["Expires"] = "Thu, 01 Jan 2099 00:00:00 GMT"
        else:
            headers["Cache-Control"] = "no-cache, private"
        return web.Response(body=body, headers=headers)

    # resources

    async def resource_request(self, request: web.Request, ri: RequestInfo) -> web.StreamResponse:
        accept = neg.negotiate(request.headers.get("Accept", ""))
        info = self.server.registry.get(ri.group, ri.version, ri.resource)
        if info is None:
            return _not_found()
        if info.namespaced and not ri.namespace and ri.verb not in ("list", "watch", "deletecollection"):
            return _not_found()
        if not info.namespaced and ri.namespace and ri.resource != "namespaces":
            return _not_found()
        if info.namespaced and ri.verb == "deletecollection" and not ri.namespace:
            return neg.status_response(errors.method_not_allowed())
        sub = ri.subresource
        verb = ri.verb
        if sub:
            if sub not in info.subresources:
                return _not_found()
            return await self.subresource_request(request, ri, info, accept)
        if verb not in info.verbs:
            return neg.status_response(errors.method_not_allowed(), accept)
        h = self.resources
        if verb == "get":
            return await h.get(request, ri, info, accept)
        if verb == "list":
            return await h.list(request, ri, info, accept)
        if verb == "watch":
            return await self.watches.serve(request, ri, info, accept)
        if verb == "create":
            if ri.name:
                return neg.status_response(errors.method_not_allowed())
            if (info.group, info.plural) == ("", "bindings"):
                return await self.subresources.binding(request, ri, info, accept, "")
            virtual_create = virtual.lookup(info.group, info.plural)
            if virtual_create is not None:
                return await virtual.serve(self.server, request, ri, info, accept, virtual_create)
            return await h.create(request, ri, info, accept)
        if verb == "update":
            return await h.update(request, ri, info, accept)
        if verb == "patch":
            return await h.patch(request, ri, info, accept)
        if verb == "delete":
            return await h.delete(request, ri, info, accept)
        if verb == "deletecollection":
            return await h.delete_collection(request, ri, info, accept)
        return neg.status_response(errors.method_not_allowed())

    async def subresource_request(self, request: web.Request, ri: RequestInfo, info: Any,
                                  accept: neg.Accept) -> web.StreamResponse:
        sub, verb, h = ri.subresource, ri.verb, self.resources
        if sub in ("status", "finalize", "approval", "ephemeralcontainers", "resize"):
            if verb == "get":
                return await h.get(request, ri, info, accept)
            if verb == "update":
                return await h.update(request, ri, info, accept, subresource=sub)
            if verb == "patch" and sub != "finalize":
                return await h.patch(request, ri, info, accept, subresource=sub)
            return neg.status_response(errors.method_not_allowed())
        if sub == "scale" and verb in ("get", "update", "patch"):
            return await self.subresources.scale(request, ri, info, accept)
        if sub == "binding" and verb == "create":
            pods = self.server.registry.get("", "v1", "pods")
            return await self.subresources.binding(request, ri, pods, accept, ri.name)
        if sub == "eviction" and verb == "create":
            return await self.subresources.eviction(request, ri, info, accept)
        virtual_create = virtual.lookup(info.group, info.plural, sub) if verb == "create" else None
        if virtual_create is not None:
            return await virtual.serve(self.server, request, ri, info, accept, virtual_create)
        if (info.group, info.plural, sub) in KUBELET_PROXIED:
            from kybernetes.apiserver.proxy import KubeletProxy

            if getattr(self, "kubelets", None) is None:
                self.kubelets = KubeletProxy(self.server)
            return await self.kubelets.serve(request, ri, info)
        return neg.status_response(errors.StatusError(
            503, "ServiceUnavailable", f"the {info.plural}/{sub} subresource is not served yet"))


def build_app(server: APIServer) -> web.Application:
    router = Router(server)
    server.router = router  # type: ignore[attr-defined]

    @web.middleware
    async def errors_and_metrics(request: web.Request, handler: Any) -> web.StreamResponse:
        start = time.perf_counter()
        code = 500
        ri = parse_request_info(request.method, request.path, dict(request.query))
        request[REQUEST_INFO_KEY] = ri
        auditor = getattr(server, "auditor", None)
        audit = request[AUDIT_KEY] = auditor.begin(request, ri) if auditor is not None else None
        resp: Any = None
        try:
            user = await server.authenticator.authenticate(request)
            if user is None:
                raise errors.StatusError(401, "Unauthorized", "Unauthorized")
            requestor, user = user, await impersonate(server, request, user)
            if audit is not None:
                audit.authenticated(requestor, user)
            request[USER_KEY] = user.as_dict()
            request[USER_INFO_KEY] = user
            await _authorize(server, ri, user, request.query, audit)
            resp = await handler(request)
            code = resp.status
            return resp
        except errors.StatusError as e:
            code = e.code
            try:
                accept = neg.negotiate(request.headers.get("Accept", ""))
            except errors.StatusError:
                accept = neg.Accept()
            resp = neg.status_response(e, accept)
            return resp
        except web.HTTPException:
            raise
        except (ConnectionResetError,) as e:
            code = 499
            raise e
        except Exception as e:  # a bug: answer 500 with a Status, log the trace
            log.exception("internal error serving %s %s", request.method, request.path)
            resp = None
            return neg.status_response(errors.internal_error(str(e) or type(e).__name__))
        finally:
            if audit is not None:  # the body as the handler read it, the answer, or a panic
                audit.complete(code, request_body=request.get(neg.REQUEST_BODY_KEY), response=resp,
                               panic=code == 500 and resp is None)
            if ri.is_resource_request:
                info = server.registry.get(ri.group, ri.version, ri.resource)
                verb = ri.verb.upper() if ri.verb != "deletecollection" else "DELETECOLLECTION"
                scope = "resource" if ri.name else ("namespace" if ri.namespace else "cluster")
                if ri.verb != "watch":
                    server.metrics.observe_request(verb=verb if verb != "GET" else "GET", info=info,
                                                   resource=ri.resource, subresource=ri.subresource, scope=scope,
                                                   code=code, seconds=time.perf_counter() - start)

    app = web.Application(middlewares=[errors_and_metrics], client_max_size=neg.MAX_BODY_BYTES + 1024)
    app.on_response_prepare.append(_audit_response_started)
    app.router.add_route("*", "/{tail:.*}", router.handle)
    return app


async def _audit_response_started(request: web.Request, response: web.StreamResponse) -> None:
    """The Audit-ID header on every answer; ResponseStarted for watches as their headers go out."""
    audit = request.get(AUDIT_KEY)
    if audit is not None:
        response.headers[AUDIT_ID_HEADER] = audit.audit_id
        audit.response_started()


async def _authorize(server: APIServer, ri: RequestInfo, user: UserInfo, query: Any = None,
                     audit: Any = None) -> None:
    """403 Forbidden, worded as upstream words it, unless the authorizer allows the request."""
    attrs = request_attributes(user, ri, dict(query or {}))
    current_rbac.set(getattr(server, "rbac_authorizer", None))  # for escalation checks on RBAC writes
    decision, reason = await server.authorizer.authorize(attrs)
    if audit is not None:
        audit.authorized("allow" if decision == Decision.ALLOW else "forbid", reason or "")
    if decision != Decision.ALLOW:
        raise forbidden(attrs, reason)

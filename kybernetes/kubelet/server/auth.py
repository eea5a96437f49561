"""The kubelet API's auth filter (upstream's kubelet server InstallAuthFilter): who the client is (a certificate of
the client CA, a bearer token through TokenReview, or anonymous when allowed), then whether it may make this
request, asked of the apiserver as a SubjectAccessReview for the node's nodes/<subresource> (authorization mode
Webhook), decisions cached as upstream caches them (5 minutes when allowed, 30 seconds when not)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import orjson

from kybernetes.kubelet.server.authn import WebhookTokenAuthenticator

log = logging.getLogger(__name__)

SUBJECT_ACCESS_REVIEWS_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
ANONYMOUS_USER, UNAUTHENTICATED_GROUP = "system:anonymous", "system:unauthenticated"
AUTHENTICATED_GROUP = "system:authenticated"
MASTERS_GROUP = "system:masters"
APISERVER_CLIENT_CN = "kube-apiserver-kubelet-client"
# HTTP method -> API verb (upstream's nodeAuthorizerAttributesGetter; anything else gets no verb)
VERBS = {"POST": "create", "GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
# path prefix -> subresource of nodes; every other path (pods, exec, attach, portForward, run, containerLogs,
# configz, healthz, ...) is nodes/proxy
SUBRESOURCES = (("/stats", "stats"), ("/metrics", "metrics"), ("/logs", "log"), ("/checkpoint", "checkpoint"),
                ("/spec", "spec"))
AUTHORIZATION_MODES = ("Webhook", "AlwaysAllow")


@dataclass(frozen=True)
class UserInfo:
    """An authenticated client: name, groups, uid, extra (as user.Info)."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Attributes:
    """What one request asks to do (authorizer.AttributesRecord with the kubelet's defaults)."""

    user: UserInfo
    verb: str
    name: str
    subresource: str = "proxy"
    resource: str = "nodes"
    api_version: str = "v1"
    path: str = ""


def _is_subpath(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def request_attributes(user: UserInfo, method: str, path: str, node_name: str) -> Attributes:
    """The node's nodes/<subresource> and the verb for the HTTP method, as upstream's kubelet computes them."""
    subresource = next((sub for prefix, sub in SUBRESOURCES if _is_subpath(path, prefix)), "proxy")
    return Attributes(user=user, verb=VERBS.get(method.upper(), ""), name=node_name, subresource=subresource,
                      path=path)


def forbidden_message(a: Attributes) -> str:
    return f"Forbidden (user={a.user.name}, verb={a.verb}, resource={a.resource}, subresource={a.subresource})"


def authorization_error_message(a: Attributes) -> str:
    return (f"Authorization error (user={a.user.name}, verb={a.verb}, resource={a.resource}, "
            f"subresource={a.subresource})")


class Authorizer(Protocol):
    """Decides one request: (allowed, reason). Raises when it cannot decide (answered 500)."""

    async def authorize(self, a: Attributes) -> tuple[bool, str]: ...


class AlwaysAllowAuthorizer:
    """--authorization-mode=AlwaysAllow: every authenticated request is allowed."""

    async def authorize(self, a: Attributes) -> tuple[bool, str]:
        return True, ""


class StaticAuthorizer:
    """Without an apiserver to ask (a standalone kubelet): only the apiserver's client and system:masters."""

    async def authorize(self, a: Attributes) -> tuple[bool, str]:
        allowed = a.user.name == APISERVER_CLIENT_CN or MASTERS_GROUP in a.user.groups
        return allowed, "" if allowed else "no apiserver to ask: only the apiserver and system:masters are allowed"


def review_spec(a: Attributes) -> dict[str, Any]:
    """The SubjectAccessReview spec asking whether a.user may do a."""
    spec: dict[str, Any] = {"user": a.user.name, "groups": list(a.user.groups),
                            "resourceAttributes": {"verb": a.verb, "group": "", "version": a.api_version,
                                                   "resource": a.resource, "subresource": a.subresource,
                                                   "name": a.name}}
    if a.user.uid:
        spec["uid"] = a.user.uid
    if a.user.extra:
        spec["extra"] = {k: list(v) for k, v in sorted(a.user.extra.items())}
    return spec


class WebhookAuthorizer:
    """--authorization-mode=Webhook: a SubjectAccessReview per distinct question, answers cached
    (authorizedTTL 5 minutes, unauthorizedTTL 30 seconds, as the kubelet's defaults)."""

    def __init__(self, client: Any, *, authorized_ttl: float = 300.0, unauthorized_ttl: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, max_entries: int = 4096) -> None:
        self.client = client
        self.authorized_ttl = authorized_ttl
        self.unauthorized_ttl = unauthorized_ttl
        self.clock = clock
        self.max_entries = max_entries
        self._cache: dict[bytes, tuple[float, bool, str]] = {}
        self.reviews = 0  # SubjectAccessReviews sent

    async def authorize(self, a: Attributes) -> tuple[bool, str]:
        spec = review_spec(a)
        key = orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)
        now = self.clock()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        self.reviews += 1
        status = (await self.client.create(SUBJECT_ACCESS_REVIEWS_PATH, body)).get("status") or {}
        allowed = bool(status.get("allowed")) and not status.get("denied")
        reason = status.get("reason") or status.get("evaluationError") or ""
        if len(self._cache) >= self.max_entries:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
        self._cache[key] = (now + (self.authorized_ttl if allowed else self.unauthorized_ttl), allowed, reason)
        return allowed, reason


def peer_identity(transport: Any) -> UserInfo | None:
    """The verified client certificate's user: CN the name, O the groups (plus system:authenticated)."""
    cert = transport.get_extra_info("peercert") if transport is not None else None
    if not cert:
        return None
    name, groups = "", []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                name = value
            elif key == "organizationName":
                groups.append(value)
    if not name:
        return None
    return UserInfo(name, tuple(groups) + (AUTHENTICATED_GROUP,))


@dataclass
class AuthOptions:
    """The kubelet's authentication and authorization settings (KubeletConfiguration's names)."""

    anonymous_enabled: bool = False
    webhook_enabled: bool = True
    webhook_cache_ttl: float = 120.0
    authorization_mode: str = "Webhook"
    authorized_ttl: float = 300.0
    unauthorized_ttl: float = 30.0

    @classmethod
    def from_kubelet_options(cls, options: Any) -> AuthOptions:
        if options is None:
            return cls()
        d = cls()
        return cls(anonymous_enabled=getattr(options, "authentication_anonymous_enabled", d.anonymous_enabled),
                   webhook_enabled=getattr(options, "authentication_webhook_enabled", d.webhook_enabled),
                   webhook_cache_ttl=getattr(options, "authentication_webhook_cache_ttl", d.webhook_cache_ttl),
                   authorization_mode=getattr(options, "authorization_mode", d.authorization_mode),
                   authorized_ttl=getattr(options, "authorization_webhook_cache_authorized_ttl", d.authorized_ttl),
                   unauthorized_ttl=getattr(options, "authorization_webhook_cache_unauthorized_ttl",
                                            d.unauthorized_ttl))


class KubeletAuth:
    """Authenticates and authorizes the requests of the kubelet server."""

    def __init__(self, *, node_name: str, client: Any = None, options: AuthOptions | None = None) -> None:
        o = options or AuthOptions()
        if o.authorization_mode not in AUTHORIZATION_MODES:
            raise ValueError(f"unknown authorization mode {o.authorization_mode!r}: one of "
                             f"{', '.join(AUTHORIZATION_MODES)}")
        self.node_name = node_name
        self.anonymous = o.anonymous_enabled
        self.tokens = (WebhookTokenAuthenticator(client, cache_ttl=o.webhook_cache_ttl)
                       if o.webhook_enabled and client is not None else None)
        self.authorizer: Authorizer
        if o.authorization_mode == "AlwaysAllow":
            self.authorizer = AlwaysAllowAuthorizer()
        elif client is not None:
            self.authorizer = WebhookAuthorizer(client, authorized_ttl=o.authorized_ttl,
                                                unauthorized_ttl=o.unauthorized_ttl)
        else:
            log.warning("kubelet API: no apiserver client for Webhook authorization; only the apiserver's "
                        "certificate and system:masters are allowed")
            self.authorizer = StaticAuthorizer()

    async def authenticate(self, transport: Any, authorization: str) -> UserInfo | None:
        """The client's identity, or None (401): certificate first, then a bearer token, then anonymous."""
        user = peer_identity(transport)
        if user is not None:
            return user
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            if self.tokens is None:
                return None
            found = await self.tokens.authenticate(token.strip())
            return UserInfo(found[0], tuple(found[1])) if found is not None else None
        if self.anonymous:
            return UserInfo(ANONYMOUS_USER, (UNAUTHENTICATED_GROUP,))
        return None

    async def authorize(self, user: UserInfo, method: str, path: str) -> tuple[int, str]:
        """(0, "") when allowed, else the status code and plain-text message upstream answers."""
        a = request_attributes(user, method, path, self.node_name)
        try:
            allowed, reason = await self.authorizer.authorize(a)
        except Exception as e:  # noqa: BLE001 - the apiserver could not answer: 500, not cached
            log.warning("authorizing %s %s for %s: %s", method, path, user.name, e)
            return 500, authorization_error_message(a)
        if allowed:
            return 0, ""
        log.info("forbidden: %s (%s)", forbidden_message(a), reason)
        return 403, forbidden_message(a)

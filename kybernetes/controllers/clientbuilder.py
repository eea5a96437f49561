"""Clients for controllers (upstream's controller-manager clientbuilder): with --use-service-account-credentials
each controller talks as its own ServiceAccount in kube-system, with a bound token from the TokenRequest API that is
renewed before it expires; without it every controller uses the controller-manager's own credentials."""

from __future__ import annotations

import asyncio
import logging
import platform
import time
from dataclasses import replace
from datetime import datetime
from typing import Callable, Protocol

import aiohttp

from kybernetes.client import ApiError, ClientConfig, RESTClient, resource_path
from kybernetes.version import GIT_VERSION

log = logging.getLogger(__name__)

NAMESPACE = "kube-system"
DEFAULT_EXPIRATION_SECONDS = 3600  # upstream's defaultExpirationSeconds
DEFAULT_LEEWAY_PERCENT = 20  # renew once less than this share of the token's lifetime is left
RETRY_AFTER_FAILURE = 10.0  # seconds before a failed renewal of a still valid token is tried again


def default_user_agent(component: str = "kube-controller-manager") -> str:
    """'<component>/<version> (<os>/<arch>) kybernetes', shaped as client-go's DefaultKubernetesUserAgent."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine().lower(), platform.machine().lower())
    return f"{component}/{GIT_VERSION} ({platform.system().lower()}/{arch}) kybernetes"


def service_account_username(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def _anonymous(config: ClientConfig) -> ClientConfig:
    """The config's server and trust, without any of its credentials."""
    return replace(config, cert_data=None, key_data=None, token=None, token_file=None, username=None, password=None,
                   token_source=None, extra=dict(config.extra))


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class ControllerClientBuilder(Protocol):
    """Hands each controller the client it writes through. `client(name)` is cached per name; close() closes all."""

    def config(self, name: str) -> ClientConfig: ...

    def client(self, name: str) -> RESTClient: ...

    async def prepare(self, name: str) -> None: ...

    async def close(self) -> None: ...


class _Clients:
    """One RESTClient per name, built from config(name) on first use."""

    def __init__(self) -> None:
        self._clients: dict[str, RESTClient] = {}

    def config(self, name: str) -> ClientConfig:
        raise NotImplementedError

    def client(self, name: str) -> RESTClient:
        if name not in self._clients:
            self._clients[name] = RESTClient(self.config(name))
        return self._clients[name]

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


class SimpleControllerClientBuilder(_Clients):
    """Every controller uses the root credentials; the user agent names the controller."""

    def __init__(self, root: ClientConfig) -> None:
        super().__init__()
        self.root = root

    def config(self, name: str) -> ClientConfig:
        return replace(self.root, user_agent=f"{self.root.user_agent}/{name}", extra=dict(self.root.extra))

    async def prepare(self, name: str) -> None:
        return None


class ServiceAccountTokenSource:
    """The bearer token of one ServiceAccount: ensures the account exists, then asks the TokenRequest API for a
    token (expirationSeconds), asking again once less than leeway_percent of its lifetime is left or when the
    apiserver rejected it. Renewal failures keep a still valid token and are retried after a pause."""

    def __init__(self, root: RESTClient, namespace: str, name: str, *,
                 expiration_seconds: int = DEFAULT_EXPIRATION_SECONDS, leeway_percent: int = DEFAULT_LEEWAY_PERCENT,
                 clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.namespace = namespace
        self.name = name
        self.expiration_seconds = expiration_seconds
        self.leeway_percent = leeway_percent
        self.clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self._renew_at = 0.0
        self._retry_at = 0.0
        self._lock = asyncio.Lock()
        self.requests = 0  # TokenRequests sent (observability and tests)

    def token(self) -> str | None:
        return self._token if self._token and self.clock() < self._expires else None

    def invalidate(self) -> None:
        self._token, self._expires, self._renew_at, self._retry_at = None, 0.0, 0.0, 0.0

    def _fresh(self, now: float) -> bool:
        return self._token is not None and now < self._renew_at

    async def ensure_fresh(self) -> None:
        if self._fresh(self.clock()):
            return
        async with self._lock:
            now = self.clock()
            if self._fresh(now) or (self.token() is not None and now < self._retry_at):
                return
            try:
                await self._renew(now)
            except (ApiError, OSError, asyncio.TimeoutError, aiohttp.ClientError) as e:
                if self.token() is None:
                    raise
                self._retry_at = now + RETRY_AFTER_FAILURE
                log.warning("renewing the token of %s failed, still using the current one: %s",
                            service_account_username(self.namespace, self.name), e)

    async def _renew(self, now: float) -> None:
        await self._ensure_service_account()
        path = resource_path("", "v1", "serviceaccounts", self.namespace, self.name, "token")
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": self.expiration_seconds}}
        self.requests += 1
        status = (await self.root.create(path, body)).get("status") or {}
        token, expires = status.get("token"), _parse_time(status.get("expirationTimestamp") or "1970-01-01T00:00:00Z")
        if not token or expires <= now:
            raise ApiError(500, {"kind": "Status", "status": "Failure", "reason": "InternalError", "code": 500,
                                 "message": f"expired token for {self.namespace}/{self.name}"})
        self._token, self._expires = token, expires
        self._renew_at = expires - (expires - now) * self.leeway_percent / 100.0
        self._retry_at = 0.0
        log.debug("token for %s valid until %s", service_account_username(self.namespace, self.name), expires)

    async def _ensure_service_account(self) -> None:
        """Upstream's getOrCreateServiceAccount: get, else create (a concurrent create is fine)."""
        path = resource_path("", "v1", "serviceaccounts", self.namespace)
        try:
            await self.root.get(f"{path}/{self.name}")
            return
        except ApiError as e:
            if not e.not_found:
                raise
        try:
            await self.root.create(path, {"apiVersion": "v1", "kind": "ServiceAccount",
                                          "metadata": {"name": self.name, "namespace": self.namespace}})
            log.info("created service account %s", service_account_username(self.namespace, self.name))
        except ApiError as e:
            if not e.conflict:
                raise


class DynamicControllerClientBuilder(_Clients):
    """Each controller as the ServiceAccount kube-system/<name>, through the root client's TokenRequests.

    The root identity (system:kube-controller-manager) needs get/create serviceaccounts and create
    serviceaccounts/token in the namespace; each account gets its rights from the system:controller:<name>
    ClusterRole bound to it by the apiserver's bootstrap policy."""

    def __init__(self, root: RESTClient, *, namespace: str = NAMESPACE,
                 expiration_seconds: int = DEFAULT_EXPIRATION_SECONDS, leeway_percent: int = DEFAULT_LEEWAY_PERCENT,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.root = root
        self.namespace = namespace
        self.expiration_seconds = expiration_seconds
        self.leeway_percent = leeway_percent
        self.clock = clock
        self.sources: dict[str, ServiceAccountTokenSource] = {}

    def token_source(self, name: str) -> ServiceAccountTokenSource:
        if name not in self.sources:
            self.sources[name] = ServiceAccountTokenSource(
                self.root, self.namespace, name, expiration_seconds=self.expiration_seconds,
                leeway_percent=self.leeway_percent, clock=self.clock)
        return self.sources[name]

    def config(self, name: str) -> ClientConfig:
        base = _anonymous(self.root.config)
        return replace(base, token_source=self.token_source(name),
                       user_agent=f"{base.user_agent}/{service_account_username(self.namespace, name)}")

    async def prepare(self, name: str) -> None:
        """Create the account and fetch its first token now (errors surface here rather than mid-sync)."""
        await self.token_source(name).ensure_fresh()


async def sync_root_controller_roles(admin: RESTClient, *, grant: bool) -> None:
    """Without per-controller credentials the controller-manager's own identity needs every controller role:
    bind the aggregated ClusterRole to it (grant) or remove that binding (the least privilege otherwise)."""
    from kybernetes.apiserver.authz.bootstrappolicy import CONTROLLER_MANAGER_CONTROLLERS, cluster_role_binding, user

    path = resource_path("rbac.authorization.k8s.io", "v1", "clusterrolebindings")
    if not grant:
        try:
            await admin.delete(f"{path}/{CONTROLLER_MANAGER_CONTROLLERS}")
            log.info("removed %s: controllers use their own service accounts", CONTROLLER_MANAGER_CONTROLLERS)
        except ApiError as e:
            if not e.not_found:
                raise
        return
    binding = cluster_role_binding(CONTROLLER_MANAGER_CONTROLLERS, [user("system:kube-controller-manager")])
    try:
        await admin.create(path, binding)
    except ApiError as e:
        if not e.conflict:
            raise

"""The apiserver process: configuration, wiring of storage, cache, registry and handlers, TLS serving."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from dataclasses import dataclass, field
from typing import Callable

from aiohttp import web

from kybernetes.api.registry import Registry
from kybernetes.apiserver.admission import Admission
from kybernetes.apiserver.authn import Authenticator, CertificateAuthenticator, UnionAuthenticator
from kybernetes.apiserver.authz import AlwaysAllow, Authorizer
from kybernetes.apiserver.allocators import IPAllocator, PortAllocator
from kybernetes.apiserver.metrics import APIServerMetrics, InstrumentedStore
from kybernetes.apiserver.rest import ResourceStore
from kybernetes.apiserver.snapshots import SnapshotController, SnapshotSchedule
from kybernetes.apiserver.watchcache import WatchCache
from kybernetes.storage.interface import Store

log = logging.getLogger(__name__)

DEFAULT_SERVICE_CIDR = "198.19.0.0/16"
DEFAULT_CLUSTER_CIDR = "198.18.0.0/16"
DEFAULT_NODE_PORT_RANGE = "30000-32767"


def default_data_dir() -> str:
    if os.geteuid() == 0:
        return "/var/lib/kybernetes"
    return os.path.join(os.path.expanduser("~"), ".local", "share", "kybernetes")


def default_advertise_address() -> str:
    """The machine's primary address (the one a default route would use), else loopback; sends no packet."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("198.18.0.1", 9))  # connect() on UDP only picks a source address
            addr = s.getsockname()[0]
            if addr and not addr.startswith("0."):
                return addr
    except OSError:
        pass
    return "127.0.0.1"


@dataclass
class APIServerConfig:
    data_dir: str = field(default_factory=default_data_dir)
    bind_address: str = "0.0.0.0"
    secure_port: int = 6443
    advertise_address: str = ""
    service_cluster_ip_range: str = DEFAULT_SERVICE_CIDR
    service_node_port_range: str = DEFAULT_NODE_PORT_RANGE
    datastore_endpoint: str = ""  # default: sqlite in the data dir
    compaction_interval: float = 300.0
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    client_ca_file: str = ""
    extra_sans: list[str] = field(default_factory=list)
    # authentication (kybernetes.apiserver.authn.config); empty key/issuer lists mean the PKI's key and the default
    token_auth_file: str = ""
    service_account_issuer: list[str] = field(default_factory=list)
    service_account_key_file: list[str] = field(default_factory=list)
    service_account_signing_key_file: str = ""
    api_audiences: list[str] = field(default_factory=list)
    anonymous_auth: bool = True
    # authorization (kybernetes.apiserver.authz.modes): upstream's --authorization-mode
    authorization_mode: str = "Node,RBAC"
    # admission (kybernetes.apiserver.admission.plugins): upstream's --enable/--disable-admission-plugins
    enable_admission_plugins: list[str] = field(default_factory=list)
    disable_admission_plugins: list[str] = field(default_factory=list)
    # encryption at rest (kybernetes.apiserver.encryption) and audit (kybernetes.apiserver.audit)
    encryption_provider_config: str = ""
    audit_policy_file: str = ""
    audit_log_path: str = ""
    audit_log_maxsize: int = 0
    audit_log_maxbackup: int = 0
    # scheduled snapshots (kybernetes.apiserver.snapshots): --snapshot-cron and friends; None: none taken
    snapshot_schedule: SnapshotSchedule | None = None
    # the kubernetes Service's endpoints (kybernetes.apiserver.endpointreconciler): upstream's
    # --endpoint-reconciler-type (lease, none) and the lease's TTL (renewed every 2/3 of it)
    endpoint_reconciler_type: str = "lease"
    endpoint_lease_ttl: float = 15.0

    def __post_init__(self) -> None:
        if not self.advertise_address:  # as upstream: the bind address, unless that is unspecified
            self.advertise_address = "127.0.0.1" if self.bind_address == "localhost" \
                else self.bind_address if _is_ip(self.bind_address) and not _is_unspecified(self.bind_address) \
                else default_advertise_address()


class APIServer:
    """Owns every apiserver part; start() serves, stop() drains and closes."""

    def __init__(self, config: APIServerConfig, store: Store | None = None) -> None:
        self.config = config
        self.metrics = APIServerMetrics()
        self._raw_store = store
        self.store: Store = None  # type: ignore[assignment]
        self.registry = Registry()
        self.ips = IPAllocator(config.service_cluster_ip_range)
        self.ports = PortAllocator(config.service_node_port_range)
        self.cache: WatchCache = None  # type: ignore[assignment]
        self.admission: Admission = None  # type: ignore[assignment]
        self.rest: ResourceStore = None  # type: ignore[assignment]
        self.runner: web.AppRunner | None = None
        # the authentication and authorization chains (issue 8 fills them: tokens, RBAC, the Node authorizer)
        self.authenticator: Authenticator = UnionAuthenticator([CertificateAuthenticator()], anonymous=True)
        self.authorizer: Authorizer = AlwaysAllow()
        self.authentication = None  # an authn.config.Authentication once started
        self.port = config.secure_port
        self.ready = asyncio.Event()
        # extra /readyz checks: name -> () -> (ok, reason); `kybernetes server` adds its own node's registration
        self.readiness_checks: dict[str, Callable[[], tuple[bool, str]]] = {}
        self.kubeconfig_path = ""
        self._compactor: asyncio.Task[None] | None = None
        self.snapshots: SnapshotController | None = None
        self.endpoint_reconciler = None  # an endpointreconciler.LeaseEndpointReconciler once started
        self._endpoint_task: asyncio.Task[None] | None = None

    async def open_storage(self) -> None:
        if self._raw_store is None:
            from kybernetes.storage import db_path, open_store

            url = self.config.datastore_endpoint or db_path(self.config.data_dir)
            if "://" not in url:
                os.makedirs(os.path.dirname(os.path.abspath(url)), exist_ok=True)
            self._raw_store = await open_store(url, compaction_interval=self.config.compaction_interval)
        from kybernetes.apiserver.encryption import wrap_store

        self.store = InstrumentedStore(wrap_store(self._raw_store, self.config.encryption_provider_config),
                                       self.metrics)  # type: ignore[assignment]

    @property
    def local_url(self) -> str:
        """This apiserver's URL for clients on its own machine (its own components, admin.kubeconfig)."""
        return f"https://{_local_host(self.config.bind_address)}:{self.port}"

    async def start(self) -> None:
        from kybernetes.apiserver.app import build_app
        from kybernetes.apiserver.authn.config import build_authentication
        from kybernetes.apiserver.bootstrap import bootstrap
        from kybernetes.apiserver.crdcontroller import CRDController

        from kybernetes.apiserver.audit import build_auditor

        cfg = self.config
        self.auditor = build_auditor(policy_file=cfg.audit_policy_file, log_path=cfg.audit_log_path,
                                     max_size_mb=cfg.audit_log_maxsize, max_backups=cfg.audit_log_maxbackup)
        await self.open_storage()
        self.cache = WatchCache(self.store)
        await self.cache.start()
        from kybernetes.apiserver.admission import enabled_plugins

        self.admission = Admission(self.cache, self.ips, self.ports, registry=self.registry,
                                   plugins=enabled_plugins(self.config.enable_admission_plugins,
                                                           self.config.disable_admission_plugins))
        self.admission.sync_allocators()
        from kybernetes.apiserver.rangerepair import ServiceRanges

        self.service_ranges = ServiceRanges(self)  # ClusterIPs and NodePorts shared with every apiserver on the store
        await self.service_ranges.start()
        self.rest = ResourceStore(store=self.store, cache=self.cache, admission=self.admission)
        self.crds = CRDController(self)
        self.crds.sync_all()
        await bootstrap(self)
        await self._start_authorization()
        await self.crds.start()
        app = build_app(self)
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self.runner.setup()
        ssl_ctx = self.ssl_context()
        self.authentication = build_authentication(self)
        self.authenticator = self.authentication.authenticator
        site = web.TCPSite(self.runner, self.config.bind_address, self.config.secure_port, ssl_context=ssl_ctx,
                           reuse_address=True, backlog=1024)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []  # noqa: SLF001 - the bound port when 0 was asked
        if sockets:
            self.port = sockets[0].getsockname()[1]
        await self._start_endpoint_reconciler()
        if self.config.snapshot_schedule is not None:
            self.snapshots = SnapshotController(self.config.snapshot_schedule, data_dir=self.config.data_dir,
                                                datastore_endpoint=self.config.datastore_endpoint,
                                                registry=self.metrics.registry)
            await self.snapshots.start()
        self.ready.set()
        log.info("apiserver listening on https://%s:%d", self.config.bind_address, self.port)

    async def _start_authorization(self) -> None:
        """The default RBAC policy, then the --authorization-mode chain (it reads RBAC from the cache)."""
        from kybernetes.apiserver.authz.modes import build_authorizer, parse_modes
        from kybernetes.apiserver.authz.reconcile import ensure_bootstrap_policy

        await ensure_bootstrap_policy(self)
        self.authorizer = build_authorizer(self, parse_modes(self.config.authorization_mode))
        self.admission.context.extra["authorizer"] = self.authorizer  # the certificates plugins ask it

    def ssl_context(self) -> ssl.SSLContext:
        from kybernetes.pki.bootstrap import ensure_pki

        cfg = self.config
        if not (cfg.tls_cert_file and cfg.tls_private_key_file):
            server_url = f"https://{_local_host(cfg.bind_address)}:{cfg.secure_port}"
            paths = ensure_pki(cfg.data_dir, server=server_url, service_ip=self.ips.kubernetes_ip,
                               ips=[cfg.advertise_address] + [s for s in cfg.extra_sans if _is_ip(s)],
                               hostnames=[s for s in cfg.extra_sans if not _is_ip(s)])
            cfg.tls_cert_file, cfg.tls_private_key_file = paths.apiserver_crt, paths.apiserver_key
            cfg.client_ca_file = cfg.client_ca_file or paths.ca_crt
            self.kubeconfig_path = paths.admin_kubeconfig
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cfg.tls_cert_file, cfg.tls_private_key_file)
        if cfg.client_ca_file:
            ctx.load_verify_locations(cfg.client_ca_file)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def health_checks(self, *, readiness: bool) -> dict[str, Callable[[], tuple[bool, str]]]:
        """The checks behind /livez and /healthz, and for /readyz also the readiness checks."""
        def started() -> tuple[bool, str]:
            return (True, "") if self.ready.is_set() else (False, "not finished starting")

        def storage() -> tuple[bool, str]:
            task = self.cache._task if self.cache is not None else None  # noqa: SLF001
            return (True, "") if task is not None and not task.done() else (False, "the storage watch is not running")

        checks: dict[str, Callable[[], tuple[bool, str]]] = {
            "ping": lambda: (True, ""), "log": lambda: (True, ""), "etcd": storage,
            "poststarthook/bootstrap-controller": started,
        }
        if readiness:
            checks.update(self.readiness_checks)
        return checks

    async def _start_endpoint_reconciler(self) -> None:
        """Publish this apiserver in the kubernetes endpoints now, then keep its lease renewed."""
        from kybernetes.apiserver.bootstrap import endpoint_reconciler

        self.endpoint_reconciler = endpoint_reconciler(self)
        if self.endpoint_reconciler is not None:
            await self.endpoint_reconciler.reconcile()
            self._endpoint_task = asyncio.create_task(self.endpoint_reconciler.run(), name="endpoint reconciler")

    async def _stop_endpoint_reconciler(self) -> None:
        """Leave the kubernetes endpoints (best effort: a dead storage means the lease expires instead)."""
        if self._endpoint_task is None or self.endpoint_reconciler is None:
            return
        self._endpoint_task.cancel()
        await asyncio.gather(self._endpoint_task, return_exceptions=True)
        self._endpoint_task = None
        try:
            await asyncio.wait_for(self.endpoint_reconciler.remove(), 5.0)
        except Exception:  # noqa: BLE001 - shutting down anyway
            log.warning("could not remove this apiserver from the kubernetes endpoints", exc_info=True)

    async def stop(self) -> None:
        await self._stop_endpoint_reconciler()
        if self.snapshots is not None:
            await self.snapshots.stop()
        if self.runner is not None:
            await self.runner.cleanup()
        if getattr(self, "service_ranges", None) is not None:
            await self.service_ranges.stop()
        if self.admission is not None:
            await self.admission.close()
        if getattr(self, "crds", None):
            await self.crds.stop()
        if self.cache is not None:
            await self.cache.stop()
        if self._raw_store is not None:
            await self._raw_store.close()
        if getattr(self, "auditor", None) is not None:
            self.auditor.close()


def _is_unspecified(ip: str) -> bool:
    import ipaddress

    return ipaddress.ip_address(ip).is_unspecified


def _local_host(bind_address: str) -> str:
    """The host of this apiserver's own URL (admin.kubeconfig): its bind address, or loopback when it binds all."""
    if not _is_ip(bind_address) or _is_unspecified(bind_address):
        return "127.0.0.1"
    return f"[{bind_address}]" if ":" in bind_address else bind_address


def _is_ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False

"""The proxy's HTTP endpoints: /healthz (fresh syncs) on one address and /metrics on another, over aiohttp."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kybernetes.proxy.metrics import ProxyMetrics

log = logging.getLogger(__name__)


def split_host_port(addr: str, default_port: int) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep:
        return addr, default_port
    return host.strip("[]") or "0.0.0.0", int(port)


class ProxyHealth:
    """Healthy when the last sync finished recently or nothing is waiting for one (upstream's ProxierHealthServer)."""

    def __init__(self, *, stale_after: float, pending: Callable[[], bool]) -> None:
        self.stale_after = stale_after
        self.pending = pending
        self.last_sync = 0.0
        self.started = time.time()

    def updated(self) -> None:
        self.last_sync = time.time()

    def healthy(self) -> tuple[bool, dict[str, str]]:
        now = time.time()
        last = self.last_sync or self.started
        ok = bool(self.last_sync) and (not self.pending() or now - last < self.stale_after)
        return ok, {"lastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last)),
                    "currentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}


class ProxyServers:
    """Runs /healthz and /metrics (each on its own address when they differ; port 0 disables one)."""

    def __init__(self, health: ProxyHealth, metrics: ProxyMetrics) -> None:
        self.health = health
        self.metrics = metrics
        self._runners: list[web.AppRunner] = []
        self.ports: dict[str, int] = {}

    async def _healthz(self, _req: web.Request) -> web.Response:
        ok, body = self.health.healthy()
        return web.json_response(body, status=200 if ok else 503)

    async def _metrics(self, _req: web.Request) -> web.Response:
        resp = web.Response(body=generate_latest(self.metrics.registry))
        resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return resp

    async def start(self, *, healthz_addr: str, metrics_addr: str) -> None:
        targets: dict[tuple[str, int], list[tuple[str, object]]] = {}
        for name, addr, default, handler in (("healthz", healthz_addr, 10256, self._healthz),
                                             ("metrics", metrics_addr, 10249, self._metrics)):
            if not addr:
                continue
            host, port = split_host_port(addr, default)
            targets.setdefault((host, port), []).append((name, handler))
        for (host, port), routes in targets.items():
            app = web.Application()
            for name, handler in routes:
                app.router.add_get(f"/{name}", handler)  # type: ignore[arg-type]
                if name == "healthz":
                    app.router.add_get("/livez", handler)  # type: ignore[arg-type]
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, host, port)
            try:
                await site.start()
            except OSError as e:  # another proxy (or test) holds the port: run without this endpoint
                log.error("cannot serve %s on %s:%d: %s", ",".join("/" + n for n, _ in routes), host, port, e)
                await runner.cleanup()
                continue
            self._runners.append(runner)
            bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            for name, _ in routes:
                self.ports[name] = bound
            log.info("serving %s on %s:%d", ",".join("/" + n for n, _ in routes), host, bound)

    async def stop(self) -> None:
        for r in self._runners:
            await r.cleanup()
        self._runners.clear()

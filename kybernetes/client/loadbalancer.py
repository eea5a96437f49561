"""Client-side load balancing over several apiservers, as k3s's agent load balancer does it.

The client stays on one apiserver (sticky, so a watch and the reads after it see one cache) and moves to the
next healthy one when a connection to it fails; a failed server is skipped for a growing back-off, but tried
again when no other server is left. The list is the configured servers plus the addresses of the `kubernetes`
Service's Endpoints (the live apiservers, kept by the apiservers' lease endpoint reconciler), refreshed
periodically when discovery is on.

Retry contract: a request that never reached a server (connection refused or timed out) is retried on the
next server whatever its verb; one cut off after it was sent is retried only if its verb is idempotent
(GET, HEAD, PUT, DELETE, OPTIONS), since a POST or PATCH may already have been applied.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import aiohttp

log = logging.getLogger(__name__)

T = TypeVar("T")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

# the request never reached the server
CONNECT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError, *((aiohttp.ConnectionTimeoutError,) if hasattr(aiohttp, "ConnectionTimeoutError")
                                    else ()))
# the connection broke after the request may have been sent (or while a response streamed)
DISCONNECT_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError,
                                                       aiohttp.ClientPayloadError)

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_REFRESH_INTERVAL = 30.0
INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 15.0


def normalize_server(url: str) -> str:
    return url.strip().rstrip("/")


def servers_from_endpoints(endpoints: dict[str, Any], scheme: str = "https") -> list[str]:
    """The base URLs of the addresses of a v1 Endpoints object ('https://IP:PORT', IPv6 in brackets), in order."""
    out: list[str] = []
    for subset in endpoints.get("subsets") or []:
        ports = subset.get("ports") or []
        port = next((p.get("port") for p in ports if p.get("name") == "https"), None)
        if port is None and ports:
            port = ports[0].get("port")
        if not port:
            continue
        for addr in subset.get("addresses") or []:
            ip = addr.get("ip")
            if not ip:
                continue
            host = f"[{ip}]" if _is_ipv6(ip) else ip
            out.append(f"{scheme}://{host}:{port}")
    return list(dict.fromkeys(out))


def _is_ipv6(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).version == 6
    except ValueError:
        return False


class LoadBalancer:
    """The apiservers one client may use, which one it is on, and which failed lately.

    `configured` servers are never dropped (they are how the client finds the cluster again);
    discovered ones follow the latest `kubernetes` Endpoints.
    """

    def __init__(self, servers: Iterable[str], *, refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.configured: list[str] = list(dict.fromkeys(normalize_server(s) for s in servers if s.strip()))
        if not self.configured:
            raise ValueError("a load balancer needs at least one server")
        self.discovered: list[str] = []
        self.current = self.configured[0]
        self.refresh_interval = refresh_interval
        self.monotonic = monotonic
        self._down_until: dict[str, float] = {}
        self._backoff: dict[str, float] = {}

    @property
    def servers(self) -> list[str]:
        return list(dict.fromkeys([*self.configured, *self.discovered]))

    def candidates(self) -> list[str]:
        """Servers in the order to try them: the current one, then the others round from it; servers that failed
        lately go last (soonest back first), so they are still tried when nothing else answers."""
        servers = self.servers
        start = servers.index(self.current) if self.current in servers else 0
        ring = servers[start:] + servers[:start]
        now = self.monotonic()
        up = [s for s in ring if self._down_until.get(s, 0.0) <= now]
        down = sorted((s for s in ring if self._down_until.get(s, 0.0) > now), key=lambda s: self._down_until[s])
        return up + down

    def mark_failed(self, server: str, error: BaseException | None = None) -> None:
        """Skip server for a back-off (1 s, doubling to 15 s); move to another server that has not failed lately."""
        backoff = min(self._backoff.get(server, INITIAL_BACKOFF / 2) * 2, MAX_BACKOFF)
        self._backoff[server] = backoff
        now = self.monotonic()
        self._down_until[server] = now + backoff
        if server == self.current:
            nxt = next((s for s in self.candidates() if self._down_until.get(s, 0.0) <= now), None)
            if nxt is not None:
                log.warning("apiserver %s failed (%s); switching to %s", server, error or "error", nxt)
                self.current = nxt

    def mark_ok(self, server: str) -> None:
        if self._backoff:
            self._backoff.pop(server, None)
            self._down_until.pop(server, None)
        if server != self.current:
            log.info("using apiserver %s", server)
            self.current = server

    def set_discovered(self, servers: list[str]) -> None:
        """Replace the discovered servers (an empty list keeps the old ones: never forget every server)."""
        servers = [normalize_server(s) for s in servers]
        if not servers or servers == self.discovered:
            return
        log.info("apiservers from the kubernetes endpoints: %s", ", ".join(servers))
        self.discovered = servers
        for gone in set(self._down_until) - set(self.servers):
            self._down_until.pop(gone, None)
            self._backoff.pop(gone, None)

    async def call(self, send: Callable[[str], Awaitable[T]], *, idempotent: bool) -> T:
        """send(server) on the current server, failing over as the retry contract allows; the last error if all fail."""
        last: BaseException | None = None
        for server in self.candidates():
            try:
                result = await send(server)
            except CONNECT_ERRORS as e:
                self.mark_failed(server, e)
                last = e
                continue
            except DISCONNECT_ERRORS as e:
                self.mark_failed(server, e)
                if not idempotent:
                    raise
                last = e
                continue
            self.mark_ok(server)
            return result
        assert last is not None
        raise last

    async def refresh_forever(self, fetch: Callable[[], Awaitable[list[str] | None]]) -> None:
        """Every refresh_interval, set the discovered servers from fetch(); stop when fetch returns None
        (discovery not allowed for this client)."""
        while True:
            try:
                servers = await fetch()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - a failed refresh keeps the list we have
                log.debug("refreshing the apiserver list: %s", e)
            else:
                if servers is None:
                    return
                self.set_discovered(servers)
            await asyncio.sleep(self.refresh_interval)

"""The apiservers an agent knows, as k3s's agent load balancer keeps them: its `--server` list plus the live
apiservers of the `kubernetes` Endpoints (kept by the apiservers' lease endpoint reconciler), refreshed
periodically. The order it hands out (the server that last answered first, those that failed lately last) is
used by the agent's own clients (TLS bootstrap and certificate rotation) and by its children's `--server` flags,
so a kubelet or proxy started (or restarted) after an apiserver died still finds the others."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from kybernetes.client import ClientConfig
from kybernetes.client.loadbalancer import DEFAULT_REFRESH_INTERVAL, LoadBalancer, servers_from_endpoints

log = logging.getLogger(__name__)

KUBERNETES_ENDPOINTS = "/api/v1/namespaces/default/endpoints/kubernetes"

# an error on the way to or from a server (as opposed to its answer): try the next one
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (OSError, asyncio.TimeoutError, aiohttp.ClientError)

FetchEndpoints = Callable[[str], Awaitable[dict[str, Any]]]


class APIServers:
    """The agent's apiservers and their order; `on_change(order)` is called when the order changes."""

    def __init__(self, configured: list[str], *, refresh_interval: float = DEFAULT_REFRESH_INTERVAL) -> None:
        self.lb = LoadBalancer(configured, refresh_interval=refresh_interval)
        self.on_change: Callable[[list[str]], None] | None = None

    def ordered(self) -> list[str]:
        """Every known apiserver, the one to try first first."""
        return self.lb.candidates()

    def client_config(self, **fields: Any) -> ClientConfig:
        """A ClientConfig over every known apiserver (its client fails over between them), in the current order."""
        first, *rest = self.ordered()
        return ClientConfig(server=first, servers=rest, **fields)

    async def refresh(self, fetch: FetchEndpoints) -> list[str]:
        """Read the `kubernetes` Endpoints from the first server that answers (fetch(server) is one GET on that
        server) and take its addresses; the servers that did not answer are marked failed. Raises the last
        transport error when none answered, or the answer's ApiError."""
        before = self.ordered()
        try:
            endpoints = await self._first_answer(fetch)
            scheme = before[0].partition("://")[0] or "https"
            self.lb.set_discovered(servers_from_endpoints(endpoints, scheme))
        finally:
            after = self.ordered()
            if after != before and self.on_change is not None:
                self.on_change(after)
        return self.lb.servers

    async def _first_answer(self, fetch: FetchEndpoints) -> dict[str, Any]:
        last: BaseException | None = None
        for server in self.ordered():
            try:
                answer = await fetch(server)
            except TRANSPORT_ERRORS as e:
                self.lb.mark_failed(server, e)
                last = e
                continue
            self.lb.mark_ok(server)
            return answer
        assert last is not None
        raise last

    async def refresh_forever(self, fetch: FetchEndpoints) -> None:
        """refresh() every refresh interval (a failed one keeps the list it had) until cancelled."""
        while True:
            await asyncio.sleep(self.lb.refresh_interval)
            try:
                await self.refresh(fetch)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the next refresh tries again
                log.warning("refreshing the apiserver list: %s", e)


def child_server_flags(servers: list[str]) -> list[str]:
    """A kubelet's or proxy's flags for client-side load balancing: every known apiserver, plus discovery of the
    ones that appear later."""
    out: list[str] = []
    for server in servers:
        out += ["--server", server]
    return out + ["--discover-servers"]

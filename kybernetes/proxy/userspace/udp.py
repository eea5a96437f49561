"""A UDP forwarder: one flow (a connected socket to an endpoint) per client address, closed when idle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kybernetes.client.clock import Clock, RealClock, TimerHandle
from kybernetes.proxy.types import EndpointInfo

log = logging.getLogger(__name__)

DEFAULT_IDLE_TIMEOUT = 30.0
MAX_PENDING = 64  # datagrams held per flow while its socket is being opened
MAX_BUFFER = 1 << 20  # above this many bytes queued to the client, datagrams are dropped (UDP may lose them)

Picker = Callable[[str, set[str]], EndpointInfo | None]


@dataclass
class Flow:
    """One client address's traffic to one endpoint."""

    client: tuple[str, int]
    endpoint: EndpointInfo
    last_active: float
    transport: asyncio.DatagramTransport | None = None
    pending: list[bytes] = field(default_factory=list)
    closed: bool = False

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class FlowTable:
    """Flows by client address; a flow idle for `idle_timeout` seconds is closed by a timer on `clock`."""

    def __init__(self, idle_timeout: float = DEFAULT_IDLE_TIMEOUT, clock: Clock | None = None,
                 on_expire: Callable[[Flow], None] | None = None) -> None:
        self.idle_timeout = idle_timeout
        self.clock = clock or RealClock()
        self.on_expire = on_expire
        self.flows: dict[tuple[str, int], Flow] = {}
        self._timer: TimerHandle | None = None
        self._timer_at = 0.0

    def __len__(self) -> int:
        return len(self.flows)

    def get(self, client: tuple[str, int]) -> Flow | None:
        return self.flows.get(client)

    def add(self, client: tuple[str, int], endpoint: EndpointInfo) -> Flow:
        flow = Flow(client, endpoint, self.clock.now())
        self.flows[client] = flow
        self._schedule(flow.last_active + self.idle_timeout)
        return flow

    def touch(self, flow: Flow) -> None:
        flow.last_active = self.clock.now()

    def remove(self, client: tuple[str, int]) -> None:
        flow = self.flows.pop(client, None)
        if flow is not None:
            flow.close()

    def _schedule(self, at: float) -> None:
        if self._timer is not None and self._timer_at <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self.clock.call_later(at - self.clock.now(), self.expire)

    def expire(self) -> None:
        """Close every flow idle for the timeout; re-arm the timer for the next one due."""
        self._timer = None
        now = self.clock.now()
        nxt = None
        for client, flow in list(self.flows.items()):
            due = flow.last_active + self.idle_timeout
            if due <= now:
                del self.flows[client]
                flow.close()
                if self.on_expire is not None:
                    self.on_expire(flow)
            elif nxt is None or due < nxt:
                nxt = due
        if nxt is not None:
            self._schedule(nxt)

    def close_all(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for flow in self.flows.values():
            flow.close()
        self.flows.clear()

    def drop_endpoints(self, alive: set[str]) -> None:
        """Close flows whose endpoint is gone, so their next datagram picks a live one."""
        for client, flow in list(self.flows.items()):
            if flow.endpoint.address not in alive:
                del self.flows[client]
                flow.close()


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, fwd: DatagramForwarder) -> None:
        self.fwd = fwd

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.fwd._from_client(data, addr)


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, fwd: DatagramForwarder, flow: Flow) -> None:
        self.fwd = fwd
        self.flow = flow

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.fwd._from_endpoint(self.flow, data)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable from a dead endpoint
        log.debug("%s: flow %s -> %s: %s", self.fwd.name, self.flow.client, self.flow.endpoint.address, exc)
        self.fwd.flows.remove(self.flow.client)


class DatagramForwarder:
    """Listens on one address:port for UDP; relays each client's datagrams through its own flow."""

    def __init__(self, name: str, pick: Picker, *, idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 clock: Clock | None = None, on_result: Callable[[str], None] | None = None) -> None:
        self.name = name
        self.pick = pick
        self.flows = FlowTable(idle_timeout, clock)
        self.on_result = on_result or (lambda _r: None)
        self.transport: asyncio.DatagramTransport | None = None

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: _Listener(self), local_addr=(host, port),
                                                                reuse_port=False)

    def _from_client(self, data: bytes, addr: tuple[str, int]) -> None:
        flow = self.flows.get(addr)
        if flow is None or flow.closed:
            ep = self.pick(addr[0], set())
            if ep is None:
                self.on_result("refused")
                return
            flow = self.flows.add(addr, ep)
            flow.pending.append(data)
            self.on_result("ok")
            asyncio.ensure_future(self._open(flow))
            return
        self.flows.touch(flow)
        if flow.transport is None:
            if len(flow.pending) < MAX_PENDING:
                flow.pending.append(data)
        else:
            flow.transport.sendto(data)

    async def _open(self, flow: Flow) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: _Upstream(self, flow),
                                                               remote_addr=(flow.endpoint.ip, flow.endpoint.port))
        except OSError as e:
            log.debug("%s: cannot open a flow to %s: %s", self.name, flow.endpoint.address, e)
            self.flows.remove(flow.client)
            return
        if flow.closed:
            transport.close()
            return
        flow.transport = transport
        for d in flow.pending:
            transport.sendto(d)
        flow.pending.clear()

    def _from_endpoint(self, flow: Flow, data: bytes) -> None:
        if self.transport is None or flow.closed:
            return
        self.flows.touch(flow)
        if self.transport.get_write_buffer_size() > MAX_BUFFER:
            return  # the client side is not keeping up: drop, as the network would
        self.transport.sendto(data, flow.client)

    async def close(self) -> None:
        self.flows.close_all()
        if self.transport is not None:
            self.transport.close()
            self.transport = None

"""Round-robin endpoint choice per listener, with ClientIP session affinity that expires after its timeout."""

from __future__ import annotations

from dataclasses import dataclass

from kybernetes.client.clock import Clock, RealClock
from kybernetes.proxy.types import EndpointInfo


@dataclass
class _Affinity:
    endpoint: str
    last_used: float


class RoundRobin:
    """Picks the next endpoint in turn; with affinity, a client IP keeps its endpoint while it stays in use.

    `pick(client_ip, skip)` never returns an endpoint whose address is in `skip` (those a connect already
    failed on), and returns None when none is left.
    """

    def __init__(self, endpoints: list[EndpointInfo] | None = None, *, affinity_timeout: float = 0.0,
                 clock: Clock | None = None) -> None:
        self.clock = clock or RealClock()
        self.affinity_timeout = affinity_timeout
        self.endpoints: list[EndpointInfo] = []
        self._index = 0
        self._affinity: dict[str, _Affinity] = {}
        self.set_endpoints(endpoints or [], affinity_timeout)

    def set_endpoints(self, endpoints: list[EndpointInfo], affinity_timeout: float | None = None) -> None:
        if affinity_timeout is not None and affinity_timeout != self.affinity_timeout:
            self.affinity_timeout = affinity_timeout
            self._affinity.clear()
        if endpoints == self.endpoints:
            return
        self.endpoints = list(endpoints)
        alive = {e.address for e in self.endpoints}
        self._affinity = {ip: a for ip, a in self._affinity.items() if a.endpoint in alive}
        self._index = self._index % len(self.endpoints) if self.endpoints else 0

    def pick(self, client_ip: str, skip: set[str] | frozenset[str] = frozenset()) -> EndpointInfo | None:
        if not self.endpoints:
            return None
        now = self.clock.now()
        if self.affinity_timeout > 0:
            a = self._affinity.get(client_ip)
            if a is not None and now - a.last_used <= self.affinity_timeout and a.endpoint not in skip:
                for e in self.endpoints:
                    if e.address == a.endpoint:
                        a.last_used = now
                        return e
        for _ in range(len(self.endpoints)):
            e = self.endpoints[self._index]
            self._index = (self._index + 1) % len(self.endpoints)
            if e.address in skip:
                continue
            if self.affinity_timeout > 0:
                self._affinity[client_ip] = _Affinity(e.address, now)
            return e
        return None

"""The DNS wire side: UDP and TCP listeners turning queries into ClusterRecords answers or forwarded responses.

Messages are parsed and rendered by dnspython. Cluster names are answered synchronously in the datagram
callback (no task per query), and their replies cached until the records' serial moves; only forwarded names
cost a task. A UDP answer bigger than the client's size
(512 bytes, or its EDNS payload) is truncated with the TC bit set, and the client retries over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from kybernetes.dns.forward import Forwarder
from kybernetes.dns.metrics import DNSMetrics
from kybernetes.dns.records import RR, Answer, ClusterRecords

log = logging.getLogger(__name__)

UDP_MIN_SIZE = 512
TCP_MAX_SIZE = 65535
TCP_IDLE_TIMEOUT = 10.0
MAX_INFLIGHT_FORWARDS = 1024
DEFAULT_CACHE_SIZE = 10000


@functools.lru_cache(maxsize=65536)
def _rdata(rdtype: int, text: str) -> dns.rdata.Rdata:
    """Parsed record data (immutable in dnspython, so shared between answers)."""
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, text)


@functools.lru_cache(maxsize=16384)
def _name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def _rrsets(rrs: list[RR]) -> list[dns.rrset.RRset]:
    """Records grouped into RRsets (same owner, type and TTL), in first-seen order."""
    groups: dict[tuple[str, int, int], list[dns.rdata.Rdata]] = {}
    for rr in rrs:
        groups.setdefault((rr.name, rr.rdtype, rr.ttl), []).append(_rdata(rr.rdtype, rr.data))
    return [dns.rrset.from_rdata_list(_name(name), ttl, rdatas) for (name, _, ttl), rdatas in groups.items()]


class DNSServer:
    """Serves `records` on UDP and TCP; names outside the cluster go to `forwarder`, or are REFUSED without one."""

    def __init__(self, records: ClusterRecords, *, forwarder: Forwarder | None = None,
                 metrics: DNSMetrics | None = None, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.records = records
        self.cache_size = cache_size
        self._cache: dict[bytes, _Cached] = {}
        self.forwarder = forwarder
        self.metrics = metrics or DNSMetrics()
        self.addresses: list[tuple[str, int]] = []
        self._udp: list[asyncio.DatagramTransport] = []
        self._tcp: list[asyncio.AbstractServer] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- answering -------------------------------------------------------------------------------------------

    def response(self, request: dns.message.Message, ans: Answer) -> dns.message.Message:
        """A response message for `request` carrying `ans`."""
        resp = dns.message.make_response(request)
        if self.forwarder is not None:
            resp.flags |= dns.flags.RA
        if not ans.forward:
            resp.flags |= dns.flags.AA
        resp.set_rcode(ans.rcode)
        resp.answer.extend(_rrsets(ans.answer))
        resp.authority.extend(_rrsets(ans.authority))
        resp.additional.extend(_rrsets(ans.additional))
        return resp

    def _error(self, request: dns.message.Message, rcode: dns.rcode.Rcode) -> dns.message.Message:
        return self.response(request, Answer(rcode, forward=True))

    def answer_local(self, request: dns.message.Message) -> tuple[dns.message.Message | None, str, str]:
        """(response, zone, plugin) for what needs no network; response None: forward it."""
        if request.opcode() != dns.opcode.QUERY:
            return self._error(request, dns.rcode.NOTIMP), ".", ""
        if len(request.question) != 1:
            return self._error(request, dns.rcode.FORMERR), ".", ""
        q = request.question[0]
        if q.rdclass != dns.rdataclass.IN:
            return self._error(request, dns.rcode.REFUSED), ".", ""
        ans = self.records.lookup(q.name.to_text(), q.rdtype)
        if not ans.forward:
            return self.response(request, ans), ans.zone, "kubernetes"
        if self.forwarder is None:
            return self._error(request, dns.rcode.REFUSED), ".", ""
        return None, ".", "forward"

    async def answer_forwarded(self, request: dns.message.Message) -> dns.message.Message:
        assert self.forwarder is not None
        resp = await self.forwarder.forward(request)
        if resp is None:
            return self._error(request, dns.rcode.SERVFAIL)
        resp.id = request.id
        return resp

    def render(self, request: dns.message.Message, resp: dns.message.Message, *, tcp: bool) -> bytes:
        """Wire bytes within the client's limit; too big for UDP: truncated, TC set."""
        if tcp:
            limit = TCP_MAX_SIZE
        else:
            limit = max(UDP_MIN_SIZE, request.payload) if request.edns >= 0 else UDP_MIN_SIZE
        wire = resp.to_wire(max_size=limit, prefer_truncation=True)
        if wire[2] & 0x02:  # the TC bit of the rendered header
            self.metrics.truncated.labels(self.metrics.server, ".").inc()
        return wire

    def _observe(self, request: dns.message.Message, resp: dns.message.Message, zone: str, plugin: str,
                 proto: str, family: str, start: float) -> None:
        qtype = dns.rdatatype.to_text(request.question[0].rdtype) if request.question else "other"
        self.metrics.observe(zone=zone, proto=proto, family=family, qtype=qtype,
                             rcode=dns.rcode.to_text(resp.rcode()), plugin=plugin,
                             seconds=time.perf_counter() - start)

    @staticmethod
    def _parse(data: bytes) -> tuple[dns.message.Message | None, bytes | None]:
        """(request, None), or (None, a FORMERR reply) / (None, None) for bytes that are no query."""
        try:
            msg = dns.message.from_wire(data)
        except dns.exception.DNSException:
            if len(data) < 12 or data[2] & 0x80:
                return None, None
            err = dns.message.Message(id=struct.unpack("!H", data[:2])[0])
            err.flags = dns.flags.QR
            err.set_rcode(dns.rcode.FORMERR)
            return None, err.to_wire()
        if msg.flags & dns.flags.QR:
            return None, None  # a response: never answer those
        return msg, None

    async def handle_forward(self, request: dns.message.Message, *, tcp: bool, proto: str, family: str,
                             start: float) -> bytes:
        resp = await self.answer_forwarded(request)
        self._observe(request, resp, ".", "forward", proto, family, start)
        return self.render(request, resp, tcp=tcp)

    # -- transports ------------------------------------------------------------------------------------------

    async def start(self, listen: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Listen on each (host, port) over UDP and TCP (port 0: one free port for both); the bound addresses."""
        loop = asyncio.get_running_loop()
        for host, port in listen:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            udp, _ = await loop.create_datagram_endpoint(lambda: _UDPProtocol(self, family), local_addr=(host, port),
                                                         family=family)
            self._udp.append(udp)
            port = udp.get_extra_info("sockname")[1]
            tcp = await asyncio.start_server(lambda r, w: self._serve_tcp(r, w, family), host, port,
                                             family=family, reuse_address=True)
            self._tcp.append(tcp)
            self.addresses.append((host, port))
            log.info("cluster DNS listening on %s:%d (udp, tcp)", host, port)
        return list(self.addresses)

    async def stop(self) -> None:
        for t in self._udp:
            t.close()
        for s in self._tcp:
            s.close()
        for task in list(self._tasks):
            task.cancel()
        for s in self._tcp:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(s.wait_closed(), 1.0)
        self._udp.clear()
        self._tcp.clear()
        self.addresses.clear()

    def _spawn(self, coro: Any) -> bool:
        if len(self._tasks) >= MAX_INFLIGHT_FORWARDS:
            coro.close()
            return False
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def answer_wire(self, data: bytes, *, tcp: bool, family: str,
                    start: float) -> tuple[bytes | None, dns.message.Message | None]:
        """(reply, None) for what is answered here (b"": no reply), or (None, request) for what to forward.

        Replies are cached by the query's bytes after its id while the records' serial stays the same (CoreDNS
        runs its cache plugin in front of kubernetes; this cache never outlives a change)."""
        key = (b"t" if tcp else b"u") + data[2:]
        hit = self._cache.get(key)
        if hit is not None and hit.serial == self.records.serial:
            self.metrics.observe(zone=hit.zone, proto="tcp" if tcp else "udp", family=family, qtype=hit.qtype,
                                 rcode=hit.rcode, plugin=hit.plugin, seconds=time.perf_counter() - start)
            return data[:2] + hit.wire, None
        request, err = self._parse(data)
        if request is None:
            return err or b"", None
        serial = self.records.serial
        resp, zone, plugin = self.answer_local(request)
        if resp is None:
            return None, request
        wire = self.render(request, resp, tcp=tcp)
        qtype = dns.rdatatype.to_text(request.question[0].rdtype) if request.question else "other"
        entry = _Cached(serial, wire[2:], zone, plugin, qtype, dns.rcode.to_text(resp.rcode()))
        self.metrics.observe(zone=zone, proto="tcp" if tcp else "udp", family=family, qtype=qtype,
                             rcode=entry.rcode, plugin=plugin, seconds=time.perf_counter() - start)
        if self.cache_size > 0 and len(data) <= UDP_MIN_SIZE:
            if len(self._cache) >= self.cache_size:
                self._cache.clear()
            self._cache[key] = entry
        return wire, None

    def datagram(self, data: bytes, addr: Any, transport: asyncio.DatagramTransport, family: str) -> None:
        start = time.perf_counter()
        wire, request = self.answer_wire(data, tcp=False, family=family, start=start)
        if wire is not None:
            if wire:
                transport.sendto(wire, addr)
            return
        assert request is not None
        req = request

        async def forward() -> None:
            reply = await self.handle_forward(req, tcp=False, proto="udp", family=family, start=start)
            if not transport.is_closing():
                transport.sendto(reply, addr)

        if not self._spawn(forward()):
            transport.sendto(self.render(req, self._error(req, dns.rcode.SERVFAIL), tcp=False), addr)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, family: int) -> None:
        fam = "2" if family == socket.AF_INET6 else "1"
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_TIMEOUT)
                data = await asyncio.wait_for(reader.readexactly(struct.unpack("!H", head)[0]), TCP_IDLE_TIMEOUT)
                start = time.perf_counter()
                wire, request = self.answer_wire(data, tcp=True, family=fam, start=start)
                if wire is None:
                    assert request is not None
                    wire = await self.handle_forward(request, tcp=True, proto="tcp", family=fam, start=start)
                if not wire:
                    break
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


@dataclass(frozen=True)
class _Cached:
    serial: int
    wire: bytes  # the reply without its id
    zone: str
    plugin: str
    qtype: str
    rcode: str


class _UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer, family: int) -> None:
        self.server = server
        self.family = "2" if family == socket.AF_INET6 else "1"
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        assert self.transport is not None
        try:
            self.server.datagram(data, addr, self.transport, self.family)
        except Exception:  # noqa: BLE001 - one bad query must not stop the listener
            log.exception("DNS query from %s failed", addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("DNS UDP error: %s", exc)

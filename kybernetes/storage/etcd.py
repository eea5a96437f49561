"""The etcd v3 backend of the Store contract: etcd's own revisions, txn compare-and-swap, watch and compaction.

Speaks etcd's gRPC API through aetcd's generated stubs and messages on a grpc.aio channel of our own,
because the Store needs what aetcd's high-level Client hides: response headers (the store revision),
whole watch responses (events of one revision together), TLS client certificates and several endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from dataclasses import dataclass
from typing import Any, AsyncIterator, BinaryIO
from urllib.parse import parse_qs

import grpc
from aetcd import rpc

from kybernetes.storage.interface import (
    CompactedError,
    Event,
    FutureRevisionError,
    KeyExistsError,
    KeyValue,
    RangeResult,
    StorageError,
    WriteResult,
)

log = logging.getLogger(__name__)

_ALL_KEYS = b"\0"  # as range_end: every key >= key; as key with range_end "\0": the whole keyspace
_COMPACTED = "required revision has been compacted"
_FUTURE = "required revision is a future revision"
# While a member is lost and the rest elect a leader (about a second), calls fail with UNAVAILABLE. Reads are
# retried on it; writes only on "no leader", which etcd answers before proposing anything (as clientv3 does).
_RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
_NOT_PROPOSED = ("etcdserver: no leader",)


def _retryable(exc: grpc.aio.AioRpcError, *, read: bool) -> bool:
    if exc.code() != grpc.StatusCode.UNAVAILABLE:
        return read and "etcdserver: leader changed" in (exc.details() or "")
    return read or any(m in (exc.details() or "") for m in _NOT_PROPOSED)


@dataclass(frozen=True, slots=True)
class EtcdConfig:
    """Where etcd is and how to authenticate: endpoints "host:port", optional TLS files (PEM paths)."""

    endpoints: tuple[str, ...]
    tls: bool = False
    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    timeout: float = 30.0


def parse_etcd_url(url: str) -> EtcdConfig:
    """etcd://HOST:PORT[,HOST:PORT...][?cacert=&cert=&key=] (etcds:// or any TLS file means TLS)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("etcd", "etcds"):
        raise ValueError(f"not an etcd URL: {url!r}")
    hosts, _, query = rest.partition("?")
    hosts = hosts.rstrip("/")
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=False).items()}
    unknown = set(params) - {"cacert", "cert", "key"}
    if unknown:
        raise ValueError(f"unknown etcd URL parameter(s) {sorted(unknown)} in {url!r}")
    endpoints = tuple(h.strip() for h in hosts.split(",") if h.strip())
    if not endpoints:
        raise ValueError(f"etcd URL without an endpoint: {url!r}")
    for endpoint in endpoints:
        host, colon, port = endpoint.rpartition(":")
        if not colon or not host or not port.isdigit():
            raise ValueError(f"etcd endpoint must be HOST:PORT, got {endpoint!r} in {url!r}")
    if bool(params.get("cert")) != bool(params.get("key")):
        raise ValueError(f"etcd URL needs both cert= and key= for a client certificate: {url!r}")
    return EtcdConfig(endpoints=endpoints, tls=scheme == "etcds" or bool(params),
                      cacert=params.get("cacert"), cert=params.get("cert"), key=params.get("key"))


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


def open_channel(config: EtcdConfig) -> grpc.aio.Channel:
    """A gRPC channel over all endpoints (pick_first fails over between IP endpoints), TLS if configured."""
    hosts = [e.rpartition(":")[0].strip("[]") for e in config.endpoints]
    if all(_is_ip(h) for h in hosts) and len(hosts) > 1:
        scheme = "ipv6" if ":" in hosts[0] else "ipv4"
        target = f"{scheme}:" + ",".join(config.endpoints)
    else:
        target = config.endpoints[0]  # a DNS name: one endpoint (grpc resolves it)
    options: list[tuple[str, Any]] = [("grpc.max_receive_message_length", 64 << 20),
                                      ("grpc.keepalive_time_ms", 30_000)]
    if not config.tls:
        return grpc.aio.insecure_channel(target, options=options)
    creds = grpc.ssl_channel_credentials(root_certificates=_read(config.cacert),
                                         private_key=_read(config.key), certificate_chain=_read(config.cert))
    options.append(("grpc.ssl_target_name_override", hosts[0]))
    return grpc.aio.secure_channel(target, creds, options=options)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _prefix_end(prefix: bytes) -> bytes:
    """The range_end covering every key that starts with prefix ("\\0" = to the end of the keyspace)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return _ALL_KEYS


def _kv(kv: Any) -> KeyValue:
    return KeyValue(kv.key.decode(), bytes(kv.value), kv.create_revision, kv.mod_revision)


def _event(ev: Any) -> Event:
    prev = _kv(ev.prev_kv) if ev.HasField("prev_kv") and ev.prev_kv.key else None
    if ev.type == rpc.Event.EventType.DELETE:
        return Event("DELETE", KeyValue(ev.kv.key.decode(), b"", 0, ev.kv.mod_revision), prev)
    return Event("PUT", _kv(ev.kv), prev)


class EtcdStore:
    """Store on an etcd v3 cluster; the store revision is etcd's header revision.

    Like kube-apiserver (--etcd-compaction-interval), it compacts etcd every compaction_interval seconds
    (0 = never) to the revision seen one interval earlier, keeping at least compaction_keep revisions.
    """

    def __init__(self, config: EtcdConfig | str, *, compaction_interval: float = 0.0,
                 compaction_keep: int = 1000) -> None:
        self.config = parse_etcd_url(config) if isinstance(config, str) else config
        self.compaction_interval = compaction_interval
        self.compaction_keep = compaction_keep
        self._compaction_task: asyncio.Task | None = None
        self._channel: grpc.aio.Channel | None = None
        self._kv: Any = None
        self._watch: Any = None
        self._maintenance: Any = None
        self._compact_rev = 0
        self._calls: set[Any] = set()  # live watch streams, cancelled by close()
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self._channel = open_channel(self.config)
        self._kv = rpc.KVStub(self._channel)
        self._watch = rpc.WatchStub(self._channel)
        self._maintenance = rpc.MaintenanceStub(self._channel)
        self._compact_rev = await self._find_compacted(await self.current_revision())
        if self.compaction_interval > 0:
            self._compaction_task = asyncio.get_running_loop().create_task(self._compaction_loop())

    async def close(self) -> None:
        if self._closed or self._channel is None:
            return
        self._closed = True
        if self._compaction_task is not None:
            self._compaction_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._compaction_task
        for call in list(self._calls):
            call.cancel()
        await self._channel.close()

    async def _find_compacted(self, current: int) -> int:
        """etcd does not report its compacted revision: find the lowest readable one by bisection."""
        lo, hi = 1, max(current, 1)  # the answer is in [lo, hi]; hi (current) is always readable
        while lo < hi:
            mid = (lo + hi) // 2
            try:
                await self._rpc(self._kv.Range, rpc.RangeRequest(key=_ALL_KEYS, revision=mid, count_only=True))
                hi = mid
            except CompactedError:
                lo = mid + 1
        return lo if lo > 1 else 0

    def _require(self) -> None:
        if self._channel is None or self._closed:
            raise RuntimeError("store is not started (or closed)")

    async def _rpc(self, method: Any, request: Any, *, revision: int = 0) -> Any:
        """One unary call, retried briefly while etcd elects a leader; its errors become the Store's."""
        self._require()
        read = method is self._kv.Range
        for delay in _RETRY_DELAYS:
            try:
                return await method(request, timeout=self.config.timeout)
            except grpc.aio.AioRpcError as exc:
                if not _retryable(exc, read=read):
                    raise await self._translate(exc, revision) from exc
            await asyncio.sleep(delay)
        try:
            return await method(request, timeout=self.config.timeout)
        except grpc.aio.AioRpcError as exc:
            raise await self._translate(exc, revision) from exc

    async def _translate(self, exc: grpc.aio.AioRpcError, revision: int) -> StorageError:
        details = exc.details() or ""
        if _COMPACTED in details:
            self._compact_rev = max(self._compact_rev, revision + 1)
            return CompactedError(revision, self._compact_rev)
        if _FUTURE in details:
            return FutureRevisionError(revision, await self.current_revision())
        return StorageError(f"etcd {exc.code().name}: {details}")

    # --- revisions ---------------------------------------------------------------------------------
    async def current_revision(self) -> int:
        response = await self._rpc(self._kv.Range, rpc.RangeRequest(key=_ALL_KEYS, limit=1, count_only=True))
        return response.header.revision

    async def compacted_revision(self) -> int:
        return self._compact_rev

    def _check_compacted(self, revision: int) -> None:
        if 0 < revision < self._compact_rev:
            raise CompactedError(revision, self._compact_rev)

    # --- reads -------------------------------------------------------------------------------------
    async def get(self, key: str, *, revision: int = 0) -> tuple[int, KeyValue | None]:
        self._check_compacted(revision)
        response = await self._rpc(self._kv.Range, rpc.RangeRequest(key=key.encode(), revision=revision),
                                   revision=revision)
        return revision or response.header.revision, (_kv(response.kvs[0]) if response.kvs else None)

    async def range(self, prefix: str, *, revision: int = 0, limit: int = 0,
                    start_key: str | None = None) -> RangeResult:
        self._check_compacted(revision)
        low = prefix.encode() or _ALL_KEYS
        if start_key is not None and start_key.encode() > low:
            low = start_key.encode()
        request = rpc.RangeRequest(key=low, range_end=_prefix_end(prefix.encode()), revision=revision,
                                   limit=max(limit, 0))
        response = await self._rpc(self._kv.Range, request, revision=revision)
        return RangeResult(revision=revision or response.header.revision, kvs=[_kv(kv) for kv in response.kvs],
                           more=response.more, count=response.count)

    # --- writes ------------------------------------------------------------------------------------
    async def _txn(self, key: bytes, mod_revision: int, success: rpc.RequestOp) -> Any:
        """If key's mod_revision is mod_revision (0: the key exists) run success, else read the key."""
        if mod_revision:
            compare = rpc.Compare(key=key, target=rpc.Compare.CompareTarget.MOD,
                                  result=rpc.Compare.CompareResult.EQUAL, mod_revision=mod_revision)
        else:
            compare = rpc.Compare(key=key, target=rpc.Compare.CompareTarget.MOD,
                                  result=rpc.Compare.CompareResult.GREATER, mod_revision=0)
        failure = rpc.RequestOp(request_range=rpc.RangeRequest(key=key))
        return await self._rpc(self._kv.Txn, rpc.TxnRequest(compare=[compare], success=[success],
                                                            failure=[failure]))

    @staticmethod
    def _lost(response: Any) -> WriteResult:
        kvs = response.responses[0].response_range.kvs
        return WriteResult(False, response.header.revision, _kv(kvs[0]) if kvs else None)

    async def create(self, key: str, value: bytes) -> KeyValue:
        value = _bytes(value)
        k = key.encode()
        compare = rpc.Compare(key=k, target=rpc.Compare.CompareTarget.CREATE,
                              result=rpc.Compare.CompareResult.EQUAL, create_revision=0)
        put = rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=value))
        response = await self._rpc(self._kv.Txn, rpc.TxnRequest(compare=[compare], success=[put]))
        if not response.succeeded:
            raise KeyExistsError(key)
        revision = response.header.revision
        return KeyValue(key, value, revision, revision)

    async def update(self, key: str, value: bytes, *, mod_revision: int) -> WriteResult:
        value = _bytes(value)
        put = rpc.RequestOp(request_put=rpc.PutRequest(key=key.encode(), value=value, prev_kv=True))
        response = await self._txn(key.encode(), mod_revision, put)
        if not response.succeeded:
            return self._lost(response)
        revision = response.header.revision
        prev = response.responses[0].response_put.prev_kv
        return WriteResult(True, revision, KeyValue(key, value, prev.create_revision, revision))

    async def delete(self, key: str, *, mod_revision: int = 0) -> WriteResult:
        op = rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key.encode(), prev_kv=True))
        response = await self._txn(key.encode(), mod_revision, op)
        if not response.succeeded:
            return self._lost(response)
        prev = response.responses[0].response_delete_range.prev_kvs
        return WriteResult(True, response.header.revision, _kv(prev[0]) if prev else None)

    # --- watch -------------------------------------------------------------------------------------
    async def watch(self, prefix: str, *, start_revision: int) -> AsyncIterator[list[Event]]:
        """Events with revision > start_revision under prefix, one batch per etcd watch response.

        etcd never splits a revision across responses (no fragmenting is asked for), so events of one
        revision come together. Progress notifications (no events) keep the stream alive and are skipped;
        a single watch on /registry/ sees every revision because every key lives under it.
        """
        self._require()
        self._check_compacted(start_revision)
        create = rpc.WatchCreateRequest(key=prefix.encode() or _ALL_KEYS, range_end=_prefix_end(prefix.encode()),
                                        start_revision=start_revision + 1, prev_kv=True, progress_notify=True)
        requests: asyncio.Queue[Any] = asyncio.Queue()
        requests.put_nowait(rpc.WatchRequest(create_request=create))

        async def request_stream() -> AsyncIterator[Any]:
            while True:
                yield await requests.get()

        call = self._watch.Watch(request_stream())
        self._calls.add(call)
        last = start_revision
        try:
            async for response in call:
                if response.compact_revision:
                    self._compact_rev = max(self._compact_rev, response.compact_revision)
                    raise CompactedError(last, response.compact_revision)
                if response.canceled:
                    raise StorageError(f"etcd cancelled the watch: {response.cancel_reason or 'no reason'}")
                if not response.events:
                    continue
                batch = [e for e in map(_event, response.events) if e.revision > last]
                if batch:
                    yield batch
                    last = batch[-1].revision
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED and self._closed:
                return
            raise StorageError(f"etcd watch failed: {exc.code().name}: {exc.details()}") from exc
        except asyncio.CancelledError:
            if self._closed and call.cancelled():
                return
            raise
        finally:
            self._calls.discard(call)
            call.cancel()

    # --- compaction --------------------------------------------------------------------------------
    async def compact(self, revision: int) -> None:
        """etcd compaction at revision, waiting until it is physically applied; already compacted: no-op."""
        current = await self.current_revision()
        if revision > current:
            raise FutureRevisionError(revision, current)
        if revision <= self._compact_rev:
            return
        try:
            await self._rpc(self._kv.Compact, rpc.CompactionRequest(revision=revision, physical=True),
                            revision=revision)
        except CompactedError:
            pass  # another client compacted at or past it
        self._compact_rev = max(self._compact_rev, revision)

    async def _compaction_loop(self) -> None:
        seen = await self.current_revision()
        while True:
            await asyncio.sleep(self.compaction_interval)
            try:
                current = await self.current_revision()
                target = min(seen, current - self.compaction_keep)
                if target > self._compact_rev:
                    await self.compact(target)
                seen = current
            except Exception:
                log.exception("periodic etcd compaction failed")

    # --- snapshot ----------------------------------------------------------------------------------
    async def snapshot(self, out: BinaryIO) -> tuple[int, int]:
        """Stream etcd's own snapshot (a bbolt database, restorable by etcdutl) into out.

        Returns (revision when it started, bytes written).
        """
        revision = await self.current_revision()
        size = 0
        self._require()
        try:
            async for response in self._maintenance.Snapshot(rpc.SnapshotRequest()):
                out.write(response.blob)
                size += len(response.blob)
        except grpc.aio.AioRpcError as exc:
            raise StorageError(f"etcd snapshot failed: {exc.code().name}: {exc.details()}") from exc
        return revision, size


def _bytes(value: bytes) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"value must be bytes, not {type(value).__name__}")
    return bytes(value)

"""SPDY/3.1 framing and a server-side connection, as much as kubectl's port-forward needs.

Frames (draft 3.1): control frames SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS,
WINDOW_UPDATE, and DATA frames. Header blocks are compressed with one zlib stream per direction, primed with
the SPDY/3 dictionary, each block ending with a sync flush. Flow control is not enforced on what we send (the
Go client, moby/spdystream, does not enforce it either); received data is acknowledged with WINDOW_UPDATE.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from dataclasses import dataclass, field
from typing import Awaitable, Callable

VERSION = 3

TYPE_SYN_STREAM = 1
TYPE_SYN_REPLY = 2
TYPE_RST_STREAM = 3
TYPE_SETTINGS = 4
TYPE_PING = 6
TYPE_GOAWAY = 7
TYPE_HEADERS = 8
TYPE_WINDOW_UPDATE = 9

FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02

# RST_STREAM status codes
PROTOCOL_ERROR = 1
INVALID_STREAM = 2
REFUSED_STREAM = 3
CANCEL = 5
INTERNAL_ERROR = 6

MAX_DATA_FRAME = 32 * 1024  # what we put in one DATA frame
MAX_FRAME_LENGTH = (1 << 24) - 1


def _dictionary() -> bytes:
    """The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1): length-prefixed words, then text."""
    words = (
        "options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges "
        "age allow authorization cache-control connection content-base content-encoding content-language "
        "content-length content-location content-md5 content-range content-type date etag expect expires from "
        "host if-match if-modified-since if-none-match if-range if-unmodified-since last-modified location "
        "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after server te trailer "
        "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status"
    ).split() + ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
    codes = "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    text = (
        codes + "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
        "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
        "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
        "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
        "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
        "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    )
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in words) + text.encode()


DICTIONARY = _dictionary()

Headers = dict[str, list[str]]


# ---------------------------------------------------------------------------------------------- header blocks


class HeaderCompressor:
    """Compresses the header blocks one side sends (one zlib stream for the whole connection)."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                   zdict=DICTIONARY)

    def compress(self, headers: Headers) -> bytes:
        return self._z.compress(encode_header_block(headers)) + self._z.flush(zlib.Z_SYNC_FLUSH)


class HeaderDecompressor:
    """Decompresses the header blocks the other side sends."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(zdict=DICTIONARY)

    def decompress(self, data: bytes) -> Headers:
        return decode_header_block(self._z.decompress(data))


def encode_header_block(headers: Headers) -> bytes:
    """Uncompressed name/value block: count, then (length, name, length, NUL-joined values) per header."""
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        n, v = name.lower().encode(), "\x00".join(values).encode()
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def decode_header_block(block: bytes) -> Headers:
    (count,) = struct.unpack_from(">I", block, 0)
    pos = 4
    headers: Headers = {}
    for _ in range(count):
        (nlen,) = struct.unpack_from(">I", block, pos)
        name = block[pos + 4:pos + 4 + nlen].decode().lower()
        pos += 4 + nlen
        (vlen,) = struct.unpack_from(">I", block, pos)
        value = block[pos + 4:pos + 4 + vlen].decode()
        pos += 4 + vlen
        headers.setdefault(name, []).extend(value.split("\x00"))
    return headers


def header(headers: Headers, name: str) -> str:
    """First value of a header (names are case-insensitive), '' when absent."""
    values = headers.get(name.lower()) or []
    return values[0] if values else ""


# ---------------------------------------------------------------------------------------------- frames


@dataclass
class ControlFrame:
    type: int
    flags: int
    payload: bytes


@dataclass
class DataFrame:
    stream_id: int
    flags: int
    data: bytes


@dataclass
class SynStream:
    stream_id: int
    associated_to: int
    priority: int
    flags: int
    headers: Headers = field(default_factory=dict)


def control_frame(type_: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, type_, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data


def syn_stream_frame(comp: HeaderCompressor, stream_id: int, headers: Headers, *, fin: bool = False,
                     priority: int = 0) -> bytes:
    payload = struct.pack(">IIBB", stream_id, 0, (priority & 7) << 5, 0) + comp.compress(headers)
    return control_frame(TYPE_SYN_STREAM, FLAG_FIN if fin else 0, payload)


def syn_reply_frame(comp: HeaderCompressor, stream_id: int, headers: Headers, fin: bool = False) -> bytes:
    return control_frame(TYPE_SYN_REPLY, FLAG_FIN if fin else 0, struct.pack(">I", stream_id) + comp.compress(headers))


def rst_stream_frame(stream_id: int, status: int) -> bytes:
    return control_frame(TYPE_RST_STREAM, 0, struct.pack(">II", stream_id, status))


def ping_frame(ping_id: int) -> bytes:
    return control_frame(TYPE_PING, 0, struct.pack(">I", ping_id))


def goaway_frame(last_good_stream_id: int, status: int = 0) -> bytes:
    return control_frame(TYPE_GOAWAY, 0, struct.pack(">II", last_good_stream_id, status))


def window_update_frame(stream_id: int, delta: int) -> bytes:
    return control_frame(TYPE_WINDOW_UPDATE, 0, struct.pack(">II", stream_id, delta))


def settings_frame(values: dict[int, int]) -> bytes:
    payload = struct.pack(">I", len(values)) + b"".join(struct.pack(">II", k & 0xFFFFFF, v)
                                                         for k, v in values.items())
    return control_frame(TYPE_SETTINGS, 0, payload)


async def read_frame(reader: asyncio.StreamReader) -> ControlFrame | DataFrame | None:
    """The next frame, or None at a clean end of stream. Raises ValueError for a malformed frame."""
    try:
        head = await reader.readexactly(8)
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise ValueError("connection ended inside a frame header") from None
        return None
    first, second = struct.unpack(">II", head)
    flags, length = second >> 24, second & 0xFFFFFF
    try:
        payload = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise ValueError("connection ended inside a frame") from None
    if first & 0x80000000:
        version = (first >> 16) & 0x7FFF
        if version != VERSION:
            raise ValueError(f"unsupported SPDY version {version}")
        return ControlFrame(first & 0xFFFF, flags, payload)
    return DataFrame(first & 0x7FFFFFFF, flags, payload)


def parse_syn_stream(frame: ControlFrame, decomp: HeaderDecompressor) -> SynStream:
    stream_id, assoc, prio, _slot = struct.unpack_from(">IIBB", frame.payload)
    headers = decomp.decompress(frame.payload[10:])
    return SynStream(stream_id & 0x7FFFFFFF, assoc & 0x7FFFFFFF, prio >> 5, frame.flags, headers)


def parse_stream_id(frame: ControlFrame) -> int:
    return struct.unpack_from(">I", frame.payload)[0] & 0x7FFFFFFF


# ---------------------------------------------------------------------------------------------- connection

Write = Callable[[bytes], Awaitable[None]]


class SpdyStream:
    """One stream opened by the peer: `reader` gets its data (EOF at FIN or reset); write/close send ours."""

    def __init__(self, conn: SpdyConnection, stream_id: int, headers: Headers, remote_fin: bool) -> None:
        self.conn = conn
        self.id = stream_id
        self.headers = headers
        self.reader = asyncio.StreamReader()
        self.local_closed = False
        self.reset = False
        if remote_fin:
            self.reader.feed_eof()

    def header(self, name: str) -> str:
        return header(self.headers, name)

    async def write(self, data: bytes) -> None:
        if self.local_closed or self.reset:
            raise ConnectionResetError(f"stream {self.id} is closed")
        for i in range(0, len(data), MAX_DATA_FRAME):
            await self.conn.send(data_frame(self.id, data[i:i + MAX_DATA_FRAME]))

    async def close(self) -> None:
        """Half-close: an empty DATA frame with FIN. Idempotent."""
        if self.local_closed or self.reset:
            return
        self.local_closed = True
        try:
            await self.conn.send(data_frame(self.id, b"", fin=True))
        except (ConnectionError, OSError):
            pass


class SpdyConnection:
    """The server side of a SPDY/3.1 connection over any byte stream: accepts streams, answers pings."""

    def __init__(self, reader: asyncio.StreamReader, write: Write,
                 on_stream: Callable[[SpdyStream], None]) -> None:
        self.reader = reader
        self._write = write
        self.on_stream = on_stream
        self.streams: dict[int, SpdyStream] = {}
        self._lock = asyncio.Lock()
        self._comp = HeaderCompressor()
        self._decomp = HeaderDecompressor()
        self.closed = False
        self.last_stream_id = 0

    async def send(self, frame: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("SPDY connection is closed")
        async with self._lock:
            await self._write(frame)

    async def serve(self) -> None:
        """Read frames until the peer goes away or the byte stream ends."""
        try:
            while True:
                frame = await read_frame(self.reader)
                if frame is None:
                    break
                if isinstance(frame, DataFrame):
                    await self._on_data(frame)
                elif not await self._on_control(frame):
                    break
        except (ValueError, zlib.error, ConnectionError, struct.error):
            pass
        finally:
            self.closed = True
            for s in self.streams.values():
                if not s.reader.at_eof():
                    s.reader.feed_eof()

    async def _on_data(self, frame: DataFrame) -> None:
        stream = self.streams.get(frame.stream_id)
        if stream is None:
            await self.send(rst_stream_frame(frame.stream_id, INVALID_STREAM))
            return
        if frame.data and not stream.reader.at_eof():
            stream.reader.feed_data(frame.data)
            await self.send(window_update_frame(frame.stream_id, len(frame.data)))
        if frame.flags & FLAG_FIN and not stream.reader.at_eof():
            stream.reader.feed_eof()

    async def _on_control(self, frame: ControlFrame) -> bool:
        if frame.type == TYPE_SYN_STREAM:
            syn = parse_syn_stream(frame, self._decomp)
            if syn.stream_id in self.streams:
                await self.send(rst_stream_frame(syn.stream_id, PROTOCOL_ERROR))
                return True
            self.last_stream_id = max(self.last_stream_id, syn.stream_id)
            stream = SpdyStream(self, syn.stream_id, syn.headers, bool(syn.flags & FLAG_FIN))
            self.streams[syn.stream_id] = stream
            await self.send(syn_reply_frame(self._comp, syn.stream_id, {}))
            self.on_stream(stream)
        elif frame.type == TYPE_RST_STREAM:
            stream = self.streams.get(parse_stream_id(frame))
            if stream is not None:
                stream.reset = True
                if not stream.reader.at_eof():
                    stream.reader.feed_eof()
        elif frame.type == TYPE_PING:
            await self.send(control_frame(TYPE_PING, 0, frame.payload[:4]))
        elif frame.type == TYPE_GOAWAY:
            return False
        elif frame.type == TYPE_HEADERS:
            stream = self.streams.get(parse_stream_id(frame))
            extra = self._decomp.decompress(frame.payload[4:])
            if stream is not None:
                for k, v in extra.items():
                    stream.headers.setdefault(k, []).extend(v)
        # SETTINGS, WINDOW_UPDATE and unknown control frames need no answer
        return True

    def remove(self, stream: SpdyStream) -> None:
        self.streams.pop(stream.id, None)

    async def goaway(self) -> None:
        if not self.closed:
            try:
                await self.send(goaway_frame(self.last_stream_id))
            except (ConnectionError, OSError):
                pass

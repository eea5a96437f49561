"""Taking over the socket under an aiohttp request after a 101 response: raw bytes in both directions.

aiohttp's server hands the bytes that follow an accepted upgrade to a payload parser; `hijack` installs one
that feeds an asyncio.StreamReader, so the handler can speak any protocol (SPDY, or a byte-for-byte splice).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

HIGH_WATER = 1 << 20


class _FeedParser:
    """The payload parser aiohttp's protocol calls with every chunk received after the upgrade."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if not self.reader.at_eof():
            self.reader.feed_data(data)
        return False, b""

    def feed_eof(self) -> None:
        if not self.reader.at_eof():
            self.reader.feed_eof()


class RawConnection:
    """The upgraded client connection: read from `reader`, write with write()/drain(), close()."""

    def __init__(self, request: web.BaseRequest, reader: asyncio.StreamReader) -> None:
        self.transport = request.transport
        self.reader = reader

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
        else:
            raise ConnectionResetError("client connection closed")

    async def drain(self) -> None:
        t = self.transport
        while t is not None and not t.is_closing() and t.get_write_buffer_size() > HIGH_WATER:
            await asyncio.sleep(0.005)
        if t is None or t.is_closing():
            raise ConnectionResetError("client connection closed")

    async def send(self, data: bytes) -> None:
        self.write(data)
        await self.drain()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


async def hijack(request: web.BaseRequest, response: web.StreamResponse) -> RawConnection:
    """Send `response` (a 101 Switching Protocols) and take over the connection's raw bytes."""
    response.force_close()
    await response.prepare(request)
    reader = asyncio.StreamReader(limit=HIGH_WATER)
    if request.transport is not None:
        reader.set_transport(request.transport)  # flow control: pause reading when the reader is full
    request.protocol.set_parser(_FeedParser(reader))  # type: ignore[arg-type]
    if request.transport is None:
        reader.feed_eof()
    return RawConnection(request, reader)

"""The port-forward protocol (portforward.k8s.io) over SPDY: per request, an error and a data stream.

The client opens, per forwarded connection, an `error` stream then a `data` stream, both with headers `port`
and `requestID`. The server dials the port in the pod and copies bytes between it and the data stream; a
failure is written as text on the error stream. Closing the error stream tells the client the remote end is
done. Carried either by a plain `SPDY/3.1` upgrade or tunnelled in WebSocket binary messages
(`SPDY/3.1+portforward.k8s.io`, kubectl >= 1.31).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from kybernetes.kubelet.server.spdy import SpdyConnection, SpdyStream

log = logging.getLogger(__name__)

PROTOCOL_V1 = "portforward.k8s.io"
WEBSOCKET_PROTOCOL = "SPDY/3.1+" + PROTOCOL_V1
STREAM_TYPE_HEADER = "streamtype"
PORT_HEADER = "port"
REQUEST_ID_HEADER = "requestid"

Dial = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class PortForwardHandler:
    """Pairs the streams of each request and forwards them to `dial(port)`; `describe` names the pod in errors."""

    def __init__(self, dial: Dial, describe: str) -> None:
        self.dial = dial
        self.describe = describe
        self._pending: dict[str, dict[str, SpdyStream]] = {}
        self._tasks: set[asyncio.Task] = set()

    def on_stream(self, stream: SpdyStream) -> None:
        kind = stream.header(STREAM_TYPE_HEADER)
        request_id = stream.header(REQUEST_ID_HEADER) or f"stream-{(stream.id + 1) // 4}"
        if kind not in ("error", "data"):
            task = asyncio.ensure_future(stream.close())
        else:
            pair = self._pending.setdefault(request_id, {})
            pair[kind] = stream
            if len(pair) < 2:
                return
            del self._pending[request_id]
            task = asyncio.ensure_future(self.forward(pair["data"], pair["error"]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def forward(self, data: SpdyStream, error: SpdyStream) -> None:
        port_text = data.header(PORT_HEADER)
        try:
            port = int(port_text)
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            await self._fail(data, error, f"invalid port {port_text!r}")
            return
        try:
            reader, writer = await self.dial(port)
        except Exception as e:  # noqa: BLE001 - any dial failure goes to the client as text
            await self._fail(data, error, f"error forwarding port {port} to pod {self.describe}: {e}")
            return
        upstream = asyncio.ensure_future(self._to_pod(data, writer))
        try:
            while chunk := await reader.read(65536):
                await data.write(chunk)
        except (ConnectionError, OSError):
            pass
        finally:
            await data.close()
            await error.close()
        try:
            await upstream
        finally:
            writer.close()
            data.conn.remove(data)
            data.conn.remove(error)

    @staticmethod
    async def _to_pod(data: SpdyStream, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await data.reader.read(65536):
                writer.write(chunk)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            pass

    @staticmethod
    async def _fail(data: SpdyStream, error: SpdyStream, message: str) -> None:
        try:
            await error.write(message.encode())
        except (ConnectionError, OSError):
            pass
        await error.close()
        await data.close()

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def serve_spdy(reader: asyncio.StreamReader, write: Callable[[bytes], Awaitable[None]],
                     dial: Dial, describe: str) -> None:
    """Run a port-forward session until the client goes away."""
    handler = PortForwardHandler(dial, describe)
    conn = SpdyConnection(reader, write, handler.on_stream)
    try:
        await conn.serve()
    finally:
        await handler.close()

"""The remote command and port-forward protocols kubectl 1.32 speaks, bridged to runtime streaming sessions.

Remote command (exec, attach) over WebSocket, subprotocol `v5.channel.k8s.io` (or `v4.channel.k8s.io`):
each binary message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error (one metav1.Status
JSON at the end: Success, or Failure with reason NonZeroExitCode and a cause ExitCode), 4 resize
({"Width", "Height"}); v5 adds 255 close ([255, channel]: the client will send nothing more on a channel).

Port-forward: SPDY/3.1 tunnelled through a WebSocket (`SPDY/3.1+portforward.k8s.io`: binary messages carry
the raw SPDY byte stream) or a plain `Upgrade: SPDY/3.1` connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Awaitable, Callable

import orjson
from aiohttp import WSMsgType, web

from kybernetes.kubelet.runtime.interface import StreamingSession
from kybernetes.kubelet.server import portforward
from kybernetes.kubelet.server.hijack import hijack

log = logging.getLogger(__name__)

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
CHANNEL_PROTOCOLS = (V5, V4)

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255

NON_ZERO_EXIT_CODE = "NonZeroExitCode"
EXIT_CODE_CAUSE = "ExitCode"
MAX_MESSAGE = 16 * 1024 * 1024
INITIAL_SIZE_WAIT = 1.0


def requested_protocols(request: web.BaseRequest) -> list[str]:
    raw = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def is_websocket(request: web.BaseRequest) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int, command: list[str] | None = None) -> dict[str, Any]:
    """The error-channel Status for a command's exit code, as upstream's remotecommand server writes it."""
    if code == 0:
        return success_status()
    what = f"command {command!r}" if command else "container"
    return {
        "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: {what} exited with {code}",
        "reason": NON_ZERO_EXIT_CODE,
        "details": {"causes": [{"reason": EXIT_CODE_CAUSE, "message": str(code)}]},
    }


def internal_error_status(message: str) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {message}",
            "reason": "InternalError", "code": 500, "details": {"causes": [{"message": message}]}}


def frame(channel: int, data: bytes) -> bytes:
    """One channel message (the unit both sides exchange)."""
    return bytes((channel,)) + data


def parse_resize(payload: bytes) -> tuple[int, int] | None:
    try:
        size = orjson.loads(payload)
        return int(size["Width"]), int(size["Height"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


# Called with the terminal size the client sent before the process starts ((width, height), or None).
OpenSession = Callable[[tuple[int, int] | None], Awaitable[StreamingSession]]


async def serve_remotecommand(request: web.Request, open_session: OpenSession, *, stdin: bool, stdout: bool,
                              stderr: bool, tty: bool, command: list[str] | None) -> web.StreamResponse:
    """Accept the WebSocket, run the session, end with the Status on the error channel and a normal close."""
    ws = web.WebSocketResponse(protocols=CHANNEL_PROTOCOLS, max_msg_size=MAX_MESSAGE, autoping=True)
    await ws.prepare(request)
    v5 = ws.ws_protocol == V5
    send_lock = asyncio.Lock()

    async def send(channel: int, data: bytes) -> None:
        async with send_lock:
            await ws.send_bytes(frame(channel, data))

    early: list[Any] = []
    if tty:
        # kubectl sends the terminal size first; apply it as the process starts so its first `stty` sees it
        with contextlib.suppress(asyncio.TimeoutError):
            early.append(await ws.receive(timeout=INITIAL_SIZE_WAIT))
    size = None
    for msg in early:
        if msg.type == WSMsgType.BINARY and msg.data[:1] == bytes((RESIZE,)):
            size = parse_resize(msg.data[1:])
    try:
        session = await open_session(size)
    except Exception as e:  # noqa: BLE001 - reported to the client on the error channel
        with contextlib.suppress(ConnectionError, RuntimeError):
            await send(ERROR, orjson.dumps(internal_error_status(str(e))))
        await ws.close()
        return ws

    async def pump(reader: asyncio.StreamReader | None, channel: int, wanted: bool) -> None:
        if reader is None:
            return
        while chunk := await reader.read(32 * 1024):
            if wanted:
                await send(channel, chunk)

    async def handle(msg: Any) -> None:
        if msg.type != WSMsgType.BINARY or not msg.data:
            return
        channel, payload = msg.data[0], msg.data[1:]
        if channel == STDIN and session.stdin is not None and stdin:
            await session.stdin.write(payload)
        elif channel == RESIZE:
            size = parse_resize(payload)
            if size:
                await session.resize(*size)
        elif channel == CLOSE and v5 and payload[:1] == bytes((STDIN,)) and session.stdin is not None:
            await session.stdin.close()

    for msg in early:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            await session.close()
            return ws
        await handle(msg)

    async def receive() -> None:
        async for msg in ws:
            await handle(msg)

    async def run() -> int:
        await asyncio.gather(pump(session.stdout, STDOUT, stdout), pump(session.stderr, STDERR, stderr))
        return await session.wait()

    runner = asyncio.ensure_future(run())
    receiver = asyncio.ensure_future(receive())
    try:
        await asyncio.wait({runner, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            try:
                status = exit_status(runner.result(), command)
            except (ConnectionError, RuntimeError):
                status = None
            except Exception as e:  # noqa: BLE001
                status = internal_error_status(str(e))
            if status is not None and not ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await send(ERROR, orjson.dumps(status))
    finally:
        receiver.cancel()
        if not runner.done():
            runner.cancel()
        await asyncio.gather(receiver, runner, return_exceptions=True)
        await session.close()  # kills an exec'd process still running; only detaches an attach
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close()
    return ws


# ---------------------------------------------------------------------------------------------- port-forward

Dial = portforward.Dial


async def serve_portforward_websocket(request: web.Request, dial: Dial, describe: str) -> web.StreamResponse:
    """SPDY tunnelled in WebSocket binary messages (the PortForwardWebsockets protocol)."""
    ws = web.WebSocketResponse(protocols=(portforward.WEBSOCKET_PROTOCOL,), max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    reader = asyncio.StreamReader()

    async def feed() -> None:
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    reader.feed_data(msg.data)
        finally:
            reader.feed_eof()

    async def write(data: bytes) -> None:
        await ws.send_bytes(data)

    feeder = asyncio.ensure_future(feed())
    try:
        await portforward.serve_spdy(reader, write, dial, describe)
    finally:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close()
    return ws


async def serve_portforward_spdy(request: web.Request, dial: Dial, describe: str) -> web.StreamResponse:
    """A plain `Upgrade: SPDY/3.1` connection (the fallback of kubectl and older clients)."""
    resp = web.StreamResponse(status=101, reason="Switching Protocols", headers={
        "Connection": "Upgrade", "Upgrade": "SPDY/3.1",
        "X-Stream-Protocol-Version": portforward.PROTOCOL_V1,
    })
    raw = await hijack(request, resp)
    try:
        await portforward.serve_spdy(raw.reader, raw.send, dial, describe)
    finally:
        raw.close()
    return resp


def spdy_protocols(request: web.BaseRequest) -> list[str]:
    return [p.strip() for v in request.headers.getall("X-Stream-Protocol-Version", []) for p in v.split(",")]

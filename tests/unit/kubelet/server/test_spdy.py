"""SPDY/3.1 framing: frames and compressed header blocks round-trip; the connection answers as a server."""

from __future__ import annotations

import asyncio
import zlib

import pytest

from kybernetes.kubelet.server import spdy


def test_dictionary_is_the_spdy3_one():
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"utf-,*,enq=0.")
    # the DICTID a Go zlib reader checks; kubectl accepted it in tests/e2e/test_kubectl_streaming.py
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2


async def _frames(data: bytes) -> list:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    out = []
    while (f := await spdy.read_frame(reader)) is not None:
        out.append(f)
    return out


@pytest.mark.parametrize("headers", [
    {},
    {"streamtype": ["data"], "port": ["8080"], "requestid": ["0"]},
    {"multi": ["a", "b"], "x-long": ["v" * 5000]},
], ids=["empty", "portforward", "multi-value-long"])
async def test_syn_stream_round_trip_with_one_zlib_stream_per_direction(headers):
    comp, decomp = spdy.HeaderCompressor(), spdy.HeaderDecompressor()
    raw = spdy.syn_stream_frame(comp, 1, headers) + spdy.syn_stream_frame(comp, 3, headers, fin=True)
    frames = await _frames(raw)
    parsed = [spdy.parse_syn_stream(f, decomp) for f in frames]
    assert [(p.stream_id, p.flags, p.headers) for p in parsed] == [(1, 0, headers), (3, spdy.FLAG_FIN, headers)]


@pytest.mark.parametrize("raw,want", [
    (spdy.data_frame(5, b"hello", fin=True), spdy.DataFrame(5, spdy.FLAG_FIN, b"hello")),
    (spdy.rst_stream_frame(7, spdy.CANCEL), spdy.ControlFrame(spdy.TYPE_RST_STREAM, 0, b"\x00\x00\x00\x07\x00\x00\x00\x05")),
    (spdy.ping_frame(9), spdy.ControlFrame(spdy.TYPE_PING, 0, b"\x00\x00\x00\x09")),
    (spdy.goaway_frame(3), spdy.ControlFrame(spdy.TYPE_GOAWAY, 0, b"\x00\x00\x00\x03\x00\x00\x00\x00")),
    (spdy.window_update_frame(1, 100), spdy.ControlFrame(spdy.TYPE_WINDOW_UPDATE, 0, b"\x00\x00\x00\x01\x00\x00\x00\x64")),
], ids=["data", "rst", "ping", "goaway", "window-update"])
async def test_frame_round_trip(raw, want):
    assert await _frames(raw) == [want]


def test_control_frame_header_layout():
    raw = spdy.ping_frame(1)
    assert raw[:4] == b"\x80\x03\x00\x06" and raw[4:8] == b"\x00\x00\x00\x04"


async def test_truncated_frame_is_an_error():
    with pytest.raises(ValueError):
        await _frames(spdy.data_frame(1, b"abcdef")[:-2])


async def test_connection_replies_echoes_pings_and_delivers_data():
    client_comp, client_decomp = spdy.HeaderCompressor(), spdy.HeaderDecompressor()
    inbound = asyncio.StreamReader()
    sent = bytearray()
    streams: list[spdy.SpdyStream] = []

    async def write(data: bytes) -> None:
        sent.extend(data)

    conn = spdy.SpdyConnection(inbound, write, streams.append)
    inbound.feed_data(spdy.syn_stream_frame(client_comp, 1, {"streamtype": ["data"]}))
    inbound.feed_data(spdy.data_frame(1, b"payload", fin=True))
    inbound.feed_data(spdy.ping_frame(11))
    inbound.feed_eof()
    await conn.serve()
    assert [s.header("streamType") for s in streams] == ["data"]
    assert await streams[0].reader.read() == b"payload"
    frames = await _frames(bytes(sent))
    reply = frames[0]
    assert reply.type == spdy.TYPE_SYN_REPLY and spdy.parse_stream_id(reply) == 1
    assert client_decomp.decompress(reply.payload[4:]) == {}
    assert spdy.ControlFrame(spdy.TYPE_WINDOW_UPDATE, 0, b"\x00\x00\x00\x01\x00\x00\x00\x07") in frames
    assert spdy.ControlFrame(spdy.TYPE_PING, 0, b"\x00\x00\x00\x0b") in frames

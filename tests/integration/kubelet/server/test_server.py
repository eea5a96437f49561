"""The kubelet server over HTTPS with a fake kubelet around a real ProcessRuntime: exec, logs, port-forward."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import sys

import aiohttp
import orjson
import pytest
import pytest_asyncio

from kybernetes.kubelet.runtime.process import ProcessRuntime
from kybernetes.kubelet.server import spdy, start_server
from kybernetes.pki import ensure_pki
from kybernetes.pki.kubelet import ensure_apiserver_kubelet_client, ensure_kubelet_pki
from tests.integration.kubelet.fake_kubelet import FakeKubelet, pod_object, run_pod
from tests.integration.kubelet.runtime.conftest import cleanup


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Env:
    def __init__(self, runtime, kubelet, url, ssl_ctx, tmp_path):
        self.runtime, self.kubelet, self.url, self.ssl, self.tmp = runtime, kubelet, url, ssl_ctx, tmp_path

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.ssl))


@pytest_asyncio.fixture
async def env(tmp_path):
    data = str(tmp_path / "data")
    paths = ensure_pki(data)
    crt, key = ensure_kubelet_pki(data, "node-1", ["127.0.0.1"], ["localhost"])
    ccrt, ckey = ensure_apiserver_kubelet_client(data)
    runtime = ProcessRuntime(str(tmp_path / "root"))
    kubelet = FakeKubelet(runtime)
    port = _free_port()
    runner = await start_server(kubelet, port, cert_file=crt, key_file=key, client_ca_file=paths.ca_crt,
                                host="127.0.0.1")
    ctx = ssl.create_default_context(cafile=paths.ca_crt)
    ctx.load_cert_chain(ccrt, ckey)
    try:
        yield Env(runtime, kubelet, f"https://127.0.0.1:{port}", ctx, tmp_path)
    finally:
        await runner.cleanup()
        await cleanup(runtime)


async def _pod(env: Env, name: str, commands: dict[str, list[str]], **kw) -> dict:
    pod = pod_object(name, list(commands))
    env.kubelet.add_pod(pod)
    await run_pod(env.runtime, str(env.tmp / "logs"), pod, commands, **kw)
    return pod


async def _wait_log(env: Env, pod: dict, container: str, text: bytes, timeout: float = 10) -> None:
    cid = await env.kubelet.container_id(pod["metadata"]["uid"], container)
    path = (await env.runtime.container_status(cid)).log_path
    for _ in range(int(timeout / 0.05)):
        if os.path.exists(path) and text in open(path, "rb").read():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} never logged")


async def _exec(env: Env, path: str, stdin: bytes | None = None) -> tuple[bytes, bytes, dict]:
    out, err, status = b"", b"", {}
    async with env.session() as s, s.ws_connect(env.url + path, protocols=["v5.channel.k8s.io"]) as ws:
        assert ws.protocol == "v5.channel.k8s.io"
        if stdin is not None:
            await ws.send_bytes(b"\x00" + stdin)
            await ws.send_bytes(b"\xff\x00")
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY:
                break
            ch, data = msg.data[0], msg.data[1:]
            if ch == 1:
                out += data
            elif ch == 2:
                err += data
            elif ch == 3:
                status = orjson.loads(data)
    return out, err, status


async def test_healthz_needs_no_certificate_but_pods_do(env):
    ctx = ssl.create_default_context(cafile=str(env.tmp / "data" / "pki" / "ca.crt"))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s:
        async with s.get(env.url + "/healthz") as r:
            assert (r.status, await r.text()) == (200, "ok")
        async with s.get(env.url + "/pods") as r:
            assert r.status == 401
    env.kubelet.add_pod(pod_object("p", ["c"]))
    async with env.session() as s, s.get(env.url + "/pods") as r:
        body = await r.json()
        assert body["kind"] == "PodList" and [p["metadata"]["name"] for p in body["items"]] == ["p"]


@pytest.mark.parametrize("command,stdin,want_out,want_err,want_code", [
    (["sh", "-c", "echo out; echo err >&2"], None, b"out\n", b"err\n", 0),
    (["sh", "-c", "echo hi; exit 3"], None, b"hi\n", b"", 3),
    (["cat"], b"from stdin", b"from stdin", b"", 0),
], ids=["stdout-stderr", "exit-code", "stdin"])
async def test_exec_over_websocket(env, command, stdin, want_out, want_err, want_code):
    await _pod(env, "web", {"main": ["sleep", "30"]})
    query = "&".join(f"command={c.replace(' ', '%20').replace(';', '%3B').replace('>', '%3E').replace('&', '%26')}"
                     for c in command)
    query += "&output=1&error=1" + ("&input=1" if stdin is not None else "")
    out, err, status = await _exec(env, f"/exec/default/web/main?{query}", stdin)
    assert (out, err) == (want_out, want_err)
    if want_code == 0:
        assert status["status"] == "Success"
    else:
        assert status["reason"] == "NonZeroExitCode"
        assert status["details"]["causes"] == [{"reason": "ExitCode", "message": str(want_code)}]


async def test_exec_tty_resize(env):
    await _pod(env, "web", {"main": ["sleep", "30"]})
    async with env.session() as s, s.ws_connect(env.url + "/exec/default/web/main?command=sh&input=1&output=1&tty=1",
                                                protocols=["v5.channel.k8s.io"]) as ws:
        await ws.send_bytes(b"\x04" + orjson.dumps({"Width": 123, "Height": 45}))
        await asyncio.sleep(0.2)
        await ws.send_bytes(b"\x00stty size; exit 0\n")
        out = b""
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY:
                break
            if msg.data[0] == 1:
                out += msg.data[1:]
        assert b"45 123" in out


@pytest.mark.parametrize("query,want", [
    ("", b"one\ntwo\nthree\n"),
    ("tailLines=2", b"two\nthree\n"),
    ("limitBytes=6", b"one\ntw"),
    ("sinceSeconds=3600", b"one\ntwo\nthree\n"),
], ids=["all", "tail", "limit-bytes", "since"])
async def test_container_logs(env, query, want):
    pod = await _pod(env, "logger", {"main": ["sh", "-c", "echo one; echo two; echo three; sleep 30"]})
    await _wait_log(env, pod, "main", b"three")
    async with env.session() as s, s.get(env.url + f"/containerLogs/default/logger/main?{query}") as r:
        assert r.status == 200
        assert await r.read() == want


async def test_container_logs_timestamps(env):
    pod = await _pod(env, "logger", {"main": ["sh", "-c", "echo one; sleep 30"]})
    await _wait_log(env, pod, "main", b"one")
    async with env.session() as s, s.get(env.url + "/containerLogs/default/logger/main?timestamps=true") as r:
        line = (await r.read()).decode()
    stamp, _, text = line.partition(" ")
    assert text == "one\n" and stamp.endswith("Z") and len(stamp) == len("2024-01-01T00:00:00.000000000Z")


async def test_container_logs_follow_streams_until_exit(env):
    await _pod(env, "ticker", {"main": ["sh", "-c", "echo a; sleep 0.5; echo b; sleep 0.5; echo c"]})
    chunks = []
    async with env.session() as s, s.get(env.url + "/containerLogs/default/ticker/main?follow=true") as r:
        async for chunk in r.content.iter_any():
            chunks.append(chunk)
    assert b"".join(chunks) == b"a\nb\nc\n"
    assert len(chunks) >= 2  # streamed as written, not at the end


@pytest.mark.parametrize("path,code,message", [
    ("/containerLogs/default/nope/main", 404, 'pods "nope" not found'),
    ("/containerLogs/default/web/other", 400, "container other is not valid for pod web"),
    ("/containerLogs/default/web/main?previous=true", 400,
     'previous terminated container "main" in pod "web" not found'),
    ("/containerLogs/default/web/main?tailLines=-1", 400, "tailLines: must be greater than or equal to 0"),
], ids=["no-pod", "no-container", "no-previous", "bad-tail"])
async def test_container_logs_errors(env, path, code, message):
    await _pod(env, "web", {"main": ["sleep", "30"]})
    async with env.session() as s, s.get(env.url + path) as r:
        assert r.status == code
        assert (await r.json())["message"] == message


class SpdyClient:
    """A minimal SPDY/3.1 client over a WebSocket tunnel, to drive port-forward as kubectl does."""

    def __init__(self, ws):
        self.ws = ws
        self.comp = spdy.HeaderCompressor()
        self.decomp = spdy.HeaderDecompressor()
        self.reader = asyncio.StreamReader()
        self.next_id = 1

    async def pump(self):
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.reader.feed_data(msg.data)
        self.reader.feed_eof()

    async def open(self, headers, fin=False) -> int:
        sid, self.next_id = self.next_id, self.next_id + 2
        await self.ws.send_bytes(spdy.syn_stream_frame(self.comp, sid, headers, fin=fin))
        return sid


async def test_port_forward_over_websocket_tunnel(env):
    port = _free_port()
    await _pod(env, "web", {"main": [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]},
               working_dir=str(env.tmp))
    (env.tmp / "hello.txt").write_text("hello through spdy")
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            await asyncio.sleep(0.1)
    async with env.session() as s, s.ws_connect(env.url + "/portForward/default/web",
                                                protocols=["SPDY/3.1+portforward.k8s.io"]) as ws:
        client = SpdyClient(ws)
        pump = asyncio.ensure_future(client.pump())
        common = {"port": [str(port)], "requestid": ["0"]}
        err_id = await client.open({"streamtype": ["error"], **common}, fin=True)
        data_id = await client.open({"streamtype": ["data"], **common})
        await ws.send_bytes(spdy.data_frame(data_id, b"GET /hello.txt HTTP/1.0\r\n\r\n", fin=True))
        body, replies, fins = b"", set(), set()
        while fins != {data_id, err_id}:
            frame = await asyncio.wait_for(spdy.read_frame(client.reader), 10)
            assert frame is not None
            if isinstance(frame, spdy.DataFrame):
                assert frame.stream_id == data_id or frame.data == b""
                body += frame.data if frame.stream_id == data_id else b""
                if frame.flags & spdy.FLAG_FIN:
                    fins.add(frame.stream_id)
            elif frame.type == spdy.TYPE_SYN_REPLY:
                replies.add(spdy.parse_stream_id(frame))
        assert replies == {err_id, data_id}
        assert body.startswith(b"HTTP/1.0 200") and body.endswith(b"hello through spdy")
        pump.cancel()


async def test_stats_summary_and_metrics(env):
    await _pod(env, "web", {"main": ["sleep", "30"]})
    async with env.session() as s:
        async with s.get(env.url + "/stats/summary") as r:
            summary = await r.json()
        async with s.get(env.url + "/metrics") as r:
            metrics = await r.text()
    assert summary["node"]["nodeName"] == "node-1" and summary["node"]["memory"]["availableBytes"] > 0
    assert [p["podRef"]["name"] for p in summary["pods"]] == ["web"]
    assert summary["pods"][0]["containers"][0]["name"] == "main"
    assert "kubelet_running_pods 1.0" in metrics and "kubelet_http_requests_total" in metrics

"""Real kubectl through a real apiserver to the kubelet server: logs, exec (-i, -it), attach, port-forward, cp."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import struct
import sys
import termios
import urllib.request

import orjson
import pytest
import pytest_asyncio

from kybernetes.kubelet.runtime.interface import PodSandboxConfig
from kybernetes.kubelet.runtime.process import ProcessRuntime
from kybernetes.kubelet.server import start_server
from kybernetes.pki.bootstrap import PKIPaths
from kybernetes.pki.kubelet import ensure_kubelet_pki
from tests.conftest import free_port
from tests.integration.kubelet.fake_kubelet import FakeKubelet, run_pod, start_container
from tests.integration.kubelet.runtime.conftest import cleanup

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on the PATH")

NODE = "node-1"


class Cluster:
    """An apiserver, a kubelet server with a fake kubelet core, and kubectl pointed at them."""

    def __init__(self, apiserver, kubelet, tmp_path):
        self.apiserver, self.kubelet, self.tmp = apiserver, kubelet, tmp_path
        self.kubeconfig = apiserver.kubeconfig_path
        self.procs: list[asyncio.subprocess.Process] = []

    async def kubectl(self, *args: str, input: bytes | None = None, timeout: float = 30) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            "kubectl", "--kubeconfig", self.kubeconfig, *args, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(input), timeout)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        return proc.returncode, out.decode(), err.decode()

    async def ok(self, *args: str, input: bytes | None = None) -> str:
        rc, out, err = await self.kubectl(*args, input=input)
        assert rc == 0, f"kubectl {' '.join(args)}: {rc}\n{out}\n{err}"
        return out

    async def spawn(self, *args: str, **kw) -> asyncio.subprocess.Process:
        """A long-running kubectl, stopped (by PID) at teardown."""
        kw.setdefault("stdout", asyncio.subprocess.PIPE)
        kw.setdefault("stderr", asyncio.subprocess.PIPE)
        proc = await asyncio.create_subprocess_exec("kubectl", "--kubeconfig", self.kubeconfig, *args, **kw)
        self.procs.append(proc)
        return proc

    async def pod(self, name: str, commands: dict[str, list[str]], **kw) -> dict:
        """Create the Pod bound to our node, mark it Running, and start its containers in the runtime."""
        manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                    "spec": {"nodeName": NODE, "containers": [{"name": c, "image": "busybox"} for c in commands]}}
        pod = orjson.loads(await self.ok("create", "-f", "-", "-o", "json", input=orjson.dumps(manifest)))
        status = {"status": {"phase": "Running", "containerStatuses": [
            {"name": c, "ready": True, "restartCount": 0, "image": "busybox", "imageID": "", "state": {"running": {}}}
            for c in commands]}}
        await self.ok("patch", "pod", name, "--subresource=status", "--type=merge", "-p", orjson.dumps(status).decode())
        pod["status"] = status["status"]
        self.kubelet.add_pod(pod)
        pod["_sandbox"] = await run_pod(self.kubelet.runtime, str(self.tmp / "logs"), pod, commands, **kw)
        return pod


@pytest_asyncio.fixture
async def cluster(apiserver, tmp_path):
    data = apiserver.config.data_dir
    crt, key = ensure_kubelet_pki(data, NODE, ["127.0.0.1"], ["localhost"])
    runtime = ProcessRuntime(str(tmp_path / "root"))
    kubelet = FakeKubelet(runtime, NODE)
    port = free_port()
    runner = await start_server(kubelet, port, cert_file=crt, key_file=key,
                                client_ca_file=PKIPaths.under(data).ca_crt, host="127.0.0.1")
    c = Cluster(apiserver, kubelet, tmp_path)
    try:
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}}
        await c.ok("create", "-f", "-", input=orjson.dumps(node))
        status = {"status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                             "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}
        await c.ok("patch", "node", NODE, "--subresource=status", "--type=merge", "-p", orjson.dumps(status).decode())
        yield c
    finally:
        for proc in c.procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                await proc.wait()
        await runner.cleanup()
        await cleanup(runtime)


async def _read_until(stream: asyncio.StreamReader, text: bytes, timeout: float = 15) -> bytes:
    buf = b""
    async with asyncio.timeout(timeout):
        while text not in buf:
            chunk = await stream.read(4096)
            if not chunk:
                break
            buf += chunk
    return buf


async def _wait_logged(cluster: Cluster, pod: str, text: str) -> None:
    for _ in range(100):
        if text in (await cluster.kubectl("logs", pod))[1]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{text!r} never logged")


async def test_kubectl_logs_options(cluster):
    await cluster.pod("web", {"main": ["sh", "-c", "echo one; echo two; echo three >&2; sleep 60"],
                              "side": ["sh", "-c", "echo side-car; sleep 60"]})
    await _wait_logged(cluster, "web", "three")
    assert await cluster.ok("logs", "web", "-c", "main") == "one\ntwo\nthree\n"
    assert await cluster.ok("logs", "web", "-c", "side") == "side-car\n"
    assert await cluster.ok("logs", "web", "--tail=1") == "three\n"
    assert await cluster.ok("logs", "web", "--limit-bytes=6") == "one\ntw"
    assert await cluster.ok("logs", "web", "--since=1h") == "one\ntwo\nthree\n"
    stamped = (await cluster.ok("logs", "web", "--timestamps")).splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["one", "two", "three"]
    rc, _, err = await cluster.kubectl("logs", "web", "-c", "nope")
    assert rc != 0 and "container nope is not valid for pod web" in err
    rc, _, err = await cluster.kubectl("logs", "web", "--previous")
    assert rc != 0 and 'previous terminated container "main" in pod "web" not found' in err


async def test_kubectl_logs_previous(cluster):
    pod = await cluster.pod("crashy", {"main": ["sh", "-c", "echo first run"]})
    runtime = cluster.kubelet.runtime
    await _wait_logged(cluster, "crashy", "first run")
    sandbox = await runtime.pod_sandbox_status(pod["_sandbox"])
    config = PodSandboxConfig(sandbox.metadata, log_directory=str(cluster.tmp / "logs" / "crashy"),
                              labels=sandbox.labels)
    await start_container(runtime, pod["_sandbox"], config, "main", ["sh", "-c", "echo second run; sleep 60"],
                          attempt=1)
    await _wait_logged(cluster, "crashy", "second run")
    assert await cluster.ok("logs", "crashy", "--previous") == "first run\n"
    assert await cluster.ok("logs", "crashy") == "second run\n"


async def test_kubectl_logs_follow(cluster):
    await cluster.pod("ticker", {"main": ["sh", "-c", "echo first; sleep 1; echo second; sleep 60"]})
    proc = await cluster.spawn("logs", "-f", "ticker")
    out = await _read_until(proc.stdout, b"second\n")
    assert out == b"first\nsecond\n"
    assert proc.returncode is None  # still following
    os.kill(proc.pid, signal.SIGTERM)
    await proc.wait()


async def test_kubectl_exec(cluster):
    await cluster.pod("web", {"main": ["sleep", "60"]})
    rc, out, err = await cluster.kubectl("exec", "web", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3")
    assert (rc, out, err.splitlines()[0]) == (3, "hi\n", "oops")
    rc, out, _ = await cluster.kubectl("exec", "-i", "web", "--", "sh", "-c", "tr a-z A-Z", input=b"hello stdin\n")
    assert (rc, out) == (0, "HELLO STDIN\n")
    rc, _, err = await cluster.kubectl("exec", "web", "-c", "nope", "--", "true")
    assert rc != 0 and "container nope is not valid for pod web" in err


async def test_kubectl_exec_tty_from_a_pseudo_terminal(cluster):
    await cluster.pod("web", {"main": ["sleep", "60"]})
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 37, 101, 0, 0))
    try:
        proc = await cluster.spawn("exec", "-it", "web", "--", "sh", "-c",
                                   # the size is applied just after the process starts (see the report)
                                   "sleep 0.3; stty size; tty >/dev/null && echo is-a-tty",
                                   stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        slave = -1
        out = b""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(20):
            while True:
                try:
                    chunk = await loop.run_in_executor(None, os.read, master, 4096)
                except OSError:  # EIO: every process on the terminal is gone
                    break
                if not chunk:
                    break
                out += chunk
        assert await proc.wait() == 0
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert b"37 101" in out and b"is-a-tty" in out


async def test_kubectl_attach(cluster):
    await cluster.pod("talker", {"main": ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"]})
    await _wait_logged(cluster, "talker", "tick 1")
    proc = await cluster.spawn("attach", "talker")
    out = await _read_until(proc.stdout, b"tick")
    assert b"tick" in out
    os.kill(proc.pid, signal.SIGTERM)
    await proc.wait()


@pytest.mark.parametrize("websockets", ["true", "false"], ids=["spdy-over-websocket", "spdy-upgrade"])
async def test_kubectl_port_forward(cluster, websockets):
    port = free_port()
    (cluster.tmp / "www").mkdir()
    (cluster.tmp / "www" / "index.html").write_text("served from the pod")
    await cluster.pod("web", {"main": [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]},
                      working_dir=str(cluster.tmp / "www"))
    for _ in range(100):
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        await asyncio.sleep(0.1)
    local = free_port()
    proc = await cluster.spawn("port-forward", "pod/web", f"{local}:{port}",
                               env={**os.environ, "KUBECTL_PORT_FORWARD_WEBSOCKETS": websockets})
    assert b"Forwarding from" in await _read_until(proc.stdout, b"Forwarding from")

    def fetch() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{local}/index.html", timeout=10) as r:
            return r.read().decode()

    assert await asyncio.to_thread(fetch) == "served from the pod"
    assert await asyncio.to_thread(fetch) == "served from the pod"  # a second connection on the same tunnel
    os.kill(proc.pid, signal.SIGTERM)
    await proc.wait()


async def test_kubectl_cp_both_ways(cluster):
    await cluster.pod("web", {"main": ["sleep", "60"]})
    src = cluster.tmp / "local.txt"
    src.write_text("to the pod\n")
    into = cluster.tmp / "in-pod"
    into.mkdir()
    await cluster.ok("cp", str(src), f"web:{into}/copied.txt")
    assert (into / "copied.txt").read_text() == "to the pod\n"
    (into / "back.txt").write_text("from the pod\n")
    out = cluster.tmp / "back-local.txt"
    await cluster.ok("cp", f"web:{into}/back.txt", str(out))
    assert out.read_text() == "from the pod\n"


async def test_nodes_proxy_and_errors(cluster):
    assert await cluster.ok("get", "--raw", f"/api/v1/nodes/{NODE}/proxy/healthz") == "ok"
    summary = orjson.loads(await cluster.ok("get", "--raw", f"/api/v1/nodes/{NODE}/proxy/stats/summary"))
    assert summary["node"]["nodeName"] == NODE
    rc, _, err = await cluster.kubectl("logs", "ghost")
    assert rc != 0 and 'pods "ghost" not found' in err
    unbound = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pending"},
               "spec": {"containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]}}
    await cluster.ok("create", "-f", "-", input=orjson.dumps(unbound))
    rc, out, err = await cluster.kubectl("get", "--raw", "/api/v1/namespaces/default/pods/pending/log")
    assert rc != 0 and "a container name must be specified for pod pending, choose one of: [a b]" in err
    assert await cluster.ok("get", "--raw", "/api/v1/namespaces/default/pods/pending/log?container=a") == ""
    rc, _, err = await cluster.kubectl("get", "--raw", "/api/v1/namespaces/default/pods/pending/exec?command=true&container=a&stdout=true")
    assert rc != 0 and "pod pending does not have a host assigned" in err

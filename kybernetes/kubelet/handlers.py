"""The actions shared by probes and lifecycle hooks: exec, httpGet, tcpSocket, grpc and sleep, each returning
a `ActionResult` instead of raising (upstream pkg/probe and pkg/kubelet/lifecycle)."""

from __future__ import annotations

import asyncio
import importlib.util
from dataclasses import dataclass
from typing import Any

import aiohttp

from kybernetes.kubelet.runtime.interface import ContainerRuntime, ExecTimeoutError, RuntimeServiceError

Obj = dict[str, Any]
MAX_OUTPUT = 10 * 1024


@dataclass
class ActionResult:
    ok: bool
    message: str = ""


def resolve_port(port: Any, container: Obj) -> int:
    """A port number, or the containerPort of the container port with that name."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"couldn't find port: {port} in {container.get('name')}")


def pod_ip(pod: Obj) -> str:
    return (pod.get("status") or {}).get("podIP") or "127.0.0.1"


async def run_exec(runtime: ContainerRuntime, container_id: str, command: list[str], timeout: float) -> ActionResult:
    try:
        resp = await runtime.exec_sync(container_id, command, timeout=timeout)
    except ExecTimeoutError:
        return ActionResult(False, f"command {' '.join(command)!r} timed out")
    except RuntimeServiceError as e:
        return ActionResult(False, str(e))
    out = (resp.stdout + resp.stderr)[:MAX_OUTPUT].decode(errors="replace")
    if resp.exit_code != 0:
        return ActionResult(False, out or f"command {' '.join(command)!r} exited with {resp.exit_code}")
    return ActionResult(True, out)


async def run_http_get(action: Obj, pod: Obj, container: Obj, timeout: float) -> ActionResult:
    try:
        port = resolve_port(action.get("port"), container)
    except ValueError as e:
        return ActionResult(False, str(e))
    scheme = (action.get("scheme") or "HTTP").lower()
    host = action.get("host") or pod_ip(pod)
    path = action.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    url = f"{scheme}://{host}:{port}{path}"
    headers = {"User-Agent": "kube-probe/1.32", "Accept": "*/*"}
    for h in action.get("httpHeaders") or []:
        headers[h.get("name", "")] = h.get("value", "")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(url, headers=headers, ssl=False, allow_redirects=True) as resp:
                body = (await resp.content.read(MAX_OUTPUT)).decode(errors="replace")
                if 200 <= resp.status < 400:
                    return ActionResult(True, body)
                return ActionResult(False, f"HTTP probe failed with statuscode: {resp.status}")
    except asyncio.TimeoutError:
        return ActionResult(False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)')
    except (aiohttp.ClientError, OSError) as e:
        return ActionResult(False, f'Get "{url}": {e}')


async def run_tcp(action: Obj, pod: Obj, container: Obj, timeout: float) -> ActionResult:
    try:
        port = resolve_port(action.get("port"), container)
    except ValueError as e:
        return ActionResult(False, str(e))
    host = action.get("host") or pod_ip(pod)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except asyncio.TimeoutError:
        return ActionResult(False, f"dial tcp {host}:{port}: i/o timeout")
    except OSError as e:
        return ActionResult(False, f"dial tcp {host}:{port}: connect: {e.strerror or e}")
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return ActionResult(True)


async def run_grpc(action: Obj, pod: Obj, timeout: float) -> ActionResult:
    """grpc.health.v1.Health/Check, only when grpcio is installed."""
    if importlib.util.find_spec("grpc") is None:
        return ActionResult(False, "grpc probe: grpcio is not installed in the kubelet's environment, "
                                   "so gRPC health checks cannot be made")
    import grpc  # type: ignore[import-not-found]  # noqa: PLC0415
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-not-found]  # noqa: PLC0415

    target = f"{pod_ip(pod)}:{int(action.get('port', 0))}"
    try:
        async with grpc.aio.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            resp = await stub.Check(health_pb2.HealthCheckRequest(service=action.get("service") or ""),
                                    timeout=timeout)
    except Exception as e:  # noqa: BLE001 - any RPC failure is a probe failure
        return ActionResult(False, f"failed to connect service {target!r} within {timeout}s: {e}")
    if resp.status != health_pb2.HealthCheckResponse.SERVING:
        return ActionResult(False, f"service unhealthy (responded with {resp.status})")
    return ActionResult(True)


async def run_action(action: Obj, *, runtime: ContainerRuntime, pod: Obj, container: Obj, container_id: str,
                     timeout: float) -> ActionResult:
    """Run one probe or hook handler (whichever of exec/httpGet/tcpSocket/grpc/sleep it has)."""
    if action.get("exec") is not None:
        return await run_exec(runtime, container_id, list(action["exec"].get("command") or []), timeout)
    if action.get("httpGet") is not None:
        return await run_http_get(action["httpGet"], pod, container, timeout)
    if action.get("tcpSocket") is not None:
        return await run_tcp(action["tcpSocket"], pod, container, timeout)
    if action.get("grpc") is not None:
        return await run_grpc(action["grpc"], pod, timeout)
    if action.get("sleep") is not None:
        await asyncio.sleep(min(float(action["sleep"].get("seconds", 0)), timeout))
        return ActionResult(True)
    return ActionResult(False, "no handler is set")

"""Durability: kill -9 the server under concurrent writes; every acknowledged write survives, watches resume exactly."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from kybernetes.client import ApiError, RESTClient, load_kubeconfig
from tests.conftest import ISOLATED, free_port, start_server_process, stop_cluster, wait_ready

pytestmark = pytest.mark.e2e

NS_PATH = "/api/v1/namespaces"
CM_PATH = "/api/v1/namespaces/durable/configmaps"
WRITERS = 16


async def _writer(client: RESTClient, wid: int, acked: dict[str, int], stop: asyncio.Event) -> None:
    i = 0
    while not stop.is_set():
        name = f"w{wid}-{i}"
        i += 1
        try:
            obj = await client.create(CM_PATH, {"apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": {"name": name}, "data": {"i": str(i)}})
        except (ApiError, OSError, asyncio.TimeoutError, Exception):
            return  # the server died under us: this write was never acknowledged
        acked[name] = int(obj["metadata"]["resourceVersion"])


async def _watcher(client: RESTClient, rv: str, seen: list[tuple[str, str, int]]) -> None:
    try:
        async for ev in client.watch(CM_PATH, {"resourceVersion": rv, "timeoutSeconds": 60}):
            obj = ev["object"]
            seen.append((ev["type"], obj["metadata"]["name"], int(obj["metadata"]["resourceVersion"])))
    except Exception:
        return


async def _scenario(tmp_path) -> None:
    data_dir = str(tmp_path / "data")
    port = free_port()
    log = str(tmp_path / "server.log")
    proc = start_server_process(data_dir, port, log, *ISOLATED)
    try:
        await asyncio.to_thread(wait_ready, port, proc)
        cfg = load_kubeconfig(os.path.join(data_dir, "admin.kubeconfig"))
        async with RESTClient(cfg, timeout=10) as c:
            await c.create(NS_PATH, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "durable"}})
            start_rv = (await c.list(CM_PATH))["metadata"]["resourceVersion"]
        acked: dict[str, int] = {}
        seen: list[tuple[str, str, int]] = []
        stop = asyncio.Event()
        async with RESTClient(cfg, timeout=10) as c:
            watch_task = asyncio.create_task(_watcher(c, start_rv, seen))
            writers = [asyncio.create_task(_writer(c, w, acked, stop)) for w in range(WRITERS)]
            await asyncio.sleep(3.0)
            os.killpg(proc.pid, signal.SIGKILL)  # kill -9 mid-load
            proc.wait(10)
            await asyncio.wait_for(asyncio.gather(*writers, return_exceptions=True), 30)
            watch_task.cancel()
            await asyncio.gather(watch_task, return_exceptions=True)
        assert len(acked) > 50, "the load never got going"
        proc = start_server_process(data_dir, port, log, *ISOLATED)
        await asyncio.to_thread(wait_ready, port, proc)
        async with RESTClient(cfg, timeout=10) as c:
            listing = await c.list(CM_PATH)
            stored = {o["metadata"]["name"]: int(o["metadata"]["resourceVersion"]) for o in listing["items"]}
            # every write that got a 2xx is there, at the revision it was acknowledged with
            missing = {n for n in acked if n not in stored}
            assert not missing, f"{len(missing)} acknowledged writes lost"
            assert all(stored[n] == rv for n, rv in acked.items())
            # a watch resumed from the last revision seen misses and repeats nothing
            last = max((rv for _, _, rv in seen), default=int(start_rv))
            resumed: list[tuple[str, str, int]] = []
            list_rv = int(listing["metadata"]["resourceVersion"])
            async for ev in c.watch(CM_PATH, {"resourceVersion": str(last), "timeoutSeconds": 5}):
                obj = ev["object"]
                resumed.append((ev["type"], obj["metadata"]["name"], int(obj["metadata"]["resourceVersion"])))
                if resumed[-1][2] >= list_rv:
                    break
        before = {name for _, name, _ in seen}
        after = [name for _, name, _ in resumed]
        assert all(rv > last for _, _, rv in resumed)
        assert len(after) == len(set(after)), "a resumed watch repeated an event"
        assert not (before & set(after)), "a resumed watch repeated an event seen before the crash"
        assert before | set(after) == set(stored), "a watch missed an event across the crash"
    finally:
        stop_cluster(proc, data_dir)


def test_kill_9_under_load_loses_no_acknowledged_write(tmp_path):
    asyncio.run(_scenario(tmp_path))

"""RESTClient against the fake HTTPS apiserver: TLS and credentials, verbs, ApiError, watch streams."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

import aiohttp
import pytest

from kybernetes.client import ApiError, RESTClient, load_kubeconfig, resource_path
from kybernetes.pki import CertificateAuthority

from .fakeapi import TOKEN

CMS = resource_path("", "v1", "configmaps", "default")


def cm(name, **data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


async def test_crud_roundtrip_with_client_certificate(client):
    created = await client.create(CMS, cm("a", k="1"))
    assert created["metadata"]["resourceVersion"]
    got = await client.get(resource_path("", "v1", "configmaps", "default", "a"))
    assert got["data"] == {"k": "1"}
    listed = await client.list(CMS)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["a"]
    assert listed["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]

    got["data"]["k"] = "2"
    updated = await client.update(f"{CMS}/a", got)
    assert updated["data"] == {"k": "2"}
    patched = await client.patch(f"{CMS}/a", {"data": {"p": "x"}}, "merge")
    assert patched["data"] == {"k": "2", "p": "x"}
    await client.delete(f"{CMS}/a")
    with pytest.raises(ApiError) as e:
        await client.get(f"{CMS}/a")
    assert e.value.code == 404 and e.value.not_found
    assert e.value.status["reason"] == "NotFound" and e.value.status["kind"] == "Status"


@pytest.mark.parametrize("call,code,reason", [
    (lambda c: c.create(CMS, cm("dup")), 409, "AlreadyExists"),
    (lambda c: c.update(f"{CMS}/dup", {**cm("dup"), "metadata": {"name": "dup", "resourceVersion": "1"}}),
     409, "Conflict"),
    (lambda c: c.patch(f"{CMS}/dup", [{"op": "add", "path": "/data/x", "value": "1"}], "json"),
     415, "UnsupportedMediaType"),
    (lambda c: c.delete(f"{CMS}/absent"), 404, "NotFound"),
], ids=["exists", "stale-update", "unsupported-patch", "delete-missing"])
async def test_api_errors_carry_status(client, call, code, reason):
    await client.create(CMS, cm("dup"))
    with pytest.raises(ApiError) as e:
        await call(client)
    assert (e.value.code, e.value.reason, e.value.status["code"]) == (code, reason, code)


@pytest.mark.parametrize("token,ok", [(TOKEN, True), ("wrong", False)], ids=["good-token", "bad-token"])
async def test_bearer_token(api, pki, token, ok):
    cfg = dataclasses.replace(load_kubeconfig(pki.admin_kubeconfig), server=api.url, cert_data=None,
                              key_data=None, token=token)
    async with RESTClient(cfg) as c:
        if ok:
            assert (await c.list(CMS))["kind"] == "ConfigMapList"
        else:
            with pytest.raises(ApiError) as e:
                await c.list(CMS)
            assert e.value.code == 401 and e.value.reason == "Unauthorized"


async def test_server_with_unknown_ca_is_rejected(api, pki):
    cfg = dataclasses.replace(load_kubeconfig(pki.admin_kubeconfig), server=api.url,
                              ca_data=CertificateAuthority.create().cert_pem)
    async with RESTClient(cfg) as c:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await c.list(CMS)


async def test_insecure_skip_tls_verify_connects(api, pki):
    cfg = dataclasses.replace(load_kubeconfig(pki.admin_kubeconfig), server=api.url, ca_data=None,
                              insecure_skip_tls_verify=True)
    async with RESTClient(cfg) as c:
        assert (await c.list(CMS))["items"] == []


async def _collect(client, params, n):
    out = []
    async with contextlib.aclosing(client.watch(CMS, params)) as events:
        async for ev in events:
            out.append(ev)
            if len(out) == n:
                break
    return out


async def test_watch_streams_events_in_order(client, api):
    rv = (await client.list(CMS))["metadata"]["resourceVersion"]
    task = asyncio.create_task(_collect(client, {"resourceVersion": rv}, 3))
    await asyncio.sleep(0.05)
    api.put("w", {"a": "1"})
    api.put("w", {"a": "2"})
    api.remove("w")
    events = await asyncio.wait_for(task, 5)
    assert [(e["type"], e["object"]["data"]["a"]) for e in events] == [
        ("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)


async def test_watch_replays_from_resource_version(client, api):
    first = api.put("a", {})
    api.put("b", {})
    events = await asyncio.wait_for(_collect(client, {"resourceVersion": first["metadata"]["resourceVersion"]}, 1), 5)
    assert events[0]["object"]["metadata"]["name"] == "b"


async def test_watch_large_object(client, api):
    big = "x" * 600_000  # far beyond aiohttp's readline limit
    task = asyncio.create_task(_collect(client, {}, 1))
    await asyncio.sleep(0.05)
    api.put("big", {"v": big})
    (event,) = await asyncio.wait_for(task, 5)
    assert event["object"]["data"]["v"] == big


async def test_stale_watch_error_event(client, api):
    api.put("a", {})
    api.put("a", {"x": "1"})
    api.compact()
    events = await asyncio.wait_for(_collect(client, {"resourceVersion": "101"}, 1), 5)
    assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410


async def test_stale_watch_http_410_raises(client, api):
    api.gone_as_http = True
    api.put("a", {})
    api.put("a", {"x": "1"})
    api.compact()
    with pytest.raises(ApiError) as e:
        await _collect(client, {"resourceVersion": "101"}, 1)
    assert e.value.gone and e.value.reason == "Expired"


async def test_a_burst_of_requests_reuses_a_few_connections(client, api):
    """60 calls at once: at most MAX_IN_FLIGHT reach the server together, over as many kept-alive connections
    (not 60 TLS handshakes); a watch does not take one of those slots."""
    from kybernetes.client.rest import MAX_IN_FLIGHT

    api.put("c1", {"k": "v"})
    watch = client.watch(CMS, {"resourceVersion": str(api.rv)})
    watching = asyncio.ensure_future(anext(watch))
    await asyncio.sleep(0.2)
    api.delay = 0.02
    api.peers.clear()
    answers = await asyncio.gather(*(client.get(f"{CMS}/c1") for _ in range(60)))
    assert [a["data"] for a in answers] == [{"k": "v"}] * 60
    assert api.max_in_flight == MAX_IN_FLIGHT + 1  # the burst's slots, and the watch beside them
    assert len(api.peers) == MAX_IN_FLIGHT
    watching.cancel()
    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
        await watching
    await watch.aclose()

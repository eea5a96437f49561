"""Audit log of a real apiserver: levels per policy rule, stages, Audit-ID, decisions, rotation by size."""

from __future__ import annotations

import asyncio
import base64
import glob
import os
import time

import orjson
import pytest
import pytest_asyncio
import yaml

from kybernetes.apiserver.server import APIServer, APIServerConfig
from kybernetes.client import ApiError, RESTClient, load_kubeconfig
from tests.conftest import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [
    {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]},
    {"level": "RequestResponse", "resources": [{"group": "", "resources": ["configmaps"]}],
     "omitManagedFields": True},
    {"level": "None"},
]}
SECRET_VALUE = "audit-canary-5e1d"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def audited(tmp_path_factory):
    d = tmp_path_factory.mktemp("audit")
    (d / "policy.yaml").write_text(yaml.safe_dump(POLICY))
    log_path = str(d / "log" / "audit.log")
    cfg = APIServerConfig(data_dir=str(d / "data"), bind_address="127.0.0.1", secure_port=free_port(),
                          audit_policy_file=str(d / "policy.yaml"), audit_log_path=log_path,
                          audit_log_maxsize=1, audit_log_maxbackup=1)
    srv = APIServer(cfg)
    await srv.start()
    client = RESTClient(load_kubeconfig(srv.kubeconfig_path), timeout=30)
    try:
        yield srv, client, log_path
    finally:
        await client.close()
        await srv.stop()


def events(log_path: str) -> list[dict]:
    files = sorted(glob.glob(log_path[:-4] + "-*.log")) + [log_path]
    return [orjson.loads(line) for f in files if os.path.exists(f) for line in open(f, "rb")]


async def wait_for(log_path: str, pred, timeout: float = 5.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in events(log_path) if pred(e)]
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


def about(resource: str, name: str, verb: str, stage: str = "ResponseComplete"):
    return lambda e: (e.get("objectRef", {}).get("resource") == resource and e["objectRef"].get("name", "") == name
                      and e["verb"] == verb and e["stage"] == stage)


async def test_secret_at_metadata_without_data(audited) -> None:
    srv, client, log_path = audited
    await client.create("/api/v1/namespaces/default/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "audited"},
        "data": {"k": base64.b64encode(SECRET_VALUE.encode()).decode()}})
    await client.get("/api/v1/namespaces/default/secrets/audited")
    (created,) = await wait_for(log_path, about("secrets", "", "create"))
    (got,) = await wait_for(log_path, about("secrets", "audited", "get"))
    assert created["level"] == "Metadata" and "requestObject" not in created and "responseObject" not in created
    assert created["responseStatus"]["code"] == 201
    assert created["objectRef"] == {"resource": "secrets", "namespace": "default", "apiVersion": "v1"}
    assert got["responseStatus"]["code"] == 200
    assert got["annotations"]["authorization.k8s.io/decision"] == "allow"
    assert got["user"]["username"] and got["sourceIPs"] == ["127.0.0.1"]
    assert [e["stage"] for e in events(log_path) if e["auditID"] == got["auditID"]] == \
        ["RequestReceived", "ResponseComplete"]
    raw = b"".join(open(f, "rb").read() for f in glob.glob(log_path[:-4] + "*"))
    assert SECRET_VALUE.encode() not in raw and base64.b64encode(SECRET_VALUE.encode()) not in raw


async def test_configmap_at_request_response(audited) -> None:
    srv, client, log_path = audited
    await client.create("/api/v1/namespaces/default/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm1"}, "data": {"a": "b"}})
    (ev,) = await wait_for(log_path, lambda e: about("configmaps", "", "create")(e)
                           and e.get("requestObject", {}).get("metadata", {}).get("name") == "cm1")
    assert ev["level"] == "RequestResponse"
    assert ev["requestObject"]["data"] == {"a": "b"}
    assert ev["responseObject"]["metadata"]["uid"] and ev["responseObject"]["data"] == {"a": "b"}
    assert "managedFields" not in ev["responseObject"]["metadata"]  # omitManagedFields
    (received,) = [e for e in events(log_path) if e["auditID"] == ev["auditID"] and e["stage"] == "RequestReceived"]
    assert "requestObject" not in received


async def test_audit_id_header_and_other_resources_at_none(audited) -> None:
    srv, client, log_path = audited
    session = client._get_session()  # noqa: SLF001 - raw request to read a header
    url = client.config.server + "/api/v1/namespaces/default/configmaps/cm1"
    async with session.get(url, headers=client._headers()) as resp:  # noqa: SLF001
        audit_id = resp.headers["Audit-ID"]
    async with session.get(client.config.server + "/api/v1/namespaces/default/pods",
                           headers=client._headers()) as resp:  # noqa: SLF001
        pods_id = resp.headers["Audit-ID"]
    found = await wait_for(log_path, lambda e: e["auditID"] == audit_id and e["stage"] == "ResponseComplete")
    assert found and found[0]["requestURI"] == "/api/v1/namespaces/default/configmaps/cm1"
    assert found[0]["responseObject"]["metadata"]["name"] == "cm1"
    assert [e for e in events(log_path) if e["auditID"] == pods_id] == []


async def test_forbidden_impersonated_request(audited) -> None:
    srv, client, log_path = audited
    session = client._get_session()  # noqa: SLF001
    headers = {**client._headers(), "Impersonate-User": "mallory"}  # noqa: SLF001
    async with session.get(client.config.server + "/api/v1/namespaces/default/secrets/audited",
                           headers=headers) as resp:
        assert resp.status == 403
        audit_id = resp.headers["Audit-ID"]
    (ev,) = await wait_for(log_path, lambda e: e["auditID"] == audit_id and e["stage"] == "ResponseComplete")
    assert ev["impersonatedUser"]["username"] == "mallory"
    assert ev["user"]["username"] != "mallory"
    assert ev["annotations"]["authorization.k8s.io/decision"] == "forbid"
    assert ev["responseStatus"]["code"] == 403


async def test_watch_logs_response_started(audited) -> None:
    srv, client, log_path = audited
    async for _ in client.watch("/api/v1/namespaces/default/configmaps", {"timeoutSeconds": "1"}):
        pass
    started = await wait_for(log_path, lambda e: e["verb"] == "watch" and e["stage"] == "ResponseStarted")
    assert started
    done = await wait_for(log_path, lambda e: e["auditID"] == started[0]["auditID"]
                          and e["stage"] == "ResponseComplete")
    assert done


async def test_rotation_by_size_keeps_max_backups(audited) -> None:
    srv, client, log_path = audited
    big = "x" * 300_000
    for i in range(5):  # each create logs the object twice (request and response): ~3 MB in all
        await client.create("/api/v1/namespaces/default/configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"big{i}"}, "data": {"k": big}})
    await wait_for(log_path, lambda e: e.get("responseObject", {}).get("metadata", {}).get("name") == "big4")
    backups = glob.glob(log_path[:-4] + "-*.log")
    assert len(backups) == 1  # --audit-log-maxbackup=1
    for f in backups + [log_path]:
        assert os.path.getsize(f) <= 1024 * 1024

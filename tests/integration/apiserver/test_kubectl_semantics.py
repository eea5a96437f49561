"""Real kubectl against the in-process apiserver: the REST semantics as kubectl's own commands exercise them."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from tests.integration.apiserver.conftest import Api, deployment

pytestmark = [pytest.mark.asyncio(loop_scope="module"),
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on the PATH")]


async def kubectl(api: Api, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", api.server.kubeconfig_path, *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), 30)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_kubectl_scale_and_get(api: Api, ns: str) -> None:
    await api.client.create(f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("web", replicas=1))
    rc, out, err = await kubectl(api, "-n", ns, "scale", "deployment/web", "--replicas=3")
    assert rc == 0, err
    assert out.strip() == "deployment.apps/web scaled"
    d = await api.client.get(f"/apis/apps/v1/namespaces/{ns}/deployments/web")
    assert d["spec"]["replicas"] == 3
    rc, out, err = await kubectl(api, "-n", ns, "scale", "deployment/web", "--replicas=5",
                                 "--resource-version=1")
    assert rc != 0
    assert "Expected resource version to be 1" in err  # kubectl checks the precondition on the Scale it read
    rc, out, err = await kubectl(api, "-n", ns, "get", "deployments")
    assert rc == 0, err
    header, row = out.strip().splitlines()
    assert header.split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert row.split()[:2] == ["web", "0/3"]


async def test_kubectl_strict_field_validation(api: Api, ns: str) -> None:
    manifest = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": ns},
                           "data": {"a": "b"}, "bogus": 1})
    rc, _, err = await kubectl(api, "create", "-f", "-", stdin=manifest)
    assert rc != 0
    assert 'strict decoding error: unknown field "bogus"' in err
    rc, out, err = await kubectl(api, "create", "--validate=warn", "-f", "-", stdin=manifest)
    assert rc == 0, err
    assert 'unknown field "bogus"' in err


async def test_kubectl_errors_read_like_upstream(api: Api, ns: str) -> None:
    rc, _, err = await kubectl(api, "-n", ns, "get", "configmap", "missing")
    assert rc != 0
    assert err.strip() == 'Error from server (NotFound): configmaps "missing" not found'
    rc, _, err = await kubectl(api, "delete", "namespace", "default")
    assert rc != 0
    assert err.strip() == ('Error from server (Forbidden): namespaces "default" is forbidden: '
                           "this namespace may not be deleted")


async def test_kubectl_delete_with_finalizer_does_not_wait(api: Api, ns: str) -> None:
    manifest = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "held", "namespace": ns, "finalizers": ["example.com/hold"]}})
    rc, _, err = await kubectl(api, "create", "-f", "-", stdin=manifest)
    assert rc == 0, err
    rc, out, err = await kubectl(api, "-n", ns, "delete", "configmap", "held", "--wait=false")
    assert rc == 0, err
    assert out.strip() == 'configmap "held" deleted'
    got = await api.client.get(f"/api/v1/namespaces/{ns}/configmaps/held")
    assert got["metadata"]["deletionTimestamp"]

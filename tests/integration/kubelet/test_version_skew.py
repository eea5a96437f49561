"""Version skew: a kubelet one minor version older than the apiserver, with its own node identity, registers,
is Ready and runs pods (the apiserver never rejects an older kubelet; docs/version-skew.md)."""

from __future__ import annotations

import asyncio

import pytest

from kybernetes.client.config import load_kubeconfig
from kybernetes.client.rest import RESTClient, resource_path
from kybernetes.pki.components import ensure_component_kubeconfig, kubelet_identity
from kybernetes.version import GIT_VERSION, kubelet_skew
from tests.integration.kubelet.test_kubelet import (
    NODE,
    PODS,
    Env,
    cleanup,
    cond,
    container,
    eventually,
    fast_options,
    pod,
    start_kubelet,
)

OLDER = "v1.31.4"


async def test_an_older_kubelet_registers_and_runs_pods(apiserver, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("kybernetes.kubelet.nodestatus.KUBELET_VERSION", OLDER)
    assert kubelet_skew(OLDER, GIT_VERSION) == (True, "")
    node_kubeconfig = ensure_component_kubeconfig(apiserver.config.data_dir, f"https://127.0.0.1:{apiserver.port}",
                                                  *kubelet_identity(NODE))
    admin = RESTClient(load_kubeconfig(apiserver.kubeconfig_path))
    stop = asyncio.Event()
    options = fast_options()
    root = str(tmp_path / "kubelet")
    env = Env(admin, node_kubeconfig, root, start_kubelet(node_kubeconfig, root, stop, options), stop, options)
    try:
        async def ready_node() -> dict | None:
            node = await admin.get(resource_path("", "v1", "nodes", None, NODE))
            return node if cond(node, "Ready") == "True" else None
        node = await eventually(ready_node)
        assert node["status"]["nodeInfo"]["kubeletVersion"] == OLDER

        await admin.create(PODS, pod("skew", [container("main", "import time; time.sleep(60)")]))

        async def running() -> dict | None:
            p = await admin.get(f"{PODS}/skew")
            return p if p["status"].get("phase") == "Running" else None
        p = await eventually(running)
        assert p["status"]["containerStatuses"][0]["ready"] is True
    finally:
        await cleanup(env)


@pytest.mark.parametrize("version", ["v1.32.0", OLDER, "v1.29.0"], ids=["same", "one-minor-older", "three-older"])
def test_supported_kubelet_versions(version) -> None:
    assert kubelet_skew(version)[0]

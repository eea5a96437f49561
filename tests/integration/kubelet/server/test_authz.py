"""The kubelet API against a real apiserver: tokens checked by TokenReview and every request authorized by a
SubjectAccessReview the kubelet sends as system:node:<name>; the apiserver's own client certificate is allowed
through the kube-apiserver-kubelet-admin binding to system:kubelet-api-admin."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
import pytest_asyncio

from kybernetes.client import RESTClient, load_kubeconfig, resource_path
from kybernetes.kubelet.server import start_server
from kybernetes.pki import ensure_pki
from kybernetes.pki.bootstrap import PKIPaths
from kybernetes.pki.components import ensure_component_kubeconfig, kubelet_identity
from kybernetes.pki.kubelet import ensure_apiserver_kubelet_client, ensure_kubelet_pki
from tests.conftest import free_port
from tests.integration.kubelet.fake_kubelet import FakeKubelet, pod_object

NODE = "node-1"
RBAC = "rbac.authorization.k8s.io"


@dataclass
class Env:
    url: str
    ca: str
    admin: RESTClient
    tokens: dict[str, str]
    data_dir: str

    async def get(self, path: str, *, token: str | None = None, method: str = "GET",
                  cert: tuple[str, str] | None = None) -> tuple[int, str]:
        ctx = ssl.create_default_context(cafile=self.ca)
        if cert:
            ctx.load_cert_chain(*cert)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with aiohttp.ClientSession() as s, s.request(method, self.url + path, ssl=ctx, headers=headers) as r:
            return r.status, await r.text()


async def _token(admin: RESTClient, name: str) -> str:
    await admin.create(resource_path("", "v1", "serviceaccounts", "default"),
                       {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})
    tr = await admin.create(resource_path("", "v1", "serviceaccounts", "default", name, "token"),
                            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    return tr["status"]["token"]


@pytest_asyncio.fixture
async def env(apiserver) -> AsyncIterator[Env]:
    data = apiserver.config.data_dir
    paths = PKIPaths.under(data)
    url = f"https://127.0.0.1:{apiserver.port}"
    admin = RESTClient(load_kubeconfig(apiserver.kubeconfig_path))
    node_client = RESTClient(load_kubeconfig(ensure_component_kubeconfig(data, url, *kubelet_identity(NODE))))
    port = free_port()
    await admin.create(resource_path("", "v1", "nodes"), {"apiVersion": "v1", "kind": "Node",
                                                           "metadata": {"name": NODE}})
    await admin.patch(resource_path("", "v1", "nodes", name=NODE, subresource="status"), {"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}})
    # a reader of the node's kubelet API (nodes/proxy get, nothing else) and an account without any right
    await admin.create(resource_path(RBAC, "v1", "clusterroles"), {
        "apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": "kubelet-reader"},
        "rules": [{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}]})
    await admin.create(resource_path(RBAC, "v1", "clusterrolebindings"), {
        "apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "kubelet-reader"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "kubelet-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "default"}]})
    tokens = {name: await _token(admin, name) for name in ("reader", "nobody")}
    crt, key = ensure_kubelet_pki(data, NODE, ["127.0.0.1"], ["localhost"])
    kubelet = FakeKubelet(runtime=None, node_name=NODE)
    kubelet.client = node_client
    kubelet.add_pod(pod_object("p", ["c"]))
    runner = await start_server(kubelet, port, cert_file=crt, key_file=key, client_ca_file=paths.ca_crt,
                                host="127.0.0.1")
    try:
        yield Env(f"https://127.0.0.1:{port}", paths.ca_crt, admin, tokens, data)
    finally:
        await runner.cleanup()
        await node_client.close()
        await admin.close()


async def test_token_with_nodes_proxy_reads_pods(env: Env) -> None:
    status, body = await env.get("/pods", token=env.tokens["reader"])
    assert status == 200 and '"PodList"' in body


@pytest.mark.parametrize("who,method,path,message", [
    ("reader", "POST", "/run/default/p/c",
     "Forbidden (user=system:serviceaccount:default:reader, verb=create, resource=nodes, subresource=proxy)"),
    ("reader", "GET", "/stats/summary",
     "Forbidden (user=system:serviceaccount:default:reader, verb=get, resource=nodes, subresource=stats)"),
    ("reader", "GET", "/metrics",
     "Forbidden (user=system:serviceaccount:default:reader, verb=get, resource=nodes, subresource=metrics)"),
    ("nobody", "GET", "/pods",
     "Forbidden (user=system:serviceaccount:default:nobody, verb=get, resource=nodes, subresource=proxy)"),
], ids=["reader-exec-like-run", "reader-stats", "reader-metrics", "nobody-pods"])
async def test_without_rbac_rule_403(env: Env, who: str, method: str, path: str, message: str) -> None:
    assert await env.get(path, token=env.tokens[who], method=method) == (403, message)


@pytest.mark.parametrize("token", [None, "not-a-token"], ids=["anonymous", "invalid-token"])
async def test_no_valid_credentials_401(env: Env, token: str | None) -> None:
    assert await env.get("/pods", token=token) == (401, "Unauthorized")


async def test_apiserver_certificate_allowed_through_kubelet_api_admin(env: Env) -> None:
    crt, key = ensure_apiserver_kubelet_client(env.data_dir)
    status, body = await env.get("/pods", cert=(crt, key))
    assert status == 200 and '"PodList"' in body


async def test_node_proxy_through_the_apiserver(env: Env) -> None:
    pods = await env.admin.get(resource_path("", "v1", "nodes", name=NODE, subresource="proxy") + "/pods")
    assert [p["metadata"]["name"] for p in pods["items"]] == ["p"]


async def test_certificate_of_another_ca_refused(env: Env, tmp_path) -> None:
    other = ensure_pki(str(tmp_path / "other"))
    crt, key = ensure_kubelet_pki(str(tmp_path / "other"), "intruder", ["127.0.0.1"], [])
    assert PKIPaths.under(str(tmp_path / "other")).ca_crt == other.ca_crt
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):  # the TLS handshake fails
        await env.get("/pods", cert=(crt, key))

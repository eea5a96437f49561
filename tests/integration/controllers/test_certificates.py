"""Node join against a real in-process apiserver and the certificate controllers: token discovery of the CA,
TLS bootstrap with a bootstrap token, auto-approval and signing, certificates that authenticate, and what is
not approved; the bootstrap signer and token cleaner."""

from __future__ import annotations

import asyncio
import datetime
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kybernetes.client import ApiError, ClientConfig, RESTClient, SharedInformerFactory, load_kubeconfig, resource_path
from kybernetes.clusterbootstrap.clusterinfo import JWS_PREFIX, NAME, NAMESPACE, ensure_cluster_info
from kybernetes.clusterbootstrap.discovery import DiscoveryError, discover
from kybernetes.clusterbootstrap.rbac import ensure_join_policy
from kybernetes.clusterbootstrap.token import BootstrapToken, token_secret
from kybernetes.controllers.context import ControllerContext, ControllerOptions
from kybernetes.kubelet.certificate.bootstrap import pair_client, token_client
from kybernetes.kubelet.certificate.csr import Request, Template, request_certificate, submit
from kybernetes.kubelet.certificate.manager import CertificateManager
from kybernetes.kubelet.certificate.store import FileStore, parse_pair
from kybernetes.pki import csr as csrs
from kybernetes.pki.bootstrap import PKIPaths, load_ca
from kybernetes.pki.ca import ca_cert_hash, generate_key, key_to_pem
from kybernetes.pki.certs import issue_client_cert

Obj = dict[str, Any]
TOKEN = "abcdef.0123456789abcdef"
CERTS = "certificates.k8s.io"
CLIENT_USAGES = (csrs.USAGE_DIGITAL_SIGNATURE, csrs.USAGE_CLIENT_AUTH)
KUBELET_CLIENT = Request(Template("system:node:n1", ("system:nodes",)), csrs.KUBE_APISERVER_CLIENT_KUBELET,
                         CLIENT_USAGES, name_prefix="node-csr-")


class _Recorder:
    def __call__(self, component: str) -> Any:
        return self

    def event(self, *args: Any) -> None:
        return None


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met in {timeout}s (last: {last!r})")


class Cluster:
    """The apiserver, an admin client and the certificate controllers on their own informers."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.url = f"https://127.0.0.1:{server.port}"
        self.admin = RESTClient(load_kubeconfig(server.kubeconfig_path))
        self.ca_pem = open(server.config.client_ca_file, "rb").read()
        self.factory = SharedInformerFactory(self.admin)
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, *modules: str, **extra: Any) -> None:
        opts = ControllerOptions(root_ca_file=self.server.config.client_ca_file, extra=extra)
        ctx = ControllerContext(self.admin, self.factory, _Recorder(), opts)
        controllers = [importlib.import_module(f"kybernetes.controllers.certificates.{m}").CONTROLLER(ctx)
                       for m in modules]
        self.factory.start()
        self.tasks += [asyncio.create_task(c.run(1)) for c in controllers]

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.factory.shutdown()
        await self.admin.close()

    def client_as(self, cn: str, orgs: list[str]) -> RESTClient:
        """A client with a certificate from the cluster CA (the test plays a user)."""
        crt, key = issue_client_cert(load_ca(PKIPaths.under(self.server.config.data_dir)), cn, orgs)
        return RESTClient(ClientConfig(server=self.url, ca_data=self.ca_pem, cert_data=crt, key_data=key))

    async def csr(self, name: str) -> Obj:
        return await self.admin.get(resource_path(CERTS, "v1", "certificatesigningrequests", name=name))


async def whoami(client: RESTClient) -> tuple[str, list[str]]:
    review = await client.create(resource_path("authentication.k8s.io", "v1", "selfsubjectreviews"),
                                 {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    info = review["status"]["userInfo"]
    return info["username"], info.get("groups") or []


@pytest.fixture
async def cluster(apiserver) -> AsyncIterator[Cluster]:
    c = Cluster(apiserver)
    await ensure_join_policy(c.admin)
    await ensure_cluster_info(c.admin, c.url, c.ca_pem)
    await c.admin.create(resource_path("", "v1", "secrets", "kube-system"), token_secret(BootstrapToken(
        token=TOKEN, expires=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))))
    try:
        yield c
    finally:
        await c.stop()


async def test_join_flow_issues_certificates_that_authenticate(cluster: Cluster) -> None:
    c = cluster
    c.start("approver", "signer", "bootstrapsigner")
    info = await discover(c.url, TOKEN, [ca_cert_hash(c.ca_pem)], timeout=15, interval=0.1)
    assert info.ca_pem == c.ca_pem and info.server == c.url

    key = generate_key()
    async with token_client(c.url, info.ca_pem, TOKEN) as bootstrap:
        assert await whoami(bootstrap) == ("system:bootstrap:abcdef", [
            "system:bootstrappers", "system:bootstrappers:kybernetes:default-node-token", "system:authenticated"])
        cert = await request_certificate(bootstrap, key, KUBELET_CLIENT, timeout=15)
    node = parse_pair(cert + key_to_pem(key))
    assert node is not None
    async with pair_client(c.url, c.ca_pem, node) as as_node:
        assert await whoami(as_node) == ("system:node:n1", ["system:nodes", "system:authenticated"])

        serving_key = generate_key()
        serving = Request(Template("system:node:n1", ("system:nodes",), ("n1",), ("127.0.0.1",)),
                          csrs.KUBELET_SERVING, (csrs.USAGE_DIGITAL_SIGNATURE, csrs.USAGE_SERVER_AUTH))
        assert await request_certificate(as_node, serving_key, serving, timeout=15)

        # asked before kube-proxy's: a client certificate for someone else, and another node's identity
        admin_name, _ = await submit(as_node, generate_key(), Request(Template("admin"), csrs.KUBE_APISERVER_CLIENT,
                                                                      CLIENT_USAGES))
        other_name, _ = await submit(as_node, generate_key(), Request(
            Template("system:node:n2", ("system:nodes",)), csrs.KUBE_APISERVER_CLIENT_KUBELET, CLIENT_USAGES))
        proxy_key = generate_key()
        proxy_cert = await request_certificate(as_node, proxy_key, Request(
            Template("system:kube-proxy"), csrs.KUBE_APISERVER_CLIENT, CLIENT_USAGES), timeout=15)
    proxy = parse_pair(proxy_cert + key_to_pem(proxy_key))
    assert proxy is not None
    async with pair_client(c.url, c.ca_pem, proxy) as as_proxy:
        assert (await whoami(as_proxy))[0] == "system:kube-proxy"
        await as_proxy.list(resource_path("", "v1", "nodes"))  # system:node-proxier
    for name in (admin_name, other_name):
        assert csrs.approval_state(await c.csr(name)) == (False, False)
        assert not csrs.issued_certificate(await c.csr(name))

    listed = await c.admin.list(resource_path(CERTS, "v1", "certificatesigningrequests"))
    by_user = {i["spec"]["username"] for i in listed["items"] if csrs.issued_certificate(i)}
    assert by_user == {"system:bootstrap:abcdef", "system:node:n1"}


async def test_renewal_is_approved_for_the_node_itself(cluster: Cluster, tmp_path) -> None:
    c = cluster
    c.start("approver", "signer")
    async def client_for() -> RESTClient:
        pair = manager.current
        return pair_client(c.url, c.ca_pem, pair) if pair is not None and manager.usable() else \
            token_client(c.url, c.ca_pem, TOKEN)

    manager = CertificateManager(name="kubelet-client", store=FileStore(str(tmp_path), "kubelet-client"),
                                 request=KUBELET_CLIENT, client_for=client_for, ca_pem=c.ca_pem)
    first = await manager.ensure()
    second = await manager.rotate()  # through the node's own credential: selfnodeclient
    assert second.cert_pem != first.cert_pem
    listed = await c.admin.list(resource_path(CERTS, "v1", "certificatesigningrequests"))
    messages = sorted(next(cond["message"] for cond in csrs.conditions(i) if cond["type"] == "Approved")
                      for i in listed["items"])
    assert messages == ["Auto approving kubelet client certificate after SubjectAccessReview.",
                        "Auto approving self kubelet client certificate after SubjectAccessReview."]


async def test_approval_needs_the_approve_verb_on_the_signer(cluster: Cluster) -> None:
    c = cluster
    rbac = "rbac.authorization.k8s.io"
    await c.admin.create(resource_path(rbac, "v1", "clusterroles"), {
        "apiVersion": f"{rbac}/v1", "kind": "ClusterRole", "metadata": {"name": "csr-updater"},
        "rules": [{"apiGroups": [CERTS], "resources": ["certificatesigningrequests",
                                                       "certificatesigningrequests/approval"],
                   "verbs": ["get", "update"]}]})
    await c.admin.create(resource_path(rbac, "v1", "clusterrolebindings"), {
        "apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "csr-updater"},
        "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "csr-updater"},
        "subjects": [{"apiGroup": rbac, "kind": "User", "name": "approver"}]})
    name, _ = await submit(c.admin, generate_key(), Request(Template("alice"), csrs.KUBE_APISERVER_CLIENT,
                                                            CLIENT_USAGES))
    async with c.client_as("approver", []) as approver:
        csr = await approver.get(resource_path(CERTS, "v1", "certificatesigningrequests", name=name))
        csr["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "Test"}]}
        path = resource_path(CERTS, "v1", "certificatesigningrequests", name=name, subresource="approval")
        with pytest.raises(ApiError) as denied:
            await approver.update(path, csr)
        assert denied.value.code == 403
        assert "user not permitted to approve requests with signerName " \
               "\"kubernetes.io/kube-apiserver-client\"" in denied.value.message.replace("'", '"')
        await c.admin.create(resource_path(rbac, "v1", "clusterroles"), {
            "apiVersion": f"{rbac}/v1", "kind": "ClusterRole", "metadata": {"name": "client-approver"},
            "rules": [{"apiGroups": [CERTS], "resources": ["signers"], "verbs": ["approve"],
                       "resourceNames": ["kubernetes.io/*"]}]})
        await c.admin.create(resource_path(rbac, "v1", "clusterrolebindings"), {
            "apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "client-approver"},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "client-approver"},
            "subjects": [{"apiGroup": rbac, "kind": "User", "name": "approver"}]})
        out = await approver.update(path, csr)
    assert csrs.approval_state(out) == (True, False)
    assert out["status"]["conditions"][0]["lastTransitionTime"]


async def test_no_system_masters_from_the_client_signer(cluster: Cluster) -> None:
    with pytest.raises(ApiError) as refused:
        await submit(cluster.admin, generate_key(), Request(Template("root", ("system:masters",)),
                                                            csrs.KUBE_APISERVER_CLIENT, CLIENT_USAGES))
    assert refused.value.code == 403 and "system:masters group is not allowed" in refused.value.message


async def test_bootstrap_signer_and_token_cleaner(cluster: Cluster) -> None:
    c = cluster
    c.start("bootstrapsigner", "tokencleaner")
    cm_path = resource_path("", "v1", "configmaps", NAMESPACE, NAME)

    async def signed_by() -> set[str]:
        data = (await c.admin.get(cm_path)).get("data") or {}
        return {k[len(JWS_PREFIX):] for k in data if k.startswith(JWS_PREFIX)}

    await eventually(lambda: _equals(signed_by, {"abcdef"}))
    expired = token_secret(BootstrapToken(token="zzzzzz.0123456789abcdef", expires=datetime.datetime.now(
        datetime.timezone.utc) - datetime.timedelta(minutes=1)))
    await c.admin.create(resource_path("", "v1", "secrets", "kube-system"), expired)

    async def cleaned() -> bool:
        try:
            await c.admin.get(resource_path("", "v1", "secrets", "kube-system", "bootstrap-token-zzzzzz"))
        except ApiError as e:
            return e.not_found
        return False
    await eventually(cleaned)
    assert await signed_by() == {"abcdef"}  # an expired token never signs
    await c.admin.delete(resource_path("", "v1", "secrets", "kube-system", "bootstrap-token-abcdef"))
    await eventually(lambda: _equals(signed_by, set()))
    with pytest.raises(DiscoveryError):
        await discover(c.url, TOKEN, [], timeout=0.5, interval=0.1)


async def _equals(get: Callable[[], Awaitable[Any]], want: Any) -> bool:
    return await get() == want

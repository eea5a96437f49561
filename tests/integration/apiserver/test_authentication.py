"""Authentication against a real apiserver: x509, token file, service-account tokens (legacy and bound), bootstrap
tokens, anonymous, TokenRequest/TokenReview/SelfSubjectReview, OIDC discovery, and kubectl's views of them."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import ssl
import subprocess
import time
from typing import Any, AsyncIterator

import aiohttp
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import rsa

from kybernetes.apiserver.authn.jwtkeys import TokenGenerator, load_signing_key
from kybernetes.apiserver.authn.serviceaccount import LEGACY_ISSUER, bound_claims, legacy_claims
from kybernetes.apiserver.server import APIServer, APIServerConfig
from kybernetes.client import RESTClient, load_kubeconfig
from kybernetes.pki.ca import CertificateAuthority
from kybernetes.pki.certs import issue_client_cert
from tests.conftest import free_port

ISSUER = "https://kubernetes.default.svc.cluster.local"
NS = "default"
WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
REVIEW = "/apis/authentication.k8s.io/v1/tokenreviews"
TOKEN_FILE = 'static-token-1,alice,uid-alice,"devs,system:masters"\n'


@pytest_asyncio.fixture
async def server(tmp_path) -> AsyncIterator[APIServer]:
    """An apiserver with a static token file besides the defaults (PKI service-account key, anonymous on)."""
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(TOKEN_FILE)
    cfg = APIServerConfig(data_dir=str(tmp_path / "data"), bind_address="127.0.0.1", secure_port=free_port(),
                          token_auth_file=str(tokens))
    s = APIServer(cfg)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


class Http:
    """Raw HTTPS requests with a chosen credential: the admin certificate, a bearer token, or nothing."""

    def __init__(self, server: APIServer, session: aiohttp.ClientSession) -> None:
        self.server, self.session = server, session
        pki = os.path.join(server.config.data_dir, "pki")
        self.ca = os.path.join(pki, "ca.crt")
        self.admin = ssl.create_default_context(cafile=self.ca)
        self.admin.load_cert_chain(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))
        self.plain = ssl.create_default_context(cafile=self.ca)
        self.base = f"https://127.0.0.1:{server.port}"

    async def call(self, method: str, path: str, *, token: str | None = None, body: Any = None,
                   as_admin: bool = False, ctx: ssl.SSLContext | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(method, self.base + path, json=body, headers=headers,
                                        ssl=ctx or (self.admin if as_admin else self.plain)) as r:
            return r.status, await r.json(content_type=None)

    async def whoami(self, token: str | None = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", WHOAMI, token=token, body={"apiVersion": "authentication.k8s.io/v1",
                                                                   "kind": "SelfSubjectReview"}, **kw)

    async def create(self, path: str, body: dict) -> dict:
        status, out = await self.call("POST", path, body=body, as_admin=True)
        assert status == 201, out
        return out

    async def token_request(self, sa: str, spec: dict) -> tuple[int, Any]:
        return await self.call("POST", f"/api/v1/namespaces/{NS}/serviceaccounts/{sa}/token", as_admin=True,
                               body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})


@pytest_asyncio.fixture
async def http(server: APIServer) -> AsyncIterator[Http]:
    async with aiohttp.ClientSession() as session:
        yield Http(server, session)


def signer(server: APIServer, issuer: str = ISSUER) -> TokenGenerator:
    return TokenGenerator(issuer, load_signing_key(os.path.join(server.config.data_dir, "pki",
                                                                "service-account.key")))


async def service_account(http: Http, name: str) -> dict:
    return await http.create(f"/api/v1/namespaces/{NS}/serviceaccounts", {"metadata": {"name": name}})


# ---------------------------------------------------------------------------------------------------- identities

async def test_x509_admin(http: Http) -> None:
    status, review = await http.whoami(as_admin=True)
    assert status == 201
    assert review["status"]["userInfo"] == {"username": "kubernetes-admin",
                                            "groups": ["system:masters", "system:authenticated"]}


async def test_token_file_user(http: Http) -> None:
    status, review = await http.whoami("static-token-1")
    assert status == 201
    assert review["status"]["userInfo"] == {"username": "alice", "uid": "uid-alice",
                                            "groups": ["devs", "system:masters", "system:authenticated"]}
    status, _ = await http.call("GET", "/api/v1/namespaces", token="static-token-1")
    assert status == 200


@pytest.mark.parametrize("token", ["no-such-token", "a.b.c", "abcdef.0123456789abcdef"],
                         ids=["unknown", "garbage-jwt", "unknown-bootstrap-token"])
async def test_unknown_token_is_401_even_with_anonymous_on(http: Http, token: str) -> None:
    status, body = await http.whoami(token)
    assert (status, body["reason"]) == (401, "Unauthorized")


async def test_anonymous(http: Http) -> None:
    status, body = await http.whoami()
    assert status in (201, 403)  # authenticated as anonymous; authorization decides
    if status == 403:
        assert 'User "system:anonymous"' in body["message"]
    else:
        assert body["status"]["userInfo"]["username"] == "system:anonymous"


async def test_anonymous_off(tmp_path) -> None:
    cfg = APIServerConfig(data_dir=str(tmp_path / "data"), bind_address="127.0.0.1", secure_port=free_port(),
                          anonymous_auth=False)
    s = APIServer(cfg)
    await s.start()
    try:
        async with aiohttp.ClientSession() as session:
            h = Http(s, session)
            assert (await h.call("GET", "/api/v1/namespaces"))[0] == 401
            assert (await h.whoami(as_admin=True))[0] == 201
    finally:
        await s.stop()


async def test_certificate_from_another_ca(http: Http, tmp_path) -> None:
    other = CertificateAuthority.create("other-ca")
    crt, key = issue_client_cert(other, "mallory", ["system:masters"])
    (tmp_path / "m.crt").write_bytes(crt)
    (tmp_path / "m.key").write_bytes(key)
    ctx = ssl.create_default_context(cafile=http.ca)
    ctx.load_cert_chain(str(tmp_path / "m.crt"), str(tmp_path / "m.key"))
    try:
        status, _ = await http.call("GET", "/api/v1/namespaces", ctx=ctx)
    except (aiohttp.ClientError, ssl.SSLError, ConnectionError):
        return  # the handshake refused the certificate
    assert status == 401


# ---------------------------------------------------------------------------------------------------- SA tokens

async def test_bound_token_from_token_request(http: Http) -> None:
    sa = await service_account(http, "builder")
    status, tr = await http.token_request("builder", {"expirationSeconds": 600})
    assert status == 201, tr
    assert tr["kind"] == "TokenRequest" and tr["spec"]["audiences"] == [ISSUER]
    token = tr["status"]["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600 and claims["iss"] == ISSUER
    assert claims["kubernetes.io"]["serviceaccount"] == {"name": "builder", "uid": sa["metadata"]["uid"]}
    status, review = await http.whoami(token)
    assert status == 201
    user = review["status"]["userInfo"]
    assert user["username"] == "system:serviceaccount:default:builder" and user["uid"] == sa["metadata"]["uid"]
    assert user["groups"] == ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]


@pytest.mark.parametrize("spec,code,message", [
    ({"expirationSeconds": 599}, 422, "may not specify a duration less than 10 minutes"),
    ({"expirationSeconds": (1 << 32) + 1}, 422, "larger than 2^32 seconds"),
    ({"boundObjectRef": {"kind": "ConfigMap", "apiVersion": "v1", "name": "x"}}, 400, "cannot bind token"),
    ({"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "missing"}}, 404, 'pods "missing" not found'),
], ids=["too-short", "too-long", "unbindable-kind", "missing-pod"])
async def test_token_request_errors(http: Http, spec: dict, code: int, message: str) -> None:
    await service_account(http, "builder")
    status, body = await http.token_request("builder", spec)
    assert status == code and message in body["message"], body


async def test_token_request_for_missing_account(http: Http) -> None:
    status, body = await http.token_request("ghost", {})
    assert status == 404 and 'serviceaccounts "ghost" not found' in body["message"]


async def test_bound_token_dies_with_its_pod(http: Http) -> None:
    await service_account(http, "runner")
    pod = await http.create(f"/api/v1/namespaces/{NS}/pods", {"metadata": {"name": "p1"}, "spec": {
        "serviceAccountName": "runner", "containers": [{"name": "c", "image": "busybox"}]}})
    ref = {"kind": "Pod", "apiVersion": "v1", "name": "p1", "uid": pod["metadata"]["uid"]}
    status, tr = await http.token_request("runner", {"boundObjectRef": ref})
    assert status == 201, tr
    token = tr["status"]["token"]
    status, review = await http.whoami(token)
    assert status == 201
    assert review["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-name"] == ["p1"]
    status, _ = await http.call("DELETE", f"/api/v1/namespaces/{NS}/pods/p1?gracePeriodSeconds=0", as_admin=True)
    assert status == 200
    deadline = time.monotonic() + 5
    while (await http.whoami(token))[0] != 401:
        assert time.monotonic() < deadline, "the token still works after its pod was deleted"
        await asyncio.sleep(0.05)
    # a pod bound token for a stale uid is refused at request time
    status, body = await http.token_request("runner", {"boundObjectRef": {**ref, "name": "p1"}})
    assert status == 404


async def test_expired_token(http: Http, server: APIServer) -> None:
    sa = await service_account(http, "old")
    claims = bound_claims(sa, audiences=[ISSUER], expiration_seconds=600, now=time.time() - 3600)
    status, body = await http.whoami(signer(server).generate(claims))
    assert (status, body["reason"]) == (401, "Unauthorized")
    _, review = await http.call("POST", REVIEW, as_admin=True,
                                body={"spec": {"token": signer(server).generate(claims)}})
    assert review["status"]["authenticated"] is False and "expired" in review["status"]["error"]


async def test_token_from_another_key(http: Http) -> None:
    sa = await service_account(http, "forged")
    other = TokenGenerator(ISSUER, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    token = other.generate(bound_claims(sa, audiences=[ISSUER], expiration_seconds=600))
    assert (await http.whoami(token))[0] == 401


async def test_legacy_secret_token(http: Http, server: APIServer) -> None:
    sa = await service_account(http, "legacy")
    token = signer(server, LEGACY_ISSUER).generate(legacy_claims(sa, "legacy-token"))
    await http.create(f"/api/v1/namespaces/{NS}/secrets", {
        "metadata": {"name": "legacy-token", "annotations": {"kubernetes.io/service-account.name": "legacy"}},
        "type": "kubernetes.io/service-account-token",
        "data": {"token": base64.b64encode(token.encode()).decode()}})
    status, review = await http.whoami(token)
    assert status == 201 and review["status"]["userInfo"]["username"] == "system:serviceaccount:default:legacy"
    await http.call("DELETE", f"/api/v1/namespaces/{NS}/secrets/legacy-token", as_admin=True)
    deadline = time.monotonic() + 5
    while (await http.whoami(token))[0] != 401:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_token_controller_fills_legacy_secret(http: Http, server: APIServer) -> None:
    from kybernetes.client import SharedInformerFactory
    from kybernetes.controllers.context import ControllerContext, ControllerOptions
    from kybernetes.controllers.serviceaccounttoken import CONTROLLER

    await service_account(http, "filled")
    pki = os.path.join(server.config.data_dir, "pki")
    client = RESTClient(load_kubeconfig(server.kubeconfig_path))
    factory = SharedInformerFactory(client)
    ctx = ControllerContext(client, factory, lambda c: None, ControllerOptions(
        root_ca_file=os.path.join(pki, "ca.crt"),
        extra={"service_account_private_key_file": os.path.join(pki, "service-account.key")}))
    controller = CONTROLLER(ctx)
    task = asyncio.create_task(controller.run(1))
    try:
        await http.create(f"/api/v1/namespaces/{NS}/secrets", {
            "metadata": {"name": "filled-token", "annotations": {"kubernetes.io/service-account.name": "filled"}},
            "type": "kubernetes.io/service-account-token"})
        deadline = time.monotonic() + 10
        while True:
            _, secret = await http.call("GET", f"/api/v1/namespaces/{NS}/secrets/filled-token", as_admin=True)
            if (secret.get("data") or {}).get("token"):
                break
            assert time.monotonic() < deadline, secret
            await asyncio.sleep(0.1)
        assert base64.b64decode(secret["data"]["namespace"]) == b"default"
        assert b"BEGIN CERTIFICATE" in base64.b64decode(secret["data"]["ca.crt"])
        token = base64.b64decode(secret["data"]["token"]).decode()
        status, review = await http.whoami(token)
        assert status == 201 and review["status"]["userInfo"]["username"] == "system:serviceaccount:default:filled"
        # the account goes: its token Secret goes too
        await http.call("DELETE", f"/api/v1/namespaces/{NS}/serviceaccounts/filled", as_admin=True)
        deadline = time.monotonic() + 10
        while (await http.call("GET", f"/api/v1/namespaces/{NS}/secrets/filled-token", as_admin=True))[0] != 404:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await factory.shutdown()
        await client.close()


async def test_bootstrap_token(http: Http) -> None:
    data = {"token-id": "abcdef", "token-secret": "0123456789abcdef", "usage-bootstrap-authentication": "true",
            "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token",
            "expiration": "2099-01-01T00:00:00Z"}
    await http.create("/api/v1/namespaces/kube-system/secrets", {
        "metadata": {"name": "bootstrap-token-abcdef"}, "type": "bootstrap.kubernetes.io/token",
        "stringData": data})
    status, review = await http.whoami("abcdef.0123456789abcdef")
    assert status == 201, review
    assert review["status"]["userInfo"]["username"] == "system:bootstrap:abcdef"
    assert review["status"]["userInfo"]["groups"] == [
        "system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token", "system:authenticated"]
    assert (await http.whoami("abcdef.0123456789abcdee"))[0] == 401


# ---------------------------------------------------------------------------------------------------- reviews

@pytest.mark.parametrize("audiences,authenticated,expected_auds", [
    (None, True, [ISSUER]),
    (["vault"], True, ["vault"]),
    (["elsewhere"], False, None),
], ids=["default-audience", "asked-audience", "foreign-audience"])
async def test_token_review(http: Http, audiences, authenticated: bool, expected_auds) -> None:
    await service_account(http, "reviewed")
    _, tr = await http.token_request("reviewed", {"audiences": [ISSUER, "vault"]})
    spec: dict = {"token": tr["status"]["token"]}
    if audiences:
        spec["audiences"] = audiences
    status, review = await http.call("POST", REVIEW, as_admin=True, body={"spec": spec})
    assert status == 201 and review["kind"] == "TokenReview"
    assert review["status"]["authenticated"] is authenticated
    if authenticated:
        assert review["status"]["user"]["username"] == "system:serviceaccount:default:reviewed"
        assert review["status"]["audiences"] == expected_auds
    else:
        assert "error" in review["status"]


async def test_token_review_of_static_token_and_no_storage(http: Http, server: APIServer) -> None:
    status, review = await http.call("POST", REVIEW, as_admin=True, body={"spec": {"token": "static-token-1"}})
    assert status == 201 and review["status"]["user"]["username"] == "alice"
    status, body = await http.call("POST", REVIEW, as_admin=True, body={"spec": {}})
    assert status == 400
    status, _ = await http.call("GET", REVIEW, as_admin=True)
    assert status == 405
    result = await server.store.range("/registry/authentication.k8s.io/")
    assert result.kvs == []


async def test_oidc_discovery_and_jwks_verify_a_token(http: Http) -> None:
    await service_account(http, "oidc")
    status, cfg = await http.call("GET", "/.well-known/openid-configuration", as_admin=True)
    assert status == 200
    assert cfg["issuer"] == ISSUER and cfg["jwks_uri"] == ISSUER + "/openid/v1/jwks"
    assert cfg["id_token_signing_alg_values_supported"] == ["RS256"]
    status, jwks = await http.call("GET", "/openid/v1/jwks", as_admin=True)
    assert status == 200 and len(jwks["keys"]) == 1
    _, tr = await http.token_request("oidc", {})
    token = tr["status"]["token"]
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key.key, algorithms=cfg["id_token_signing_alg_values_supported"],
                        audience=ISSUER, issuer=cfg["issuer"])
    assert claims["sub"] == "system:serviceaccount:default:oidc"


async def test_discovery_lists_authentication_group(http: Http) -> None:
    status, doc = await http.call("GET", "/apis/authentication.k8s.io/v1", as_admin=True)
    assert status == 200
    verbs = {r["name"]: r["verbs"] for r in doc["resources"]}
    assert verbs["tokenreviews"] == ["create"] and verbs["selfsubjectreviews"] == ["create"]


# ---------------------------------------------------------------------------------------------------- kubectl

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on the PATH")


def kubectl(server: APIServer, tmp_path, *args: str, token: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(tmp_path)}
    if token is None:
        cmd = ["kubectl", "--kubeconfig", server.kubeconfig_path, *args]
    else:  # only the token: no client certificate that would win over it
        empty = tmp_path / "empty.kubeconfig"
        empty.write_text("apiVersion: v1\nkind: Config\n")
        cmd = ["kubectl", "--kubeconfig", str(empty), "--server", f"https://127.0.0.1:{server.port}",
               "--certificate-authority", os.path.join(server.config.data_dir, "pki", "ca.crt"),
               "--token", token, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


@needs_kubectl
async def test_kubectl_create_token_and_whoami(http: Http, server: APIServer, tmp_path) -> None:
    await service_account(http, "cli")
    res = await asyncio.to_thread(kubectl, server, tmp_path, "create", "token", "cli", "--duration=10m")
    assert res.returncode == 0, res.stderr
    token = res.stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600
    res = await asyncio.to_thread(kubectl, server, tmp_path, "auth", "whoami", "-o", "json", token=token)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["status"]["userInfo"]["username"] == "system:serviceaccount:default:cli"
    res = await asyncio.to_thread(kubectl, server, tmp_path, "auth", "whoami")
    assert res.returncode == 0, res.stderr
    assert "kubernetes-admin" in res.stdout and "system:masters" in res.stdout


@needs_kubectl
async def test_kubectl_create_token_bound_to_pod(http: Http, server: APIServer, tmp_path) -> None:
    await service_account(http, "podsa")
    await http.create(f"/api/v1/namespaces/{NS}/pods", {"metadata": {"name": "bound"}, "spec": {
        "serviceAccountName": "podsa", "containers": [{"name": "c", "image": "busybox"}]}})
    res = await asyncio.to_thread(kubectl, server, tmp_path, "create", "token", "podsa", "--duration=10m",
                                  "--bound-object-kind=Pod", "--bound-object-name=bound")
    assert res.returncode == 0, res.stderr
    token = res.stdout.strip()
    assert (await http.whoami(token))[0] == 201
    res = await asyncio.to_thread(kubectl, server, tmp_path, "delete", "pod", "bound", "--grace-period=0",
                                  "--force")
    assert res.returncode == 0, res.stderr
    deadline = time.monotonic() + 5
    while (await http.whoami(token))[0] != 401:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)

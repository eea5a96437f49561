"""Real kubectl request bodies: capture the protobuf kubectl sends to a loopback server and decode them."""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any, AsyncIterator

import orjson
import pytest
import pytest_asyncio
from aiohttp import web

from kybernetes.api.protobuf import CONTENT_TYPE, decode_object, encode_object, is_protobuf
from kybernetes.api.registry import Registry
from kybernetes.apiserver import discovery

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on the PATH")

# what a request of each kind gets back besides its own object, so kubectl's printing has what it reads
CANNED_STATUS = {
    "TokenRequest": {"token": "header.payload.signature", "expirationTimestamp": "2030-01-01T00:00:00Z"},
    "SelfSubjectAccessReview": {"allowed": True},
    "SelfSubjectReview": {"userInfo": {"username": "admin", "groups": ["system:masters"]}},
}


CSR = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
       "metadata": {"name": "csr1", "uid": "c1", "resourceVersion": "5", "creationTimestamp": "2024-01-01T00:00:00Z"},
       "spec": {"request": "LS0tLS1CRUdJTg==", "signerName": "kubernetes.io/kube-apiserver-client",
                "usages": ["client auth"], "username": "alice", "groups": ["devs", "system:authenticated"],
                "extra": {"scopes": ["a"]}},
       "status": {}}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "resourceVersion": "3"},
        "spec": {"unschedulable": True}, "status": {}}
POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "p", "namespace": "default", "uid": "p1", "resourceVersion": "4",
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "r1",
                                         "controller": True}]},
       "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]}, "status": {"phase": "Running"}}
# GET answers by path; any other GET is a 404
CANNED_GET = {
    "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr1": CSR,
    "/api/v1/nodes/n1": NODE,
    "/api/v1/pods": {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "9"}, "items": [POD]},
}


# what the server adds to a created object
SERVER_METADATA = {"uid": "9b1e3c55-1b61-4a57-8a8e-1d2c3b4a5f60", "resourceVersion": "17", "generation": 1,
                   "creationTimestamp": "2024-05-06T07:08:09Z"}


class Recorder:
    """A tiny API server: discovery from the registry, and every write recorded and echoed back decoded."""

    def __init__(self) -> None:
        self.registry = Registry()
        self.bodies: list[tuple[str, str, str, bytes]] = []  # (method, path, content type, body)
        self.port = 0
        self.answer_protobuf = False  # answer writes in protobuf when the client accepts it
        self.protobuf_answers = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/version", self.version)
        app.router.add_get("/api", self.api)
        app.router.add_get("/apis", self.apis)
        app.router.add_get("/api/{version}", self.resources)
        app.router.add_get("/apis/{group}/{version}", self.resources)
        app.router.add_route("*", "/{tail:.*}", self.write)
        return app

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"major": "1", "minor": "32", "gitVersion": "v1.32.0", "platform": "linux/amd64"})

    def _discovery(self, request: web.Request, *, legacy: bool) -> web.Response:
        version = discovery.negotiate_aggregated(request.headers.get("Accept"))
        if version is not None:
            body = discovery.aggregated_discovery(self.registry, legacy=legacy, version=version)
            return web.Response(body=orjson.dumps(body), headers={
                "Content-Type": discovery.aggregated_content_type(version)})
        body = discovery.api_versions(f"127.0.0.1:{self.port}") if legacy else \
            discovery.api_group_list(self.registry)
        return web.json_response(body)

    async def api(self, request: web.Request) -> web.Response:
        return self._discovery(request, legacy=True)

    async def apis(self, request: web.Request) -> web.Response:
        return self._discovery(request, legacy=False)

    async def resources(self, request: web.Request) -> web.Response:
        body = discovery.api_resource_list(self.registry, request.match_info.get("group", ""),
                                           request.match_info["version"])
        return web.json_response(body) if body else web.json_response({}, status=404)

    async def write(self, request: web.Request) -> web.Response:
        body = await request.read()
        content_type = request.headers.get("Content-Type", "")
        self.bodies.append((request.method, request.path, content_type, body))
        if request.method == "GET" and request.path in CANNED_GET:
            return web.json_response(CANNED_GET[request.path])
        if request.method == "GET":
            return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                      "reason": "NotFound", "code": 404}, status=404)
        if request.method == "PATCH":
            return web.json_response(NODE)
        obj: dict[str, Any] = decode_object(body) if is_protobuf(content_type) else orjson.loads(body)
        if obj.get("kind") in CANNED_STATUS:
            obj["status"] = CANNED_STATUS[obj["kind"]]
        obj.setdefault("metadata", {}).setdefault("name", "x")
        if self.answer_protobuf and CONTENT_TYPE in request.headers.get("Accept", ""):
            obj["metadata"].update(SERVER_METADATA)
            self.protobuf_answers += 1
            return web.Response(body=encode_object(obj), status=201, content_type=CONTENT_TYPE)
        return web.json_response(obj, status=201)


@pytest_asyncio.fixture
async def recorder(tmp_path) -> AsyncIterator[tuple[Recorder, str]]:
    rec = Recorder()
    runner = web.AppRunner(rec.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{rec.port}\n"
        "users:\n- name: u\n  user:\n    token: t\n"
        "contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: default\n")
    try:
        yield rec, str(kubeconfig)
    finally:
        await runner.cleanup()


async def kubectl(kubeconfig: str, *args: str) -> str:
    env = {**os.environ, "KUBECONFIG": kubeconfig, "HOME": os.path.dirname(kubeconfig)}
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "--kubeconfig", kubeconfig, *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
    return out.decode()


def _without_nulls(value: Any) -> Any:
    """Go's JSON writes a zero metav1.Time as null; the decoded body leaves such fields out."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


CREATES = [
    pytest.param(["create", "namespace", "x"], id="namespace"),
    pytest.param(["create", "configmap", "c", "--from-literal=a=b"], id="configmap"),
    pytest.param(["create", "deployment", "d", "--image=nginx", "--replicas=3", "--port=80"], id="deployment"),
    pytest.param(["create", "deployment", "z", "--image=nginx", "--replicas=0"], id="deployment-zero-replicas"),
    pytest.param(["create", "secret", "generic", "s", "--from-literal=k=v"], id="secret"),
    pytest.param(["create", "secret", "docker-registry", "dr", "--docker-server=r", "--docker-username=u",
                  "--docker-password=p"], id="secret-docker-registry"),
    pytest.param(["create", "ingress", "ing", "--rule=foo.com/bar=svc1:8080,tls=my-cert"], id="ingress"),
    pytest.param(["create", "service", "clusterip", "s", "--tcp=80:8080"], id="service"),
    pytest.param(["create", "service", "nodeport", "np", "--tcp=80:http", "--node-port=30080"], id="service-nodeport"),
    pytest.param(["create", "job", "j", "--image=busybox", "--", "sleep", "1"], id="job"),
    pytest.param(["create", "cronjob", "cj", "--image=busybox", "--schedule=*/1 * * * *"], id="cronjob"),
    pytest.param(["create", "serviceaccount", "sa"], id="serviceaccount"),
    pytest.param(["create", "role", "r", "--verb=get,list", "--resource=pods"], id="role"),
    pytest.param(["create", "rolebinding", "rb", "--role=r", "--user=alice", "--serviceaccount=default:sa"],
                 id="rolebinding"),
    pytest.param(["create", "clusterrole", "cr", "--verb=get", "--non-resource-url=/healthz"], id="clusterrole"),
    pytest.param(["create", "clusterrolebinding", "crb", "--clusterrole=cr", "--group=devs"],
                 id="clusterrolebinding"),
    pytest.param(["create", "priorityclass", "pc", "--value=1000", "--description=high"], id="priorityclass"),
    pytest.param(["create", "quota", "q", "--hard=cpu=1,memory=1G,pods=2"], id="quota"),
    pytest.param(["create", "poddisruptionbudget", "pdb", "--selector=app=x", "--min-available=50%"], id="pdb"),
    pytest.param(["create", "poddisruptionbudget", "pdb0", "--selector=app=x", "--max-unavailable=0"],
                 id="pdb-zero-max-unavailable"),
]


@pytest.mark.parametrize("args", CREATES)
async def test_create_body_decodes_to_the_object_kubectl_meant(recorder, args: list[str]) -> None:
    rec, kubeconfig = recorder
    cut = args.index("--") if "--" in args else len(args)
    dry_run = [*args[:cut], "--dry-run=client", "-o", "json", *args[cut:]]
    expected = orjson.loads(await kubectl(kubeconfig, *dry_run))
    await kubectl(kubeconfig, *args)
    writes = [b for b in rec.bodies if b[0] == "POST"]
    assert len(writes) == 1
    _, _, content_type, body = writes[0]
    assert is_protobuf(content_type), content_type
    assert body.startswith(b"k8s\x00")
    assert decode_object(body) == _without_nulls(expected)


@pytest.mark.parametrize(("args", "kind", "check"), [
    pytest.param(["create", "token", "sa", "--duration=1h", "--audience=api"], "TokenRequest",
                 lambda o: o["spec"] == {"audiences": ["api"], "expirationSeconds": 3600}, id="create-token"),
    pytest.param(["auth", "can-i", "create", "deployments.apps", "-n", "ns1"], "SelfSubjectAccessReview",
                 lambda o: o["spec"] == {"resourceAttributes": {"namespace": "ns1", "verb": "create",
                                                                "group": "apps", "resource": "deployments"}},
                 id="auth-can-i"),
    pytest.param(["auth", "can-i", "--list"], "SelfSubjectRulesReview",
                 lambda o: o["spec"] == {"namespace": "default"}, id="auth-can-i-list"),
    pytest.param(["auth", "whoami"], "SelfSubjectReview", lambda o: o["metadata"] == {}, id="auth-whoami"),
])
async def test_review_bodies_decode(recorder, args: list[str], kind: str, check) -> None:
    rec, kubeconfig = recorder
    await kubectl(kubeconfig, *args)
    posts = [b for b in rec.bodies if b[0] == "POST"]
    assert len(posts) == 1 and is_protobuf(posts[0][2])
    obj = decode_object(posts[0][3])
    assert obj["kind"] == kind
    assert check(obj), obj


@pytest.mark.parametrize("args", CREATES)
async def test_kubectl_reads_our_protobuf_answer(recorder, args: list[str]) -> None:
    """kubectl's typed client decodes the protobuf we encode: what it prints is what we sent."""
    rec, kubeconfig = recorder
    rec.answer_protobuf = True
    cut = args.index("--") if "--" in args else len(args)
    printed = orjson.loads(await kubectl(kubeconfig, *args[:cut], "-o", "json", *args[cut:]))
    [(_, _, _, body)] = [b for b in rec.bodies if b[0] == "POST"]
    sent = decode_object(body)
    sent["metadata"].update(SERVER_METADATA)
    assert rec.protobuf_answers == 1
    assert _without_nulls(printed) == sent


async def test_certificate_approve_puts_the_csr_with_an_approved_condition(recorder) -> None:
    rec, kubeconfig = recorder
    await kubectl(kubeconfig, "certificate", "approve", "csr1")
    puts = [b for b in rec.bodies if b[0] == "PUT"]
    assert [p[1] for p in puts] == ["/apis/certificates.k8s.io/v1/certificatesigningrequests/csr1/approval"]
    assert is_protobuf(puts[0][2])
    obj = decode_object(puts[0][3])
    assert {k: obj[k] for k in ("apiVersion", "kind", "metadata", "spec")} == {k: CSR[k] for k in (
        "apiVersion", "kind", "metadata", "spec")}
    [condition] = obj["status"]["conditions"]
    assert condition["type"] == "Approved" and condition["status"] == "True"
    assert condition["reason"] == "KubectlApprove"
    assert condition["lastUpdateTime"].endswith("Z") and "lastTransitionTime" not in condition


async def test_drain_eviction_body(recorder) -> None:
    # kubectl 1.32's drain helper sends its Eviction as JSON; were it protobuf, it must decode the same
    rec, kubeconfig = recorder
    await kubectl(kubeconfig, "drain", "n1", "--timeout=20s")
    evictions = [b for b in rec.bodies if b[0] == "POST"]
    assert [e[1] for e in evictions] == ["/api/v1/namespaces/default/pods/p/eviction"]
    _, _, content_type, body = evictions[0]
    obj = decode_object(body) if is_protobuf(content_type) else _without_nulls(orjson.loads(body))
    assert obj == {"kind": "Eviction", "apiVersion": "policy/v1",
                                              "metadata": {"name": "p", "namespace": "default"},
                                              "deleteOptions": {}}


def test_content_type_constant() -> None:
    assert CONTENT_TYPE == "application/vnd.kubernetes.protobuf"

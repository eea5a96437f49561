"""Authorization against a real apiserver (Node,RBAC): an identity x request matrix, kubectl auth can-i,
escalation prevention, the Node authorizer following a pod between nodes, impersonation and access reviews."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import ssl
from typing import Any, AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from kybernetes.apiserver.server import APIServer, APIServerConfig
from kybernetes.pki import issue_client_cert, load_ca, write_kubeconfig
from kybernetes.pki.bootstrap import PKIPaths
from tests.conftest import NO_CONTROLLERS_ADMISSION, free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

NS = "team"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
# identity -> (CN, O) of the client certificate it is given
CERT_IDENTITIES = {
    "admin": ("kubernetes-admin", ["system:masters"]),
    "viewer": ("viewer", []),
    "editor": ("editor", []),
    "team-admin": ("team-admin", []),
    "kubelet": ("system:node:n1", ["system:nodes"]),
}


class Http:
    """Requests as one of the identities (a client certificate, the service account's token, or nothing)."""

    def __init__(self, server: APIServer, session: aiohttp.ClientSession, tmp: str) -> None:
        self.server, self.session = server, session
        paths = PKIPaths.under(server.config.data_dir)
        self.ca_path = paths.ca_crt
        self.base = f"https://127.0.0.1:{server.port}"
        ca = load_ca(paths)
        self.contexts: dict[str, ssl.SSLContext] = {"anonymous": ssl.create_default_context(cafile=self.ca_path),
                                                    "bad-token": ssl.create_default_context(cafile=self.ca_path),
                                                    "robot": ssl.create_default_context(cafile=self.ca_path)}
        self.kubeconfigs: dict[str, str] = {}
        for ident, (cn, orgs) in CERT_IDENTITIES.items():
            crt, key = issue_client_cert(ca, cn, orgs)
            crt_path, key_path = os.path.join(tmp, f"{ident}.crt"), os.path.join(tmp, f"{ident}.key")
            with open(crt_path, "wb") as f:
                f.write(crt)
            with open(key_path, "wb") as f:
                f.write(key)
            ctx = ssl.create_default_context(cafile=self.ca_path)
            ctx.load_cert_chain(crt_path, key_path)
            self.contexts[ident] = ctx
            self.kubeconfigs[ident] = os.path.join(tmp, f"{ident}.kubeconfig")
            write_kubeconfig(self.kubeconfigs[ident], server=self.base, ca_pem=ca.cert_pem, client_cert_pem=crt,
                             client_key_pem=key)
        self.tokens = {"bad-token": "not-a-valid-token", "robot": ""}

    async def call(self, who: str, method: str, path: str, body: Any = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        hdrs = dict(headers or {})
        if self.tokens.get(who):
            hdrs["Authorization"] = f"Bearer {self.tokens[who]}"
        async with self.session.request(method, self.base + path, json=body, headers=hdrs,
                                        ssl=self.contexts[who]) as r:
            return r.status, await r.json(content_type=None) if r.content_type == "application/json" else None

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, out = await self.call("admin", method, path, body)
        assert status in (200, 201), out
        return out


def binding(kind: str, name: str, role_kind: str, role: str, subjects: list[dict], ns: str = "") -> dict:
    md = {"name": name, **({"namespace": ns} if ns else {})}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": md, "subjects": subjects,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role}}


def user(name: str) -> dict:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def pod(name: str, node: str, secret: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}],
                     "volumes": [{"name": "s", "secret": {"secretName": secret}}]}}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http(tmp_path_factory) -> AsyncIterator[Http]:
    tmp = tmp_path_factory.mktemp("authz")
    cfg = APIServerConfig(data_dir=str(tmp / "data"), bind_address="127.0.0.1", secure_port=free_port(),
                          disable_admission_plugins=NO_CONTROLLERS_ADMISSION)
    server = APIServer(cfg)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            h = Http(server, session, str(tmp))
            await _populate(h)
            yield h
    finally:
        await server.stop()


async def _populate(h: Http) -> None:
    await h.ok("POST", "/api/v1/namespaces", {"metadata": {"name": NS}})
    await h.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "elsewhere"}})
    for name in ("robot-secret", "other-secret", "moving-secret"):
        await h.ok("POST", f"/api/v1/namespaces/{NS}/secrets", {"metadata": {"name": name}, "data": {}})
    await h.ok("POST", "/api/v1/nodes", {"metadata": {"name": "n1"}})
    await h.ok("POST", "/api/v1/nodes", {"metadata": {"name": "n2"}})
    await h.ok("POST", f"{RBAC}/clusterrolebindings", binding("ClusterRoleBinding", "viewer", "ClusterRole", "view",
                                                               [user("viewer")]))
    await h.ok("POST", f"{RBAC}/namespaces/{NS}/rolebindings",
               binding("RoleBinding", "editor", "ClusterRole", "edit", [user("editor")], NS))
    await h.ok("POST", f"{RBAC}/namespaces/{NS}/rolebindings",
               binding("RoleBinding", "team-admin", "ClusterRole", "admin", [user("team-admin")], NS))
    await h.ok("POST", f"/api/v1/namespaces/{NS}/serviceaccounts", {"metadata": {"name": "robot"}})
    await h.ok("POST", f"{RBAC}/namespaces/{NS}/roles", {
        "metadata": {"name": "robot"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
                  {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
                   "resourceNames": ["robot-secret"]}]})
    await h.ok("POST", f"{RBAC}/namespaces/{NS}/rolebindings", binding(
        "RoleBinding", "robot", "Role", "robot", [{"kind": "ServiceAccount", "name": "robot", "namespace": NS}], NS))
    status, tr = await h.call("admin", "POST", f"/api/v1/namespaces/{NS}/serviceaccounts/robot/token",
                              {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    assert status == 201, tr
    h.tokens["robot"] = tr["status"]["token"]


CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "m-"}}
WHO = ("admin", "viewer", "editor", "robot", "kubelet", "anonymous", "bad-token")
# (method, path, body) -> expected status for each identity in WHO's order
MATRIX = [
    ("GET", f"/api/v1/namespaces/{NS}/pods", None, (200, 200, 200, 403, 403, 403, 401)),
    ("GET", f"/api/v1/namespaces/{NS}/secrets", None, (200, 403, 200, 403, 403, 403, 401)),
    ("GET", f"/api/v1/namespaces/{NS}/secrets/robot-secret", None, (200, 403, 200, 200, 403, 403, 401)),
    ("GET", f"/api/v1/namespaces/{NS}/secrets/other-secret", None, (200, 403, 200, 403, 403, 403, 401)),
    ("GET", f"/api/v1/namespaces/{NS}/configmaps", None, (200, 200, 200, 200, 403, 403, 401)),
    ("POST", f"/api/v1/namespaces/{NS}/configmaps", CM, (201, 403, 201, 403, 403, 403, 401)),
    ("POST", "/api/v1/namespaces/elsewhere/configmaps", CM, (201, 403, 403, 403, 403, 403, 401)),
    ("GET", "/api/v1/nodes", None, (200, 403, 403, 403, 403, 403, 401)),
    ("GET", "/api/v1/nodes/n1", None, (200, 403, 403, 403, 200, 403, 401)),
    ("GET", "/api/v1/nodes/n2", None, (200, 403, 403, 403, 403, 403, 401)),
    ("GET", "/api/v1/namespaces", None, (200, 200, 403, 403, 403, 403, 401)),
    ("GET", f"/api/v1/namespaces/{NS}", None, (200, 200, 200, 403, 403, 403, 401)),
    ("GET", f"{RBAC}/namespaces/{NS}/roles", None, (200, 403, 403, 403, 403, 403, 401)),
    ("GET", "/api", None, (200, 200, 200, 200, 200, 403, 401)),
    ("GET", "/metrics", None, (200, 403, 403, 403, 403, 403, 401)),
    ("GET", "/healthz", None, (200, 200, 200, 200, 200, 200, 401)),
    ("GET", "/version", None, (200, 200, 200, 200, 200, 200, 401)),
]


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("method,path,body,want", MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
async def test_matrix(http: Http, who: str, method: str, path: str, body: Any, want: tuple[int, ...]) -> None:
    status, out = await http.call(who, method, path, body)
    assert status == want[WHO.index(who)], out
    if status == 403 and out is not None and path.startswith("/api/"):
        assert out["reason"] == "Forbidden" and " is forbidden: User " in out["message"]


async def test_forbidden_message_is_upstreams(http: Http) -> None:
    status, out = await http.call("viewer", "GET", f"/api/v1/namespaces/{NS}/secrets/other-secret")
    assert status == 403
    assert out["message"] == ('secrets "other-secret" is forbidden: User "viewer" cannot get resource "secrets" in '
                              f'API group "" in the namespace "{NS}"')
    assert out["details"] == {"name": "other-secret", "kind": "secrets"}
    status, out = await http.call("anonymous", "GET", "/metrics")
    assert out["message"] == 'forbidden: User "system:anonymous" cannot get path "/metrics"'


# ---------------------------------------------------------------------------------------- the Node authorizer

async def test_kubelet_reads_a_secret_only_once_a_pod_on_its_node_uses_it(http: Http) -> None:
    path = f"/api/v1/namespaces/{NS}/secrets/moving-secret"
    await http.ok("POST", f"/api/v1/namespaces/{NS}/pods", pod("mover", "n2", "moving-secret"))
    status, out = await http.call("kubelet", "GET", path)
    assert status == 403
    assert out["message"].endswith(": no relationship found between node 'n1' and this object")
    await http.ok("DELETE", f"/api/v1/namespaces/{NS}/pods/mover?gracePeriodSeconds=0")
    await http.ok("POST", f"/api/v1/namespaces/{NS}/pods", pod("mover", "n1", "moving-secret"))
    status, out = await http.call("kubelet", "GET", path)
    assert status == 200, out
    assert (await http.call("kubelet", "GET", f"/api/v1/namespaces/{NS}/secrets/other-secret"))[0] == 403
    status, _ = await http.call("kubelet", "GET", f"/api/v1/namespaces/{NS}/pods?fieldSelector=spec.nodeName%3Dn1")
    assert status == 200
    await http.ok("DELETE", f"/api/v1/namespaces/{NS}/pods/mover?gracePeriodSeconds=0")
    assert (await http.call("kubelet", "GET", path))[0] == 403


@pytest.mark.parametrize("method,path,body,want", [
    ("PATCH", "/api/v1/nodes/n1/status", {"status": {"phase": "Running"}}, 200),
    ("PATCH", "/api/v1/nodes/n2/status", {"status": {"phase": "Running"}}, 403),
    ("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
     {"metadata": {"name": "n1"}, "spec": {"holderIdentity": "n1"}}, 201),
    ("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n2", None, 403),
    ("GET", "/api/v1/nodes?fieldSelector=metadata.name%3Dn1", None, 200),
    ("POST", f"/api/v1/namespaces/{NS}/events",
     {"metadata": {"generateName": "e-"}, "involvedObject": {"kind": "Node", "name": "n1"}}, 201),
], ids=["own-node-status", "other-node-status", "own-lease", "other-lease", "watch-own-node", "events"])
async def test_kubelet_own_objects(http: Http, method: str, path: str, body: Any, want: int) -> None:
    headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else None
    async with http.session.request(method, http.base + path, json=body, ssl=http.contexts["kubelet"],
                                    headers=headers) as r:
        assert r.status == want, await r.text()


# ---------------------------------------------------------------------------------------- escalation

@pytest.mark.parametrize("path,body,want", [
    (f"{RBAC}/namespaces/{NS}/roles", {"metadata": {"name": "held"},
                                       "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}, 201),
    (f"{RBAC}/namespaces/{NS}/roles", {"metadata": {"name": "nodes"},
                                       "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]}, 403),
    (f"{RBAC}/namespaces/{NS}/rolebindings",
     binding("RoleBinding", "to-view", "ClusterRole", "view", [user("someone")], NS), 201),
    (f"{RBAC}/namespaces/{NS}/rolebindings",
     binding("RoleBinding", "to-admin", "ClusterRole", "cluster-admin", [user("someone")], NS), 403),
    (f"{RBAC}/clusterrolebindings",
     binding("ClusterRoleBinding", "to-view", "ClusterRole", "view", [user("someone")]), 403),
], ids=["role-with-held-rules", "role-with-unheld-rules", "bind-held-role", "bind-cluster-admin",
        "cluster-wide-binding"])
async def test_escalation(http: Http, path: str, body: dict, want: int) -> None:
    status, out = await http.call("team-admin", "POST", path, body)
    assert status == want, out
    if want == 403 and "namespaces" in path:
        assert "is attempting to grant RBAC permissions not currently held:\n" in out["message"]
        assert out["message"].startswith(('roles.rbac.authorization.k8s.io "nodes" is forbidden: user "team-admin"',
                                          'rolebindings.rbac.authorization.k8s.io "to-admin" is forbidden: user'))


# ---------------------------------------------------------------------------------------- impersonation, reviews

@pytest.mark.parametrize("who,headers,path,want", [
    ("admin", {"Impersonate-User": "viewer"}, f"/api/v1/namespaces/{NS}/pods", 200),
    ("admin", {"Impersonate-User": "viewer"}, f"/api/v1/namespaces/{NS}/secrets", 403),
    ("admin", {"Impersonate-User": "x", "Impersonate-Group": "system:masters"}, "/api/v1/nodes", 200),
    ("viewer", {"Impersonate-User": "editor"}, f"/api/v1/namespaces/{NS}/secrets", 403),
    ("editor", {"Impersonate-User": f"system:serviceaccount:{NS}:robot"}, f"/api/v1/namespaces/{NS}/configmaps",
     200),
    ("editor", {"Impersonate-User": f"system:serviceaccount:{NS}:robot"}, f"/api/v1/namespaces/{NS}/pods", 403),
    ("admin", {"Impersonate-Group": "system:masters"}, "/api/v1/nodes", 400),
], ids=["admin-as-viewer", "admin-as-viewer-denied", "admin-as-group", "viewer-may-not", "editor-as-its-sa",
        "editor-as-sa-denied", "group-without-user"])
async def test_impersonation(http: Http, who: str, headers: dict, path: str, want: int) -> None:
    status, out = await http.call(who, "GET", path, headers=headers)
    assert status == want, out
    if who == "viewer":
        assert out["message"] == ('users "editor" is forbidden: User "viewer" cannot impersonate resource "users" '
                                  'in API group "" at the cluster scope')


async def test_subject_access_review(http: Http) -> None:
    def sar(verb: str, resource: str) -> dict:
        return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": {"user": "viewer", "groups": ["system:authenticated"],
                         "resourceAttributes": {"namespace": NS, "verb": verb, "resource": resource}}}

    path = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
    assert (await http.ok("POST", path, sar("list", "pods")))["status"]["allowed"] is True
    assert (await http.ok("POST", path, sar("list", "secrets")))["status"]["allowed"] is False
    status, _ = await http.call("viewer", "POST", path, sar("list", "pods"))
    assert status == 403
    status, out = await http.call("admin", "POST", path, {"apiVersion": "authorization.k8s.io/v1",
                                                          "kind": "SubjectAccessReview", "spec": {"user": "x"}})
    assert status == 422, out
    local = {"apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
             "spec": {"user": "editor", "resourceAttributes": {"namespace": NS, "verb": "create",
                                                                "resource": "secrets"}}}
    path = f"/apis/authorization.k8s.io/v1/namespaces/{NS}/localsubjectaccessreviews"
    status, out = await http.call("team-admin", "POST", path, local)
    assert (status, out["status"]["allowed"]) == (201, True)


# ---------------------------------------------------------------------------------------- kubectl auth can-i

async def kubectl(http: Http, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", http.kubeconfigs["admin"], *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


def rows(table: str) -> set[tuple[str, ...]]:
    return {tuple(re.split(r"\s{2,}", line.strip())) for line in table.splitlines()[1:] if line.strip()}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on the PATH")
async def test_kubectl_auth_can_i(http: Http) -> None:
    assert await kubectl(http, "auth", "can-i", "list", "pods", "-n", NS, "--as=viewer") == (0, "yes\n")
    code, out = await kubectl(http, "auth", "can-i", "list", "secrets", "-n", NS, "--as=viewer")
    assert (code, out) == (1, "no\n")
    code, out = await kubectl(http, "auth", "can-i", "--list", "-n", NS, f"--as=system:serviceaccount:{NS}:robot")
    assert code == 0, out
    got = rows(out)
    assert ("configmaps", "[]", "[]", "[get list]") in got
    assert ("secrets", "[]", "[robot-secret]", "[get]") in got
    assert ("selfsubjectaccessreviews.authorization.k8s.io", "[]", "[]", "[create]") in got
    assert not any(r[0] == "pods" for r in got)
    code, out = await kubectl(http, "auth", "can-i", "--list", "-n", NS, "--as=viewer")
    got = rows(out)
    assert ("pods", "[]", "[]", "[get list watch]") in got
    assert not any(r[0] == "secrets" for r in got)
    code, out = await kubectl(http, "auth", "can-i", "--list")
    assert ("*.*", "[]", "[]", "[*]") in rows(out)

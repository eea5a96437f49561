"""The RBAC a token join relies on (kubeadm's bootstrap-token phase, with kybernetes: names): bootstrappers may
submit CSRs that are auto-approved, nodes may renew theirs and ask for serving and kube-proxy certificates,
the certificate controller may approve those, and anyone may read cluster-info."""

from __future__ import annotations

from typing import Any

from kybernetes.apiserver.authz.bootstrappolicy import (CERTS, LEGACY, cluster_role, cluster_role_binding, group,
                                                       role, role_binding, rule, service_account, user)
from kybernetes.client import ApiError, RESTClient, resource_path
from kybernetes.clusterbootstrap import clusterinfo
from kybernetes.clusterbootstrap.token import DEFAULT_GROUP
from kybernetes.pki import csr as csrs

Obj = dict[str, Any]

RBAC = "rbac.authorization.k8s.io"
NODES = "system:nodes"
NODECLIENT = "system:certificates.k8s.io:certificatesigningrequests:nodeclient"
SELFNODECLIENT = "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"
# kybernetes' own CSR permissions, checked by the approver with a SubjectAccessReview as upstream's are
SELFNODESERVING_SUBRESOURCE = "selfnodeserving"
KUBEPROXYCLIENT_SUBRESOURCE = "kubeproxyclient"
SELFNODESERVING = f"kybernetes:certificates.k8s.io:certificatesigningrequests:{SELFNODESERVING_SUBRESOURCE}"
KUBEPROXYCLIENT = f"kybernetes:certificates.k8s.io:certificatesigningrequests:{KUBEPROXYCLIENT_SUBRESOURCE}"
CERTIFICATE_CONTROLLER = "kybernetes:certificate-controller"
CLUSTER_INFO_READER = "kybernetes:bootstrap-signer-clusterinfo"


def join_cluster_roles() -> list[Obj]:
    return [
        cluster_role(SELFNODESERVING,
                     [rule("create", CERTS, f"certificatesigningrequests/{SELFNODESERVING_SUBRESOURCE}")]),
        cluster_role(KUBEPROXYCLIENT,
                     [rule("create", CERTS, f"certificatesigningrequests/{KUBEPROXYCLIENT_SUBRESOURCE}")]),
        cluster_role(CERTIFICATE_CONTROLLER, [
            rule("approve", CERTS, "signers", (csrs.KUBELET_SERVING, csrs.KUBE_APISERVER_CLIENT)),
            rule(("get", "list", "watch"), LEGACY, "nodes")]),
    ]


def join_cluster_role_bindings(groups: tuple[str, ...] = (DEFAULT_GROUP,)) -> list[Obj]:
    bootstrappers = [group(g) for g in groups]
    nodes = [group(NODES)]
    return [
        cluster_role_binding("system:node-bootstrapper", bootstrappers, name="kybernetes:kubelet-bootstrap"),
        cluster_role_binding(NODECLIENT, bootstrappers, name="kybernetes:node-autoapprove-bootstrap"),
        cluster_role_binding(SELFNODECLIENT, nodes, name="kybernetes:node-autoapprove-certificate-rotation"),
        cluster_role_binding(SELFNODESERVING, nodes, name="kybernetes:node-autoapprove-serving"),
        cluster_role_binding(KUBEPROXYCLIENT, nodes, name="kybernetes:node-autoapprove-kube-proxy"),
        cluster_role_binding(CERTIFICATE_CONTROLLER, [user("system:kube-controller-manager"),
                                                      service_account("kube-system", "certificate-controller")]),
    ]


def join_namespace_roles() -> list[Obj]:
    return [role(clusterinfo.NAMESPACE, CLUSTER_INFO_READER,
                 [rule("get", LEGACY, "configmaps", (clusterinfo.NAME,))])]


def join_namespace_role_bindings() -> list[Obj]:
    return [role_binding(clusterinfo.NAMESPACE, CLUSTER_INFO_READER, [user("system:anonymous")])]


def join_policy(groups: tuple[str, ...] = (DEFAULT_GROUP,)) -> list[Obj]:
    """Every object of the join policy, labelled as ours rather than as upstream's defaults."""
    out = join_cluster_roles() + join_cluster_role_bindings(groups) + join_namespace_roles() + \
        join_namespace_role_bindings()
    for obj in out:
        obj["metadata"]["labels"] = {"kybernetes.io/bootstrapping": "node-join"}
        obj["metadata"].pop("annotations", None)
    return out


def _path(obj: Obj, name: str | None = None) -> str:
    plural = {"ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings", "Role": "roles",
              "RoleBinding": "rolebindings"}[obj["kind"]]
    return resource_path(RBAC, "v1", plural, obj["metadata"].get("namespace"), name)


async def ensure_object(client: RESTClient, obj: Obj) -> None:
    """Create `obj`, or bring its rules/subjects/roleRef back to ours when it exists and differs."""
    try:
        await client.create(_path(obj), obj)
        return
    except ApiError as e:
        if e.code != 409:
            raise
    current = await client.get(_path(obj, obj["metadata"]["name"]))
    fields = [k for k in ("rules", "subjects", "roleRef") if k in obj]
    if all(current.get(k) == obj[k] for k in fields):
        return
    if "roleRef" in obj and current.get("roleRef") != obj["roleRef"]:  # roleRef is immutable
        await client.delete(_path(obj, obj["metadata"]["name"]))
        await client.create(_path(obj), obj)
        return
    for k in fields:
        current[k] = obj[k]
    await client.update(_path(obj, obj["metadata"]["name"]), current)


async def ensure_join_policy(client: RESTClient, groups: tuple[str, ...] = (DEFAULT_GROUP,)) -> None:
    """Everything above, idempotently (each `kybernetes token create` runs it)."""
    for obj in join_policy(groups):
        await ensure_object(client, obj)

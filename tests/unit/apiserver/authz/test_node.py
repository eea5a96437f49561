"""The Node authorizer: graph-scoped reads of what pods bound to the node use, and its own objects only."""

from __future__ import annotations

import pytest

from kybernetes.apiserver.authn import UserInfo
from kybernetes.apiserver.authz import Decision
from kybernetes.apiserver.authz.node import NodeAuthorizer, node_identity, pod_references
from tests.unit.apiserver.authz.helpers import Cluster, res, user

n1 = UserInfo(name="system:node:n1", groups=("system:nodes", "system:authenticated"))


@pytest.fixture
def cluster() -> Cluster:
    c = Cluster()
    c.pod("ns", "web", "n1", serviceAccountName="web-sa", imagePullSecrets=[{"name": "pull"}],
          containers=[{"name": "c", "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "env-s"}}}],
                       "envFrom": [{"configMapRef": {"name": "env-cm"}}]}],
          volumes=[{"name": "v", "secret": {"secretName": "vol-s"}},
                   {"name": "p", "projected": {"sources": [{"configMap": {"name": "proj-cm"}}]}},
                   {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}])
    c.pod("ns", "other", "n2", volumes=[{"name": "v", "secret": {"secretName": "n2-only"}}])
    c.pod("ns", "pending", "", volumes=[{"name": "v", "secret": {"secretName": "unbound"}}])
    c.put("/registry/core/persistentvolumeclaims/", "ns/data", {"metadata": {"name": "data", "namespace": "ns"},
                                                                "spec": {"volumeName": "pv-1"}})
    return c


def decide(c: Cluster, verb: str, resource: str, *, who: UserInfo = n1, **kw: str) -> Decision:
    return NodeAuthorizer.from_cache(c.cache).decide(res(who, verb, resource, **kw))[0]


@pytest.mark.parametrize("verb,resource,kw,want", [
    ("get", "secrets", {"ns": "ns", "name": "vol-s"}, Decision.ALLOW),
    ("get", "secrets", {"ns": "ns", "name": "env-s"}, Decision.ALLOW),
    ("get", "secrets", {"ns": "ns", "name": "pull"}, Decision.ALLOW),
    ("watch", "secrets", {"ns": "ns", "name": "vol-s"}, Decision.ALLOW),
    ("get", "secrets", {"ns": "ns", "name": "n2-only"}, Decision.NO_OPINION),
    ("get", "secrets", {"ns": "ns", "name": "unbound"}, Decision.NO_OPINION),
    ("list", "secrets", {"ns": "ns"}, Decision.NO_OPINION),
    ("update", "secrets", {"ns": "ns", "name": "vol-s"}, Decision.NO_OPINION),
    ("get", "configmaps", {"ns": "ns", "name": "env-cm"}, Decision.ALLOW),
    ("get", "configmaps", {"ns": "ns", "name": "proj-cm"}, Decision.ALLOW),
    ("get", "configmaps", {"ns": "other", "name": "env-cm"}, Decision.NO_OPINION),
    ("get", "persistentvolumeclaims", {"ns": "ns", "name": "data"}, Decision.ALLOW),
    ("get", "persistentvolumes", {"name": "pv-1"}, Decision.ALLOW),
    ("get", "persistentvolumes", {"name": "pv-2"}, Decision.NO_OPINION),
    ("create", "serviceaccounts", {"ns": "ns", "name": "web-sa", "sub": "token"}, Decision.ALLOW),
    ("create", "serviceaccounts", {"ns": "ns", "name": "default", "sub": "token"}, Decision.NO_OPINION),
    ("get", "nodes", {"name": "n1"}, Decision.ALLOW),
    ("get", "nodes", {"name": "n2"}, Decision.NO_OPINION),
    ("patch", "nodes", {"name": "n1", "sub": "status"}, Decision.ALLOW),
    ("patch", "nodes", {"name": "n2", "sub": "status"}, Decision.NO_OPINION),
    ("create", "nodes", {}, Decision.ALLOW),
    ("update", "leases", {"group": "coordination.k8s.io", "ns": "kube-node-lease", "name": "n1"}, Decision.ALLOW),
    ("update", "leases", {"group": "coordination.k8s.io", "ns": "kube-node-lease", "name": "n2"},
     Decision.NO_OPINION),
    ("get", "leases", {"group": "coordination.k8s.io", "ns": "kube-system", "name": "n1"}, Decision.NO_OPINION),
    ("get", "pods", {"ns": "ns", "name": "web"}, Decision.ALLOW),
    ("get", "pods", {"ns": "ns", "name": "other"}, Decision.NO_OPINION),
    ("patch", "pods", {"ns": "ns", "name": "web", "sub": "status"}, Decision.ALLOW),
    ("patch", "pods", {"ns": "ns", "name": "other", "sub": "status"}, Decision.NO_OPINION),
    ("watch", "pods", {"field_selector": "spec.nodeName=n1"}, Decision.ALLOW),
    ("watch", "pods", {"field_selector": "spec.nodeName=n2"}, Decision.NO_OPINION),
    ("list", "pods", {}, Decision.NO_OPINION),
    ("create", "events", {"ns": "ns"}, Decision.ALLOW),
    ("list", "services", {}, Decision.ALLOW),
    ("delete", "namespaces", {"name": "ns"}, Decision.NO_OPINION),
], ids=lambda v: v if isinstance(v, str) else None)
def test_node_decisions(cluster: Cluster, verb: str, resource: str, kw: dict, want: Decision) -> None:
    assert decide(cluster, verb, resource, **kw) == want


def test_not_a_node_is_no_opinion(cluster: Cluster) -> None:
    assert decide(cluster, "get", "secrets", who=user("system:node:n1"), ns="ns", name="vol-s") == \
        Decision.NO_OPINION  # the user name alone is not enough: the group is required too
    assert node_identity(user("bob", "system:nodes")) == (False, "")


def test_denial_reason(cluster: Cluster) -> None:
    got = NodeAuthorizer.from_cache(cluster.cache).decide(res(n1, "get", "secrets", ns="ns", name="n2-only"))
    assert got == (Decision.NO_OPINION, "no relationship found between node 'n1' and this object")


def test_graph_follows_pods_moving(cluster: Cluster) -> None:
    authz = NodeAuthorizer.from_cache(cluster.cache)
    ask = lambda: authz.decide(res(n1, "get", "secrets", ns="ns", name="n2-only"))[0]  # noqa: E731
    assert ask() == Decision.NO_OPINION
    cluster.delete("/registry/core/pods/", "ns/other")
    cluster.pod("ns", "other", "n1", volumes=[{"name": "v", "secret": {"secretName": "n2-only"}}])
    assert ask() == Decision.ALLOW
    cluster.delete("/registry/core/pods/", "ns/other")
    assert ask() == Decision.NO_OPINION
    # a secret two pods use stays reachable until the last one goes
    cluster.pod("ns", "a", "n1", volumes=[{"name": "v", "secret": {"secretName": "shared"}}])
    cluster.pod("ns", "b", "n1", volumes=[{"name": "v", "secret": {"secretName": "shared"}}])
    cluster.delete("/registry/core/pods/", "ns/a")
    assert authz.decide(res(n1, "get", "secrets", ns="ns", name="shared"))[0] == Decision.ALLOW
    cluster.delete("/registry/core/pods/", "ns/b")
    assert authz.decide(res(n1, "get", "secrets", ns="ns", name="shared"))[0] == Decision.NO_OPINION


def test_pod_references() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns"},
           "spec": {"volumes": [{"name": "e", "ephemeral": {}},
                                {"name": "c", "csi": {"nodePublishSecretRef": {"name": "csi-s"}}}]}}
    assert pod_references(pod) == {("pod", "ns", "p"), ("pvc", "ns", "p-e"), ("secret", "ns", "csi-s")}

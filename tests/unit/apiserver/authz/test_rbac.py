"""RBAC rule matching and the RBAC authorizer over cached roles and bindings."""

from __future__ import annotations

import pytest

from kybernetes.apiserver.authz import Decision
from kybernetes.apiserver.authz.rbac import RBACAuthorizer, rule_allows
from tests.unit.apiserver.authz.helpers import SA, Cluster, Grp, U, res, rule, url, user

alice = user("alice")


@pytest.mark.parametrize("r,attrs,want", [
    (rule(["get"], [""], ["pods"]), res(alice, "get", "pods", ns="a", name="p"), True),
    (rule(["get"], [""], ["pods"]), res(alice, "list", "pods", ns="a"), False),
    (rule(["*"], [""], ["pods"]), res(alice, "delete", "pods", ns="a", name="p"), True),
    (rule(["get"], ["apps"], ["pods"]), res(alice, "get", "pods", ns="a", name="p"), False),
    (rule(["get"], ["*"], ["deployments"]), res(alice, "get", "deployments", group="apps", name="d"), True),
    (rule(["get"], [""], ["*"]), res(alice, "get", "secrets", name="s"), True),
    (rule(["get"], [""], ["pods"]), res(alice, "get", "pods", name="p", sub="log"), False),
    (rule(["get"], [""], ["pods/log"]), res(alice, "get", "pods", name="p", sub="log"), True),
    (rule(["get"], [""], ["pods/log"]), res(alice, "get", "pods", name="p"), False),
    (rule(["get"], ["*"], ["*/scale"]), res(alice, "get", "deployments", group="apps", name="d", sub="scale"), True),
    (rule(["get"], ["*"], ["*/scale"]), res(alice, "get", "deployments", group="apps", name="d"), False),
    (rule(["get"], ["*"], ["*"]), res(alice, "get", "pods", name="p", sub="status"), True),
    (rule(["get"], [""], ["secrets"], names=["a"]), res(alice, "get", "secrets", name="a"), True),
    (rule(["get"], [""], ["secrets"], names=["a"]), res(alice, "get", "secrets", name="b"), False),
    (rule(["list"], [""], ["secrets"], names=["a"]), res(alice, "list", "secrets"), False),
    (rule(["get"], urls=["/healthz"]), url(alice, "get", "/healthz"), True),
    (rule(["get"], urls=["/healthz"]), url(alice, "get", "/healthz/etcd"), False),
    (rule(["get"], urls=["/healthz/*"]), url(alice, "get", "/healthz/etcd"), True),
    (rule(["get"], urls=["/apis/*"]), url(alice, "get", "/apis"), False),
    (rule(["*"], urls=["*"]), url(alice, "post", "/anything"), True),
    (rule(["get"], urls=["/healthz"]), url(alice, "post", "/healthz"), False),
    (rule(["get"], [""], ["pods"]), url(alice, "get", "/api/v1/pods"), False),
    (rule(["get"], urls=["*"]), res(alice, "get", "pods", name="p"), False),
], ids=["exact", "other-verb", "verb-star", "other-group", "group-star", "resource-star", "subresource-not-parent",
        "subresource", "parent-not-subresource", "star-subresource", "star-subresource-not-parent",
        "star-covers-subresources", "resource-name", "other-name", "names-never-list", "url", "url-not-prefix",
        "url-glob", "url-glob-needs-prefix", "url-star", "url-verb", "resource-rule-not-url", "url-rule-not-resource"])
def test_rule_allows(r, attrs, want) -> None:
    assert rule_allows(attrs, r) is want


@pytest.fixture
def cluster() -> Cluster:
    c = Cluster()
    c.cluster_role("reader", [rule(["get", "list"], [""], ["pods"])])
    c.cluster_role("secret-a", [rule(["get"], [""], ["secrets"], names=["a"])])
    c.role("ns1", "cm-writer", [rule(["create", "update"], [""], ["configmaps"])])
    c.cluster_binding("readers", "reader", Grp("readers"))
    c.cluster_binding("ghost", "missing-role", U("ghosty"))
    c.binding("ns1", "cm", "Role", "cm-writer", U("bob"), SA("ns2", "robot"))
    c.binding("ns1", "secret-a", "ClusterRole", "secret-a", U("bob"))
    c.binding("ns1", "local-sa", "ClusterRole", "reader", {"kind": "ServiceAccount", "name": "builder"})
    return c


@pytest.mark.parametrize("who,attrs,want", [
    ("carol:readers", ("list", "pods", "", ""), Decision.ALLOW),
    ("carol:readers", ("list", "pods", "anyns", ""), Decision.ALLOW),
    ("carol", ("list", "pods", "anyns", ""), Decision.NO_OPINION),
    ("bob", ("create", "configmaps", "ns1", ""), Decision.ALLOW),
    ("bob", ("create", "configmaps", "ns2", ""), Decision.NO_OPINION),
    ("bob", ("create", "configmaps", "", ""), Decision.NO_OPINION),
    ("bob", ("get", "secrets", "ns1", "a"), Decision.ALLOW),
    ("bob", ("get", "secrets", "ns1", "b"), Decision.NO_OPINION),
    ("bob", ("get", "secrets", "ns2", "a"), Decision.NO_OPINION),
    ("system:serviceaccount:ns2:robot", ("update", "configmaps", "ns1", ""), Decision.ALLOW),
    ("system:serviceaccount:ns1:robot", ("update", "configmaps", "ns1", ""), Decision.NO_OPINION),
    ("system:serviceaccount:ns1:builder", ("get", "pods", "ns1", "p"), Decision.ALLOW),
    ("root:system:masters", ("delete", "nodes", "", "n"), Decision.ALLOW),
], ids=["cluster-binding-group", "cluster-binding-any-ns", "unbound", "rolebinding-role", "role-other-ns",
        "role-not-cluster-wide", "rolebinding-clusterrole-name", "clusterrole-other-name",
        "rolebinding-scoped-to-its-ns", "sa-other-ns-subject", "sa-wrong-ns", "sa-subject-defaults-to-binding-ns",
        "system-masters"])
def test_rbac_authorizer(cluster: Cluster, who: str, attrs: tuple[str, str, str, str], want: Decision) -> None:
    name, *groups = who.split(":", 1) if not who.startswith("system:") else [who]
    u = user(name, *groups)
    verb, resource, ns, obj = attrs
    decision, _ = RBACAuthorizer.from_cache(cluster.cache).decide(res(u, verb, resource, ns=ns, name=obj))
    assert decision == want


def test_missing_role_is_the_denial_reason(cluster: Cluster) -> None:
    decision, reason = RBACAuthorizer.from_cache(cluster.cache).decide(res(user("ghosty"), "get", "pods", name="p"))
    assert (decision, reason) == (Decision.NO_OPINION,
                                  'RBAC: clusterrole.rbac.authorization.k8s.io "missing-role" not found')


def test_allow_reason_names_the_binding(cluster: Cluster) -> None:
    _, reason = RBACAuthorizer.from_cache(cluster.cache).decide(res(user("bob"), "create", "configmaps", ns="ns1"))
    assert reason == 'RBAC: allowed by RoleBinding "cm/ns1" of Role "cm-writer" to User "bob"'


def test_bindings_apply_as_soon_as_cached(cluster: Cluster) -> None:
    authz = RBACAuthorizer.from_cache(cluster.cache)
    dave = user("dave")
    assert authz.decide(res(dave, "get", "pods", ns="x", name="p"))[0] == Decision.NO_OPINION
    cluster.cluster_binding("dave", "reader", U("dave"))
    assert authz.decide(res(dave, "get", "pods", ns="x", name="p"))[0] == Decision.ALLOW
    cluster.delete("/registry/rbac.authorization.k8s.io/clusterrolebindings/", "dave")
    assert authz.decide(res(dave, "get", "pods", ns="x", name="p"))[0] == Decision.NO_OPINION

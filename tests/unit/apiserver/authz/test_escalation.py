"""Escalation prevention: grant only what you hold, unless you may escalate or bind."""

from __future__ import annotations

import pytest

from kybernetes.api.errors import StatusError
from kybernetes.apiserver.authz.escalation import (check_rbac_write, compact, compact_string, covers,
                                                   current_rbac, rule_covers)
from kybernetes.apiserver.authz.rbac import RBACAuthorizer
from kybernetes.apiserver.rest import RequestContext
from tests.unit.apiserver.authz.helpers import Cluster, U, rule


@pytest.mark.parametrize("owner,sub,want", [
    (rule(["*"], ["*"], ["*"]), rule(["get"], [""], ["pods"]), True),
    (rule(["get"], [""], ["pods"]), rule(["get"], [""], ["pods"]), True),
    (rule(["get"], [""], ["pods"]), rule(["list"], [""], ["pods"]), False),
    (rule(["get"], [""], ["pods"], names=["a"]), rule(["get"], [""], ["pods"]), False),
    (rule(["get"], [""], ["pods"], names=["a"]), rule(["get"], [""], ["pods"], names=["a"]), True),
    (rule(["get"], [""], ["pods"]), rule(["get"], [""], ["pods"], names=["a"]), True),
    (rule(["get"], [""], ["*/log"]), rule(["get"], [""], ["pods/log"]), True),
    (rule(["get"], [""], ["pods/*"]), rule(["get"], [""], ["pods/log"]), True),
    (rule(["get"], [""], ["pods"]), rule(["get"], [""], ["pods/log"]), False),
    (rule(["get"], urls=["/logs/*"]), rule(["get"], urls=["/logs/a"]), True),
    (rule(["get"], urls=["/logs"]), rule(["get"], urls=["/logs/a"]), False),
], ids=["star", "same", "verb", "names-narrower", "same-name", "any-name", "star-sub", "res-star", "parent-only",
        "url-glob", "url-exact"])
def test_rule_covers(owner, sub, want) -> None:
    assert rule_covers(owner, sub) is want


def test_missing_rules_are_broken_down_and_compacted() -> None:
    ok, missing = covers([rule(["get"], [""], ["pods"])],
                         [rule(["get", "list"], [""], ["pods", "secrets"]), rule(["get"], urls=["/x"])])
    assert not ok
    assert sorted(compact_string(r) for r in compact(missing)) == [
        '{APIGroups:[""], Resources:["pods"], Verbs:["list"]}',
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}',
        '{NonResourceURLs:["/x"], Verbs:["get"]}']


@pytest.fixture
def cluster() -> Cluster:
    c = Cluster()
    c.cluster_role("pod-reader", [rule(["get"], [""], ["pods"])])
    c.cluster_role("secret-reader", [rule(["get"], [""], ["secrets"])])
    c.cluster_role("role-admin", [rule(["get", "list", "create", "update", "delete"], ["rbac.authorization.k8s.io"], ["roles", "rolebindings"])])
    c.cluster_role("escalator", [rule(["escalate"], ["rbac.authorization.k8s.io"], ["roles"])])
    c.cluster_role("binder", [rule(["bind"], ["rbac.authorization.k8s.io"], ["clusterroles"],
                                   names=["secret-reader"])])
    for who in ("bob", "eve", "binder"):
        c.binding("ns", f"{who}-admin", "ClusterRole", "role-admin", U(who))
        c.binding("ns", f"{who}-pods", "ClusterRole", "pod-reader", U(who))
    c.binding("ns", "eve-escalate", "ClusterRole", "escalator", U("eve"))
    c.binding("ns", "binder-bind", "ClusterRole", "binder", U("binder"))
    return c


def _role(rules: list) -> dict:
    return {"metadata": {"name": "r", "namespace": "ns"}, "rules": rules}


def _binding(kind: str, name: str) -> dict:
    return {"metadata": {"name": "b", "namespace": "ns"}, "subjects": [U("x")],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}}


@pytest.mark.parametrize("who,plural,obj,refused", [
    ("bob", "roles", _role([rule(["get"], [""], ["pods"])]), False),
    ("bob", "roles", _role([rule(["get"], [""], ["secrets"])]), True),
    ("eve", "roles", _role([rule(["get"], [""], ["secrets"])]), False),
    ("bob", "rolebindings", _binding("ClusterRole", "pod-reader"), False),
    ("bob", "rolebindings", _binding("ClusterRole", "secret-reader"), True),
    ("binder", "rolebindings", _binding("ClusterRole", "secret-reader"), False),
    ("binder", "rolebindings", _binding("ClusterRole", "role-admin"), False),
    ("bob", "rolebindings", _binding("ClusterRole", "no-such-role"), True),
    ("root", "roles", _role([rule(["*"], ["*"], ["*"])]), False),
], ids=["held-rules", "unheld-rules", "escalate-verb", "bind-held-role", "bind-unheld-role", "bind-verb",
        "holds-role-admin-itself", "missing-role", "system-masters"])
def test_check_rbac_write(cluster: Cluster, who: str, plural: str, obj: dict, refused: bool) -> None:
    token = current_rbac.set(RBACAuthorizer.from_cache(cluster.cache))
    ctx = RequestContext(user=who, groups=["system:masters"] if who == "root" else ["system:authenticated"])
    try:
        if refused:
            with pytest.raises(StatusError) as ei:
                check_rbac_write(plural, obj, None, ctx)
            assert ei.value.code == 403
        else:
            check_rbac_write(plural, obj, None, ctx)
    finally:
        current_rbac.reset(token)


def test_refusal_message_is_upstreams(cluster: Cluster) -> None:
    token = current_rbac.set(RBACAuthorizer.from_cache(cluster.cache))
    try:
        with pytest.raises(StatusError) as ei:
            check_rbac_write("roles", _role([rule(["get", "list"], [""], ["secrets"])]), None,
                             RequestContext(user="bob", groups=["system:authenticated"]))
    finally:
        current_rbac.reset(token)
    assert ei.value.message == (
        'roles.rbac.authorization.k8s.io "r" is forbidden: user "bob" (groups=["system:authenticated"]) is '
        'attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}')


def test_no_check_outside_requests() -> None:
    check_rbac_write("roles", _role([rule(["*"], ["*"], ["*"])]), None, RequestContext(user="anyone"))

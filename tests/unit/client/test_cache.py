"""Indexer: keys, namespace index, custom indexes, replace; resource_path."""

from __future__ import annotations

import pytest

from kybernetes.client import Indexer, meta_namespace_key, resource_path, split_key


def obj(name, ns=None, node=None):
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"metadata": meta, "spec": {"nodeName": node} if node else {}}


@pytest.mark.parametrize("o,key", [(obj("a", "ns"), "ns/a"), (obj("n1"), "n1")], ids=["namespaced", "cluster"])
def test_key(o, key):
    assert meta_namespace_key(o) == key
    assert split_key(key) == ((o["metadata"].get("namespace") or ""), o["metadata"]["name"])


def by_node(o):
    node = o["spec"].get("nodeName")
    return [node] if node else []


def test_indexes_follow_updates_and_deletes():
    idx = Indexer({"node": by_node})
    idx.upsert(obj("a", "x", "n1"))
    idx.upsert(obj("b", "y", "n1"))
    assert [o["metadata"]["name"] for o in idx.by_index("node", "n1")] == ["a", "b"]
    idx.upsert(obj("a", "x", "n2"))  # moved
    assert [o["metadata"]["name"] for o in idx.by_index("node", "n1")] == ["b"]
    assert [o["metadata"]["name"] for o in idx.list("x")] == ["a"]
    assert idx.delete(obj("b", "y"))["metadata"]["name"] == "b"
    assert idx.by_index("node", "n1") == []
    assert idx.get("a", "x")["spec"]["nodeName"] == "n2"


def test_replace_and_late_indexer():
    idx = Indexer()
    idx.upsert(obj("old", "x"))
    previous = idx.replace([obj("a", "x", "n1"), obj("b", "y")])
    assert list(previous) == ["x/old"]
    assert sorted(idx.list_keys()) == ["x/a", "y/b"]
    idx.add_indexers({"node": by_node})
    assert idx.index_keys("node", "n1") == ["x/a"]


@pytest.mark.parametrize("args,path", [
    (("", "v1", "pods"), "/api/v1/pods"),
    (("", "v1", "pods", "ns", "p", "status"), "/api/v1/namespaces/ns/pods/p/status"),
    (("apps", "v1", "deployments", "ns"), "/apis/apps/v1/namespaces/ns/deployments"),
    (("rbac.authorization.k8s.io", "v1", "clusterroles", None, "system:admin"),
     "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:admin"),
], ids=["core-all", "core-sub", "group-ns", "cluster-escaped"])
def test_resource_path(args, path):
    assert resource_path(*args) == path

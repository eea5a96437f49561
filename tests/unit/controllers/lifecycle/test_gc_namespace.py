"""Garbage-collector graph updates and decisions; namespace deletion conditions."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.controllers.gcgraph import Classified, Graph, OwnerState, classify_references, decide
from kybernetes.controllers.namespace import DeletionState, deletion_conditions, merge_conditions

Obj = dict[str, Any]


def ref(uid: str, block: bool = False) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": f"cm-{uid}", "uid": uid, "blockOwnerDeletion": block}


def obj(uid: str, owners: list[Obj] | None = None, finalizers: list[str] | None = None,
        deleting: bool = False) -> Obj:
    md: Obj = {"uid": uid, "name": f"cm-{uid}", "namespace": "ns", "ownerReferences": owners or [],
               "finalizers": finalizers or []}
    if deleting:
        md["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {"metadata": md}


def test_graph_dependent_before_owner_makes_virtual_owner() -> None:
    g = Graph()
    to_delete, _ = g.observe("v1", "ConfigMap", obj("d", [ref("o")]))
    assert to_delete == {"o"} and g.nodes["o"].virtual and g.nodes["o"].dependents == {"d"}
    to_delete, _ = g.observe("v1", "ConfigMap", obj("o"))
    assert to_delete == set() and not g.nodes["o"].virtual


def test_graph_owner_removed_enqueues_dependents() -> None:
    g = Graph()
    g.observe("v1", "ConfigMap", obj("o"))
    g.observe("v1", "ConfigMap", obj("d", [ref("o")]))
    assert g.remove("o") == {"d"}
    assert "o" not in g.nodes


@pytest.mark.parametrize("finalizers,want_delete,want_orphan", [
    (["foregroundDeletion"], {"o", "d"}, set()),
    (["orphan"], set(), {"o"}),
], ids=["foreground", "orphan"])
def test_graph_deletion_transitions(finalizers: list[str], want_delete: set[str], want_orphan: set[str]) -> None:
    g = Graph()
    g.observe("v1", "ConfigMap", obj("o"))
    g.observe("v1", "ConfigMap", obj("d", [ref("o", block=True)]))
    assert g.observe("v1", "ConfigMap", obj("o", finalizers=finalizers, deleting=True)) == (want_delete, want_orphan)


def test_graph_blocking_dependents_and_ref_removal_frees_owner() -> None:
    g = Graph()
    g.observe("v1", "ConfigMap", obj("o", finalizers=["foregroundDeletion"], deleting=True))
    g.observe("v1", "ConfigMap", obj("d", [ref("o", block=True)]))
    g.observe("v1", "ConfigMap", obj("e", [ref("o", block=False)]))
    assert [n.uid for n in g.nodes["o"].blocking_dependents(g)] == ["d"]
    to_delete, _ = g.observe("v1", "ConfigMap", obj("d", []))
    assert "o" in to_delete and g.nodes["o"].blocking_dependents(g) == []


S, A, F = OwnerState.PRESENT, OwnerState.ABSENT, OwnerState.FOREGROUND


@pytest.mark.parametrize("states,finalizers,has_deps,want", [
    ({"a": S}, [], False, ("keep", [], "")),
    ({"a": A}, [], False, ("delete", [], "Background")),
    ({"a": S, "b": A}, [], False, ("patch", ["a"], "")),
    ({"a": S, "b": F}, [], False, ("patch", ["a"], "")),
    ({"a": F}, [], True, ("delete", [], "Foreground")),
    ({"a": F}, [], False, ("delete", [], "Background")),
    ({"a": A, "b": F}, [], False, ("delete", [], "Background")),
    ({"a": A}, ["orphan"], False, ("delete", [], "Orphan")),
    ({}, [], False, ("keep", [], "")),
], ids=["solid", "dangling", "solid-and-dangling", "solid-and-waiting", "waiting-with-dependents",
        "waiting-leaf", "dangling-and-waiting", "dangling-with-orphan-finalizer", "no-owners"])
def test_gc_decision(states: dict[str, OwnerState], finalizers: list[str], has_deps: bool,
                     want: tuple[str, list[str], str]) -> None:
    dependent = obj("d", [ref(u) for u in states], finalizers)
    classified = classify_references(dependent["metadata"]["ownerReferences"], lambda r: states[r["uid"]])
    d = decide(dependent, classified, has_dependents=has_deps)
    assert (d.action, [r["uid"] for r in d.owner_references], d.policy) == want


def test_classify_references() -> None:
    c = classify_references([ref("a"), ref("b"), ref("c")], lambda r: {"a": S, "b": A, "c": F}[r["uid"]])
    assert c == Classified(solid=[ref("a")], dangling=[ref("b")], waiting=[ref("c")])


@pytest.mark.parametrize("state,want", [
    (DeletionState(), {"NamespaceDeletionDiscoveryFailure": ("False", "ResourcesDiscovered"),
                       "NamespaceDeletionContentFailure": ("False", "ContentDeleted"),
                       "NamespaceContentRemaining": ("False", "ContentRemoved"),
                       "NamespaceFinalizersRemaining": ("False", "ContentHasNoFinalizers")}),
    (DeletionState(discovery_failed={"metrics.k8s.io/v1beta1": "503"}, remaining={"pods": 2},
                   finalizers={"example.com/x": 1}, content_errors=["pods: boom"]),
     {"NamespaceDeletionDiscoveryFailure": ("True", "DiscoveryFailed"),
      "NamespaceDeletionContentFailure": ("True", "ContentDeletionFailed"),
      "NamespaceContentRemaining": ("True", "SomeResourcesRemain"),
      "NamespaceFinalizersRemaining": ("True", "SomeFinalizersRemain")}),
], ids=["clean", "everything-wrong"])
def test_deletion_conditions(state: DeletionState, want: dict[str, tuple[str, str]]) -> None:
    conds = {c["type"]: (c["status"], c["reason"]) for c in deletion_conditions(state)}
    assert {k: conds[k] for k in want} == want


def test_deletion_condition_messages() -> None:
    conds = {c["type"]: c["message"] for c in deletion_conditions(DeletionState(
        discovery_failed={"metrics.k8s.io/v1beta1": "boom"}, remaining={"widgets.example.com": 1, "pods": 2},
        finalizers={"example.com/x": 1}))}
    assert conds["NamespaceDeletionDiscoveryFailure"] == \
        "Discovery failed for some groups, 1 failing: metrics.k8s.io/v1beta1: boom"
    assert conds["NamespaceContentRemaining"] == \
        "Some resources are remaining: pods has 2 resource instances, widgets.example.com has 1 resource instances"
    assert conds["NamespaceFinalizersRemaining"] == \
        "Some content in the namespace has finalizers remaining: example.com/x in 1 resource instances"


def test_merge_conditions_keeps_transition_time() -> None:
    first = merge_conditions([], deletion_conditions(DeletionState()), "t1")
    assert first is not None and all(c["lastTransitionTime"] == "t1" for c in first)
    assert merge_conditions(first, deletion_conditions(DeletionState()), "t2") is None

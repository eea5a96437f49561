"""The garbage collector's ownership graph (uid -> node with owners and dependents) and its pure decisions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

Obj = dict[str, Any]

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"


@dataclass
class Node:
    """One object (or a virtual owner known only from an ownerReference) in the graph."""

    uid: str
    api_version: str
    kind: str
    namespace: str
    name: str
    owners: list[Obj] = field(default_factory=list)
    dependents: set[str] = field(default_factory=set)
    virtual: bool = False
    being_deleted: bool = False
    deleting_dependents: bool = False
    orphaning: bool = False

    def blocking_dependents(self, graph: Graph) -> list[Node]:
        """Dependents whose reference to this node sets blockOwnerDeletion."""
        out = []
        for uid in sorted(self.dependents):
            dep = graph.nodes.get(uid)
            if dep is not None and any(r.get("uid") == self.uid and r.get("blockOwnerDeletion")
                                       for r in dep.owners):
                out.append(dep)
        return out


class Graph:
    """The graph and its update rules (upstream's GraphBuilder.processGraphChanges), minus the I/O.

    Updates return the uids to put on the attempt-to-delete and attempt-to-orphan queues.
    """

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}

    def _link(self, node: Node, refs: list[Obj], to_delete: set[str]) -> None:
        for ref in refs:
            uid = ref.get("uid", "")
            owner = self.nodes.get(uid)
            if owner is None:  # an owner not seen (yet): verify it lives, or its dependents go
                owner = Node(uid, ref.get("apiVersion", ""), ref.get("kind", ""), node.namespace,
                             ref.get("name", ""), virtual=True)
                self.nodes[uid] = owner
                to_delete.add(uid)
            owner.dependents.add(node.uid)

    def _unlink(self, node: Node, refs: list[Obj]) -> None:
        for ref in refs:
            owner = self.nodes.get(ref.get("uid", ""))
            if owner is not None:
                owner.dependents.discard(node.uid)

    def observe(self, api_version: str, kind: str, obj: Obj) -> tuple[set[str], set[str]]:
        """An object was added or updated; returns (attempt-to-delete uids, attempt-to-orphan uids)."""
        md = obj.get("metadata") or {}
        uid = md.get("uid", "")
        refs = [dict(r) for r in md.get("ownerReferences") or []]
        to_delete: set[str] = set()
        to_orphan: set[str] = set()
        node = self.nodes.get(uid)
        if node is None:
            node = Node(uid, api_version, kind, md.get("namespace", "") or "", md.get("name", ""))
            self.nodes[uid] = node
            node.owners = refs
            self._link(node, refs, to_delete)
        else:
            if node.virtual:
                node.virtual = False
            node.api_version, node.kind = api_version, kind
            node.namespace, node.name = md.get("namespace", "") or "", md.get("name", "")
            old = {r.get("uid"): r for r in node.owners}
            new = {r.get("uid"): r for r in refs}
            removed = [r for u, r in old.items() if u not in new]
            changed = [r for u, r in old.items() if u in new and r != new[u]]
            added = [r for u, r in new.items() if u not in old]
            for r in removed + changed:  # an owner waiting on this dependent may now be free
                owner = self.nodes.get(r.get("uid", ""))
                if owner is not None and owner.deleting_dependents:
                    to_delete.add(owner.uid)
            self._unlink(node, removed)
            node.owners = refs
            self._link(node, added, to_delete)
        finalizers = md.get("finalizers") or []
        node.being_deleted = bool(md.get("deletionTimestamp"))
        node.deleting_dependents = node.being_deleted and FOREGROUND in finalizers
        node.orphaning = node.being_deleted and ORPHAN in finalizers
        if node.orphaning:
            to_orphan.add(uid)
        if node.deleting_dependents:
            to_delete.add(uid)
            to_delete.update(node.dependents)
        return to_delete, to_orphan

    def remove(self, uid: str) -> set[str]:
        """An object is gone (deleted, or a virtual owner found absent); returns uids to attempt to delete."""
        node = self.nodes.pop(uid, None)
        if node is None:
            return set()
        self._unlink(node, node.owners)
        to_delete = set(node.dependents)
        for ref in node.owners:
            owner = self.nodes.get(ref.get("uid", ""))
            if owner is not None and owner.deleting_dependents:
                to_delete.add(owner.uid)
            if owner is not None and owner.virtual and not owner.dependents:
                del self.nodes[owner.uid]
        return to_delete


class OwnerState(str, Enum):
    ABSENT = "absent"  # not found, or found with another uid: the reference dangles
    FOREGROUND = "foreground"  # being deleted with foregroundDeletion: waiting for its dependents
    PRESENT = "present"


@dataclass
class Classified:
    solid: list[Obj] = field(default_factory=list)
    dangling: list[Obj] = field(default_factory=list)
    waiting: list[Obj] = field(default_factory=list)


def classify_references(refs: list[Obj], state_of: Callable[[Obj], OwnerState]) -> Classified:
    """Upstream's classifyReferences."""
    out = Classified()
    for ref in refs:
        s = state_of(ref)
        (out.dangling if s == OwnerState.ABSENT else out.waiting if s == OwnerState.FOREGROUND
         else out.solid).append(ref)
    return out


@dataclass
class Decision:
    """What attemptToDeleteItem does with a dependent: keep, patch its ownerReferences, or delete it."""

    action: str  # "keep", "patch", "delete"
    owner_references: list[Obj] = field(default_factory=list)  # for "patch": the references to keep
    policy: str = ""  # for "delete": Background, Foreground or Orphan
    unblock: list[str] = field(default_factory=list)  # for "delete" when circular: owner uids to unblock


def decide(dependent: Obj, c: Classified, *, has_dependents: bool, dependent_deleting_dependents: bool = False
           ) -> Decision:
    """Upstream's decision: solid owners keep it (dropping dangling/waiting refs); otherwise it goes."""
    refs = (dependent.get("metadata") or {}).get("ownerReferences") or []
    if not refs:
        return Decision("keep")
    if c.solid:
        if not c.dangling and not c.waiting:
            return Decision("keep")
        gone = {r.get("uid") for r in c.dangling + c.waiting}
        return Decision("patch", owner_references=[r for r in refs if r.get("uid") not in gone])
    if c.waiting and has_dependents:
        unblock = [r.get("uid", "") for r in c.waiting] if dependent_deleting_dependents else []
        return Decision("delete", policy="Foreground", unblock=unblock)
    finalizers = (dependent.get("metadata") or {}).get("finalizers") or []
    policy = "Orphan" if ORPHAN in finalizers else "Foreground" if FOREGROUND in finalizers else "Background"
    return Decision("delete", policy=policy)

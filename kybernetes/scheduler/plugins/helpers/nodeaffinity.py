"""Node selectors and node affinity as upstream's component-helpers nodeaffinity: terms are ORed, the
requirements of a term ANDed; an empty or invalid term matches no node. Parsed once per pod (PodInfo.cache)."""

from __future__ import annotations

from typing import Any

from kybernetes.api.selectors import (DOES_NOT_EXIST, EQUALS, EXISTS, GREATER_THAN, IN, LESS_THAN, NOT_IN,
                                      LabelSelector, Requirement, new_requirement)
from kybernetes.scheduler.framework.interface import Node, PodInfo

OBJECT_NAME_FIELD = "metadata.name"
_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST,
              "Gt": GREATER_THAN, "Lt": LESS_THAN}
_REQUIRED_CACHE_KEY = "nodeaffinity.required"
_PREFERRED_CACHE_KEY = "nodeaffinity.preferred"


class NodeSelectorTerm:
    """One v1.NodeSelectorTerm: matchExpressions on node labels and matchFields on metadata.name."""

    __slots__ = ("labels", "name_in", "name_not_in", "valid", "empty")

    def __init__(self, term: dict[str, Any]) -> None:
        exprs = term.get("matchExpressions") or []
        fields = term.get("matchFields") or []
        self.empty = not exprs and not fields
        self.valid = True
        self.labels: LabelSelector | None = None
        self.name_in: list[str] = []  # each value must equal the node name (ANDed, as a field selector)
        self.name_not_in: list[str] = []
        try:
            if exprs:
                self.labels = LabelSelector([_requirement(e) for e in exprs])
            for f in fields:
                values = f.get("values") or []
                if f.get("key") != OBJECT_NAME_FIELD or len(values) != 1 or f.get("operator") not in ("In", "NotIn"):
                    raise ValueError(f"invalid node field selector requirement {f!r}")
                (self.name_in if f["operator"] == "In" else self.name_not_in).append(values[0])
        except (ValueError, TypeError, AttributeError):
            self.valid = False

    def matches(self, node_labels: dict[str, str], node_name: str) -> bool:
        if self.empty or not self.valid:
            return False
        if self.labels is not None and not self.labels.matches(node_labels):
            return False
        if node_name:
            if any(v != node_name for v in self.name_in) or node_name in self.name_not_in:
                return False
        return True


def _requirement(expr: dict[str, Any]) -> Requirement:
    op = _OPERATORS.get(expr.get("operator", ""))
    if op is None:
        raise ValueError(f"{expr.get('operator')!r} is not a valid node selector operator")
    return new_requirement(expr.get("key", ""), op, list(expr.get("values") or []))


class NodeSelector:
    """A v1.NodeSelector: the node must match at least one term."""

    __slots__ = ("terms",)

    def __init__(self, selector: dict[str, Any]) -> None:
        self.terms = [NodeSelectorTerm(t or {}) for t in selector.get("nodeSelectorTerms") or []]

    def matches(self, node: Node) -> bool:
        md = node.get("metadata") or {}
        labels, name = md.get("labels") or {}, md.get("name") or ""
        return any(t.matches(labels, name) for t in self.terms)


class RequiredNodeAffinity:
    """A pod's spec.nodeSelector and required node affinity together (GetRequiredNodeAffinity)."""

    __slots__ = ("node_selector", "affinity")

    def __init__(self, pod: dict[str, Any]) -> None:
        spec = pod.get("spec") or {}
        sel = spec.get("nodeSelector")
        self.node_selector = (LabelSelector([Requirement(k, EQUALS, (v,)) for k, v in sel.items()])
                              if sel else None)
        req = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution")
        self.affinity = NodeSelector(req) if req is not None else None

    def is_empty(self) -> bool:
        return self.node_selector is None and self.affinity is None

    def matches(self, node: Node) -> bool:
        if self.node_selector is not None:
            if not self.node_selector.matches((node.get("metadata") or {}).get("labels") or {}):
                return False
        return self.affinity is None or self.affinity.matches(node)


class PreferredSchedulingTerms:
    """Weighted v1.PreferredSchedulingTerms; a node's score is the sum of the weights of the terms it matches."""

    __slots__ = ("terms",)

    def __init__(self, terms: list[dict[str, Any]] | None) -> None:
        self.terms = [(int(t.get("weight") or 0), NodeSelectorTerm(t.get("preference") or {}))
                      for t in terms or [] if t.get("weight")]

    def __bool__(self) -> bool:
        return bool(self.terms)

    def score(self, node: Node) -> int:
        md = node.get("metadata") or {}
        labels, name = md.get("labels") or {}, md.get("name") or ""
        return sum(w for w, term in self.terms if term.matches(labels, name))


def required_node_affinity(pod: PodInfo) -> RequiredNodeAffinity:
    """The pod's RequiredNodeAffinity, parsed once and kept in the PodInfo's cache."""
    r = pod.cache.get(_REQUIRED_CACHE_KEY)
    if r is None:
        r = pod.cache[_REQUIRED_CACHE_KEY] = RequiredNodeAffinity(pod.pod)
    return r


def preferred_node_affinity(pod: PodInfo) -> PreferredSchedulingTerms:
    """The pod's preferred node affinity terms, parsed once and kept in the PodInfo's cache."""
    p = pod.cache.get(_PREFERRED_CACHE_KEY)
    if p is None:
        aff = ((pod.pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
        p = pod.cache[_PREFERRED_CACHE_KEY] = PreferredSchedulingTerms(
            aff.get("preferredDuringSchedulingIgnoredDuringExecution"))
    return p

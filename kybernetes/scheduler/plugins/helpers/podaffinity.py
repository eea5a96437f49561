"""Parsed pod (anti-)affinity terms as upstream's framework.AffinityTerm, cached on each PodInfo."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from kybernetes.api.selectors import IN, NOT_IN, LabelSelector, label_selector_from_dict, new_requirement
from kybernetes.scheduler.framework.interface import Node, Pod, PodInfo

_CACHE_KEY = "interpodaffinity.terms"


@dataclass(frozen=True)
class AffinityTerm:
    """One PodAffinityTerm: which pods (selector, namespaces or namespace selector) in which topology domain."""

    selector: LabelSelector
    namespaces: frozenset[str]
    namespace_selector: LabelSelector
    topology_key: str
    weight: int = 0

    def matches(self, pod: Pod, ns_labels: Mapping[str, str] | None) -> bool:
        """Does `pod` (whose namespace has `ns_labels`) fall under this term?"""
        md = pod.get("metadata") or {}
        if md.get("namespace", "") in self.namespaces or self.namespace_selector.matches(ns_labels or {}):
            return self.selector.matches(md.get("labels") or {})
        return False

    def topology_value(self, node: Node | None) -> str | None:
        return (((node or {}).get("metadata") or {}).get("labels") or {}).get(self.topology_key)

    def with_namespaces(self, extra: set[str]) -> AffinityTerm:
        """The term with its namespace selector resolved into namespaces (mergeAffinityTermNamespacesIfNotEmpty)."""
        return replace(self, namespaces=self.namespaces | extra, namespace_selector=LabelSelector.nothing())


@dataclass
class PodAffinityTerms:
    """All four kinds of terms of one pod; error is the parse error, if any."""

    required_affinity: list[AffinityTerm]
    required_anti_affinity: list[AffinityTerm]
    preferred_affinity: list[AffinityTerm]
    preferred_anti_affinity: list[AffinityTerm]
    error: str = ""


def _new_term(pod: Pod, term: dict[str, Any], weight: int = 0) -> AffinityTerm:
    md = pod.get("metadata") or {}
    labels = md.get("labels") or {}
    selector = label_selector_from_dict(term.get("labelSelector"))
    extra = []
    if not selector.is_nothing():
        # matchLabelKeys / mismatchLabelKeys: the incoming pod's own values become In / NotIn requirements
        extra += [new_requirement(k, IN, [labels[k]]) for k in term.get("matchLabelKeys") or () if k in labels]
        extra += [new_requirement(k, NOT_IN, [labels[k]]) for k in term.get("mismatchLabelKeys") or () if k in labels]
        if extra:
            selector = LabelSelector([*selector.requirements, *extra])
    ns_sel_dict = term.get("namespaceSelector")
    namespaces = frozenset(term.get("namespaces") or ())
    if not namespaces and ns_sel_dict is None:
        namespaces = frozenset((md.get("namespace", ""),))
    return AffinityTerm(selector, namespaces, label_selector_from_dict(ns_sel_dict), term.get("topologyKey", ""),
                        weight)


def _terms(pod: Pod, section: dict[str, Any], kind: str) -> tuple[list[AffinityTerm], list[AffinityTerm]]:
    s = section.get(kind) or {}
    req = [_new_term(pod, t) for t in s.get("requiredDuringSchedulingIgnoredDuringExecution") or ()]
    pref = [_new_term(pod, t.get("podAffinityTerm") or {}, int(t.get("weight") or 0))
            for t in s.get("preferredDuringSchedulingIgnoredDuringExecution") or ()]
    return req, pref


def parse_pod_affinity_terms(pod: Pod) -> PodAffinityTerms:
    aff = (pod.get("spec") or {}).get("affinity") or {}
    try:
        ra, pa = _terms(pod, aff, "podAffinity")
        raa, paa = _terms(pod, aff, "podAntiAffinity")
    except (ValueError, TypeError, AttributeError) as e:
        return PodAffinityTerms([], [], [], [], f"parsing pod: {e}")
    return PodAffinityTerms(ra, raa, pa, paa)


def pod_affinity_terms(pod: PodInfo) -> PodAffinityTerms:
    """The pod's parsed terms, computed once per PodInfo."""
    t = pod.cache.get(_CACHE_KEY)
    if t is None:
        t = pod.cache[_CACHE_KEY] = parse_pod_affinity_terms(pod.pod)
    return t

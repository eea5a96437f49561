"""ClusterRole aggregation: the rules an aggregationRule's selectors gather from the other ClusterRoles."""

from __future__ import annotations

from typing import Any, Iterable

from kybernetes.api.selectors import label_selector_matches

Obj = dict[str, Any]


def aggregated_rules(role: Obj, cluster_roles: Iterable[Obj]) -> list[Obj] | None:
    """The rules `role` should hold (selected roles by name order, duplicates dropped); None if not aggregated."""
    agg = role.get("aggregationRule")
    if not isinstance(agg, dict):
        return None
    name = (role.get("metadata") or {}).get("name")
    candidates = sorted((r for r in cluster_roles if (r.get("metadata") or {}).get("name") != name),
                        key=lambda r: r["metadata"]["name"])
    rules: list[Obj] = []
    for selector in agg.get("clusterRoleSelectors") or ():
        for other in candidates:
            if not label_selector_matches(selector, (other.get("metadata") or {}).get("labels")):
                continue
            for rule in other.get("rules") or ():
                if isinstance(rule, dict) and rule not in rules:
                    rules.append(rule)
    return rules

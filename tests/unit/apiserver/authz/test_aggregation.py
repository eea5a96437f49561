"""ClusterRole aggregation: selected roles' rules, in name order, without duplicates; defaults aggregate."""

from __future__ import annotations

import pytest

from kybernetes.apiserver.authz import bootstrappolicy
from kybernetes.apiserver.authz.aggregation import aggregated_rules
from tests.unit.apiserver.authz.helpers import rule


def role(name: str, rules: list, labels: dict | None = None, selectors: list | None = None) -> dict:
    out = {"metadata": {"name": name, "labels": labels or {}}, "rules": rules}
    if selectors is not None:
        out["aggregationRule"] = {"clusterRoleSelectors": selectors}
    return out


R1, R2, R3 = rule(["get"], [""], ["pods"]), rule(["list"], [""], ["pods"]), rule(["get"], ["apps"], ["*"])


@pytest.mark.parametrize("target,others,want", [
    (role("t", [], selectors=[{"matchLabels": {"a": "1"}}]),
     [role("b", [R2], {"a": "1"}), role("a", [R1], {"a": "1"}), role("c", [R3], {"a": "2"})], [R1, R2]),
    (role("t", [], selectors=[{"matchLabels": {"a": "1"}}, {"matchLabels": {"a": "2"}}]),
     [role("a", [R1], {"a": "1"}), role("c", [R3, R1], {"a": "2"})], [R1, R3]),
    (role("t", [], selectors=[{"matchExpressions": [{"key": "a", "operator": "Exists"}]}]),
     [role("a", [R1], {"a": "x"}), role("b", [R2], {})], [R1]),
    (role("t", [R3], {"a": "1"}, selectors=[{"matchLabels": {"a": "1"}}]), [role("a", [R1], {"a": "1"})], [R1]),
    (role("t", [R1]), [role("a", [R2], {"a": "1"})], None),
    (role("t", [], selectors=[]), [role("a", [R2], {"a": "1"})], []),
], ids=["by-name-order", "several-selectors-dedup", "match-expressions", "not-itself", "not-aggregated",
        "no-selectors"])
def test_aggregated_rules(target: dict, others: list, want: list | None) -> None:
    assert aggregated_rules(target, [target, *others]) == want


def test_default_admin_edit_view_aggregate() -> None:
    roles = bootstrappolicy.all_cluster_roles()
    by_name = {r["metadata"]["name"]: r for r in roles}
    for _ in range(3):  # view feeds edit feeds admin
        for r in roles:
            rules = aggregated_rules(r, roles)
            if rules is not None:
                r["rules"] = rules
    view, edit, admin = (by_name[n]["rules"] for n in ("view", "edit", "admin"))
    assert all(r in edit for r in view) and all(r in admin for r in edit)
    assert not any("secrets" in r.get("resources", []) for r in view)
    assert any("secrets" in r.get("resources", []) and "create" in r["verbs"] for r in edit)
    assert any("rolebindings" in r.get("resources", []) for r in admin)
    assert not any("rolebindings" in r.get("resources", []) for r in edit)

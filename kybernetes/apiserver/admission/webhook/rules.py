"""Which webhooks a request goes to: rules (operations, groups, versions, resources, scope) and selectors."""

from __future__ import annotations

from typing import Any

from kybernetes.api.selectors import label_selector_from_dict_or_everything
from kybernetes.apiserver.admission.interfaces import Attributes

Obj = dict[str, Any]


def _has(values: list[str] | None, value: str) -> bool:
    return any(v == "*" or v == value for v in values or [])


def resource_matches(patterns: list[str] | None, resource: str, subresource: str) -> bool:
    """upstream's rule.Matcher resource check: 'pods', 'pods/status', 'pods/*', '*/status', '*' (no subresources)."""
    for p in patterns or []:
        if p == "*/*":
            return True
        res, _, sub = p.partition("/")
        if res not in ("*", resource):
            continue
        if sub == "" and subresource == "" and res in ("*", resource):
            return True
        if sub and (sub == "*" or sub == subresource) and subresource:
            return True
    return False


def rule_matches(rule: Obj, a: Attributes) -> bool:
    operations = rule.get("operations") or []
    if not _has(operations, a.operation):
        return False
    if not _has(rule.get("apiGroups"), a.info.group) or not _has(rule.get("apiVersions"), a.info.version):
        return False
    if not resource_matches(rule.get("resources"), a.info.plural, a.subresource):
        return False
    scope = rule.get("scope") or "*"
    if scope == "Cluster" and a.info.namespaced:
        return False
    if scope == "Namespaced" and not a.info.namespaced:
        return False
    return True


def object_selector_matches(webhook: Obj, a: Attributes) -> bool:
    sel = label_selector_from_dict_or_everything(webhook.get("objectSelector"))
    if sel.empty():
        return True
    return any(sel.matches(((o or {}).get("metadata") or {}).get("labels") or {})
               for o in (a.obj, a.old) if o is not None)


def namespace_selector_matches(webhook: Obj, a: Attributes, namespace: Obj | None) -> bool:
    sel = label_selector_from_dict_or_everything(webhook.get("namespaceSelector"))
    if sel.empty():
        return True
    if a.resource == ("", "namespaces"):
        labels = ((a.obj or a.old or {}).get("metadata") or {}).get("labels") or {}
        return sel.matches(labels)
    if not a.info.namespaced:
        return True  # cluster-scoped objects are not subject to namespace selectors
    return sel.matches(((namespace or {}).get("metadata") or {}).get("labels") or {})


def webhook_matches(webhook: Obj, a: Attributes, namespace: Obj | None) -> bool:
    return (any(rule_matches(r, a) for r in webhook.get("rules") or [])
            and namespace_selector_matches(webhook, a, namespace) and object_selector_matches(webhook, a))

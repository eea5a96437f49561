"""RBAC escalation prevention: a role may only grant what its writer holds (or the writer has `escalate`), a
binding may only refer to a role whose rules its writer holds (or the writer has `bind`)."""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any, Iterable

from kybernetes.api import errors
from kybernetes.apiserver.authn import UserInfo
from kybernetes.apiserver.authz import Attributes, Decision
from kybernetes.apiserver.authz.rbac import PRIVILEGED_GROUP, RBAC_GROUP

if TYPE_CHECKING:
    from kybernetes.apiserver.authz.rbac import RBACAuthorizer
    from kybernetes.apiserver.rest import RequestContext

Rule = dict[str, Any]
FULL_AUTHORITY: list[Rule] = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                              {"verbs": ["*"], "nonResourceURLs": ["*"]}]

# The RBAC authorizer of the apiserver serving the current request (set by the request middleware); writes
# outside a request (bootstrap, the apiserver's own controllers) are not checked.
current_rbac: contextvars.ContextVar[RBACAuthorizer | None] = contextvars.ContextVar("current_rbac", default=None)


# rule coverage (upstream's validation.Covers)


def breakdown(rule: Rule) -> list[Rule]:
    """One rule per group x resource x verb x name, or per URL x verb."""
    out: list[Rule] = []
    verbs = rule.get("verbs") or []
    for g in rule.get("apiGroups") or []:
        for r in rule.get("resources") or []:
            for v in verbs:
                for n in rule.get("resourceNames") or [""]:
                    sub: Rule = {"apiGroups": [g], "resources": [r], "verbs": [v]}
                    if n:
                        sub["resourceNames"] = [n]
                    out.append(sub)
    for u in rule.get("nonResourceURLs") or []:
        for v in verbs:
            out.append({"nonResourceURLs": [u], "verbs": [v]})
    return out


def _has(values: Iterable[str], item: str) -> bool:
    return any(v == item for v in values)


def _resource_covers(owner: list[str], resource: str) -> bool:
    if _has(owner, "*") or _has(owner, resource):
        return True
    if "/" in resource:
        base, sub = resource.split("/", 1)
        return _has(owner, f"*/{sub}") or _has(owner, f"{base}/*")
    return False


def _url_covers(owner: list[str], url: str) -> bool:
    return any(o == url or o == "*" or (o.endswith("*") and url.startswith(o[:-1])) for o in owner)


def rule_covers(owner: Rule, sub: Rule) -> bool:
    """Does owner grant everything the single broken-down rule sub grants?"""
    verbs = owner.get("verbs") or []
    if not all(_has(verbs, "*") or _has(verbs, v) for v in sub.get("verbs") or []):
        return False
    if sub.get("nonResourceURLs"):
        return all(_url_covers(owner.get("nonResourceURLs") or [], u) for u in sub["nonResourceURLs"])
    groups = owner.get("apiGroups") or []
    if not all(_has(groups, "*") or _has(groups, g) for g in sub.get("apiGroups") or []):
        return False
    if not all(_resource_covers(owner.get("resources") or [], r) for r in sub.get("resources") or []):
        return False
    names = owner.get("resourceNames") or []
    return not names or all(_has(names, n) for n in sub.get("resourceNames") or []) and bool(sub.get("resourceNames"))


def covers(owner_rules: list[Rule], rules: list[Rule]) -> tuple[bool, list[Rule]]:
    missing = [sub for r in rules for sub in breakdown(r) if not any(rule_covers(o, sub) for o in owner_rules)]
    return not missing, missing


def compact(rules: list[Rule]) -> list[Rule]:
    """Merge broken-down resource rules that differ only in verb (upstream's CompactRules)."""
    out: list[Rule] = []
    simple: dict[tuple[str, str], Rule] = {}
    for r in rules:
        if r.get("resourceNames") or r.get("nonResourceURLs"):
            out.append(r)
            continue
        key = (r["apiGroups"][0], r["resources"][0])
        if key in simple:
            simple[key]["verbs"] = simple[key]["verbs"] + [v for v in r["verbs"] if v not in simple[key]["verbs"]]
        else:
            simple[key] = {**r, "verbs": list(r["verbs"])}
            out.append(simple[key])
    return out


def _go_quoted(values: Iterable[str]) -> str:
    """Go's %q of a []string: ["a" "b"]."""
    return "[" + " ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "]"


def compact_string(rule: Rule) -> str:
    parts = []
    for field, label in (("apiGroups", "APIGroups"), ("resources", "Resources"),
                         ("nonResourceURLs", "NonResourceURLs"), ("resourceNames", "ResourceNames"),
                         ("verbs", "Verbs")):
        if rule.get(field):
            parts.append(f"{label}:{_go_quoted(rule[field])}")
    return "{" + ", ".join(parts) + "}"


def confirm_no_escalation(rbac: RBACAuthorizer, user: UserInfo, namespace: str, rules: list[Rule]) -> str | None:
    """None when user holds every rule in namespace, else upstream's message listing what is missing."""
    owner, errs = rbac.rules_for(user, namespace)
    ok, missing = covers(owner, rules)
    if ok:
        return None
    lines = sorted({compact_string(r) for r in compact(missing)})
    msg = (f'user "{user.name}" (groups={_go_quoted(user.groups)}) is attempting to grant RBAC permissions not '
           "currently held:\n" + "\n".join(lines))
    if errs:
        msg += "; resolution errors: [" + ", ".join(errs) + "]"
    return msg


# the hook on writes of roles and bindings


def _forbidden(plural: str, name: str, msg: str) -> errors.StatusError:
    return errors.StatusError(403, "Forbidden", f'{plural}.{RBAC_GROUP} "{name}" is forbidden: {msg}',
                              details={"name": name, "group": RBAC_GROUP, "kind": plural})


def _allowed(rbac: RBACAuthorizer, user: UserInfo, verb: str, resource: str, namespace: str, name: str) -> bool:
    attrs = Attributes(user=user, verb=verb, is_resource_request=True, api_group=RBAC_GROUP, api_version="*",
                       namespace=namespace, resource=resource, name=name)
    return rbac.decide(attrs)[0] == Decision.ALLOW


def check_rbac_write(plural: str, obj: dict[str, Any], old: dict[str, Any] | None, ctx: RequestContext) -> None:
    """Raise 403 when this create/update of a role or binding would grant its writer's missing permissions."""
    rbac = current_rbac.get()
    if rbac is None or PRIVILEGED_GROUP in (ctx.groups or []):
        return
    user = UserInfo(name=ctx.user, groups=tuple(ctx.groups or ()))
    md = obj.get("metadata") or {}
    name, namespace = md.get("name", ""), md.get("namespace", "") if plural in ("roles", "rolebindings") else ""
    if plural in ("roles", "clusterroles"):
        if old is not None and (old.get("rules"), old.get("aggregationRule")) == \
                (obj.get("rules"), obj.get("aggregationRule")):
            return
        if _allowed(rbac, user, "escalate", plural, namespace, name):
            return
        msg = confirm_no_escalation(rbac, user, namespace, [r for r in obj.get("rules") or [] if isinstance(r, dict)])
        if msg:
            raise _forbidden(plural, name, msg)
        if plural == "clusterroles" and (obj.get("aggregationRule") or (old or {}).get("aggregationRule")):
            if confirm_no_escalation(rbac, user, namespace, FULL_AUTHORITY):
                raise _forbidden(plural, name, "must have cluster-admin privileges to use the aggregationRule")
        return
    if plural in ("rolebindings", "clusterrolebindings"):
        ref = obj.get("roleRef") or {}
        if old is not None and (old.get("roleRef"), old.get("subjects")) == (ref, obj.get("subjects")):
            return
        kind = ref.get("kind", "")
        resource = {"Role": "roles", "ClusterRole": "clusterroles"}.get(kind, kind.lower() + "s")
        if _allowed(rbac, user, "bind", resource, namespace, ref.get("name", "")):
            return
        rules, err = rbac.resolver.role_ref_rules(ref, namespace)
        if err:
            raise _forbidden(plural, name, err)
        msg = confirm_no_escalation(rbac, user, namespace, rules)
        if msg:
            raise _forbidden(plural, name, msg)

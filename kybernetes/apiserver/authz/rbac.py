"""The RBAC authorizer: Roles, ClusterRoles and their bindings, read from the apiserver's watch cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from kybernetes.apiserver.authn import UserInfo
from kybernetes.apiserver.authz import Attributes, Decision

if TYPE_CHECKING:
    from kybernetes.apiserver.watchcache import WatchCache

Rule = dict[str, Any]
RBAC_GROUP = "rbac.authorization.k8s.io"
PREFIX = f"/registry/{RBAC_GROUP}/"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
PRIVILEGED_GROUP = "system:masters"

# visitor(source, rule, error) -> keep going?
Visitor = Callable[[str, "Rule | None", "str | None"], bool]


# rule matching (upstream's rbac.RuleAllows and its helpers)


def verb_matches(rule: Rule, verb: str) -> bool:
    return any(v == "*" or v == verb for v in rule.get("verbs") or ())


def api_group_matches(rule: Rule, group: str) -> bool:
    return any(g == "*" or g == group for g in rule.get("apiGroups") or ())


def resource_matches(rule: Rule, combined: str, subresource: str) -> bool:
    """`combined` is resource or resource/subresource; "*/sub" matches that subresource of any resource."""
    for r in rule.get("resources") or ():
        if r == "*" or r == combined:
            return True
        if subresource and r.startswith("*/") and r[2:] == subresource:
            return True
    return False


def resource_name_matches(rule: Rule, name: str) -> bool:
    names = rule.get("resourceNames") or ()
    return not names or name in names


def non_resource_url_matches(rule: Rule, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or ():
        if url == "*" or url == path:
            return True
        if url.endswith("*") and path.startswith(url[:-1]):
            return True
    return False


def rule_allows(attrs: Attributes, rule: Rule) -> bool:
    if not verb_matches(rule, attrs.verb):
        return False
    if attrs.is_resource_request:
        combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        return (api_group_matches(rule, attrs.api_group) and resource_matches(rule, combined, attrs.subresource)
                and resource_name_matches(rule, attrs.name))
    return non_resource_url_matches(rule, attrs.path)


def rules_allow(attrs: Attributes, rules: Iterable[Rule]) -> bool:
    return any(rule_allows(attrs, r) for r in rules)


# subjects


def service_account_name(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


def applies_to(user: UserInfo, subject: dict[str, Any], binding_namespace: str) -> bool:
    """Does this binding subject name the user (User, Group, or ServiceAccount in the binding's namespace)?"""
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return user.name == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_namespace
        return bool(ns) and user.name == service_account_name(ns, name)
    return False


def describe_subject(subject: dict[str, Any], binding_namespace: str) -> str:
    name = subject.get("name", "")
    if subject.get("kind") == "ServiceAccount":
        name = f"{name}/{subject.get('namespace') or binding_namespace}"
    return f'{subject.get("kind")} "{name}"'


def not_found(kind: str, name: str) -> str:
    return f'{kind.lower()}.{RBAC_GROUP} "{name}" not found'


class RuleResolver:
    """The rules that apply to a user in a namespace, straight from the cached RBAC objects (no copies)."""

    def __init__(self, cache: WatchCache) -> None:
        self.cache = cache

    def _objects(self, plural: str) -> dict[str, dict[str, Any]]:
        return self.cache.cache_for(f"{PREFIX}{plural}/").objects

    def cluster_role(self, name: str) -> dict[str, Any] | None:
        return self._objects("clusterroles").get(f"{PREFIX}clusterroles/{name}")

    def role(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects("roles").get(f"{PREFIX}roles/{namespace}/{name}")

    def role_ref_rules(self, role_ref: dict[str, Any], namespace: str) -> tuple[list[Rule], str | None]:
        """The rules of the role a binding refers to (a Role only for a RoleBinding's namespace)."""
        kind, name = role_ref.get("kind"), role_ref.get("name", "")
        if kind == "ClusterRole":
            role = self.cluster_role(name)
        elif kind == "Role" and namespace:
            role = self.role(namespace, name)
        else:
            return [], f"unsupported role reference kind: {kind!r}"
        if role is None:
            return [], not_found(kind or "", name)
        return [r for r in role.get("rules") or () if isinstance(r, dict)], None

    def _bindings(self, plural: str, prefix: str = "") -> Iterator[dict[str, Any]]:
        objects = self._objects(plural)
        if not prefix:
            yield from list(objects.values())
            return
        for key, obj in list(objects.items()):
            if key.startswith(prefix):
                yield obj

    def visit_rules_for(self, user: UserInfo, namespace: str, visitor: Visitor) -> None:
        """Every rule granted to user in namespace (cluster-wide ones first); stops when visitor says so."""
        for b in self._bindings("clusterrolebindings"):
            for s in b.get("subjects") or ():
                if isinstance(s, dict) and applies_to(user, s, ""):
                    rules, err = self.role_ref_rules(b.get("roleRef") or {}, "")
                    ref = b.get("roleRef") or {}
                    source = (f'ClusterRoleBinding "{b["metadata"]["name"]}" of {ref.get("kind")} '
                              f'"{ref.get("name")}" to {describe_subject(s, "")}')
                    if err and not visitor(source, None, err):
                        return
                    for r in rules:
                        if not visitor(source, r, None):
                            return
                    break
        if not namespace:
            return
        for b in self._bindings("rolebindings", f"{PREFIX}rolebindings/{namespace}/"):
            for s in b.get("subjects") or ():
                if isinstance(s, dict) and applies_to(user, s, namespace):
                    rules, err = self.role_ref_rules(b.get("roleRef") or {}, namespace)
                    ref = b.get("roleRef") or {}
                    source = (f'RoleBinding "{b["metadata"]["name"]}/{namespace}" of {ref.get("kind")} '
                              f'"{ref.get("name")}" to {describe_subject(s, namespace)}')
                    if err and not visitor(source, None, err):
                        return
                    for r in rules:
                        if not visitor(source, r, None):
                            return
                    break

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Rule], list[str]]:
        """All rules and the errors met (missing roles) for user in namespace."""
        rules: list[Rule] = []
        errs: list[str] = []

        def collect(_source: str, rule: Rule | None, err: str | None) -> bool:
            if rule is not None:
                rules.append(rule)
            if err:
                errs.append(err)
            return True

        self.visit_rules_for(user, namespace, collect)
        return rules, errs


def aggregate_errors(errs: list[str]) -> str:
    """utilerrors.NewAggregate's wording: one error as is, several in brackets."""
    uniq = list(dict.fromkeys(errs))
    return uniq[0] if len(uniq) == 1 else "[" + ", ".join(uniq) + "]"


class RBACAuthorizer:
    """Allows what some binding of the user grants; otherwise no opinion, with missing roles as the reason."""

    def __init__(self, resolver: RuleResolver) -> None:
        self.resolver = resolver

    @classmethod
    def from_cache(cls, cache: WatchCache) -> RBACAuthorizer:
        return cls(RuleResolver(cache))

    def decide(self, attrs: Attributes) -> tuple[Decision, str]:
        if PRIVILEGED_GROUP in attrs.user.groups:
            return Decision.ALLOW, ""
        allowed_by: list[str] = []
        errs: list[str] = []

        def visit(source: str, rule: Rule | None, err: str | None) -> bool:
            if err:
                errs.append(err)
            if rule is not None and rule_allows(attrs, rule):
                allowed_by.append(source)
                return False
            return True

        self.resolver.visit_rules_for(attrs.user, attrs.namespace, visit)
        if allowed_by:
            return Decision.ALLOW, f"RBAC: allowed by {allowed_by[0]}"
        return Decision.NO_OPINION, f"RBAC: {aggregate_errors(errs)}" if errs else ""

    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        return self.decide(attrs)

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Rule], list[str]]:
        return self.resolver.rules_for(user, namespace)

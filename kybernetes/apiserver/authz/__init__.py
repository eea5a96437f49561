"""Authorization: may this user do this verb on this resource (RBAC, the Node authorizer, ...)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from kybernetes.api import errors
from kybernetes.apiserver.authn import UserInfo


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    NO_OPINION = "no-opinion"


@dataclass(frozen=True)
class Attributes:
    """authorizer.Attributes: the user and what the request does."""

    user: UserInfo
    verb: str  # get, list, watch, create, update, patch, delete, deletecollection; or an HTTP verb lowercased
    is_resource_request: bool
    path: str = ""
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    field_selector: str = ""  # list/watch: the request's fieldSelector (the Node authorizer scopes pods by it)
    label_selector: str = ""


class Authorizer(Protocol):
    """Returns (decision, reason). Chained authorizers stop at the first ALLOW or DENY."""

    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]: ...


class AlwaysAllow:
    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        return Decision.ALLOW, ""


class UnionAuthorizer:
    """Asks each authorizer in turn, as upstream's --authorization-mode=Node,RBAC."""

    def __init__(self, authorizers: list[Authorizer]) -> None:
        self.authorizers = authorizers

    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        reasons = []
        for a in self.authorizers:
            decision, reason = await a.authorize(attrs)
            if decision != Decision.NO_OPINION:
                return decision, reason
            if reason:
                reasons.append(reason)
        return Decision.NO_OPINION, "\n".join(reasons)


class PrivilegedGroups:
    """Allows every request of a member of these groups (system:masters), ahead of every other authorizer."""

    def __init__(self, groups: tuple[str, ...] = ("system:masters",)) -> None:
        self.groups = groups

    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        if any(g in self.groups for g in attrs.user.groups):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""


def forbidden_message(attrs: Attributes) -> str:
    """responsewriters.forbiddenMessage: who cannot do what, where."""
    user = attrs.user.name
    if not attrs.is_resource_request:
        return f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    res = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    return f'User "{user}" cannot {attrs.verb} resource "{res}" in API group "{attrs.api_group}" {where}'


def forbidden(attrs: Attributes, reason: str = "") -> errors.StatusError:
    """The 403 an unauthorized request gets (apierrors.NewForbidden over the group/resource and name)."""
    msg = forbidden_message(attrs) + (f": {reason}" if reason else "")
    if not attrs.is_resource_request:
        return errors.StatusError(403, "Forbidden", f"forbidden: {msg}", details={})
    what = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    target = f'{what} "{attrs.name}"' if attrs.name else what
    details: dict[str, str] = {"kind": attrs.resource}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.api_group:
        details["group"] = attrs.api_group
    return errors.StatusError(403, "Forbidden", f"{target} is forbidden: {msg}", details=details)


def request_attributes(user: UserInfo, ri: object, query: dict[str, str] | None = None) -> Attributes:
    """Attributes of a request from its RequestInfo; a list/watch naming one object by a metadata.name field
    selector is about that object, as upstream's RequestInfoFactory makes it."""
    q = query or {}
    if not getattr(ri, "is_resource_request", False):
        return Attributes(user=user, verb=ri.verb, is_resource_request=False, path=ri.path)  # type: ignore[attr-defined]
    name = ri.name  # type: ignore[attr-defined]
    field_selector = q.get("fieldSelector", "")
    if not name and ri.verb in ("list", "watch") and field_selector:  # type: ignore[attr-defined]
        for term in field_selector.split(","):
            k, sep, v = term.partition("=")  # metadata.name=x or metadata.name==x (never !=)
            if sep and k.strip() == "metadata.name":
                name = v.removeprefix("=").strip()
    return Attributes(user=user, verb=ri.verb, is_resource_request=True, path=ri.path,  # type: ignore[attr-defined]
                      api_group=ri.group, api_version=ri.version, namespace=ri.namespace,  # type: ignore[attr-defined]
                      resource=ri.resource, subresource=ri.subresource, name=name,  # type: ignore[attr-defined]
                      field_selector=field_selector, label_selector=q.get("labelSelector", ""))

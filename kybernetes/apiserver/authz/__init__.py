"""Authorization: may this user do this verb on this resource (RBAC, the Node authorizer, ...)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

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
        return Decision.NO_OPINION, "; ".join(reasons)

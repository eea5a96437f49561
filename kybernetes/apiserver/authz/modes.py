"""--authorization-mode: build the apiserver's authorizer chain (Node, RBAC, AlwaysAllow, AlwaysDeny)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kybernetes.apiserver.authz import AlwaysAllow, Attributes, Authorizer, Decision, PrivilegedGroups, \
    UnionAuthorizer

if TYPE_CHECKING:
    from kybernetes.apiserver.server import APIServer

DEFAULT_MODES = ("Node", "RBAC")
KNOWN_MODES = ("AlwaysAllow", "AlwaysDeny", "Node", "RBAC")


class AlwaysDeny:
    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        return Decision.NO_OPINION, "Everything is forbidden."


def parse_modes(value: str | list[str] | tuple[str, ...]) -> list[str]:
    """'Node,RBAC' -> ['Node', 'RBAC']; unknown or repeated modes are errors, as upstream."""
    modes = [m.strip() for m in (value.split(",") if isinstance(value, str) else value) if m.strip()]
    for m in modes:
        if m not in KNOWN_MODES:
            raise ValueError(f"authorization-mode {m!r} is not a valid mode (valid: {', '.join(KNOWN_MODES)})")
    if len(set(modes)) != len(modes):
        raise ValueError(f"authorization-mode {','.join(modes)} has mode specified more than once")
    return modes or list(DEFAULT_MODES)


def build_authorizer(server: APIServer, modes: list[str]) -> Authorizer:
    """The union of the modes in order, behind the system:masters short-cut; registers the review resources.
    Needs server.cache (call after it started)."""
    from kybernetes.apiserver.authz import reviews
    from kybernetes.apiserver.authz.node import NodeAuthorizer
    from kybernetes.apiserver.authz.rbac import RBACAuthorizer

    reviews.register()
    server.authorization_modes = list(modes)  # type: ignore[attr-defined]
    chain: list[Authorizer] = [PrivilegedGroups()]
    for m in modes:
        if m == "AlwaysAllow":
            chain.append(AlwaysAllow())
        elif m == "AlwaysDeny":
            chain.append(AlwaysDeny())
        elif m == "Node":
            server.node_authorizer = NodeAuthorizer.from_cache(server.cache)  # type: ignore[attr-defined]
            chain.append(server.node_authorizer)  # type: ignore[attr-defined]
        elif m == "RBAC":
            server.rbac_authorizer = RBACAuthorizer.from_cache(server.cache)  # type: ignore[attr-defined]
            chain.append(server.rbac_authorizer)  # type: ignore[attr-defined]
    return UnionAuthorizer(chain)

"""Impersonation (Impersonate-User, -Group, -Uid, -Extra-*): authorize each with the impersonate verb, then
let the request run as the impersonated user (upstream's WithImpersonation filter)."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

from aiohttp import web

from kybernetes.api import errors
from kybernetes.apiserver.authn import ANONYMOUS, AUTHENTICATED, UNAUTHENTICATED, UserInfo
from kybernetes.apiserver.authz import Attributes, Decision, forbidden

if TYPE_CHECKING:
    from kybernetes.apiserver.server import APIServer

IMPERSONATE_USER = "Impersonate-User"
IMPERSONATE_GROUP = "Impersonate-Group"
IMPERSONATE_UID = "Impersonate-Uid"
IMPERSONATE_EXTRA_PREFIX = "Impersonate-Extra-"
SA_PREFIX = "system:serviceaccount:"
AUTHN_GROUP = "authentication.k8s.io"


def _requests(request: web.Request) -> tuple[str, list[str], str, dict[str, list[str]]]:
    h = request.headers
    extras: dict[str, list[str]] = {}
    for key in h:
        if key.lower().startswith(IMPERSONATE_EXTRA_PREFIX.lower()):
            extra_key = urllib.parse.unquote(key[len(IMPERSONATE_EXTRA_PREFIX):]).lower()
            extras.setdefault(extra_key, [])
            for v in h.getall(key):
                if v not in extras[extra_key]:
                    extras[extra_key].append(v)
    return h.get(IMPERSONATE_USER, ""), list(h.getall(IMPERSONATE_GROUP, [])), h.get(IMPERSONATE_UID, ""), extras


async def impersonate(server: APIServer, request: web.Request, requestor: UserInfo) -> UserInfo:
    """The user the request acts as: the requestor, or whom it may impersonate; 403 when it may not."""
    name, groups, uid, extras = _requests(request)
    if not name:
        if groups or extras or uid:
            raise errors.bad_request(f"requested {_describe(groups, uid, extras)} without impersonating a user")
        return requestor
    checks: list[Attributes] = []
    new_groups = list(groups)
    if name.startswith(SA_PREFIX) and name.count(":") == 3:
        _, _, ns, sa = name.split(":", 3)
        checks.append(_attrs(requestor, "", "serviceaccounts", sa, namespace=ns))
        if not groups:
            new_groups = ["system:serviceaccounts", f"system:serviceaccounts:{ns}"]
    else:
        checks.append(_attrs(requestor, "", "users", name))
    checks += [_attrs(requestor, "", "groups", g) for g in groups]
    checks += [_attrs(requestor, AUTHN_GROUP, "userextras", v, subresource=k) for k, vs in extras.items() for v in vs]
    if uid:
        checks.append(_attrs(requestor, AUTHN_GROUP, "uids", uid))
    for attrs in checks:
        decision, reason = await server.authorizer.authorize(attrs)
        if decision != Decision.ALLOW:
            raise forbidden(attrs, reason)
    if name == ANONYMOUS:
        if UNAUTHENTICATED not in new_groups:
            new_groups.append(UNAUTHENTICATED)
    elif AUTHENTICATED not in new_groups:
        new_groups.append(AUTHENTICATED)
    return UserInfo(name=name, uid=uid, groups=tuple(new_groups), extra={k: tuple(v) for k, v in extras.items()})


def _attrs(user: UserInfo, group: str, resource: str, name: str, *, namespace: str = "",
           subresource: str = "") -> Attributes:
    return Attributes(user=user, verb="impersonate", is_resource_request=True, api_group=group, api_version="v1",
                      namespace=namespace, resource=resource, subresource=subresource, name=name)


def _describe(groups: list[str], uid: str, extras: dict[str, list[str]]) -> str:
    parts = [f"Group {g!r}" for g in groups] + ([f"UID {uid!r}"] if uid else []) + \
        [f"UserExtra {k}={v!r}" for k, vs in extras.items() for v in vs]
    return "[" + ", ".join(parts) + "]"

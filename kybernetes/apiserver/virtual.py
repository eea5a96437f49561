"""Virtual create-only resources (TokenReview, SelfSubjectReview, *AccessReview, serviceaccounts/token): answered
by a handler from the request body, never stored.

How to add one: give it a ResourceInfo with verbs ("create",) in kybernetes/api/registry.py, then map its
(group, plural) here, in VIRTUAL_CREATE, to "module:function" (imported on first use) or call `register()`.
A subresource (e.g. ("", "serviceaccounts", "token")) goes into VIRTUAL_SUBRESOURCE_CREATE the same way.

Handler contract::

    async def handler(server: APIServer, request: web.Request, ri: RequestInfo, info: ResourceInfo,
                      body: dict, user: UserInfo) -> dict

`body` is the decoded request object with apiVersion/kind checked against `info` (for a subresource, against
the subresource's own kind, which the handler checks itself) and metadata present; the returned object is the
response body (status 201, as upstream answers these creates). Raise kybernetes.api.errors.StatusError for
invalid requests. Handlers must not write to storage.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Union

from aiohttp import web

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver import negotiation as neg
from kybernetes.apiserver.authn import ANONYMOUS, UNAUTHENTICATED, UserInfo
from kybernetes.apiserver.requestinfo import RequestInfo

if TYPE_CHECKING:
    from kybernetes.apiserver.server import APIServer

VirtualHandler = Callable[["APIServer", web.Request, RequestInfo, ResourceInfo, dict, UserInfo],
                          Awaitable[dict[str, Any]]]

# (group, plural) -> handler or "module:function"
VIRTUAL_CREATE: dict[tuple[str, str], Union[VirtualHandler, str]] = {
    ("authentication.k8s.io", "tokenreviews"): "kybernetes.apiserver.authn.tokenreview:create_token_review",
    ("authentication.k8s.io", "selfsubjectreviews"):
        "kybernetes.apiserver.authn.tokenreview:create_self_subject_review",
}

# (group, plural, subresource) -> handler or "module:function"
VIRTUAL_SUBRESOURCE_CREATE: dict[tuple[str, str, str], Union[VirtualHandler, str]] = {
    ("", "serviceaccounts", "token"): "kybernetes.apiserver.authn.tokenrequest:create_token_request",
}


def register(group: str, plural: str, handler: VirtualHandler, subresource: str = "") -> None:
    """Serve creates of group/plural (or of its subresource) with `handler`."""
    if subresource:
        VIRTUAL_SUBRESOURCE_CREATE[(group, plural, subresource)] = handler
    else:
        VIRTUAL_CREATE[(group, plural)] = handler


def _resolve(table: dict, key: tuple) -> VirtualHandler | None:
    entry = table.get(key)
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
        table[key] = entry
    return entry


def lookup(group: str, plural: str, subresource: str = "") -> VirtualHandler | None:
    """The create handler of a virtual resource or subresource; None for ordinary (stored) ones."""
    if subresource:
        return _resolve(VIRTUAL_SUBRESOURCE_CREATE, (group, plural, subresource))
    return _resolve(VIRTUAL_CREATE, (group, plural))


def request_user(request: web.Request) -> UserInfo:
    """The authenticated user the middleware put on the request (anonymous when there is none)."""
    from kybernetes.apiserver.app import USER_INFO_KEY

    user = request.get(USER_INFO_KEY)
    return user if isinstance(user, UserInfo) else UserInfo(name=ANONYMOUS, groups=(UNAUTHENTICATED,))


async def serve(server: APIServer, request: web.Request, ri: RequestInfo, info: ResourceInfo, accept: neg.Accept,
                handler: VirtualHandler) -> web.Response:
    """Decode the body, check its type (not for subresources), run the handler, answer 201 with its result."""
    body = neg.decode_object(await neg.read_body(request), request.headers.get("Content-Type", ""))
    if not isinstance(body, dict):
        raise errors.bad_request("the object provided is not a valid object: expected a JSON object")
    if not ri.subresource:
        body = server.rest.check_body_type(info, body)
    elif not isinstance(body.get("metadata"), dict):
        body["metadata"] = {}
    out = await handler(server, request, ri, info, body, request_user(request))
    return neg.respond(out, accept, 201)

"""TokenReview (who does this token belong to?) and SelfSubjectReview (who am I? `kubectl auth whoami`): virtual
create-only resources of authentication.k8s.io/v1, answered without storing anything."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from kybernetes.api import errors, meta
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.authn import UserInfo
from kybernetes.apiserver.authn.token import InvalidToken
from kybernetes.apiserver.requestinfo import RequestInfo

if TYPE_CHECKING:
    from kybernetes.apiserver.server import APIServer

Obj = dict[str, Any]


def user_info_object(user: UserInfo) -> Obj:
    """authentication.k8s.io/v1 UserInfo."""
    out: Obj = {"username": user.name}
    if user.uid:
        out["uid"] = user.uid
    if user.groups:
        out["groups"] = list(user.groups)
    if user.extra:
        out["extra"] = {k: list(v) for k, v in user.extra.items()}
    return out


async def review_token(server: APIServer, token: str, audiences: list[str]) -> Obj:
    """A TokenReview status for `token` and the audiences asked for (the apiserver's when none)."""
    auth = getattr(server, "authentication", None)
    if auth is None:
        return {"authenticated": False, "user": {}, "error": "token authentication is not configured"}
    try:
        resp = await auth.tokens.review(token, audiences or None)
    except InvalidToken as e:
        return {"authenticated": False, "user": {}, "error": f"[invalid bearer token, {e}]"}
    status: Obj = {"authenticated": True, "user": user_info_object(resp.user)}
    if resp.audiences:
        status["audiences"] = list(resp.audiences)
    return status


async def create_token_review(server: APIServer, request: web.Request, ri: RequestInfo, info: ResourceInfo,
                              body: Obj, user: UserInfo) -> Obj:
    spec = body.get("spec") or {}
    token = spec.get("token") or ""
    if not token:
        raise errors.bad_request("token is required for TokenReview in authentication")
    audiences = spec.get("audiences") or []
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise errors.bad_request("spec.audiences must be a list of strings")
    md = dict(body.get("metadata") or {})
    md.setdefault("creationTimestamp", None)
    return {"kind": "TokenReview", "apiVersion": info.group_version, "metadata": md, "spec": spec,
            "status": await review_token(server, token, audiences)}


async def create_self_subject_review(server: APIServer, request: web.Request, ri: RequestInfo, info: ResourceInfo,
                                     body: Obj, user: UserInfo) -> Obj:
    md = dict(body.get("metadata") or {})
    md["creationTimestamp"] = meta.now_rfc3339()
    return {"kind": "SelfSubjectReview", "apiVersion": info.group_version, "metadata": md,
            "status": {"userInfo": user_info_object(user)}}

"""authorization.k8s.io/v1 reviews (SubjectAccessReview, SelfSubjectAccessReview, LocalSubjectAccessReview,
SelfSubjectRulesReview): create-only virtual resources answered by the apiserver's authorizer, never stored."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.authn import UserInfo
from kybernetes.apiserver.authz import Attributes, Decision
from kybernetes.apiserver.requestinfo import RequestInfo

if TYPE_CHECKING:
    from kybernetes.apiserver.server import APIServer

Obj = dict[str, Any]
GROUP = "authorization.k8s.io"


def attributes_from_spec(user: UserInfo, spec: Obj) -> Attributes:
    """authorizer.Attributes of a review's resourceAttributes or nonResourceAttributes."""
    ra = spec.get("resourceAttributes")
    if isinstance(ra, dict):
        fs = ra.get("fieldSelector") or {}
        ls = ra.get("labelSelector") or {}
        return Attributes(user=user, verb=ra.get("verb", ""), is_resource_request=True,
                          api_group=ra.get("group", ""), api_version=ra.get("version", ""),
                          namespace=ra.get("namespace", ""), resource=ra.get("resource", ""),
                          subresource=ra.get("subresource", ""), name=ra.get("name", ""),
                          field_selector=fs.get("rawSelector", "") if isinstance(fs, dict) else "",
                          label_selector=ls.get("rawSelector", "") if isinstance(ls, dict) else "")
    nra = spec.get("nonResourceAttributes") or {}
    return Attributes(user=user, verb=nra.get("verb", ""), is_resource_request=False, path=nra.get("path", ""))


def _check_one_of(kind: str, spec: Obj) -> None:
    has_ra, has_nra = spec.get("resourceAttributes") is not None, spec.get("nonResourceAttributes") is not None
    if has_ra == has_nra:
        field = "spec.resourceAttributes" if not has_ra else "spec.nonResourceAttributes"
        raise errors.invalid_object(GROUP, kind, "", [errors.invalid(
            field, spec.get("resourceAttributes"),
            "exactly one of nonResourceAttributes or resourceAttributes must be specified")])


async def _status(server: APIServer, attrs: Attributes) -> Obj:
    decision, reason = await server.authorizer.authorize(attrs)
    status: Obj = {"allowed": decision == Decision.ALLOW}
    if decision == Decision.DENY:
        status["denied"] = True
    if reason:
        status["reason"] = reason
    return status


def _response(kind: str, info: ResourceInfo, body: Obj, spec: Obj, status: Obj) -> Obj:
    md = dict(body.get("metadata") or {})
    md.setdefault("creationTimestamp", None)
    return {"kind": kind, "apiVersion": info.group_version, "metadata": md, "spec": spec, "status": status}


def _spec_user(spec: Obj) -> UserInfo:
    extra = spec.get("extra") or {}
    return UserInfo(name=spec.get("user", ""), uid=spec.get("uid", ""), groups=tuple(spec.get("groups") or ()),
                    extra={k: tuple(v or ()) for k, v in extra.items()} if isinstance(extra, dict) else {})


async def create_subject_access_review(server: APIServer, request: web.Request, ri: RequestInfo,
                                       info: ResourceInfo, body: Obj, user: UserInfo) -> Obj:
    spec = body.get("spec") or {}
    _check_one_of("SubjectAccessReview", spec)
    if not spec.get("user") and not spec.get("groups"):
        raise errors.invalid_object(GROUP, "SubjectAccessReview", "", [errors.invalid(
            "spec.user", spec.get("user", ""), "at least one of user or group must be specified")])
    status = await _status(server, attributes_from_spec(_spec_user(spec), spec))
    return _response("SubjectAccessReview", info, body, spec, status)


async def create_local_subject_access_review(server: APIServer, request: web.Request, ri: RequestInfo,
                                             info: ResourceInfo, body: Obj, user: UserInfo) -> Obj:
    spec = body.get("spec") or {}
    if spec.get("nonResourceAttributes") is not None:
        raise errors.invalid_object(GROUP, "LocalSubjectAccessReview", "", [errors.invalid(
            "spec.nonResourceAttributes", spec["nonResourceAttributes"], "disallowed on this kind of request")])
    _check_one_of("LocalSubjectAccessReview", spec)
    if not spec.get("user") and not spec.get("groups"):
        raise errors.invalid_object(GROUP, "LocalSubjectAccessReview", "", [errors.invalid(
            "spec.user", spec.get("user", ""), "at least one of user or group must be specified")])
    ra = spec["resourceAttributes"]
    if ra.get("namespace", "") != ri.namespace:
        raise errors.bad_request(f"spec.resourceAttributes.namespace must match namespace: {ri.namespace}")
    status = await _status(server, attributes_from_spec(_spec_user(spec), spec))
    return _response("LocalSubjectAccessReview", info, body, spec, status)


async def create_self_subject_access_review(server: APIServer, request: web.Request, ri: RequestInfo,
                                            info: ResourceInfo, body: Obj, user: UserInfo) -> Obj:
    spec = body.get("spec") or {}
    _check_one_of("SelfSubjectAccessReview", spec)
    status = await _status(server, attributes_from_spec(user, spec))
    return _response("SelfSubjectAccessReview", info, body, spec, status)


def _resource_rule(rule: Obj) -> Obj:
    out: Obj = {"verbs": list(rule.get("verbs") or []), "apiGroups": list(rule.get("apiGroups") or []),
                "resources": list(rule.get("resources") or [])}
    if rule.get("resourceNames"):
        out["resourceNames"] = list(rule["resourceNames"])
    return out


def rules_review_status(server: APIServer, user: UserInfo, namespace: str) -> Obj:
    """SubjectRulesReviewStatus: what the union of authorizers can enumerate for user in namespace."""
    from kybernetes.apiserver.authz.node import node_identity
    from kybernetes.apiserver.authz.rbac import PRIVILEGED_GROUP

    resource_rules: list[Obj] = []
    non_resource_rules: list[Obj] = []
    errs: list[str] = []
    incomplete = False
    if PRIVILEGED_GROUP in user.groups:
        resource_rules.append({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})
        non_resource_rules.append({"verbs": ["*"], "nonResourceURLs": ["*"]})
    if node_identity(user)[0] and getattr(server, "node_authorizer", None) is not None:
        incomplete = True
        errs.append("node authorizer does not support user rule resolution")
    rbac = getattr(server, "rbac_authorizer", None)
    if rbac is not None:
        rules, rbac_errs = rbac.rules_for(user, namespace)
        errs.extend(rbac_errs)
        for r in rules:
            if r.get("nonResourceURLs"):
                non_resource_rules.append({"verbs": list(r.get("verbs") or []),
                                           "nonResourceURLs": list(r["nonResourceURLs"])})
            else:
                resource_rules.append(_resource_rule(r))
    elif getattr(server, "authorization_modes", ["AlwaysAllow"]) == ["AlwaysAllow"]:
        resource_rules.append({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})
        non_resource_rules.append({"verbs": ["*"], "nonResourceURLs": ["*"]})
    status: Obj = {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules,
                   "incomplete": incomplete or bool(errs)}
    if errs:
        status["evaluationError"] = ", ".join(dict.fromkeys(errs))
    return status


async def create_self_subject_rules_review(server: APIServer, request: web.Request, ri: RequestInfo,
                                           info: ResourceInfo, body: Obj, user: UserInfo) -> Obj:
    spec = body.get("spec") or {}
    namespace = spec.get("namespace") or ""
    if not namespace:
        raise errors.bad_request("no namespace on request")
    return _response("SelfSubjectRulesReview", info, body, spec, rules_review_status(server, user, namespace))


HANDLERS = {
    (GROUP, "subjectaccessreviews"): create_subject_access_review,
    (GROUP, "localsubjectaccessreviews"): create_local_subject_access_review,
    (GROUP, "selfsubjectaccessreviews"): create_self_subject_access_review,
    (GROUP, "selfsubjectrulesreviews"): create_self_subject_rules_review,
}


def register() -> None:
    """Serve the reviews through kybernetes.apiserver.virtual (idempotent)."""
    from kybernetes.apiserver import virtual

    for (group, plural), handler in HANDLERS.items():
        virtual.register(group, plural, handler)

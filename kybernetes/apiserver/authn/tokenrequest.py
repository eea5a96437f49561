"""TokenRequest (POST serviceaccounts/NAME/token, `kubectl create token`): a bound service-account JWT, not stored."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.authn import UserInfo
from kybernetes.apiserver.authn.serviceaccount import bound_claims
from kybernetes.apiserver.requestinfo import RequestInfo

if TYPE_CHECKING:
    from kybernetes.apiserver.server import APIServer

Obj = dict[str, Any]

GROUP, VERSION, KIND = "authentication.k8s.io", "v1", "TokenRequest"
MIN_EXPIRATION_SECONDS = 600
DEFAULT_EXPIRATION_SECONDS = 3600
MAX_EXPIRATION_SECONDS = 1 << 32
BINDABLE = {"Pod": "pods", "Secret": "secrets", "Node": "nodes"}


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_type(body: Obj) -> None:
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if api_version and api_version != f"{GROUP}/{VERSION}":
        raise errors.bad_request(f"the API version in the data ({api_version}) does not match the expected API "
                                 f"version ({GROUP}/{VERSION})")
    if kind and kind != KIND:
        raise errors.bad_request(f"the kind in the data ({kind}) does not match the expected kind ({KIND})")


def validate_spec(spec: Obj, name: str) -> tuple[list[str], int]:
    """(audiences, expirationSeconds) with defaults applied; 422 as upstream's ValidateTokenRequest words it."""
    exp = spec.get("expirationSeconds")
    exp = DEFAULT_EXPIRATION_SECONDS if exp is None else exp
    errs = []
    if not isinstance(exp, int) or isinstance(exp, bool):
        errs.append(errors.invalid("spec.expirationSeconds", exp, "must be an integer"))
    elif exp < MIN_EXPIRATION_SECONDS:
        errs.append(errors.invalid("spec.expirationSeconds", exp, "may not specify a duration less than 10 minutes"))
    elif exp > MAX_EXPIRATION_SECONDS:
        errs.append(errors.invalid("spec.expirationSeconds", exp,
                                   "may not specify a duration larger than 2^32 seconds"))
    audiences = spec.get("audiences") or []
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        errs.append(errors.invalid("spec.audiences", audiences, "must be a list of strings"))
    if errs:
        raise errors.invalid_object(GROUP, KIND, name, errs)
    return audiences, exp


async def _current(server: APIServer, plural: str, namespace: str, name: str, *, from_cache: bool = False,
                   uid: str = "") -> Obj:
    """A consistent read of the object; `from_cache`: the watch cache's copy when it has one (with `uid`, when
    it is that one). A kubelet asks for the tokens of pods it has seen, by uid: a consistent read would, during a
    burst of writes, wait for the cache to catch up with storage (tens of ms for every pod's first token)."""
    info = server.registry.get("", "v1", plural)
    key = info.key(namespace if info.namespaced else "", name)
    cached = server.cache.cache_for(info.storage_prefix).objects.get(key) if from_cache else None
    if cached is not None and (not uid or (cached.get("metadata") or {}).get("uid") == uid):
        return server.rest.present(info, cached)
    obj = await server.rest.current(info, key)
    if obj is None:
        raise errors.not_found("", plural, name)
    return obj


async def bound_objects(server: APIServer, sa_name: str, namespace: str, ref: Obj | None,
                        from_cache: bool = False) -> dict[str, Obj]:
    """{"pod"|"secret"|"node": object} the token is bound to (a pod's node too); errors as upstream's."""
    if not ref:
        return {}
    kind, api_version, name = ref.get("kind", ""), ref.get("apiVersion", ""), ref.get("name", "")
    plural = BINDABLE.get(kind)
    if plural is None or api_version not in ("", "v1"):
        gvk = f"{api_version}, Kind={kind}" if "/" in api_version else f"/{api_version}, Kind={kind}"
        raise errors.bad_request(f'cannot bind token for serviceaccount "{sa_name}" to object of type {gvk}')
    if not name:
        raise errors.invalid_object(GROUP, KIND, sa_name, [errors.required("spec.boundObjectRef.name")])
    obj = await _current(server, plural, namespace, name, from_cache=from_cache, uid=ref.get("uid") or "")
    uid = (obj.get("metadata") or {}).get("uid", "")
    if ref.get("uid") and ref["uid"] != uid:
        raise errors.conflict("", kind, name, f"the UID in the bound object reference ({ref['uid']}) does not "
                                              f"match the UID in record. The object might have been deleted and "
                                              f"then recreated")
    out = {kind.lower(): obj}
    if kind == "Pod":
        if ((obj.get("spec") or {}).get("serviceAccountName") or "default") != sa_name:
            raise errors.bad_request(f'cannot bind token for serviceaccount "{sa_name}" to pod running with '
                                     f'different serviceaccount name.')
        node_name = (obj.get("spec") or {}).get("nodeName")
        if node_name:
            info = server.registry.get("", "v1", "nodes")
            node = server.cache.cache_for(info.storage_prefix).objects.get(info.key("", node_name))
            out["node"] = node if node is not None else {"metadata": {"name": node_name}}
    return out


async def create_token_request(server: APIServer, request: web.Request, ri: RequestInfo, info: ResourceInfo,
                               body: Obj, user: UserInfo) -> Obj:
    """The virtual create handler of serviceaccounts/token."""
    auth = getattr(server, "authentication", None)
    if auth is None or auth.generator is None:
        raise errors.StatusError(404, "NotFound", "the server could not find the requested resource", details={})
    check_type(body)
    name, namespace = ri.name, ri.namespace
    spec = dict(body.get("spec") or {})
    audiences, exp = validate_spec(spec, name)
    ref = spec.get("boundObjectRef")
    from_cache = isinstance(ref, dict) and bool(ref.get("uid"))  # the bound object's uid checks the cache's view
    sa = await _current(server, "serviceaccounts", namespace, name, from_cache=from_cache)
    bound = await bound_objects(server, name, namespace, ref, from_cache)
    audiences = audiences or list(auth.api_audiences)
    now = time.time()
    claims = bound_claims(sa, audiences=audiences, expiration_seconds=exp, pod=bound.get("pod"),
                          secret=bound.get("secret"), node=bound.get("node"), now=now)
    token = auth.generator.generate(claims)
    spec.update(audiences=audiences, expirationSeconds=exp)
    if not spec.get("boundObjectRef"):
        spec.pop("boundObjectRef", None)
    md = dict(body.get("metadata") or {})
    md.update(name=name, namespace=namespace, creationTimestamp=rfc3339(now))
    return {"kind": KIND, "apiVersion": f"{GROUP}/{VERSION}", "metadata": md, "spec": spec,
            "status": {"token": token, "expirationTimestamp": rfc3339(claims["exp"])}}

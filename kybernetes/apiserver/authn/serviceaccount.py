"""Service-account tokens: upstream's claims (legacy Secret tokens and bound tokens), their validation against the
objects they name, and the authenticator that verifies their signature, issuer and audiences."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import datetime
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import jwt

from kybernetes.apiserver.authn import UserInfo
from kybernetes.apiserver.authn.jwtkeys import PublicKey, key_id
from kybernetes.apiserver.authn.token import InvalidToken, TokenResponse, intersect

Obj = dict[str, Any]

LEGACY_ISSUER = "kubernetes/serviceaccount"
DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_ACCOUNT_USER_PREFIX = "system:serviceaccount:"
ALL_SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"
LEEWAY = 60  # seconds: go-jose's DefaultLeeway, for exp/nbf and for objects being deleted
SIGNING_ALGORITHMS = ["RS256", "ES256", "ES384", "ES512"]

# legacy private claims
LEGACY_NAMESPACE = "kubernetes.io/serviceaccount/namespace"
LEGACY_SECRET_NAME = "kubernetes.io/serviceaccount/secret.name"
LEGACY_SA_NAME = "kubernetes.io/serviceaccount/service-account.name"
LEGACY_SA_UID = "kubernetes.io/serviceaccount/service-account.uid"

# user extra keys
EXTRA_POD_NAME = "authentication.kubernetes.io/pod-name"
EXTRA_POD_UID = "authentication.kubernetes.io/pod-uid"
EXTRA_NODE_NAME = "authentication.kubernetes.io/node-name"
EXTRA_NODE_UID = "authentication.kubernetes.io/node-uid"
EXTRA_CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


def make_username(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}"


def split_username(username: str) -> tuple[str, str] | None:
    if not username.startswith(SERVICE_ACCOUNT_USER_PREFIX):
        return None
    parts = username[len(SERVICE_ACCOUNT_USER_PREFIX):].split(":")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]


def _md(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _ref(obj: Obj) -> dict[str, str]:
    md = _md(obj)
    return {"name": md.get("name", ""), "uid": md.get("uid", "")}


@dataclass(frozen=True)
class ServiceAccountInfo:
    """What a valid token says: whose it is and what it is bound to."""

    namespace: str
    name: str
    uid: str
    pod_name: str = ""
    pod_uid: str = ""
    node_name: str = ""
    node_uid: str = ""
    credential_id: str = ""

    def user_info(self) -> UserInfo:
        extra: dict[str, tuple[str, ...]] = {}
        if self.pod_name:
            extra[EXTRA_POD_NAME] = (self.pod_name,)
            extra[EXTRA_POD_UID] = (self.pod_uid,)
        if self.node_name:
            extra[EXTRA_NODE_NAME] = (self.node_name,)
            if self.node_uid:
                extra[EXTRA_NODE_UID] = (self.node_uid,)
        if self.credential_id:
            extra[EXTRA_CREDENTIAL_ID] = (self.credential_id,)
        return UserInfo(name=make_username(self.namespace, self.name), uid=self.uid,
                        groups=(ALL_SERVICE_ACCOUNTS_GROUP, f"{ALL_SERVICE_ACCOUNTS_GROUP}:{self.namespace}"),
                        extra=extra)


# ---------------------------------------------------------------------------------------------------- claims

def legacy_claims(sa: Obj, secret_name: str) -> Obj:
    """The claims of a token kept in a kubernetes.io/service-account-token Secret (no expiry, no audience)."""
    md = _md(sa)
    return {"sub": make_username(md["namespace"], md["name"]), LEGACY_NAMESPACE: md["namespace"],
            LEGACY_SECRET_NAME: secret_name, LEGACY_SA_NAME: md["name"], LEGACY_SA_UID: md.get("uid", "")}


def bound_claims(sa: Obj, *, audiences: Sequence[str], expiration_seconds: int, pod: Obj | None = None,
                 secret: Obj | None = None, node: Obj | None = None, now: float | None = None,
                 jti: str | None = None) -> Obj:
    """The claims of a TokenRequest token: audiences, iat/nbf/exp, and `kubernetes.io` naming the service
    account and the object it is bound to (a pod also names its node)."""
    issued = int(now if now is not None else time.time())
    md = _md(sa)
    private: Obj = {"namespace": md["namespace"], "serviceaccount": _ref(sa)}
    if pod is not None:
        private["pod"] = _ref(pod)
    elif secret is not None:
        private["secret"] = _ref(secret)
    if node is not None:
        private["node"] = _ref(node)
    return {"aud": list(audiences), "exp": issued + int(expiration_seconds), "iat": issued, "nbf": issued,
            "jti": jti or str(uuid.uuid4()), "sub": make_username(md["namespace"], md["name"]),
            "kubernetes.io": private}


# ---------------------------------------------------------------------------------------------------- objects

class ObjectGetter(Protocol):
    """Current core/v1 objects by plural ("serviceaccounts", "secrets", "pods", "nodes"); None when absent."""

    def get(self, plural: str, namespace: str, name: str) -> Obj | None: ...


class CacheGetter:
    """Reads the apiserver's own watch cache (no HTTP, no storage round trip)."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def get(self, plural: str, namespace: str, name: str) -> Obj | None:
        info = self.server.registry.get("", "v1", plural)
        if info is None or self.server.cache is None:
            return None
        return self.server.cache.cache_for(info.storage_prefix).objects.get(info.key(namespace, name))


def _deleted_before(obj: Obj, cutoff: float) -> bool:
    ts = _md(obj).get("deletionTimestamp")
    if not ts:
        return False
    try:
        when = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return True
    return when < cutoff


# ---------------------------------------------------------------------------------------------------- validation

def validate_time(claims: Obj, now: float, leeway: int = LEEWAY) -> None:
    """exp and nbf, with upstream's leeway."""
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if exp is not None and (not isinstance(exp, (int, float)) or now > exp + leeway):
        raise InvalidToken("service account token has expired")
    if nbf is not None and (not isinstance(nbf, (int, float)) or now < nbf - leeway):
        raise InvalidToken("service account token is not valid yet")


def validate_bound(claims: Obj, getter: ObjectGetter, now: float) -> ServiceAccountInfo:
    """A bound token is valid while its service account and bound pod/secret/node exist with the same uids."""
    validate_time(claims, now)
    private = claims.get("kubernetes.io")
    if not isinstance(private, dict):
        raise InvalidToken("service account token claims could not be validated due to unexpected private claim")
    namespace = private.get("namespace") or ""
    saref = private.get("serviceaccount") or {}
    podref, secref, noderef = private.get("pod"), private.get("secret"), private.get("node")
    cutoff = now - LEEWAY
    sa = getter.get("serviceaccounts", namespace, saref.get("name", ""))
    if sa is None:
        raise InvalidToken(f'serviceaccounts "{saref.get("name", "")}" not found')
    if _deleted_before(sa, cutoff):
        raise InvalidToken(f"service account {namespace}/{saref.get('name')} has been deleted")
    if _md(sa).get("uid") != saref.get("uid"):
        raise InvalidToken(f"service account UID ({_md(sa).get('uid')}) does not match claim ({saref.get('uid')})")
    if isinstance(secref, dict):
        secret = getter.get("secrets", namespace, secref.get("name", ""))
        if secret is None or _deleted_before(secret, cutoff):
            raise InvalidToken("service account token has been invalidated")
        if _md(secret).get("uid") != secref.get("uid"):
            raise InvalidToken(f"secret UID ({_md(secret).get('uid')}) does not match service account secret ref "
                               f"claim ({secref.get('uid')})")
    pod_name = pod_uid = ""
    if isinstance(podref, dict):
        pod = getter.get("pods", namespace, podref.get("name", ""))
        if pod is None or _deleted_before(pod, cutoff):
            raise InvalidToken("service account token has been invalidated")
        if _md(pod).get("uid") != podref.get("uid"):
            raise InvalidToken(f"pod UID ({_md(pod).get('uid')}) does not match service account pod ref claim "
                               f"({podref.get('uid')})")
        pod_name, pod_uid = podref.get("name", ""), podref.get("uid", "")
    node_name = node_uid = ""
    if isinstance(noderef, dict):
        node_name, node_uid = noderef.get("name", ""), noderef.get("uid", "")
        if not isinstance(podref, dict) and not isinstance(secref, dict):  # bound to the node itself
            node = getter.get("nodes", "", node_name)
            if node is None or _deleted_before(node, cutoff):
                raise InvalidToken("service account token has been invalidated")
            if _md(node).get("uid") != node_uid:
                raise InvalidToken(f"node UID ({_md(node).get('uid')}) does not match service account node ref "
                                   f"claim ({node_uid})")
    jti = claims.get("jti")
    return ServiceAccountInfo(namespace=namespace, name=saref.get("name", ""), uid=saref.get("uid", ""),
                              pod_name=pod_name, pod_uid=pod_uid, node_name=node_name, node_uid=node_uid,
                              credential_id=f"JTI={jti}" if jti else "")


def validate_legacy(token: str, claims: Obj, getter: ObjectGetter) -> ServiceAccountInfo:
    """A legacy token is valid while its Secret holds exactly it and its service account exists (same uid)."""
    for claim, what in ((LEGACY_NAMESPACE, "namespace"), (LEGACY_SECRET_NAME, "secretName"),
                        (LEGACY_SA_NAME, "serviceAccountName"), (LEGACY_SA_UID, "serviceAccountUID")):
        if not claims.get(claim):
            raise InvalidToken(f"{what} claim is missing")
    if not claims.get("sub"):
        raise InvalidToken("sub claim is missing")
    namespace, secret_name = claims[LEGACY_NAMESPACE], claims[LEGACY_SECRET_NAME]
    sa_name, sa_uid = claims[LEGACY_SA_NAME], claims[LEGACY_SA_UID]
    if split_username(claims["sub"]) != (namespace, sa_name):
        raise InvalidToken("sub claim is invalid")
    secret = getter.get("secrets", namespace, secret_name)
    if secret is None or _md(secret).get("deletionTimestamp"):
        raise InvalidToken("token has been invalidated")
    stored = (secret.get("data") or {}).get("token", "")
    try:
        stored_token = base64.b64decode(stored).decode()
    except (ValueError, UnicodeDecodeError):
        stored_token = ""
    if stored_token != token:
        raise InvalidToken("token does not match server's copy")
    sa = getter.get("serviceaccounts", namespace, sa_name)
    if sa is None:
        raise InvalidToken(f'serviceaccounts "{sa_name}" not found')
    if _md(sa).get("deletionTimestamp"):
        raise InvalidToken(f"ServiceAccount {namespace}/{sa_name} has been deleted")
    if _md(sa).get("uid") != sa_uid:
        raise InvalidToken(f"ServiceAccount UID ({_md(sa).get('uid')}) does not match claim ({sa_uid})")
    return ServiceAccountInfo(namespace=namespace, name=sa_name, uid=sa_uid)


# ---------------------------------------------------------------------------------------------------- authenticator

def unverified_issuer(token: str) -> str | None:
    """The `iss` of a compact JWT, unverified (only to pick the authenticator); None when it is not a JWT."""
    if token.lstrip().startswith("{") or token.count(".") != 2:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else None


class ServiceAccountTokenAuthenticator:
    """JWTs signed by one of `keys`: bound tokens of `issuers` (validated with validate_bound) and, unless
    disabled, legacy Secret tokens (issuer kubernetes/serviceaccount, validated with validate_legacy)."""

    def __init__(self, *, issuers: Sequence[str], keys: Sequence[PublicKey], implicit_audiences: Sequence[str],
                 getter: ObjectGetter, legacy: bool = True, now: Callable[[], float] = time.time) -> None:
        self.issuers = set(issuers)
        self.legacy = legacy
        self.keys = list(keys)
        self.keys_by_id: dict[str, list[PublicKey]] = {}
        for k in self.keys:
            self.keys_by_id.setdefault(key_id(k), []).append(k)
        self.implicit_audiences = tuple(implicit_audiences)
        self.getter = getter
        self.now = now

    def _verify(self, token: str) -> Obj:
        try:
            kid = jwt.get_unverified_header(token).get("kid") or ""
        except jwt.PyJWTError:
            raise InvalidToken("invalid token header") from None
        keys = self.keys_by_id.get(kid, []) if kid else self.keys
        if not keys:
            raise InvalidToken("invalid signature, no keys found")
        problems = []
        for key in keys:
            try:
                return jwt.decode(token, key, algorithms=SIGNING_ALGORITHMS,
                                  options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                                           "verify_aud": False, "verify_iss": False, "require": []})
            except jwt.InvalidSignatureError:
                problems.append("invalid signature")
            except jwt.PyJWTError as e:
                problems.append(str(e))
        raise InvalidToken(", ".join(problems))

    async def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResponse | None:
        issuer = unverified_issuer(token)
        is_legacy = issuer == LEGACY_ISSUER and self.legacy
        if issuer is None or (issuer not in self.issuers and not is_legacy):
            return None
        claims = self._verify(token)
        if claims.get("iss") != issuer:
            raise InvalidToken(f'token issuer "{claims.get("iss")}" is invalid')
        aud = claims.get("aud")
        token_auds = tuple([aud] if isinstance(aud, str) else (aud or ()))
        if not token_auds:
            token_auds = self.implicit_audiences  # legacy tokens: only the apiserver's audiences
        requested = tuple(audiences) or self.implicit_audiences
        auds = intersect(token_auds, requested)
        if not auds and self.implicit_audiences:
            raise InvalidToken(f"token audiences {json.dumps(list(token_auds))} is invalid for the target "
                               f"audiences {json.dumps(list(requested))}")
        if is_legacy:
            info = validate_legacy(token, claims, self.getter)
        else:
            info = validate_bound(claims, self.getter, self.now())
        return TokenResponse(info.user_info(), auds)

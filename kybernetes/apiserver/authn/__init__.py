"""Authentication: who is making a request (x509 client certificates, bearer tokens, anonymous)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

ANONYMOUS = "system:anonymous"
UNAUTHENTICATED = "system:unauthenticated"
AUTHENTICATED = "system:authenticated"


@dataclass(frozen=True)
class UserInfo:
    """user.Info: name, uid, groups and extra, as authenticators report them."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out


class Authenticator(Protocol):
    """Returns the request's user, None when this authenticator has nothing to say, or raises
    kybernetes.api.errors.StatusError(401) for credentials that are present but invalid."""

    async def authenticate(self, request: web.Request) -> UserInfo | None: ...


class CertificateAuthenticator:
    """A verified TLS client certificate: CN is the user, each O a group."""

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        transport = request.transport
        cert = transport.get_extra_info("peercert") if transport else None
        if not cert:
            return None
        name = ""
        groups: list[str] = []
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    name = v
                elif k == "organizationName":
                    groups.append(v)
        if not name:
            return None
        return UserInfo(name=name, groups=tuple(groups) + (AUTHENTICATED,))


class UnionAuthenticator:
    """Asks each authenticator in turn; the first user found wins; no user means anonymous (if allowed)."""

    def __init__(self, authenticators: list[Authenticator], *, anonymous: bool = True) -> None:
        self.authenticators = authenticators
        self.anonymous = anonymous

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        for a in self.authenticators:
            user = await a.authenticate(request)
            if user is not None:
                return user
        if self.anonymous:
            return UserInfo(name=ANONYMOUS, groups=(UNAUTHENTICATED,))
        return None

"""Parse a request path and method into a RequestInfo, as upstream's RequestInfoFactory does."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class RequestInfo:
    """What a resource request addresses and which verb it is."""

    is_resource_request: bool
    path: str
    verb: str = ""
    api_prefix: str = ""
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    parts: tuple[str, ...] = ()


_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def parse_request_info(method: str, path: str, query: dict[str, str] | None = None) -> RequestInfo:
    """Split /api/v1/namespaces/ns/pods/name/status (and the /apis/<group>/<version> forms)."""
    query = query or {}
    segments = [s for s in path.strip("/").split("/") if s != ""]
    info = RequestInfo(False, path, verb=method.lower())
    if not segments or segments[0] not in ("api", "apis"):
        return info
    prefix = segments[0]
    rest = segments[1:]
    if prefix == "api":
        if not rest:
            return info
        group, version, rest = "", rest[0], rest[1:]
    else:
        if len(rest) < 2:
            return info
        group, version, rest = rest[0], rest[1], rest[2:]
    if not rest:
        return info
    info = RequestInfo(True, path, api_prefix=prefix, group=group, version=version)
    info.verb = _VERBS.get(method.upper(), method.lower())
    if rest[0] == "watch":
        info.verb = "watch"
        rest = rest[1:]
        if not rest:
            return RequestInfo(False, path, verb=method.lower())
    namespace_subresource = len(rest) == 3 and rest[0] == "namespaces" and rest[2] in ("status", "finalize")
    if rest[0] == "namespaces" and len(rest) >= 3 and not namespace_subresource:
        info.namespace = rest[1]
        rest = rest[2:]
    elif rest[0] == "namespaces" and len(rest) >= 2:
        # the namespace object itself
        info.namespace = rest[1]
    info.parts = tuple(rest)
    info.resource = rest[0]
    if len(rest) >= 2:
        info.name = rest[1]
    if len(rest) >= 3:
        info.subresource = rest[2]
    if info.verb == "get" and not info.name:
        info.verb = "list"
    if info.verb in ("list", "get") and query.get("watch") in ("1", "true", "True"):
        info.verb = "watch"
    if info.verb == "delete" and not info.name:
        info.verb = "deletecollection"
    return info

"""Content negotiation: decode request bodies (JSON, YAML, patches) and encode responses (JSON, YAML, Table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import yaml
from aiohttp import web

from kybernetes.api import errors

MAX_BODY_BYTES = 3 * 1024 * 1024
PROTOBUF = "application/vnd.kubernetes.protobuf"

PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "apply-cbor",
}
JSON_TYPES = ("application/json", "*/*", "application/*", "")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")


@dataclass(frozen=True, slots=True)
class Accept:
    """What the client asked the response to be."""

    yaml: bool = False
    as_kind: str = ""  # "", "Table", "PartialObjectMetadata", "PartialObjectMetadataList"
    version: str = "v1"


def _media_type(value: str) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in value.split(";")]
    params: dict[str, str] = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        params[k.strip().lower()] = v.strip()
    return parts[0].lower(), params


def negotiate(accept_header: str) -> Accept:
    """Pick the first acceptable representation; protobuf-only clients get 406 NotAcceptable."""
    if not accept_header:
        return Accept()
    saw_protobuf = False
    for item in accept_header.split(","):
        mt, params = _media_type(item)
        if mt == "application/vnd.kubernetes.protobuf" or mt.endswith("protobuf"):
            saw_protobuf = True
            continue
        as_kind = params.get("as", "")
        if as_kind:
            if params.get("g", "meta.k8s.io") != "meta.k8s.io":
                continue
            if as_kind not in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList"):
                continue
            version = params.get("v", "v1")
            if version not in ("v1", "v1beta1"):
                continue
            if mt in YAML_TYPES:
                return Accept(yaml=True, as_kind=as_kind, version=version)
            if mt in ("application/json", "*/*"):
                return Accept(as_kind=as_kind, version=version)
            continue
        if mt in YAML_TYPES:
            return Accept(yaml=True)
        if mt in ("application/json", "*/*", "application/*", "application/json;stream=watch", "application/cbor"):
            if mt == "application/cbor":
                continue
            return Accept()
    if saw_protobuf:
        raise errors.StatusError(406, "NotAcceptable",
                                 "only the following media types are accepted: application/json, application/yaml")
    return Accept()

REQUEST_BODY_KEY = web.RequestKey("request_body", bytes) if hasattr(web, "RequestKey") else "request_body"


async def read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise errors.request_entity_too_large(MAX_BODY_BYTES)
    chunks = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise errors.request_entity_too_large(MAX_BODY_BYTES)
        chunks.append(chunk)
    body = request[REQUEST_BODY_KEY] = b"".join(chunks)  # kept for the audit log's requestObject
    return body


def decode_object(body: bytes, content_type: str) -> Any:
    """A create/update body as a dict: JSON, or YAML; anything else is 415."""
    mt, _ = _media_type(content_type or "application/json")
    if mt == PROTOBUF:
        from kybernetes.api.protobuf import decode_object as decode_protobuf

        return decode_protobuf(body)
    if mt == "application/cbor" or mt.endswith("protobuf"):
        raise errors.StatusError(
            415, "UnsupportedMediaType",
            f'the body of the request was in an unknown format - accepted media types include: '
            f'application/json, application/yaml')
    if mt not in JSON_TYPES and mt not in YAML_TYPES:
        raise errors.StatusError(
            415, "UnsupportedMediaType",
            f'the body of the request was in an unknown format - accepted media types include: '
            f'application/json, application/yaml')
    if not body.strip():
        raise errors.bad_request("the body of the request is empty")
    if mt in YAML_TYPES:
        try:
            return yaml.safe_load(body)
        except yaml.YAMLError as e:
            raise errors.bad_request(f"error converting YAML to JSON: {e}") from None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {e}") from None


def patch_type(content_type: str) -> str:
    mt, _ = _media_type(content_type or "")
    pt = PATCH_TYPES.get(mt)
    if pt is None or pt == "apply-cbor":
        raise errors.StatusError(
            415, "UnsupportedMediaType",
            f'the body of the request was in an unknown format - accepted media types include: '
            f'application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, '
            f'application/strategic-merge-patch+json')
    return pt


def encode(obj: Any, accept: Accept) -> tuple[bytes, str]:
    if accept.yaml:
        return yaml.safe_dump(orjson.loads(orjson.dumps(obj)), sort_keys=False).encode(), "application/yaml"
    return orjson.dumps(obj), "application/json"


def respond(obj: Any, accept: Accept, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body, ctype = encode(obj, accept)
    return web.Response(body=body, status=status, content_type=ctype, headers=headers)


def status_response(err: errors.StatusError, accept: Accept | None = None) -> web.Response:
    accept = accept or Accept()
    body, ctype = encode(err.status(), Accept(yaml=accept.yaml))
    return web.Response(body=body, status=err.code, content_type=ctype)


def success_status(details: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        out["details"] = details
    return out

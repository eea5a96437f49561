"""OpenAPI v2 (swagger) and v3 documents of the served API, built from the registry and upstream's definitions."""

from __future__ import annotations

import copy
import functools
import hashlib
import weakref
from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple

import orjson

from kybernetes.api import openapi_proto
from kybernetes.api import schema as upstream
from kybernetes.api.registry import Registry, ResourceInfo

Schema = dict[str, Any]

V2_REF = "#/definitions/"
V3_REF = "#/components/schemas/"
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
OBJECT_META = META + "ObjectMeta"
LIST_META = META + "ListMeta"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
# definitions every group-version document carries, whatever its kinds reference
META_DEFINITIONS = tuple(META + n for n in ("APIResourceList", "DeleteOptions", "Patch", "Status", "WatchEvent"))

API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources")
KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds")
_METADATA_DOC = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
METADATA_DESCRIPTION = f"Standard object's metadata. More info: {_METADATA_DOC}"
LIST_METADATA_DESCRIPTION = f"Standard list metadata. More info: {_METADATA_DOC}"


class SubresourceInfo(NamedTuple):
    """What a subresource returns (group, version, kind) and its verbs, as upstream's discovery says."""

    group: str
    version: str
    kind: str
    verbs: tuple[str, ...]
    connect: bool = False  # served through a connect action (exec, attach, portforward, proxy)


_GET_UPDATE = ("get", "patch", "update")
_PROXY_VERBS = ("create", "delete", "get", "patch", "update")
_PROXY_KINDS = {"Pod": "PodProxyOptions", "Node": "NodeProxyOptions", "Service": "ServiceProxyOptions"}


def subresource_info(info: ResourceInfo, subresource: str) -> SubresourceInfo:
    """The response kind and verbs of `<info.plural>/<subresource>`, following kube-apiserver 1.32."""
    own = (info.group, info.version, info.kind)
    if subresource == "scale":
        return SubresourceInfo("autoscaling", "v1", "Scale", _GET_UPDATE)
    if subresource == "eviction":
        return SubresourceInfo("policy", "v1", "Eviction", ("create",))
    if subresource == "binding":
        return SubresourceInfo("", "v1", "Binding", ("create",))
    if subresource == "token":
        return SubresourceInfo("authentication.k8s.io", "v1", "TokenRequest", ("create",))
    if subresource == "log":
        return SubresourceInfo(*own, ("get",))
    if subresource == "finalize":
        return SubresourceInfo(*own, ("update",))
    if subresource in ("exec", "attach", "portforward"):
        kind = {"exec": "PodExecOptions", "attach": "PodAttachOptions", "portforward": "PodPortForwardOptions"}
        return SubresourceInfo("", "v1", kind[subresource], ("create", "get"), True)
    if subresource == "proxy":
        kind = _PROXY_KINDS.get(info.kind, info.kind + "ProxyOptions")
        return SubresourceInfo("", "v1", kind, _PROXY_VERBS, True)
    # status, ephemeralcontainers, resize, approval and anything else: the object itself
    return SubresourceInfo(*own, _GET_UPDATE)


# ---------------------------------------------------------------- schema conversion

def _single_type(t: Any) -> Any:
    if isinstance(t, list):
        rest = [x for x in t if x != "null"]
        return rest[0] if len(rest) == 1 else None
    return t


def _convert(node: Any, ref_prefix: str, v3: bool) -> Any:
    """One upstream (JSON Schema dialect) schema node as an OpenAPI schema node."""
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    ref = upstream.ref_name(node)
    for key, value in node.items():
        if key == "$ref" or key == "enum":
            continue  # refs are re-added below; enums only pin apiVersion/kind upstream
        if key == "type":
            t = _single_type(value)
            if t is not None:
                out["type"] = t
        elif key == "properties":
            out["properties"] = {k: _convert(v, ref_prefix, v3) for k, v in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = _convert(value, ref_prefix, v3)
        elif key in ("oneOf", "anyOf", "allOf"):
            out[key] = [_convert(v, ref_prefix, v3) for v in value]
        else:
            out[key] = value
    if ref is None:
        return out
    target = {"$ref": ref_prefix + ref}
    if not out:
        return target
    if v3:
        return {"allOf": [target], **out}
    return {**target, **out}


def _special(name: str, source: Schema, v3: bool) -> Schema | None:
    description = {"description": source["description"]} if "description" in source else {}
    if name == INT_OR_STRING:
        if v3:
            return {**description, "format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}],
                    "x-kubernetes-int-or-string": True}
        return {**description, "type": "string", "format": "int-or-string"}
    if name == QUANTITY:
        if v3:
            return {**description, "oneOf": [{"type": "string"}, {"type": "number"}]}
        return {**description, "type": "string"}
    return None


@functools.lru_cache(maxsize=2)
def builtin_definitions(v3: bool) -> dict[str, Schema]:
    """Every upstream definition converted to OpenAPI v2 (v3=False) or v3 (v3=True). Treat as read-only."""
    prefix = V3_REF if v3 else V2_REF
    out: dict[str, Schema] = {}
    for name, source in upstream.definitions().items():
        out[name] = _special(name, source, v3) or _convert(source, prefix, v3)
    return out


@functools.lru_cache(maxsize=1)
def _gvk_definitions() -> dict[tuple[str, str, str], str]:
    return upstream.gvk_definitions()


def crd_definition_name(group: str, version: str, kind: str) -> str:
    """Upstream's REST-friendly name of a custom kind: the group's labels reversed, then version and kind."""
    return ".".join(reversed(group.split("."))) + f".{version}.{kind}"


def definition_name(info: ResourceInfo) -> str | None:
    """The OpenAPI definition name of a served resource's kind."""
    if info.crd:
        return crd_definition_name(info.group, info.version, info.kind)
    return info.definition or _gvk_definitions().get((info.group, info.version, info.kind))


# ---------------------------------------------------------------- custom resources

_V2_SCHEMA_KEYS = frozenset((
    "$ref", "format", "title", "description", "default", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems",
    "maxProperties", "minProperties", "required", "enum", "additionalProperties", "type", "items", "allOf",
    "properties", "discriminator", "readOnly", "example", "externalDocs"))


def _crd_node_v2(node: Any) -> Any:
    """A CRD's structural schema node reduced to what swagger 2.0 (and kubectl's v2 parser) accepts."""
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for key, value in node.items():
        if key.startswith("x-"):
            out[key] = value
        elif key not in _V2_SCHEMA_KEYS or key == "allOf":
            continue
        elif key == "properties" and isinstance(value, dict):
            out[key] = {k: _crd_node_v2(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _crd_node_v2(value)
        elif key == "items" and isinstance(value, list):
            out[key] = _crd_node_v2(value[0]) if value else {}
        else:
            out[key] = value
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    if out.get("type") == "object" and out.get("x-kubernetes-preserve-unknown-fields") and "properties" not in out:
        out.pop("type")  # upstream leaves free-form objects untyped in v2
    return out


def _crd_schema(info: ResourceInfo, v3: bool) -> Schema:
    """The kind's schema as upstream's CRD OpenAPI builder publishes it: the user's schema with standard
    apiVersion, kind and metadata fields and the group-version-kind extension."""
    user = info.extra.get("openapi_schema")
    base: Schema = copy.deepcopy(user) if isinstance(user, dict) else {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if not v3:
        base = _crd_node_v2(base)
    base.setdefault("type", "object")
    props = dict(base.get("properties") or {})
    ref_prefix = V3_REF if v3 else V2_REF
    meta_ref = {"$ref": ref_prefix + OBJECT_META}
    props["apiVersion"] = {"description": API_VERSION_DESCRIPTION, "type": "string"}
    props["kind"] = {"description": KIND_DESCRIPTION, "type": "string"}
    props["metadata"] = ({"allOf": [meta_ref], "description": METADATA_DESCRIPTION} if v3
                         else {**meta_ref, "description": METADATA_DESCRIPTION})
    base["properties"] = props
    base["x-kubernetes-group-version-kind"] = [{"group": info.group, "kind": info.kind, "version": info.version}]
    return base


def _crd_list_schema(info: ResourceInfo, v3: bool) -> Schema:
    ref_prefix = V3_REF if v3 else V2_REF
    list_meta = {"$ref": ref_prefix + LIST_META}
    return {
        "description": f"{info.kind}List is a list of {info.kind}",
        "properties": {
            "apiVersion": {"description": API_VERSION_DESCRIPTION, "type": "string"},
            "items": {"description": f"List of {info.plural}. More info: "
                                     "https://git.k8s.io/community/contributors/devel/api-conventions.md",
                      "items": {"$ref": ref_prefix + definition_name(info)}, "type": "array"},
            "kind": {"description": KIND_DESCRIPTION, "type": "string"},
            "metadata": ({"allOf": [list_meta], "description": LIST_METADATA_DESCRIPTION} if v3
                         else {**list_meta, "description": LIST_METADATA_DESCRIPTION}),
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": info.group, "kind": info.list_kind, "version": info.version}],
    }


def all_definitions(registry: Registry, v3: bool) -> dict[str, Schema]:
    """Built-in definitions plus one kind and one list definition per served custom resource."""
    out = dict(builtin_definitions(v3))
    for info in registry:
        if info.crd:
            name = definition_name(info)
            out[name] = _crd_schema(info, v3)
            out[name + "List"] = _crd_list_schema(info, v3)
    return out


def reachable(definitions: dict[str, Schema], roots: Iterable[str], ref_prefix: str) -> dict[str, Schema]:
    """The named definitions plus every definition they reference, transitively."""
    out: dict[str, Schema] = {}
    stack = [r for r in roots if r in definitions]
    while stack:
        name = stack.pop()
        if name in out:
            continue
        out[name] = definitions[name]
        stack.extend(n for n in _refs(definitions[name], ref_prefix) if n in definitions and n not in out)
    return dict(sorted(out.items()))


def _refs(node: Any, ref_prefix: str) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(ref_prefix):
                yield value[len(ref_prefix):]
            elif key == "properties" and isinstance(value, dict):
                for sub in value.values():  # property names may look like extensions
                    yield from _refs(sub, ref_prefix)
            elif key.startswith("x-"):
                continue
            else:
                yield from _refs(value, ref_prefix)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value, ref_prefix)


# ---------------------------------------------------------------- paths

_PRODUCES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
_PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml"]
# custom resources take no strategic merge patch; kubectl picks JSON merge patch when it is not listed
_CRD_PATCH_TYPES = [t for t in _PATCH_TYPES if "strategic" not in t]
_LIST_PARAMS = ("allowWatchBookmarks:boolean", "continue:string", "fieldSelector:string", "labelSelector:string",
                "limit:integer", "resourceVersion:string", "resourceVersionMatch:string",
                "sendInitialEvents:boolean", "timeoutSeconds:integer", "watch:boolean")
_WRITE_PARAMS = ("dryRun:string", "fieldManager:string", "fieldValidation:string")
_DELETE_PARAMS = ("dryRun:string", "gracePeriodSeconds:integer", "orphanDependents:boolean",
                  "propagationPolicy:string")


class _Op(NamedTuple):
    method: str  # get, put, post, patch, delete
    action: str  # x-kubernetes-action
    verb: str  # operationId prefix
    gvk: tuple[str, str, str]
    body: str | None  # request body definition
    response: str | None  # 200 response definition
    params: tuple[str, ...]
    suffix: str = ""  # operationId suffix, e.g. ForAllNamespaces


def _camel(text: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in text.replace("-", ".").split(".") if p)


def _group_camel(group: str) -> str:
    if not group:
        return "Core"
    return _camel(group.removesuffix(".k8s.io") if group.endswith(".k8s.io") else group)


def _resource_ops(info: ResourceInfo) -> dict[str, list[_Op]]:
    """Path -> operations of one resource, its subresources included."""
    prefix = "/api/v1" if not info.group else f"/apis/{info.group}/{info.version}"
    ns = "/namespaces/{namespace}" if info.namespaced else ""
    collection = f"{prefix}{ns}/{info.plural}"
    item = collection + "/{name}"
    gvk = (info.group, info.version, info.kind)
    kind_def = definition_name(info)
    list_def = kind_def + "List" if kind_def else None
    status = META + "Status"
    verbs = set(info.verbs)
    paths: dict[str, list[_Op]] = {collection: [], item: []}
    if "list" in verbs:
        paths[collection].append(_Op("get", "list", "list", gvk, None, list_def, _LIST_PARAMS))
        if info.namespaced:
            paths[f"{prefix}/{info.plural}"] = [_Op("get", "list", "list", gvk, None, list_def, _LIST_PARAMS,
                                                            "ForAllNamespaces")]
    if "create" in verbs:
        paths[collection].append(_Op("post", "post", "create", gvk, kind_def, kind_def, _WRITE_PARAMS))
    if "deletecollection" in verbs:
        paths[collection].append(_Op("delete", "deletecollection", "deleteCollection", gvk,
                                     META + "DeleteOptions", status, _DELETE_PARAMS + _LIST_PARAMS))
    if "get" in verbs:
        paths[item].append(_Op("get", "get", "read", gvk, None, kind_def, ()))
    if "update" in verbs:
        paths[item].append(_Op("put", "put", "replace", gvk, kind_def, kind_def, _WRITE_PARAMS))
    if "patch" in verbs:
        paths[item].append(_Op("patch", "patch", "patch", gvk, META + "Patch", kind_def,
                               _WRITE_PARAMS + ("force:boolean",)))
    if "delete" in verbs:
        paths[item].append(_Op("delete", "delete", "delete", gvk, META + "DeleteOptions", status, _DELETE_PARAMS))
    for sub in info.subresources:
        paths[f"{item}/{sub}"] = _subresource_ops(info, sub)
    return {p: ops for p, ops in paths.items() if ops}


def _subresource_ops(info: ResourceInfo, sub: str) -> list[_Op]:
    si = subresource_info(info, sub)
    gvk = (si.group, si.version, si.kind)
    if si.connect:
        methods = {"get": "get", "create": "post", "update": "put", "patch": "patch", "delete": "delete"}
        return [_Op(methods[v], "connect", "connect" + methods[v].capitalize(), gvk, None, None, ())
                for v in si.verbs]
    if info.crd and (si.group, si.kind) == (info.group, info.kind):
        target = definition_name(info)
    else:
        target = _gvk_definitions().get(gvk)
    if sub == "log":
        return [_Op("get", "get", "read", gvk, None, None,
                    ("container:string", "follow:boolean", "previous:boolean", "tailLines:integer"))]
    ops: list[_Op] = []
    if "get" in si.verbs:
        ops.append(_Op("get", "get", "read", gvk, None, target, ()))
    if "create" in si.verbs:
        ops.append(_Op("post", "post", "create", gvk, target, target, _WRITE_PARAMS))
    if "update" in si.verbs:
        ops.append(_Op("put", "put", "replace", gvk, target, target, _WRITE_PARAMS))
    if "patch" in si.verbs:
        ops.append(_Op("patch", "patch", "patch", gvk, META + "Patch", target, _WRITE_PARAMS + ("force:boolean",)))
    return ops


def _operation_id(info: ResourceInfo, path: str, op: _Op) -> str:
    namespaced = "Namespaced" if info.namespaced and "{namespace}" in path else ""
    sub = path.partition("{name}/")[2]
    return (f"{op.verb}{_group_camel(info.group)}{_camel(info.version)}{namespaced}{info.kind}"
            f"{_camel(sub)}{op.suffix}")


def _path_params(path: str, info: ResourceInfo) -> list[tuple[str, str]]:
    out = []
    if "{name}" in path:
        out.append(("name", f"name of the {info.kind}"))
    if "{namespace}" in path:
        out.append(("namespace", "object name and auth scope, such as for teams and projects"))
    return out


def _gvk_ext(gvk: tuple[str, str, str]) -> dict[str, str]:
    return {"group": gvk[0], "kind": gvk[2], "version": gvk[1]}


def _tag(info: ResourceInfo) -> str:
    return f"{(info.group or 'core').replace('.k8s.io', '').replace('.', '_')}_{info.version}"


def _v2_operation(info: ResourceInfo, path: str, op: _Op) -> Schema:
    params: list[Schema] = []
    if op.body and op.method in ("post", "put", "patch"):
        params.append({"in": "body", "name": "body", "required": True, "schema": {"$ref": V2_REF + op.body}})
    for p in op.params:
        name, t = p.split(":")
        params.append({"in": "query", "name": name, "type": t, "uniqueItems": True})
    response: Schema = {"description": "OK"}
    if op.response:
        response["schema"] = {"$ref": V2_REF + op.response}
    elif op.action != "connect":
        response["schema"] = {"type": "string"}
    out: Schema = {
        "description": f"{op.action} {info.kind}",
        "operationId": _operation_id(info, path, op),
        "produces": ["*/*"] if op.action == "connect" else _PRODUCES,
        "responses": {"200": response, "401": {"description": "Unauthorized"}},
        "schemes": ["https"],
        "tags": [_tag(info)],
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": _gvk_ext(op.gvk),
    }
    if op.method == "patch":
        out["consumes"] = _CRD_PATCH_TYPES if info.crd else _PATCH_TYPES
    elif op.method in ("post", "put", "delete"):
        out["consumes"] = ["*/*"]
    if params:
        out["parameters"] = params
    return out


def _v3_operation(info: ResourceInfo, path: str, op: _Op) -> Schema:
    params = [{"in": "query", "name": p.split(":")[0], "schema": {"type": p.split(":")[1], "uniqueItems": True}}
              for p in op.params]
    response: Schema = {"description": "OK"}
    if op.response:
        ref = {"schema": {"$ref": V3_REF + op.response}}
        response["content"] = {t: ref for t in _PRODUCES}
    elif op.action != "connect":
        response["content"] = {"*/*": {"schema": {"type": "string"}}}
    out: Schema = {
        "description": f"{op.action} {info.kind}",
        "operationId": _operation_id(info, path, op),
        "responses": {"200": response, "401": {"description": "Unauthorized"}},
        "tags": [_tag(info)],
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": _gvk_ext(op.gvk),
    }
    if op.body and op.method in ("post", "put", "patch"):
        types = (_CRD_PATCH_TYPES if info.crd else _PATCH_TYPES) if op.method == "patch" else ["*/*"]
        out["requestBody"] = {"content": {t: {"schema": {"$ref": V3_REF + op.body}} for t in types},
                              "required": True}
    if params:
        out["parameters"] = params
    return out


def _paths(resources: Iterable[ResourceInfo], v3: bool) -> tuple[dict[str, Schema], set[str]]:
    """Path items of the given resources and the definitions their operations reference."""
    paths: dict[str, Schema] = {}
    used: set[str] = set()
    for info in resources:
        for path, ops in _resource_ops(info).items():
            item: Schema = {}
            for op in ops:
                item[op.method] = (_v3_operation if v3 else _v2_operation)(info, path, op)
                used.update(d for d in (op.body, op.response) if d)
            params = [{"description": d, "in": "path", "name": n, "required": True,
                       **({"schema": {"type": "string", "uniqueItems": True}} if v3
                          else {"type": "string", "uniqueItems": True})} for n, d in _path_params(path, info)]
            pretty = {"description": "If 'true', then the output is pretty printed.", "in": "query",
                      "name": "pretty"}
            pretty.update({"schema": {"type": "string", "uniqueItems": True}} if v3
                          else {"type": "string", "uniqueItems": True})
            item["parameters"] = params + [pretty]
            paths[path] = item
    return dict(sorted(paths.items())), used


def _roots(resources: Iterable[ResourceInfo]) -> list[str]:
    roots = list(META_DEFINITIONS)
    for info in resources:
        name = definition_name(info)
        if name:
            roots += [name, name + "List"]
    return roots


# ---------------------------------------------------------------- documents and caches

INFO = {"title": "Kubernetes", "version": f"v{upstream.KUBERNETES_VERSION}"}


def document_hash(data: bytes) -> str:
    """Upstream's content hash of an OpenAPI document: SHA-512, upper-case hex."""
    return hashlib.sha512(data).hexdigest().upper()


@dataclass
class _Documents:
    generation: int
    v2: bytes | None = None
    v2_etag: str = ""
    v2_protobuf: bytes | None = None
    v3: dict[str, bytes] = field(default_factory=dict)  # "api/v1", "apis/apps/v1" -> document
    v3_hashes: dict[str, str] = field(default_factory=dict)


_CACHE: "weakref.WeakKeyDictionary[Registry, _Documents]" = weakref.WeakKeyDictionary()


def _documents(registry: Registry) -> _Documents:
    docs = _CACHE.get(registry)
    if docs is None or docs.generation != registry.generation:
        docs = _Documents(registry.generation)
        _CACHE[registry] = docs
    return docs


def gv_path(group: str, version: str) -> str:
    """The OpenAPI v3 discovery path of a group-version: 'api/v1' or 'apis/<group>/<version>'."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _build_v2(registry: Registry) -> dict:
    resources = list(registry)
    definitions = all_definitions(registry, v3=False)
    paths, used = _paths(resources, v3=False)
    doc = {
        "swagger": "2.0",
        "info": INFO,
        "paths": paths,
        "definitions": reachable(definitions, _roots(resources) + sorted(used), V2_REF),
        "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication", "in": "header",
                                                "name": "authorization", "type": "apiKey"}},
        "security": [{"BearerToken": []}],
    }
    return doc


def _build_v3(registry: Registry, group: str, version: str) -> bytes | None:
    resources = registry.resources(group, version)
    if not resources:
        return None
    definitions = all_definitions(registry, v3=True) if any(i.crd for i in resources) \
        else builtin_definitions(True)
    paths, used = _paths(resources, v3=True)
    doc = {
        "openapi": "3.0.0",
        "info": INFO,
        "paths": paths,
        "components": {
            "schemas": reachable(definitions, _roots(resources) + sorted(used), V3_REF),
            "securitySchemes": {"BearerToken": {"description": "Bearer Token authentication", "in": "header",
                                                "name": "authorization", "type": "apiKey"}},
        },
    }
    return orjson.dumps(doc)


def openapi_v2(registry: Registry) -> bytes:
    """The swagger 2.0 document served at /openapi/v2, as JSON bytes; rebuilt when the registry changes."""
    docs = _documents(registry)
    if docs.v2 is None:
        doc = _build_v2(registry)
        docs.v2 = orjson.dumps(doc)
        docs.v2_etag = '"' + document_hash(docs.v2) + '"'
        docs.v2_protobuf = openapi_proto.document(doc)
    return docs.v2


def openapi_v2_protobuf(registry: Registry) -> bytes:
    """The same document as gnostic's protobuf: what client-go's OpenAPISchema(), hence kubectl, asks for
    (Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf) and requires."""
    openapi_v2(registry)
    data = _documents(registry).v2_protobuf
    assert data is not None
    return data


def openapi_v2_content_type(accept: str | None) -> str:
    """The media type to answer /openapi/v2 with: protobuf when the client lists it, else JSON."""
    for media_range in (accept or "").split(","):
        if media_range.split(";")[0].strip().lower() in openapi_proto.CONTENT_TYPES:
            return openapi_proto.CONTENT_TYPE
    return "application/json"


def openapi_v2_etag(registry: Registry) -> str:
    """The quoted ETag of the current /openapi/v2 document."""
    openapi_v2(registry)
    return _documents(registry).v2_etag


def openapi_v3_group_version(registry: Registry, group: str, version: str) -> bytes | None:
    """The OpenAPI 3.0 document of one group-version (/openapi/v3/apis/<group>/<version>), or None if unserved."""
    docs = _documents(registry)
    key = gv_path(group, version)
    if key not in docs.v3:
        data = _build_v3(registry, group, version)
        if data is None:
            return None
        docs.v3[key] = data
        docs.v3_hashes[key] = document_hash(data)
    return docs.v3[key]


def openapi_v3_hash(registry: Registry, group: str, version: str) -> str | None:
    """The content hash of a group-version document: the `hash` query value and the ETag."""
    if openapi_v3_group_version(registry, group, version) is None:
        return None
    return _documents(registry).v3_hashes[gv_path(group, version)]


def openapi_v3_index(registry: Registry) -> dict:
    """The /openapi/v3 discovery document: one entry per served group-version with its hashed URL."""
    paths: dict[str, dict[str, str]] = {}
    for group, versions in registry.groups().items():
        for version in versions:
            digest = openapi_v3_hash(registry, group, version)
            if digest is not None:
                key = gv_path(group, version)
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}


def parse_v3_path(path: str) -> tuple[str, str] | None:
    """(group, version) of an /openapi/v3/ sub-path such as 'api/v1' or 'apis/apps/v1'; None otherwise."""
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "api":
        return "", parts[1]
    if len(parts) == 3 and parts[0] == "apis":
        return parts[1], parts[2]
    return None

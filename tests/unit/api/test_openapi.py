"""OpenAPI v2 and v3 documents built from the registry: structure, refs, extensions, custom resources, caching."""

from __future__ import annotations

from typing import Any, Iterator

import orjson
import pytest

from kybernetes.api import openapi, openapi_proto
from kybernetes.api.registry import BUILTIN_RESOURCES, Registry, ResourceInfo

CRONTAB_SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "cronSpec": {"type": "string"},
                "replicas": {"type": "integer", "nullable": True},
                "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            },
            "required": ["cronSpec"],
        },
    },
}
CRONTAB_DEF = "com.example.stable.v1.CronTab"


def crontab(schema: dict | None = CRONTAB_SCHEMA) -> ResourceInfo:
    extra = {"openapi_schema": schema} if schema is not None else {}
    return ResourceInfo("stable.example.com", "v1", "CronTab", "crontabs", "crontab", True, ("ct",), (),
                        ("status", "scale"), crd=True, extra=extra)


@pytest.fixture(scope="module")
def registry() -> Registry:
    reg = Registry()
    reg.register(crontab())
    return reg


@pytest.fixture(scope="module")
def v2(registry: Registry) -> dict:
    return orjson.loads(openapi.openapi_v2(registry))


def v3(registry: Registry, group: str, version: str) -> dict:
    data = openapi.openapi_v3_group_version(registry, group, version)
    assert data is not None
    return orjson.loads(data)


def nodes(node: Any) -> Iterator[dict]:
    """Every schema node of a definition, properties included."""
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key == "properties":
                for sub in value.values():
                    yield from nodes(sub)
            elif key in ("items", "additionalProperties"):
                yield from nodes(value)
            elif key in ("allOf", "oneOf", "anyOf"):
                for sub in value:
                    yield from nodes(sub)


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key == "properties" and isinstance(value, dict):
                for sub in value.values():  # JSONSchemaProps has a property named "$ref"
                    yield from refs(sub)
            elif not key.startswith("x-") or key == "x-kubernetes-validations":
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


GROUP_VERSIONS = sorted({(i.group, i.version) for i in BUILTIN_RESOURCES} | {("stable.example.com", "v1")})


@pytest.mark.parametrize("info", BUILTIN_RESOURCES, ids=lambda i: f"{i.group or 'core'}/{i.plural}")
def test_every_builtin_kind_has_a_definition_with_its_gvk(registry: Registry, v2: dict, info: ResourceInfo) -> None:
    gvk = {"group": info.group, "kind": info.kind, "version": info.version}
    assert gvk in v2["definitions"][info.definition]["x-kubernetes-group-version-kind"]
    schemas = v3(registry, info.group, info.version)["components"]["schemas"]
    assert gvk in schemas[info.definition]["x-kubernetes-group-version-kind"]


@pytest.mark.parametrize("info", BUILTIN_RESOURCES, ids=lambda i: f"{i.group or 'core'}/{i.plural}")
def test_every_builtin_resource_has_paths_with_action_and_gvk(registry: Registry, v2: dict,
                                                              info: ResourceInfo) -> None:
    gvk = {"group": info.group, "kind": info.kind, "version": info.version}
    prefix = f"/apis/{info.group}/{info.version}" if info.group else "/api/v1"
    ns = "/namespaces/{namespace}" if info.namespaced else ""
    collection = f"{prefix}{ns}/{info.plural}"
    for doc in (v2, v3(registry, info.group, info.version)):
        if "create" in info.verbs:
            assert doc["paths"][collection]["post"]["x-kubernetes-action"] == "post"
            assert doc["paths"][collection]["post"]["x-kubernetes-group-version-kind"] == gvk
        if "get" in info.verbs:
            assert doc["paths"][collection + "/{name}"]["get"]["x-kubernetes-group-version-kind"] == gvk


@pytest.mark.parametrize("which", ["v2", "v3"])
@pytest.mark.parametrize("gv", GROUP_VERSIONS, ids=lambda gv: "/".join(x for x in gv if x))
def test_every_ref_resolves(registry: Registry, v2: dict, which: str, gv: tuple[str, str]) -> None:
    if which == "v2":
        doc, prefix, defs = v2, openapi.V2_REF, v2["definitions"]
    else:
        doc = v3(registry, *gv)
        prefix, defs = openapi.V3_REF, doc["components"]["schemas"]
    found = list(refs(doc))
    assert found
    for ref in found:
        assert ref.startswith(prefix), ref
        assert ref[len(prefix):] in defs, ref


@pytest.mark.parametrize("which", ["v2", "v3"])
def test_schemas_are_openapi_not_json_schema(registry: Registry, v2: dict, which: str) -> None:
    defs = v2["definitions"] if which == "v2" else v3(registry, "", "v1")["components"]["schemas"]
    for name, definition in defs.items():
        for node in nodes(definition):
            assert isinstance(node.get("type", ""), str), name
            assert "enum" not in node, name
            assert "$defs" not in str(node.get("$ref", "")), name
            assert which == "v3" or not {"nullable", "oneOf", "anyOf"} & set(node), name


def test_v3_wraps_refs_with_siblings_in_all_of(registry: Registry) -> None:
    schemas = v3(registry, "apps", "v1")["components"]["schemas"]
    strategy = schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]
    assert strategy["allOf"] == [{"$ref": openapi.V3_REF + "io.k8s.api.apps.v1.DeploymentStrategy"}]
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"
    assert "$ref" not in strategy


def test_v2_keeps_extensions_beside_refs(v2: dict) -> None:
    strategy = v2["definitions"]["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]
    assert strategy["$ref"] == openapi.V2_REF + "io.k8s.api.apps.v1.DeploymentStrategy"
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"


@pytest.mark.parametrize("which", ["v2", "v3"])
def test_patch_and_list_extensions_survive(registry: Registry, v2: dict, which: str) -> None:
    defs = v2["definitions"] if which == "v2" else v3(registry, "", "v1")["components"]["schemas"]
    containers = defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    assert containers["type"] == "array"
    assert "name" in defs["io.k8s.api.core.v1.Container"]["required"]
    assert defs["io.k8s.apimachinery.pkg.apis.meta.v1.Time"] == {
        "description": defs["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["description"],
        "format": "date-time", "type": "string"}


@pytest.mark.parametrize(("which", "expected"), [
    ("v2", {"type": "string", "format": "int-or-string"}),
    ("v3", {"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True}),
], ids=["v2", "v3"])
def test_int_or_string(registry: Registry, v2: dict, which: str, expected: dict) -> None:
    defs = v2["definitions"] if which == "v2" else v3(registry, "apps", "v1")["components"]["schemas"]
    definition = dict(defs[openapi.INT_OR_STRING])
    definition.pop("description", None)
    assert definition == expected


@pytest.mark.parametrize("gv", [("apps", "v1"), ("", "v1"), ("batch", "v1")], ids=["apps", "core", "batch"])
def test_v3_document_holds_only_reachable_definitions_and_meta(registry: Registry, gv: tuple[str, str]) -> None:
    doc = v3(registry, *gv)
    assert doc["openapi"] == "3.0.0"
    names = set(doc["components"]["schemas"])
    assert set(openapi.META_DEFINITIONS) <= names
    assert openapi.OBJECT_META in names
    assert CRONTAB_DEF not in names
    assert not any(n.startswith("io.k8s.api.flowcontrol") for n in names)


def test_v3_scale_subresource_has_scale_kind(registry: Registry) -> None:
    doc = v3(registry, "apps", "v1")
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "kind": "Scale", "version": "v1"}
    assert "io.k8s.api.autoscaling.v1.Scale" in doc["components"]["schemas"]


def test_crd_schema_is_wrapped_like_upstream(registry: Registry, v2: dict) -> None:
    doc = v3(registry, "stable.example.com", "v1")
    schemas = doc["components"]["schemas"]
    crd = schemas[CRONTAB_DEF]
    assert crd["x-kubernetes-group-version-kind"] == [
        {"group": "stable.example.com", "kind": "CronTab", "version": "v1"}]
    assert crd["properties"]["metadata"]["allOf"] == [{"$ref": openapi.V3_REF + openapi.OBJECT_META}]
    assert crd["properties"]["apiVersion"]["type"] == "string"
    assert crd["properties"]["spec"]["required"] == ["cronSpec"]
    assert openapi.OBJECT_META in schemas
    assert schemas[CRONTAB_DEF + "List"]["properties"]["items"]["items"] == {"$ref": openapi.V3_REF + CRONTAB_DEF}
    # swagger 2.0 has neither nullable nor anyOf; int-or-string stays untyped
    port = v2["definitions"][CRONTAB_DEF]["properties"]["spec"]["properties"]["port"]
    assert port == {"x-kubernetes-int-or-string": True}
    assert "nullable" not in v2["definitions"][CRONTAB_DEF]["properties"]["spec"]["properties"]["replicas"]


@pytest.mark.parametrize(("info", "strategic"), [
    (crontab(), False),
    (BUILTIN_RESOURCES[[i.plural for i in BUILTIN_RESOURCES].index("deployments")], True),
], ids=["crd", "builtin"])
def test_strategic_merge_patch_only_for_builtins(registry: Registry, v2: dict, info: ResourceInfo,
                                                 strategic: bool) -> None:
    prefix = f"/apis/{info.group}/{info.version}/namespaces/{{namespace}}/{info.plural}/{{name}}"
    v3_types = v3(registry, info.group, info.version)["paths"][prefix]["patch"]["requestBody"]["content"]
    assert ("application/strategic-merge-patch+json" in v3_types) is strategic
    assert ("application/strategic-merge-patch+json" in v2["paths"][prefix]["patch"]["consumes"]) is strategic
    assert "application/merge-patch+json" in v3_types


def test_crd_without_schema_preserves_unknown_fields() -> None:
    reg = Registry([crontab(schema=None)])
    crd = v3(reg, "stable.example.com", "v1")["components"]["schemas"][CRONTAB_DEF]
    assert crd["x-kubernetes-preserve-unknown-fields"] is True
    assert set(crd["properties"]) == {"apiVersion", "kind", "metadata"}


def test_documents_are_cached_per_generation() -> None:
    reg = Registry()
    first = openapi.openapi_v2(reg)
    assert openapi.openapi_v2(reg) is first
    gv_doc = openapi.openapi_v3_group_version(reg, "apps", "v1")
    assert openapi.openapi_v3_group_version(reg, "apps", "v1") is gv_doc
    etag = openapi.openapi_v2_etag(reg)
    index = openapi.openapi_v3_index(reg)
    assert "apis/stable.example.com/v1" not in index["paths"]

    reg.register(crontab())
    assert openapi.openapi_v2(reg) is not first
    assert openapi.openapi_v2_etag(reg) != etag
    index = openapi.openapi_v3_index(reg)
    url = index["paths"]["apis/stable.example.com/v1"]["serverRelativeURL"]
    assert url == "/openapi/v3/apis/stable.example.com/v1?hash=" + openapi.openapi_v3_hash(
        reg, "stable.example.com", "v1")
    assert index["paths"]["api/v1"]["serverRelativeURL"].startswith("/openapi/v3/api/v1?hash=")


def test_unserved_group_version_has_no_document(registry: Registry) -> None:
    assert openapi.openapi_v3_group_version(registry, "apps", "v1beta1") is None
    assert openapi.openapi_v3_hash(registry, "nope.example.com", "v1") is None


@pytest.mark.parametrize(("path", "expected"), [
    ("api/v1", ("", "v1")),
    ("apis/apps/v1", ("apps", "v1")),
    ("/apis/stable.example.com/v1/", ("stable.example.com", "v1")),
    ("apis/apps", None),
    ("version", None),
], ids=["core", "apps", "slashes", "group-only", "other"])
def test_parse_v3_path(path: str, expected: tuple[str, str] | None) -> None:
    assert openapi.parse_v3_path(path) == expected


@pytest.mark.parametrize(("accept", "expected"), [
    ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", openapi_proto.CONTENT_TYPE),
    ("application/com.github.proto-openapi.spec.v2.v1.0+protobuf", openapi_proto.CONTENT_TYPE),
    ("application/json", "application/json"),
    ("application/json, application/com.github.proto-openapi.spec.v2@v1.0+protobuf", openapi_proto.CONTENT_TYPE),
    (None, "application/json"),
], ids=["kubectl", "dot-spelling", "json", "both", "none"])
def test_openapi_v2_content_type(accept: str | None, expected: str) -> None:
    assert openapi.openapi_v2_content_type(accept) == expected


def _fields(data: bytes) -> Iterator[tuple[int, Any]]:
    """A minimal protobuf wire reader: (field number, varint or bytes) pairs of one message."""
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
        elif wire == 2:
            size, i = _read_varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        yield field, value


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def test_openapi_v2_protobuf_is_a_gnostic_document(registry: Registry, v2: dict) -> None:
    top = list(_fields(openapi.openapi_v2_protobuf(registry)))
    assert (1, b"2.0") in top
    definitions = dict(top)[9]
    names = {dict(_fields(entry))[1].decode() for _, entry in _fields(definitions)}
    assert names == set(v2["definitions"])
    named = [dict(_fields(entry)) for _, entry in _fields(definitions)]
    pod = next(n[2] for n in named if n[1] == b"io.k8s.api.core.v1.Pod")
    extensions = [dict(_fields(v)) for f, v in _fields(pod) if f == 31]
    gvk = next(e for e in extensions if e[1] == b"x-kubernetes-group-version-kind")
    assert orjson.loads(dict(_fields(gvk[2]))[2]) == [{"group": "", "kind": "Pod", "version": "v1"}]


@pytest.mark.parametrize(("plural", "sub", "expected"), [
    ("pods", "status", ("", "v1", "Pod", ("get", "patch", "update"))),
    ("pods", "log", ("", "v1", "Pod", ("get",))),
    ("pods", "exec", ("", "v1", "PodExecOptions", ("create", "get"))),
    ("pods", "binding", ("", "v1", "Binding", ("create",))),
    ("pods", "eviction", ("policy", "v1", "Eviction", ("create",))),
    ("deployments", "scale", ("autoscaling", "v1", "Scale", ("get", "patch", "update"))),
    ("serviceaccounts", "token", ("authentication.k8s.io", "v1", "TokenRequest", ("create",))),
    ("namespaces", "finalize", ("", "v1", "Namespace", ("update",))),
    ("services", "proxy", ("", "v1", "ServiceProxyOptions", ("create", "delete", "get", "patch", "update"))),
], ids=lambda x: x if isinstance(x, str) else None)
def test_subresource_info(plural: str, sub: str, expected: tuple) -> None:
    info = next(i for i in BUILTIN_RESOURCES if i.plural == plural and i.group in ("", "apps"))
    assert tuple(openapi.subresource_info(info, sub))[:4] == expected

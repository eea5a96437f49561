"""Protobuf encoding of a swagger 2.0 document as gnostic's openapi.v2.Document, which client-go's
OpenAPISchema() requests from /openapi/v2 and can only decode (it never falls back to JSON)."""

from __future__ import annotations

import struct
from typing import Any, Callable

import orjson

# the media type answered: the '@' spelling clients still ask for is not a valid Go mime type, so kube-apiserver
# accepts both spellings in Accept but always answers with this one
CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
CONTENT_TYPES = (CONTENT_TYPE, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")

Message = bytearray


def _varint(out: Message, value: int) -> None:
    value &= (1 << 64) - 1
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _key(out: Message, field: int, wire: int) -> None:
    _varint(out, (field << 3) | wire)


def _bytes(out: Message, field: int, data: bytes | bytearray) -> None:
    _key(out, field, 2)
    _varint(out, len(data))
    out += data


def _string(out: Message, field: int, value: Any) -> None:
    if value:
        _bytes(out, field, str(value).encode())


def _strings(out: Message, field: int, values: Any) -> None:
    for v in values or ():
        _bytes(out, field, str(v).encode())


def _bool(out: Message, field: int, value: Any, *, always: bool = False) -> None:
    if value or always:
        _key(out, field, 0)
        _varint(out, 1 if value else 0)


def _int(out: Message, field: int, value: Any) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value:
        _key(out, field, 0)
        _varint(out, int(value))


def _double(out: Message, field: int, value: Any) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value:
        _key(out, field, 1)
        out += struct.pack("<d", float(value))


def _message(out: Message, field: int, body: Message) -> None:
    _bytes(out, field, body)


def _any(value: Any) -> Message:
    """openapi.v2.Any: the value as YAML text (JSON is YAML, and that is what gnostic's readers parse)."""
    body = Message()
    _bytes(body, 2, orjson.dumps(value))
    return body


def _named(name: str, value: Message) -> Message:
    body = Message()
    _bytes(body, 1, name.encode())
    _message(body, 2, value)
    return body


def _extensions(out: Message, field: int, node: dict) -> None:
    for key, value in node.items():
        if key.startswith("x-"):
            _message(out, field, _named(key, _any(value)))


def schema(node: dict) -> Message:
    """openapi.v2.Schema."""
    out = Message()
    _string(out, 1, node.get("$ref"))
    _string(out, 2, node.get("format"))
    _string(out, 3, node.get("title"))
    _string(out, 4, node.get("description"))
    if "default" in node:
        _message(out, 5, _any(node["default"]))
    _double(out, 6, node.get("multipleOf"))
    _double(out, 7, node.get("maximum"))
    _bool(out, 8, node.get("exclusiveMaximum"))
    _double(out, 9, node.get("minimum"))
    _bool(out, 10, node.get("exclusiveMinimum"))
    for field, key in ((11, "maxLength"), (12, "minLength")):
        _int(out, field, node.get(key))
    _string(out, 13, node.get("pattern"))
    for field, key in ((14, "maxItems"), (15, "minItems")):
        _int(out, field, node.get(key))
    _bool(out, 16, node.get("uniqueItems"))
    for field, key in ((17, "maxProperties"), (18, "minProperties")):
        _int(out, field, node.get(key))
    _strings(out, 19, node.get("required"))
    for value in node.get("enum") or ():
        _message(out, 20, _any(value))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        item = Message()
        _message(item, 1, schema(extra))
        _message(out, 21, item)
    elif isinstance(extra, bool):
        item = Message()
        _bool(item, 2, extra, always=True)
        _message(out, 21, item)
    if node.get("type"):
        item = Message()
        _strings(item, 1, node["type"] if isinstance(node["type"], list) else [node["type"]])
        _message(out, 22, item)
    items = node.get("items")
    if isinstance(items, (dict, list)):
        item = Message()
        for sub in items if isinstance(items, list) else [items]:
            _message(item, 1, schema(sub))
        _message(out, 23, item)
    for sub in node.get("allOf") or ():
        _message(out, 24, schema(sub))
    if isinstance(node.get("properties"), dict):
        props = Message()
        for name, sub in node["properties"].items():
            _message(props, 1, _named(name, schema(sub)))
        _message(out, 25, props)
    _string(out, 26, node.get("discriminator") if isinstance(node.get("discriminator"), str) else None)
    _bool(out, 27, node.get("readOnly"))
    if "example" in node:
        _message(out, 30, _any(node["example"]))
    _extensions(out, 31, node)
    return out


def _parameter(param: dict) -> Message:
    """openapi.v2.ParametersItem holding a body, query or path parameter."""
    inner = Message()
    if param.get("in") == "body":
        body = Message()
        _string(body, 1, param.get("description"))
        _string(body, 2, param.get("name"))
        _string(body, 3, "body")
        _bool(body, 4, param.get("required"))
        _message(body, 5, schema(param.get("schema") or {}))
        _extensions(body, 6, param)
        _message(inner, 1, body)
    else:
        sub = Message()
        _bool(sub, 1, param.get("required"))
        _string(sub, 2, param.get("in"))
        _string(sub, 3, param.get("description"))
        _string(sub, 4, param.get("name"))
        if param.get("in") == "path":  # PathParameterSubSchema
            _string(sub, 5, param.get("type"))
            _string(sub, 6, param.get("format"))
            _bool(sub, 19, param.get("uniqueItems"))
            _extensions(sub, 22, param)
            oneof = 4
        else:  # QueryParameterSubSchema (header and formData parameters are never published here)
            _string(sub, 6, param.get("type"))
            _string(sub, 7, param.get("format"))
            _bool(sub, 20, param.get("uniqueItems"))
            _extensions(sub, 23, param)
            oneof = 3
        non_body = Message()
        _message(non_body, oneof, sub)
        _message(inner, 2, non_body)
    item = Message()
    _message(item, 1, inner)
    return item


def _operation(op: dict) -> Message:
    out = Message()
    _strings(out, 1, op.get("tags"))
    _string(out, 2, op.get("summary"))
    _string(out, 3, op.get("description"))
    _string(out, 5, op.get("operationId"))
    _strings(out, 6, op.get("produces"))
    _strings(out, 7, op.get("consumes"))
    for param in op.get("parameters") or ():
        _message(out, 8, _parameter(param))
    responses = Message()
    for code, response in (op.get("responses") or {}).items():
        body = Message()
        _string(body, 1, response.get("description"))
        if isinstance(response.get("schema"), dict):
            item = Message()
            _message(item, 1, schema(response["schema"]))
            _message(body, 2, item)
        _extensions(body, 5, response)
        value = Message()
        _message(value, 1, body)
        _message(responses, 1, _named(code, value))
    _message(out, 9, responses)
    _strings(out, 10, op.get("schemes"))
    _bool(out, 11, op.get("deprecated"))
    _extensions(out, 13, op)
    return out


_PATH_METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _path_item(item: dict) -> Message:
    out = Message()
    for method, field in _PATH_METHODS.items():
        if isinstance(item.get(method), dict):
            _message(out, field, _operation(item[method]))
    for param in item.get("parameters") or ():
        _message(out, 9, _parameter(param))
    _extensions(out, 10, item)
    return out


def _map(field: int, entries: dict, encode: Callable[[Any], Message]) -> Message:
    out = Message()
    for name, value in entries.items():
        _message(out, field, _named(name, encode(value)))
    return out


def _security_definition(definition: dict) -> Message:
    api_key = Message()
    _string(api_key, 1, definition.get("type"))
    _string(api_key, 2, definition.get("name"))
    _string(api_key, 3, definition.get("in"))
    _string(api_key, 4, definition.get("description"))
    out = Message()
    _message(out, 2, api_key)
    return out


def _string_array(values: list) -> Message:
    out = Message()
    _strings(out, 1, values)
    return out


def document(doc: dict) -> bytes:
    """openapi.v2.Document of a swagger 2.0 document (API-key security definitions only)."""
    out = Message()
    _string(out, 1, doc.get("swagger"))
    info = Message()
    _string(info, 1, doc.get("info", {}).get("title"))
    _string(info, 2, doc.get("info", {}).get("version"))
    _message(out, 2, info)
    paths = Message()
    _extensions(paths, 1, doc.get("paths") or {})
    for path, item in (doc.get("paths") or {}).items():
        if not path.startswith("x-"):
            _message(paths, 2, _named(path, _path_item(item)))
    _message(out, 8, paths)
    _message(out, 9, _map(1, doc.get("definitions") or {}, schema))
    for requirement in doc.get("security") or ():
        _message(out, 12, _map(1, requirement, _string_array))
    if doc.get("securityDefinitions"):
        _message(out, 13, _map(1, doc["securityDefinitions"], _security_definition))
    _extensions(out, 16, doc)
    return bytes(out)

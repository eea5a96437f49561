"""The Kubernetes protobuf envelope: the 4-byte magic 'k8s\\x00' and a runtime.Unknown naming the object's kind."""

from __future__ import annotations

from typing import Any

from kybernetes.api.errors import StatusError
from kybernetes.api.protobuf import wire
from kybernetes.api.protobuf.codec import MAGIC, decode_message, encode_message
from kybernetes.api.protobuf.table import message_for_kind
from kybernetes.api.protobuf.wire import BYTES, Writer, WireError


def _bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def unwrap(body: bytes) -> tuple[str, str, bytes, str]:
    """(apiVersion, kind, raw message, content encoding) of an enveloped body; WireError if malformed."""
    if not body.startswith(MAGIC):
        raise WireError("the body does not start with the Kubernetes protobuf prefix")
    api_version = kind = encoding = ""
    raw = b""
    for number, wire_type, value in wire.fields(body[len(MAGIC):]):
        if wire_type != BYTES:
            continue
        if number == 1:  # typeMeta: runtime.TypeMeta {apiVersion = 1, kind = 2}
            for n, t, v in wire.fields(value):  # type: ignore[arg-type]
                if t == BYTES and n == 1:
                    api_version = v.decode()  # type: ignore[union-attr]
                elif t == BYTES and n == 2:
                    kind = v.decode()  # type: ignore[union-attr]
        elif number == 2:
            raw = value  # type: ignore[assignment]
        elif number == 3:
            encoding = value.decode()  # type: ignore[union-attr]
    return api_version, kind, raw, encoding


def wrap(api_version: str, kind: str, raw: bytes) -> bytes:
    """Magic + runtime.Unknown{typeMeta, raw, contentEncoding: '', contentType: ''}, as kube-apiserver writes it."""
    type_meta = Writer()
    type_meta.field_bytes(1, api_version.encode())
    type_meta.field_bytes(2, kind.encode())
    unknown = Writer()
    unknown.field_bytes(1, type_meta.out)
    unknown.field_bytes(2, raw)
    unknown.field_bytes(3, b"")
    unknown.field_bytes(4, b"")
    return MAGIC + unknown.getvalue()


def encode_watch_event(event_type: str, obj: dict[str, Any]) -> bytes:
    """One frame of a protobuf watch stream ('application/vnd.kubernetes.protobuf;stream=watch'): a 4-byte
    big-endian length, then a bare metav1.WatchEvent {type = 1, object = 2} whose RawExtension holds the
    enveloped object. KeyError/ValueError as encode_object."""
    raw = Writer()
    raw.field_bytes(1, encode_object(obj))
    event = Writer()
    event.field_bytes(1, event_type.encode())
    event.field_bytes(2, raw.out)
    return len(event.out).to_bytes(4, "big") + event.getvalue()


def decode_watch_event(frame: bytes) -> tuple[str, dict[str, Any]]:
    """(type, object) of one length-prefixed watch frame; WireError if malformed."""
    if len(frame) < 4 or int.from_bytes(frame[:4], "big") != len(frame) - 4:
        raise WireError("bad watch frame length")
    event_type, obj = "", b""
    for number, wire_type, value in wire.fields(frame[4:]):
        if wire_type == BYTES and number == 1:
            event_type = value.decode()  # type: ignore[union-attr]
        elif wire_type == BYTES and number == 2:
            for n, t, v in wire.fields(value):  # type: ignore[arg-type]
                if n == 1 and t == BYTES:
                    obj = v  # type: ignore[assignment]
    return event_type, decode_envelope(obj)


def decode_envelope(body: bytes) -> dict[str, Any]:
    """The JSON object of an enveloped body, with apiVersion and kind; WireError/KeyError on failure."""
    api_version, kind, raw, encoding = unwrap(body)
    if encoding:
        raise WireError(f"unsupported content encoding {encoding!r}")
    name = message_for_kind(api_version, kind)
    obj: dict[str, Any] = {"kind": kind, "apiVersion": api_version}
    obj.update(decode_message(name, raw))
    return obj


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON object a protobuf request body carries; StatusError 400 if malformed, 415 for an unknown kind."""
    try:
        api_version, kind, _, _ = unwrap(body)
        if not kind:
            raise _bad_request("Object 'Kind' is missing in protobuf body")
        try:
            message_for_kind(api_version, kind)
        except KeyError:
            raise StatusError(415, "UnsupportedMediaType",
                              f"the body of kind {kind!r} in version {api_version!r} cannot be decoded from "
                              "application/vnd.kubernetes.protobuf; send it as application/json") from None
        return decode_envelope(body)
    except (WireError, UnicodeDecodeError, RecursionError) as e:
        raise _bad_request(f"unable to decode protobuf body: {e}") from None


def encode_object(obj: dict[str, Any]) -> bytes:
    """An object as the Kubernetes protobuf envelope; KeyError for a kind without a message, ValueError for a
    field that does not fit its message (answer JSON then)."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise KeyError("apiVersion and kind")
    return wrap(api_version, kind, encode_message(message_for_kind(api_version, kind), obj))

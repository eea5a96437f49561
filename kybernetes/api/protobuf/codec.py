"""Table-driven translation between Kubernetes protobuf messages and the JSON objects Go's encoder would write.

Scalars follow the Go struct behind each message: a zero value stays only when the field is a pointer or
has no omitempty; structs are always present (as Go's JSON writes `{}`). The types with their own JSON form
(Time, MicroTime, Duration, Quantity, IntOrString, RawExtension, FieldsV1, apiextensions JSON and the
JSONSchemaProps-or-X unions, string-list wrappers such as Verbs and ExtraValue) are translated by hand here.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from typing import Any, Callable

import orjson

from kybernetes.api.protobuf import wire
from kybernetes.api.protobuf.table import META, RUNTIME, Field, message
from kybernetes.api.protobuf.wire import BYTES, FIXED32, FIXED64, VARINT, Writer, WireError

APIEXTENSIONS = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1"
TIME = f"{META}.Time"
MICRO_TIME = f"{META}.MicroTime"
TIMESTAMP = f"{META}.Timestamp"
DURATION = f"{META}.Duration"
FIELDS_V1 = f"{META}.FieldsV1"
QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
QUANTITY_VALUE = "k8s.io.apimachinery.pkg.api.resource.QuantityValue"
INT_OR_STRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
RAW_EXTENSION = f"{RUNTIME}.RawExtension"
JSON = f"{APIEXTENSIONS}.JSON"
PROPS_OR_ARRAY = f"{APIEXTENSIONS}.JSONSchemaPropsOrArray"
PROPS_OR_BOOL = f"{APIEXTENSIONS}.JSONSchemaPropsOrBool"
PROPS_OR_STRINGS = f"{APIEXTENSIONS}.JSONSchemaPropsOrStringArray"
PROPS = f"{APIEXTENSIONS}.JSONSchemaProps"

MAGIC = b"k8s\x00"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_OMIT = object()  # a decoded value Go's JSON encoder would write as null: leave the field out


def _is_string_list(name: str) -> bool:
    """Named []string types sent as a message of `repeated string items = 1` (Verbs, ExtraValue)."""
    return name == f"{META}.Verbs" or name.endswith(".ExtraValue")


# ----------------------------------------------------------------------------------------------- decoding


def _scalar(typ: str, wire_type: int, value: int | bytes) -> Any:
    if typ in ("string", "bytes"):
        if wire_type != BYTES:
            raise WireError(f"wire type {wire_type} for a {typ}")
        assert isinstance(value, bytes)
        return value.decode("utf-8", "replace") if typ == "string" else base64.b64encode(value).decode()
    if not isinstance(value, int):
        raise WireError(f"length-delimited value for a {typ}")
    if typ in ("double", "float"):
        if wire_type != (FIXED64 if typ == "double" else FIXED32):
            raise WireError(f"wire type {wire_type} for a {typ}")
        number = wire.as_double(value) if typ == "double" else wire.as_float(value)
        return int(number) if number.is_integer() and abs(number) < 1e21 else number
    if wire_type != VARINT:
        raise WireError(f"wire type {wire_type} for a {typ}")
    if typ == "bool":
        return value != 0
    if typ == "int32":
        return wire.signed(value, 32)
    if typ == "int64":
        return wire.signed(value, 64)
    if typ == "uint32":
        return value & 0xFFFFFFFF
    return value


def _is_zero(value: Any) -> bool:
    return value is False or value == 0 or value == ""


def decode_message(name: str, data: bytes) -> dict[str, Any]:
    """The JSON object of one message of that type."""
    msg = message(name)
    out: dict[str, Any] = {}
    inline: list[dict[str, Any]] = []
    for number, wire_type, value in wire.fields(data):
        f = msg.by_number.get(number)
        if f is None:
            continue  # unknown fields are skipped, as generated Go code does
        if f.type == "map":
            if wire_type != BYTES:
                raise WireError(f"wire type {wire_type} for map {f.name}")
            key, item = _map_entry(f, value)  # type: ignore[arg-type]
            out.setdefault(f.name, {})[key] = item
        elif f.type == "message":
            if wire_type != BYTES:
                raise WireError(f"wire type {wire_type} for message {f.name}")
            item = decode_value(f.ref, value, pointer=f.pointer or f.repeated)  # type: ignore[arg-type]
            if f.inline:
                inline.append(item)
            elif f.repeated:
                out.setdefault(f.name, []).append(None if item is _OMIT else item)
            elif item is _OMIT:
                out.pop(f.name, None)
            else:
                out[f.name] = item
        elif f.repeated:
            items = out.setdefault(f.name, [])
            if wire_type == BYTES and f.type not in ("string", "bytes"):
                items.extend(_scalar(f.type, VARINT, v) for v in wire.packed_varints(value))  # type: ignore[arg-type]
            else:
                items.append(_scalar(f.type, wire_type, value))
        else:
            item = _scalar(f.type, wire_type, value)
            if _is_zero(item) and not (f.pointer or f.emit_zero):
                out.pop(f.name, None)
            else:
                out[f.name] = item
    for item in inline:
        out.update(item)
    return out


def _map_entry(f: Field, data: bytes) -> tuple[Any, Any]:
    key: Any = "" if f.key_type == "string" else 0
    value: Any = _OMIT
    for number, wire_type, raw in wire.fields(data):
        if number == 1:
            key = _scalar(f.key_type or "string", wire_type, raw)
        elif number == 2:
            if f.value_type == "message":
                if wire_type != BYTES:
                    raise WireError("map value is not a message")
                value = decode_value(f.ref, raw, pointer=True)  # type: ignore[arg-type]
            else:
                value = _scalar(f.value_type or "string", wire_type, raw)
    if value is _OMIT:
        value = _empty_value(f)
    return key, value


def _empty_value(f: Field) -> Any:
    if f.value_type == "message":
        return decode_value(f.ref, b"", pointer=True)  # type: ignore[arg-type]
    return {"string": "", "bytes": "", "bool": False}.get(f.value_type or "", 0)


def _subfields(data: bytes) -> dict[int, list[tuple[int, int | bytes]]]:
    found: dict[int, list[tuple[int, int | bytes]]] = {}
    for number, wire_type, value in wire.fields(data):
        found.setdefault(number, []).append((wire_type, value))
    return found


def _last_int(found: dict[int, list[tuple[int, int | bytes]]], number: int, typ: str = "int64") -> int:
    items = found.get(number)
    return _scalar(typ, *items[-1]) if items else 0


def _last_bytes(found: dict[int, list[tuple[int, int | bytes]]], number: int) -> bytes | None:
    items = found.get(number)
    if not items:
        return None
    wire_type, value = items[-1]
    if wire_type != BYTES:
        raise WireError("expected a length-delimited field")
    return value  # type: ignore[return-value]


def _decode_json(raw: bytes | None) -> Any:
    if not raw:
        return _OMIT
    if raw.startswith(MAGIC):
        from kybernetes.api.protobuf.envelope import decode_envelope

        return decode_envelope(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise WireError(f"embedded JSON: {e}") from e


def decode_value(name: str, data: bytes, *, pointer: bool) -> Any:
    """A message field's JSON value; _OMIT where Go's JSON would write null (or, for a non-pointer
    IntOrString, its zero value, which means unset)."""
    special = _DECODERS.get(name)
    if special is not None:
        return special(data, pointer)
    if _is_string_list(name):
        return [v.decode("utf-8", "replace") for _, v in _subfields(data).get(1, [])]  # type: ignore[union-attr]
    return decode_message(name, data)


def _decode_time(data: bytes, pointer: bool) -> Any:
    if not data:
        return _OMIT
    found = _subfields(data)
    moment = _EPOCH + datetime.timedelta(seconds=_last_int(found, 1))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode_micro_time(data: bytes, pointer: bool) -> Any:
    if not data:
        return _OMIT
    found = _subfields(data)
    nanos = _last_int(found, 2, "int32")
    moment = _EPOCH + datetime.timedelta(seconds=_last_int(found, 1), microseconds=nanos // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _decode_duration(data: bytes, pointer: bool) -> Any:
    return go_duration(_last_int(_subfields(data), 1))


def _decode_quantity(data: bytes, pointer: bool) -> Any:
    raw = _last_bytes(_subfields(data), 1)
    return raw.decode() if raw else "0"


def _decode_int_or_string(data: bytes, pointer: bool) -> Any:
    found = _subfields(data)
    if _last_int(found, 1) == 1:
        raw = _last_bytes(found, 3)
        return raw.decode("utf-8", "replace") if raw else ""
    value = _last_int(found, 2, "int32")
    return _OMIT if value == 0 and not pointer else value


def _decode_raw(data: bytes, pointer: bool) -> Any:
    return _decode_json(_last_bytes(_subfields(data), 1))


def _decode_props_or_array(data: bytes, pointer: bool) -> Any:
    found = _subfields(data)
    if 2 in found:
        return [decode_message(PROPS, v) for _, v in found[2]]  # type: ignore[arg-type]
    schema = _last_bytes(found, 1)
    return decode_message(PROPS, schema) if schema is not None else _OMIT


def _decode_props_or_bool(data: bytes, pointer: bool) -> Any:
    found = _subfields(data)
    schema = _last_bytes(found, 2)
    if schema is not None:
        return decode_message(PROPS, schema)
    return bool(_last_int(found, 1, "bool"))


def _decode_props_or_strings(data: bytes, pointer: bool) -> Any:
    found = _subfields(data)
    if 2 in found:
        return [v.decode("utf-8", "replace") for _, v in found[2]]  # type: ignore[union-attr]
    schema = _last_bytes(found, 1)
    return decode_message(PROPS, schema) if schema is not None else _OMIT


_DECODERS: dict[str, Callable[[bytes, bool], Any]] = {
    TIME: _decode_time,
    TIMESTAMP: _decode_micro_time,
    MICRO_TIME: _decode_micro_time,
    DURATION: _decode_duration,
    QUANTITY: _decode_quantity,
    QUANTITY_VALUE: _decode_quantity,
    INT_OR_STRING: _decode_int_or_string,
    RAW_EXTENSION: _decode_raw,
    FIELDS_V1: _decode_raw,
    JSON: _decode_raw,
    PROPS_OR_ARRAY: _decode_props_or_array,
    PROPS_OR_BOOL: _decode_props_or_bool,
    PROPS_OR_STRINGS: _decode_props_or_strings,
}


# ----------------------------------------------------------------------------------------------- encoding


def _write_scalar(w: Writer, number: int, typ: str, value: Any, where: str) -> None:
    if typ == "string":
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a string, got {type(value).__name__}")
        w.field_bytes(number, value.encode())
    elif typ == "bytes":
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected base64 data")
        try:
            w.field_bytes(number, base64.b64decode(value, validate=True))
        except binascii.Error as e:
            raise ValueError(f"{where}: {e}") from e
    elif typ == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected a boolean")
        w.field_varint(number, int(value))
    elif typ in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: expected a number")
        (w.field_double if typ == "double" else w.field_float)(number, float(value))
    else:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where}: expected an integer")
        w.field_varint(number, value)


def encode_message(name: str, obj: Any, where: str = "") -> bytes:
    """One message of that type from its JSON object; ValueError where the object does not fit."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where or name}: expected an object")
    w = Writer()
    for f in message(name).fields:
        path = f"{where}.{f.name}" if where else f.name
        if f.inline:
            w.field_bytes(f.number, encode_message(f.ref, obj, where))  # type: ignore[arg-type]
            continue
        value = obj.get(f.name)
        if value is None:
            continue
        if f.type == "map":
            if not isinstance(value, dict):
                raise ValueError(f"{path}: expected an object")
            for key in sorted(value):
                entry = Writer()
                _write_scalar(entry, 1, f.key_type or "string", key, path)
                if value[key] is not None:
                    _write_value(entry, 2, f.value_type or "", f.ref, value[key], f"{path}[{key}]")
                w.field_bytes(f.number, entry.out)
        elif f.repeated:
            if not isinstance(value, list):
                raise ValueError(f"{path}: expected an array")
            for i, item in enumerate(value):
                if item is None and f.type == "message":
                    w.field_bytes(f.number, b"")
                elif item is not None:
                    _write_value(w, f.number, f.type, f.ref, item, f"{path}[{i}]")
        else:
            _write_value(w, f.number, f.type, f.ref, value, path)
    return w.getvalue()


def _write_value(w: Writer, number: int, typ: str, ref: str | None, value: Any, where: str) -> None:
    if typ == "message":
        w.field_bytes(number, encode_value(ref, value, where))  # type: ignore[arg-type]
    else:
        _write_scalar(w, number, typ, value, where)


def encode_value(name: str, value: Any, where: str = "") -> bytes:
    """A message field's bytes from its JSON value."""
    special = _ENCODERS.get(name)
    if special is not None:
        return special(value, where)
    if _is_string_list(name):
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected an array of strings")
        w = Writer()
        for item in value:
            _write_scalar(w, 1, "string", item, where)
        return w.getvalue()
    return encode_message(name, value, where)


def _encode_time(value: Any, where: str) -> bytes:
    moment = parse_time(value, where)
    w = Writer()
    w.field_varint(1, int((moment - _EPOCH) // datetime.timedelta(seconds=1)))
    return w.getvalue()


def _encode_micro_time(value: Any, where: str) -> bytes:
    moment = parse_time(value, where)
    delta = moment - _EPOCH
    seconds = int(delta // datetime.timedelta(seconds=1))
    w = Writer()
    w.field_varint(1, seconds)
    if moment.microsecond:
        w.field_varint(2, moment.microsecond * 1000)
    return w.getvalue()


def _encode_duration(value: Any, where: str) -> bytes:
    w = Writer()
    w.field_varint(1, parse_go_duration(value, where))
    return w.getvalue()


def _encode_quantity(value: Any, where: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{where}: expected a quantity")
    w = Writer()
    w.field_bytes(1, (value if isinstance(value, str) else orjson.dumps(value).decode()).encode())
    return w.getvalue()


def _encode_int_or_string(value: Any, where: str) -> bytes:
    w = Writer()
    if isinstance(value, str):
        w.field_varint(1, 1)
        w.field_bytes(3, value.encode())
    elif isinstance(value, int) and not isinstance(value, bool):
        w.field_varint(1, 0)
        w.field_varint(2, value)
    else:
        raise ValueError(f"{where}: expected an integer or a string")
    return w.getvalue()


def _encode_raw(value: Any, where: str) -> bytes:
    w = Writer()
    w.field_bytes(1, orjson.dumps(value))
    return w.getvalue()


def _encode_props_or_array(value: Any, where: str) -> bytes:
    w = Writer()
    if isinstance(value, list):
        for i, item in enumerate(value):
            w.field_bytes(2, encode_message(PROPS, item, f"{where}[{i}]"))
    else:
        w.field_bytes(1, encode_message(PROPS, value, where))
    return w.getvalue()


def _encode_props_or_bool(value: Any, where: str) -> bytes:
    w = Writer()
    if isinstance(value, bool):
        w.field_varint(1, int(value))
    else:
        w.field_varint(1, 1)
        w.field_bytes(2, encode_message(PROPS, value, where))
    return w.getvalue()


def _encode_props_or_strings(value: Any, where: str) -> bytes:
    w = Writer()
    if isinstance(value, list):
        for item in value:
            _write_scalar(w, 2, "string", item, where)
    else:
        w.field_bytes(1, encode_message(PROPS, value, where))
    return w.getvalue()


_ENCODERS: dict[str, Callable[[Any, str], bytes]] = {
    TIME: _encode_time,
    TIMESTAMP: _encode_micro_time,
    MICRO_TIME: _encode_micro_time,
    DURATION: _encode_duration,
    QUANTITY: _encode_quantity,
    QUANTITY_VALUE: _encode_quantity,
    INT_OR_STRING: _encode_int_or_string,
    RAW_EXTENSION: _encode_raw,
    FIELDS_V1: _encode_raw,
    JSON: _encode_raw,
    PROPS_OR_ARRAY: _encode_props_or_array,
    PROPS_OR_BOOL: _encode_props_or_bool,
    PROPS_OR_STRINGS: _encode_props_or_strings,
}


# ------------------------------------------------------------------------------------ times and durations


def parse_time(value: Any, where: str = "") -> datetime.datetime:
    """An RFC 3339 timestamp as an aware datetime."""
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected an RFC 3339 time")
    try:
        moment = datetime.datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from e
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def _fraction(value: int, digits: int) -> str:
    whole, rest = divmod(value, 10 ** digits)
    return f"{whole}.{str(rest).zfill(digits).rstrip('0')}" if rest else str(whole)


def go_duration(ns: int) -> str:
    """Go's time.Duration.String(): '1h0m0s', '1m30s', '1.5s', '500ms', '0s'."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    if u < 1000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_fraction(u, 3)}µs"
    if u < 1_000_000_000:
        return f"{sign}{_fraction(u, 6)}ms"
    seconds, rest = divmod(u, 1_000_000_000)
    text = _fraction(seconds % 60 * 1_000_000_000 + rest, 9) + "s"
    minutes = seconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        if minutes >= 60:
            text = f"{minutes // 60}h{text}"
    return sign + text


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 10 ** 6, "s": 10 ** 9, "m": 60 * 10 ** 9,
            "h": 3600 * 10 ** 9}


def parse_go_duration(value: Any, where: str = "") -> int:
    """Nanoseconds of a Go duration string such as '1h30m' or '2.5s'."""
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a duration string")
    text = value.strip()
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    if text == "0":
        return 0
    total, pos = 0, 0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        whole, _, frac = m.group(1).partition(".")
        unit = _UNIT_NS[m.group(2)]
        total += int(whole or 0) * unit + (int(frac) * unit // 10 ** len(frac) if frac else 0)
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"{where}: invalid duration {value!r}")
    return sign * total

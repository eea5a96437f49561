"""Protocol buffers wire format primitives: varints, tags and length-delimited fields, read and written."""

from __future__ import annotations

import struct
from typing import Iterator

VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5
_U64 = (1 << 64) - 1


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def read_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """The unsigned varint at pos and the position after it."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & _U64, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint too long")


def fields(buf: bytes | memoryview) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field: an int for VARINT/FIXED*, bytes for BYTES."""
    view = memoryview(buf)
    pos, end = 0, len(view)
    while pos < end:
        key, pos = read_varint(view, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == VARINT:
            value, pos = read_varint(view, pos)
        elif wire == FIXED64:
            if pos + 8 > end:
                raise WireError("truncated fixed64")
            value = int.from_bytes(view[pos:pos + 8], "little")
            pos += 8
        elif wire == BYTES:
            length, pos = read_varint(view, pos)
            if pos + length > end:
                raise WireError("truncated length-delimited field")
            value = bytes(view[pos:pos + length])
            pos += length
        elif wire == FIXED32:
            if pos + 4 > end:
                raise WireError("truncated fixed32")
            value = int.from_bytes(view[pos:pos + 4], "little")
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wire}")
        yield number, wire, value


def packed_varints(data: bytes) -> list[int]:
    out, pos = [], 0
    while pos < len(data):
        value, pos = read_varint(data, pos)
        out.append(value)
    return out


def signed(value: int, bits: int) -> int:
    """Two's complement reading of an unsigned varint (int32 and int64 are sent as 64-bit)."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def as_double(value: int) -> float:
    return struct.unpack("<d", value.to_bytes(8, "little"))[0]


def as_float(value: int) -> float:
    return struct.unpack("<f", value.to_bytes(4, "little"))[0]


class Writer:
    """Appends fields to a growing message."""

    __slots__ = ("out",)

    def __init__(self) -> None:
        self.out = bytearray()

    def varint(self, value: int) -> None:
        value &= _U64
        out = self.out
        while value > 0x7F:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)

    def key(self, number: int, wire: int) -> None:
        self.varint((number << 3) | wire)

    def field_varint(self, number: int, value: int) -> None:
        self.key(number, VARINT)
        self.varint(value)

    def field_bytes(self, number: int, data: bytes | bytearray) -> None:
        self.key(number, BYTES)
        self.varint(len(data))
        self.out += data

    def field_double(self, number: int, value: float) -> None:
        self.key(number, FIXED64)
        self.out += struct.pack("<d", value)

    def field_float(self, number: int, value: float) -> None:
        self.key(number, FIXED32)
        self.out += struct.pack("<f", value)

    def getvalue(self) -> bytes:
        return bytes(self.out)

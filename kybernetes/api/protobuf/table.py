"""The schema table: messages, their fields and the kinds they carry, built once from schema_data."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from kybernetes.api.protobuf import schema_data

META = "k8s.io.apimachinery.pkg.apis.meta.v1"
RUNTIME = "k8s.io.apimachinery.pkg.runtime"
UNKNOWN = f"{RUNTIME}.Unknown"

# meta/v1 kinds that every group version carries (metav1.AddToGroupVersion), whatever apiVersion they name
META_KINDS = ("Status", "DeleteOptions", "CreateOptions", "UpdateOptions", "PatchOptions", "GetOptions",
              "ListOptions", "WatchEvent", "APIVersions", "APIGroupList", "APIGroup", "APIResourceList")


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a message as the wire and the JSON object name it."""

    number: int
    name: str  # JSON name
    type: str  # 'string', 'int32', ..., 'message' or 'map'
    ref: str | None  # message type of a message field, or of a map's values
    key_type: str | None  # a map's key type
    value_type: str | None  # a map's value type ('message' when ref names the message)
    repeated: bool
    pointer: bool  # a Go pointer: present with a zero value is meaningful
    emit_zero: bool  # no omitempty: Go's JSON encoder writes the zero value
    inline: bool  # json:",inline": the message's fields sit in the parent object


@dataclass(frozen=True, slots=True)
class Message:
    name: str
    fields: tuple[Field, ...]
    by_number: dict[int, Field]


def _field(row: list) -> Field:
    number, name, typ, ref, flags = row
    key_type = value_type = None
    if typ == "map":
        key_type, value = ref
        if "." in value:
            value_type, ref = "message", value
        else:
            value_type, ref = value, None
    return Field(number, name, typ, ref, key_type, value_type, "r" in flags, "p" in flags, "e" in flags,
                 "i" in flags)


@functools.lru_cache(maxsize=None)
def message(name: str) -> Message:
    """The message of that full proto name; KeyError if the table has none."""
    fields = tuple(_field(row) for row in schema_data.MESSAGES[name])
    return Message(name, fields, {f.number: f for f in fields})


def message_for_kind(api_version: str, kind: str) -> str:
    """The message carrying an object of that apiVersion and kind; KeyError if none."""
    found = schema_data.KINDS.get(f"{api_version}/{kind}")
    if found is not None:
        return found
    if kind in META_KINDS:
        return f"{META}.{kind}"
    raise KeyError(f"{api_version}/{kind}")

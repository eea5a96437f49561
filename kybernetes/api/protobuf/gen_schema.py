"""Maintainer tool: regenerate schema_data.py from the message descriptors and Go struct tags in a kubectl binary.

Go programs built with Kubernetes' generated protobuf code carry every generated.proto as a gzipped
FileDescriptorProto, and the reflection data of every API struct (field tags with the JSON name and
omitempty, and whether the field is a pointer). Together these are the wire facts the codec needs:
message -> field number -> JSON name, wire type, repeated or map, message type, and whether a zero value
is meaningful (a pointer, or a field without omitempty) or is what Go's JSON encoder would leave out.

    python -m kybernetes.api.protobuf.gen_schema /usr/lib/google-cloud-sdk/bin/kubectl.1.32 \
        [--extra-binary BINARY_WITH_APIEXTENSIONS]

kubectl carries no apiextensions-apiserver types, so --extra-binary names another Go program that does (the
Cloud SDK's anthoscli has 1.24's); APIEXTENSIONS_ADDITIONS adds the fields apiextensions/v1 gained up to 1.32.
tests/unit/api/protobuf/test_schema_table.py checks every message's JSON names against upstream's OpenAPI.
Needs the `protobuf` package (descriptor_pb2) only when run; the apiserver never imports this module.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import struct
import sys
import zlib
from typing import Any


# proto packages (as the descriptors name them) whose messages are recorded, with their API group
PACKAGES = {
    "k8s.io.api.core.v1": "",
    "k8s.io.api.apps.v1": "apps",
    "k8s.io.api.batch.v1": "batch",
    "k8s.io.api.policy.v1": "policy",
    "k8s.io.api.rbac.v1": "rbac.authorization.k8s.io",
    "k8s.io.api.scheduling.v1": "scheduling.k8s.io",
    "k8s.io.api.storage.v1": "storage.k8s.io",
    "k8s.io.api.coordination.v1": "coordination.k8s.io",
    "k8s.io.api.discovery.v1": "discovery.k8s.io",
    "k8s.io.api.events.v1": "events.k8s.io",
    "k8s.io.api.certificates.v1": "certificates.k8s.io",
    "k8s.io.api.autoscaling.v1": "autoscaling",
    "k8s.io.api.autoscaling.v2": "autoscaling",
    "k8s.io.api.authentication.v1": "authentication.k8s.io",
    "k8s.io.api.authorization.v1": "authorization.k8s.io",
    "k8s.io.api.networking.v1": "networking.k8s.io",
    "k8s.io.api.node.v1": "node.k8s.io",
    "k8s.io.api.admissionregistration.v1": "admissionregistration.k8s.io",
    "k8s.io.api.flowcontrol.v1": "flowcontrol.apiserver.k8s.io",
    "k8s.io.apimachinery.pkg.apis.meta.v1": "meta.k8s.io",
    "k8s.io.apimachinery.pkg.runtime": None,
    "k8s.io.apimachinery.pkg.api.resource": None,
    "k8s.io.apimachinery.pkg.util.intstr": None,
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1": "apiextensions.k8s.io",
}
APIEXTENSIONS = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1"

# fields added to apiextensions/v1 after the release the --extra-binary may carry (1.25-1.32):
# (message, number, proto name, type, label, message type, keep zero)
APIEXTENSIONS_ADDITIONS = (
    ("ValidationRule", 3, "messageExpression", "string", "opt", None, False),
    ("ValidationRule", 4, "reason", "string", "opt", None, True),
    ("ValidationRule", 5, "fieldPath", "string", "opt", None, False),
    ("ValidationRule", 6, "optionalOldSelf", "bool", "opt", None, True),
    ("CustomResourceDefinitionVersion", 9, "selectableFields", "message", "rep", "SelectableField", False),
    ("SelectableField", 1, "jsonPath", "string", "opt", None, False),
)

# FieldDescriptorProto.Type numbers -> our names
TYPES = {1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 8: "bool", 9: "string", 11: "message",
         12: "bytes", 13: "uint32", 6: "fixed64", 7: "fixed32", 15: "sfixed32", 16: "sfixed64", 17: "sint32",
         18: "sint64"}
GO_KIND_POINTER = 22
GZIP_MAGIC = b"\x1f\x8b\x08\x00\x00\x00\x00\x00"


def _sections(data: bytes) -> dict[str, tuple[int, int, int]]:
    """ELF64 section name -> (virtual address, file offset, size)."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    heads = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab_off = heads[shstrndx][4]
    out = {}
    for h in heads:
        name = data[strtab_off + h[0]:data.index(b"\0", strtab_off + h[0])].decode()
        out[name] = (h[3], h[4], h[5])
    return out


def descriptors(data: bytes) -> dict[str, Any]:
    """Every gzipped FileDescriptorProto in a Go binary, by file name."""
    from google.protobuf import descriptor_pb2

    found: dict[str, Any] = {}
    i = 0
    while (i := data.find(GZIP_MAGIC, i)) >= 0:
        try:
            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[i:i + 4_000_000])
            fd = descriptor_pb2.FileDescriptorProto()
            fd.ParseFromString(raw)
            if fd.name.endswith(".proto") and fd.package:
                found[fd.name] = fd
        except Exception:  # noqa: BLE001 - most gzip magics in a binary are not descriptors
            pass
        i += 1
    return found


_TAG = re.compile(rb'[a-zA-Z]+:"[^"]*"(?: [a-zA-Z]+:"[^"]*")*')
_IDENT = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


def _name(ro: bytes, at: int) -> str:
    """A Go runtime name record: flags byte, varint length, bytes."""
    n, shift, i = 0, 0, at + 1
    while True:
        b = ro[i]
        n |= (b & 0x7F) << shift
        i += 1
        if b < 0x80:
            return ro[i:i + n].decode()
        shift += 7


def go_structs(data: bytes) -> dict[tuple[str, str], dict[int, dict[str, Any]]]:
    """The protobuf-tagged fields of every Go struct type in the binary, by (package path, type name)."""
    va, off, size = _sections(data)[".rodata"]
    ro = data[off:off + size]
    names: dict[int, tuple[str, str]] = {}
    for start in re.finditer(rb'(?:json|protobuf):"', ro):
        m = _TAG.match(ro, start.start())
        if not m or b'protobuf:"' not in m.group(0) or b'json:"' not in m.group(0):
            continue
        t, length = m.start(), m.end() - m.start()
        if length < 128 and ro[t - 1] != length:
            continue
        vl = 1 if length < 128 else 2
        for n in range(1, 80):
            p = t - vl - n
            if ro[p - 1] == n and ro[p - 2] & 2 and _IDENT.fullmatch(ro, p, p + n):
                names[va + p - 2] = (ro[p:p + n].decode(), m.group(0).decode())
                break
    words = struct.unpack_from(f"<{len(ro) // 8}Q", ro)
    where: dict[int, list[int]] = collections.defaultdict(list)
    for i, w in enumerate(words):
        if va <= w < va + size:
            where[w].append(i * 8)
    out: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    done: set[int] = set()
    for name_at in names:
        for q in where.get(name_at, ()):
            # q is a StructField {name, typ, offset}; walk back to its array, then find the StructType
            # {Type (48 bytes), PkgPath, Fields []StructField} whose Fields point at the array
            while q >= 24 and va <= words[(q - 24) // 8] < va + size and words[(q - 24) // 8 + 2] < words[q // 8 + 2]:
                q -= 24
            if q in done:
                continue
            done.add(q)
            for ref in where.get(va + q, ()):
                t = ref - 56
                if t < 0 or ro[t + 23] & 0x1F != 25:
                    continue
                count = words[(t + 64) // 8]
                type_name = _name(ro, struct.unpack_from("<i", ro, t + 40)[0]).lstrip("*").split(".", 1)[-1]
                pkg = _name(ro, struct.unpack_from("<i", ro, t + 80)[0]) if ro[t + 20] & 1 else ""
                fields: dict[int, dict[str, Any]] = {}
                for k in range(count):
                    nptr, typ = words[(q + 24 * k) // 8], words[(q + 24 * k) // 8 + 1]
                    if nptr not in names:
                        continue
                    goname, tag = names[nptr]
                    ptag = re.search(r'protobuf:"([^"]*)"', tag).group(1).split(",")
                    jtag = re.search(r'json:"([^"]*)"', tag).group(1).split(",")
                    pname = next((p[5:] for p in ptag if p.startswith("name=")), None)
                    kind = ro[typ - va + 23] & 0x1F if 0 <= typ - va < size else -1
                    fields[int(ptag[1])] = {"pname": pname, "json": jtag[0], "omitempty": "omitempty" in jtag[1:],
                                            "pointer": kind == GO_KIND_POINTER, "go": goname}
                out[(pkg, type_name)] = fields
    return out


def _go_package(file_name: str) -> str:
    return os.path.dirname(file_name).removeprefix("k8s.io/kubernetes/vendor/")


def build(binaries: list[str]) -> dict[str, Any]:
    files: dict[str, Any] = {}
    structs: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for path in binaries:
        with open(path, "rb") as f:
            data = f.read()
        for name, fd in descriptors(data).items():
            if fd.package in PACKAGES and fd.package not in {x.package for x in files.values()}:
                files[name] = fd
        for key, value in go_structs(data).items():
            structs.setdefault(key, value)
    messages: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    problems: list[str] = []
    for file_name, fd in files.items():
        for msg in fd.message_type:
            full = f"{fd.package}.{msg.name}"
            entries = {f".{full}.{n.name}": n for n in msg.nested_type if n.options.map_entry}
            go = structs.get((_go_package(file_name), msg.name))
            if msg.field and go is None:
                problems.append(f"no Go struct for {full} (a type with its own JSON form)")
            rows = []
            for f in sorted(msg.field, key=lambda f: f.number):
                facts = go.get(f.number) if go is not None else None
                if go is not None and facts is None:
                    problems.append(f"no Go field for {full}.{f.name}")
                json_name = facts["json"] if facts else f.name
                flags = "r" if f.label == 3 else ""
                if facts and facts["pointer"]:
                    flags += "p"
                if facts and not facts["omitempty"]:
                    flags += "e"  # no omitempty: Go's JSON encoder writes the zero value
                if facts and json_name == "":
                    flags += "i"  # json:",inline": the message's fields sit in the parent object
                typ, ref = TYPES[f.type], None
                if f.type == 11:
                    ref = f.type_name.lstrip(".")
                    if f.type_name in entries:
                        k, v = entries[f.type_name].field
                        typ, ref = "map", [TYPES[k.type], v.type_name.lstrip(".") if v.type == 11 else TYPES[v.type]]
                        flags = flags.replace("r", "")
                rows.append([f.number, json_name or f.name, typ, ref, flags])
            messages[full] = rows
            group = PACKAGES[fd.package]
            if group is not None and rows and rows[0][1] == "metadata":
                version = fd.package.rsplit(".", 1)[1]
                api_version = f"{group}/{version}" if group else version
                kinds[f"{api_version}/{msg.name}"] = full
    for message, number, name, typ, label, ref, keep in APIEXTENSIONS_ADDITIONS:
        rows = messages.setdefault(f"{APIEXTENSIONS}.{message}", [])
        if not any(r[0] == number for r in rows):
            rows.append([number, name, typ, f"{APIEXTENSIONS}.{ref}" if ref else None,
                         ("r" if label == "rep" else "") + ("p" if keep else "")])
            rows.sort(key=lambda r: r[0])
    for p in problems:
        print(p, file=sys.stderr)
    return {"messages": dict(sorted(messages.items())), "kinds": dict(sorted(kinds.items()))}


HEADER = '''"""Kubernetes protobuf wire facts (generated by gen_schema.py; do not edit): messages and the kinds they carry.

MESSAGES maps a message's full proto name to its fields, in field-number order, each
[number, JSON name, type, message type or [map key type, map value type] or None, flags]; flags: r repeated,
p Go pointer (a zero value is meaningful), e no omitempty (Go's JSON writes the zero value), i inline
(json:",inline": the message's fields sit in the parent object). KINDS maps "apiVersion/kind" to a message.
"""

# fmt: off
'''


def render(table: dict[str, Any]) -> str:
    """schema_data.py's text: one message per line."""
    lines = [HEADER, "MESSAGES: dict[str, list[list]] = {"]
    for name, rows in table["messages"].items():
        lines.append(f"    {name!r}: {rows!r},")
    lines += ["}", "", "KINDS: dict[str, str] = {"]
    lines += [f"    {k!r}: {v!r}," for k, v in table["kinds"].items()]
    lines += ["}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("--extra-binary", action="append", default=[])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "schema_data.py"))
    args = parser.parse_args()
    table = build([args.binary, *args.extra_binary])
    with open(args.out, "w") as f:
        f.write(render(table))
    print(f"{len(table['messages'])} messages, {len(table['kinds'])} kinds -> {args.out}")


if __name__ == "__main__":
    main()

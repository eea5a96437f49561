"""The CRD object itself: defaults, validation messages, established status and served resources."""

from __future__ import annotations

import copy

import pytest

from kybernetes.api.crd import apply_crd_defaults, established_status, resources_for_crd, validate_crd


def test_defaults(crd):
    assert crd["spec"]["names"]["singular"] == "crontab"
    assert crd["spec"]["names"]["listKind"] == "CronTabList"
    assert crd["spec"]["conversion"] == {"strategy": "None"}
    assert crd["status"] == {"acceptedNames": {"plural": "", "kind": ""}, "storedVersions": ["v1"]}


def test_valid_crd_has_no_errors(crd):
    assert validate_crd(crd) == []


def _set(path: str, value):
    def mutate(c: dict) -> None:
        parts = path.split(".")
        cur = c
        for p in parts[:-1]:
            cur = cur[int(p)] if p.isdigit() else cur[p]
        last = parts[-1]
        if value is _DELETE:
            del cur[last]
        elif last.isdigit():
            cur[int(last)] = value
        else:
            cur[last] = value
    return mutate


_DELETE = object()
_S = "spec.versions.0.schema.openAPIV3Schema.properties.spec.properties"
_P = "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties"

INVALID = [
    ("name-not-plural-group", _set("metadata.name", "crontab.stable.example.com"),
     ['metadata.name: Invalid value: "crontab.stable.example.com": must be spec.names.plural+"."+spec.group']),
    ("group-without-dot", [_set("spec.group", "stable"), _set("metadata.name", "crontabs.stable")],
     ['spec.group: Invalid value: "stable": should be a domain with at least one dot']),
    ("scope", _set("spec.scope", "Global"),
     ['spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"']),
    ("no-storage", _set("spec.versions.0.storage", False),
     ["spec.versions: Invalid value: "]),  # prefix: the value is the whole versions list
    ("duplicate-version", _set("spec.versions.1.name", "v1"),
     ["spec.versions: Invalid value: "]),
    ("schema-required", _set("spec.versions.1.schema", _DELETE),
     ["spec.versions[1].schema.openAPIV3Schema: Required value: schemas are required"]),
    ("missing-type", _set(f"{_S}.image.type", _DELETE),
     [f"{_P}[image].type: Required value: must not be empty for specified object fields"]),
    ("ref", _set(f"{_S}.image.$ref", "#/definitions/x"),
     [f"{_P}[image].$ref: Forbidden: $ref is not supported"]),
    ("additional-and-properties", _set(f"{_S}.backoff.additionalProperties", {"type": "string"}),
     [f"{_P}[backoff].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"]),
    ("unique-items", _set(f"{_S}.tags.uniqueItems", True),
     [f"{_P}[tags].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity "
      "becomes quadratic"]),
    ("bad-default", _set(f"{_S}.size.default", "XL"),
     [f'{_P}[size].default: Unsupported value: "XL": supported values: "S", "M", "L"']),
    ("map-key-needs-default-or-required", _set(f"{_S}.ports.items.required", _DELETE),
     [f"{_P}[ports].items.properties[name].default: Required value: this property is in "
      "x-kubernetes-list-map-keys, so it must have a default or be a required property"]),
    ("printer-column-type", _set("spec.versions.0.additionalPrinterColumns.0.type", "text"),
     ['spec.versions[0].additionalPrinterColumns[0].type: Invalid value: "text": must be one of '
      "boolean,date,integer,number,string"]),
    ("printer-column-path", _set("spec.versions.0.additionalPrinterColumns.0.jsonPath", _DELETE),
     ["spec.versions[0].additionalPrinterColumns[0].JSONPath: Required value"]),
    ("scale-path", _set("spec.versions.0.subresources.scale.specReplicasPath", ".status.replicas"),
     ['spec.versions[0].subresources.scale.specReplicasPath: Invalid value: ".status.replicas": should be a json '
      "path under .spec"]),
    ("scale-status-path-required", _set("spec.versions.0.subresources.scale.statusReplicasPath", _DELETE),
     ["spec.versions[0].subresources.scale.statusReplicasPath: Required value"]),
    ("short-name", _set("spec.names.shortNames", ["C T"]),
     ['spec.names.shortNames[0]: Invalid value: "C T": a DNS-1035 label must consist of lower case alphanumeric '
      "characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. "
      "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"]),
    ("kind-equals-list-kind", _set("spec.names.listKind", "CronTab"),
     ['spec.names.listKind: Invalid value: "CronTab": kind and listKind may not be the same']),
    ("root-not-object", _set("spec.versions.1.schema.openAPIV3Schema.type", "string"),
     ['spec.versions[1].schema.openAPIV3Schema.type: Invalid value: "string": must be object at the root']),
    ("list-type-on-object", _set(f"{_S}.backoff.x-kubernetes-list-type", "set"),
     [f'{_P}[backoff].type: Invalid value: "object": must be array if x-kubernetes-list-type is specified']),
    ("metadata-restricted", _set("spec.versions.0.schema.openAPIV3Schema.properties.metadata",
                                 {"type": "object", "properties": {"labels": {"type": "object"}}}),
     ["spec.versions[0].schema.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other "
      "than name and generateName, but metadata is implicitly specified"]),
]


@pytest.mark.parametrize("mutate,expected", [(m, e) for _, m, e in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_crds(crd, mutate, expected):
    for m in mutate if isinstance(mutate, list) else [mutate]:
        m(crd)
    got = [str(e) for e in validate_crd(crd)]
    assert len(got) == len(expected), got
    for g, e in zip(got, expected):
        assert g.startswith(e) if e.endswith(": ") else g == e


def test_versions_message_details(crd):
    crd["spec"]["versions"][0]["storage"] = False
    (err,) = validate_crd(crd)
    assert err.detail == "must have exactly one version marked as storage version"


@pytest.mark.parametrize("field,value,established,expected", [
    ("group", "other.example.com", False, 'spec.group: Invalid value: "other.example.com": field is immutable'),
    ("scope", "Cluster", True, 'spec.scope: Invalid value: "Cluster": field is immutable'),
    ("scope", "Cluster", False, None),
], ids=["group", "scope-established", "scope-not-established"])
def test_update_immutability(crd, field, value, established, expected):
    old = copy.deepcopy(crd)
    if established:
        old["status"] = established_status(old, "2024-01-01T00:00:00Z")
    crd["spec"][field] = value
    if field == "group":
        crd["metadata"]["name"] = f"crontabs.{value}"
    msgs = [str(e) for e in validate_crd(crd, old)]
    assert (expected in msgs) if expected else msgs == []


def test_established_status(crd):
    status = established_status(crd, "2024-01-01T00:00:00Z")
    assert status["acceptedNames"] == {"plural": "crontabs", "singular": "crontab", "shortNames": ["ct"],
                                       "kind": "CronTab", "listKind": "CronTabList", "categories": ["all"]}
    assert status["conditions"] == [
        {"type": "NamesAccepted", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z",
         "reason": "NoConflicts", "message": "no conflicts found"},
        {"type": "Established", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z",
         "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}]
    assert status["storedVersions"] == ["v1"]
    crd["status"] = status
    again = established_status(crd, "2025-01-01T00:00:00Z")
    assert [c["lastTransitionTime"] for c in again["conditions"]] == ["2024-01-01T00:00:00Z"] * 2


def test_resources_for_served_versions(crd):
    infos = resources_for_crd(crd)
    assert [i.version for i in infos] == ["v1", "v1beta1"]
    v1 = infos[0]
    assert (v1.group, v1.kind, v1.plural, v1.singular, v1.namespaced) == (
        "stable.example.com", "CronTab", "crontabs", "crontab", True)
    assert v1.short_names == ("ct",) and v1.categories == ("all",)
    assert v1.subresources == ("scale", "status") and infos[1].subresources == ()
    assert v1.crd and v1.storage_plural == "crontabs"
    assert infos[1].storage_prefix == v1.storage_prefix == "/registry/stable.example.com/crontabs/"
    assert v1.extra["storage_version"] == "v1"
    assert v1.extra["openapi_schema"]["properties"]["spec"]["required"] == ["cronSpec"]
    assert [c["name"] for c in v1.extra["printer_columns"]] == ["Spec", "Replicas", "Age"]
    assert v1.extra["scale"]["specReplicasPath"] == ".spec.replicas"
    assert v1.extra["selectable_fields"] == ["spec.size"]


def test_cluster_scope(crd):
    crd["spec"]["scope"] = "Cluster"
    assert not resources_for_crd(crd)[0].namespaced


def test_defaults_keep_given_values():
    c = {"spec": {"names": {"kind": "Foo", "singular": "f", "listKind": "FooItems"},
                  "conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {"service": {"name": "s"}}}},
                  "versions": [{"name": "v1", "served": True, "storage": True}]}}
    apply_crd_defaults(c)
    assert c["spec"]["names"]["singular"] == "f" and c["spec"]["names"]["listKind"] == "FooItems"
    assert c["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["port"] == 443

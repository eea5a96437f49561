"""Custom resources validated against the CronTab schema, with upstream's exact messages."""

from __future__ import annotations

import copy

import pytest

from kybernetes.api.crd import default_custom_resource, validate_custom_resource
from kybernetes.api.crd import cel

BLOCKED = ("<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; "
           "correct the existing errors to complete validation")

CASES = [
    ("valid", {"replicas": 2, "size": "S", "port": "http", "tags": ["a", "b"]}, []),
    ("wrong-type", {"maxReplicas": "three"},
     ['spec.maxReplicas: Invalid value: "string": spec.maxReplicas in body must be of type integer: "string"']),
    ("float-for-integer", {"maxReplicas": 1.5},
     ['spec.maxReplicas: Invalid value: "number": spec.maxReplicas in body must be of type integer: "number"']),
    ("whole-float-is-integer", {"maxReplicas": 2.0}, []),
    ("scale-replicas-not-int64", {"replicas": 2.0},
     [".spec.replicas: Invalid value: 0: .spec.replicas accessor error: 2.0 is of the type float64, expected int64"]),
    ("null-not-nullable", {"image": None},
     ['spec.image: Invalid value: "null": spec.image in body must be of type string: "null"']),
    ("null-nullable", {"nickname": None}, []),
    ("enum", {"size": "XL"}, ['spec.size: Unsupported value: "XL": supported values: "S", "M", "L"']),
    ("maximum", {"maxReplicas": 11},
     ["spec.maxReplicas: Invalid value: 11: spec.maxReplicas in body should be less than or equal to 10"]),
    ("minimum", {"replicas": -1},
     ["spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
      ".spec.replicas: Invalid value: -1: should be a non-negative integer"]),
    ("exclusive-minimum", {"ratio": 0},
     ["spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0"]),
    ("multiple-of", {"ratio": 0.7},
     ["spec.ratio: Invalid value: 0.7: spec.ratio in body should be a multiple of 0.5"]),
    ("pattern", {"cronSpec": "every minute"},
     ['spec.cronSpec: Invalid value: "every minute": spec.cronSpec in body should match '
      "'^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'"]),
    ("max-length", {"image": "x" * 21}, ["spec.image: Too long: may not be more than 20 bytes"]),
    ("min-length-item", {"tags": [""]},
     ['spec.tags[0]: Invalid value: "": spec.tags[0] in body should be at least 1 chars long']),
    ("max-items", {"tags": ["a", "b", "c", "d"]}, ["spec.tags: Too many: 4: must have at most 3 items"]),
    ("max-properties", {"limits": {"a": "1", "b": "2", "c": "3"}},
     ["spec.limits: Too many: 3: must have at most 2 items"]),
    ("additional-properties-type", {"limits": {"cpu": 1}},
     ['spec.limits.cpu: Invalid value: "integer": spec.limits.cpu in body must be of type string: "integer"']),
    ("date-time", {"startAt": "yesterday"},
     ['spec.startAt: Invalid value: "yesterday": spec.startAt in body must be of type date-time: "yesterday"']),
    ("date-time-ok", {"startAt": "2024-01-02T03:04:05Z"}, []),
    ("int-or-string", {"port": True},
     ['spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"']),
    ("set-duplicate", {"tags": ["a", "a"]}, ['spec.tags[1]: Duplicate value: "a"']),
    ("map-duplicate", {"ports": [{"name": "http", "port": 80}, {"name": "http", "port": 81}]},
     ['spec.ports[1]: Duplicate value: map[string]interface {}{"name":"http"}']),
    ("map-item-required", {"ports": [{"port": 80}]}, ["spec.ports[0].name: Required value"]),
    ("embedded-needs-kind", {"template": {"apiVersion": "v1", "metadata": {"name": "x"}}},
     ["spec.template.kind: Required value: must not be empty"]),
    ("embedded-ok", {"template": {"apiVersion": "v1", "kind": "Pod", "spec": {"anything": 1}}}, []),
    ("preserve-unknown-subtree-typed-field", {"config": {"level": 3, "free": {"x": 1}}},
     ['spec.config.level: Invalid value: "integer": spec.config.level in body must be of type string: "integer"']),
]


@pytest.mark.parametrize("spec,expected", [(s, e) for _, s, e in CASES], ids=[c[0] for c in CASES])
def test_schema_errors(info, make_crontab, spec, expected):
    if cel.AVAILABLE and any("Unsupported value" in e or "must be of type" in e for e in expected):
        expected = expected + [BLOCKED]  # type and enum errors keep CEL rules from running
    obj = make_crontab(**spec)
    default_custom_resource(info, obj)  # the apiserver defaults before it validates
    assert [str(e) for e in validate_custom_resource(info, obj)] == expected


def test_required_field(info, make_crontab):
    obj = make_crontab()
    del obj["spec"]["cronSpec"]
    default_custom_resource(info, obj)
    assert [str(e) for e in validate_custom_resource(info, obj)] == ["spec.cronSpec: Required value"]


@pytest.mark.parametrize("mutate,expected", [
    (lambda o: o.update(kind="Other"), ['kind: Invalid value: "Other": must be CronTab']),
    (lambda o: o.update(apiVersion="stable.example.com/v2"),
     ['apiVersion: Invalid value: "stable.example.com/v2": must be stable.example.com/v1']),
    (lambda o: o["metadata"].update(name="Bad_Name"),
     ['metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case '
      "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
      "'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"]),
    (lambda o: o["metadata"].pop("namespace"), ["metadata.namespace: Required value"]),
    (lambda o: o["spec"].update(replicas=-2),
     ["spec.replicas: Invalid value: -2: spec.replicas in body should be greater than or equal to 0",
      ".spec.replicas: Invalid value: -2: should be a non-negative integer"]),
], ids=["kind", "apiVersion", "name", "namespace", "scale-negative"])
def test_type_and_object_meta(info, make_crontab, mutate, expected):
    obj = make_crontab()
    mutate(obj)
    default_custom_resource(info, obj)
    assert [str(e) for e in validate_custom_resource(info, obj)] == expected


def test_any_of_and_not(info, make_crontab):
    info.extra["openapi_schema"]["properties"]["spec"]["anyOf"] = [{"required": ["image"]}, {"required": ["startAt"]}]
    obj = make_crontab()
    default_custom_resource(info, obj)
    errs = [str(e) for e in validate_custom_resource(info, obj)]
    assert errs == ['<nil>: Invalid value: "": "spec" must validate at least one schema (anyOf)',
                    "spec.image: Required value"]


def test_ratcheting_keeps_unchanged_invalid_values(info, make_crontab):
    old = make_crontab(maxReplicas=50, replicas=1)
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"a": "b"}
    assert validate_custom_resource(info, new, old) == []
    new["spec"]["image"] = "y" * 30
    # the unchanged, invalid maxReplicas ratchets; only the changed field is checked
    assert [str(e) for e in validate_custom_resource(info, new, old)] == [
        "spec.image: Too long: may not be more than 20 bytes"]
    assert len(validate_custom_resource(info, new)) == 2


@pytest.mark.skipif(not cel.AVAILABLE, reason="cel-python is not installed")
class TestCEL:
    def test_rule_with_message(self, info, make_crontab):
        errs = validate_custom_resource(info, make_crontab(replicas=6, maxReplicas=5))
        assert [str(e) for e in errs] == ['spec: Invalid value: "object": replicas must not exceed maxReplicas']

    def test_rule_passes(self, info, make_crontab):
        assert validate_custom_resource(info, make_crontab(replicas=2, maxReplicas=5)) == []

    def test_blocked_by_type_error(self, info, make_crontab):
        errs = [str(e) for e in validate_custom_resource(info, make_crontab(replicas=1, maxReplicas="x"))]
        assert errs[-1] == ('<nil>: Invalid value: null: some validation rules were not checked because the object '
                            'was invalid; correct the existing errors to complete validation')

    def test_transition_rule_and_message_expression(self, info, make_crontab):
        spec = info.extra["openapi_schema"]["properties"]["spec"]
        spec["properties"]["size"]["x-kubernetes-validations"] = [
            {"rule": "self == oldSelf", "messageExpression": "'size is immutable, was ' + oldSelf"}]
        old = make_crontab(replicas=1, maxReplicas=5, size="S")
        assert validate_custom_resource(info, make_crontab(replicas=1, maxReplicas=5, size="L")) == []
        errs = validate_custom_resource(info, make_crontab(replicas=1, maxReplicas=5, size="L"), old)
        assert [str(e) for e in errs] == ['spec.size: Invalid value: "string": size is immutable, was S']

    def test_rule_without_message(self, info, make_crontab):
        spec = info.extra["openapi_schema"]["properties"]["spec"]
        spec["x-kubernetes-validations"] = [{"rule": "self.replicas < 3"}]
        errs = validate_custom_resource(info, make_crontab(replicas=4))
        assert [str(e) for e in errs] == ['spec: Invalid value: "object": failed rule: self.replicas < 3']

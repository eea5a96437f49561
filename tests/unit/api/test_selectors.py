"""Tests for label selectors: the query-string parser, matching, and metav1.LabelSelector helpers."""

from __future__ import annotations

import pytest

from kybernetes.api.errors import StatusError
from kybernetes.api.selectors import (
    LabelSelector, is_qualified_name, label_selector_from_dict, label_selector_from_dict_or_everything,
    label_selector_matches, parse_label_selector, selector_to_dict, validate_label_key, validate_label_selector_dict,
    validate_label_value,
)

LABELS = {"app": "web", "tier": "front", "version": "3", "env": "prod"}


@pytest.mark.parametrize("selector,want", [
    ("", True),
    ("app=web", True),
    ("app==web", True),
    ("app!=web", False),
    ("app!=db", True),
    ("missing!=x", True),
    ("app in (web,db)", True),
    ("app in (db)", False),
    ("app notin (db)", True),
    ("missing notin (db)", True),
    ("app notin (web)", False),
    ("app", True),
    ("missing", False),
    ("!missing", True),
    ("!app", False),
    ("version>2", True),
    ("version>3", False),
    ("version<4", True),
    ("app>1", False),
    ("missing<4", False),
    ("app=web,tier=front", True),
    ("app=web,tier=back", False),
    ("  app = web , tier in ( front , back ) ", True),
    ("app=", False),
    ("other=", False),
    ("in in (in)", False),
], ids=lambda v: repr(v))
def test_parse_and_match(selector: str, want: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is want


@pytest.mark.parametrize("selector,canonical", [
    ("b=2,a=1", "a=1,b=2"),
    ("a in (z,y,x)", "a in (x,y,z)"),
    ("!a", "!a"),
    ("a", "a"),
    ("a==b", "a==b"),
    ("a notin (,)", "a notin ()"),
    ("x>3", "x>3"),
])
def test_string_is_sorted_and_canonical(selector: str, canonical: str) -> None:
    assert str(parse_label_selector(selector)) == canonical


@pytest.mark.parametrize("selector,message", [
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("a,", "found '', expected: identifier after ','"),
    (",", "found ',', expected: !, identifier, or 'end of string'"),
    ("a in x", "unable to parse requirement: found 'x' expected: '('"),
    ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
    ("a>x", "unable to parse requirement: values[0]: Invalid value: \"x\": "
            "for 'Gt', 'Lt' operators, the value must be an integer"),
    ("a/b/c=d", "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must consist of"),
    ("a=b#", "unable to parse requirement: values[0][a]: Invalid value: \"b#\": a valid label must be an empty "
             "string or consist of alphanumeric characters"),
    ("Example.com/x=y", "unable to parse requirement: <nil>: Invalid value: \"Example.com/x\": "
                        "prefix part a lowercase RFC 1123 subdomain"),
], ids=lambda v: repr(v))
def test_parse_errors_are_400_with_upstream_message(selector: str, message: str) -> None:
    with pytest.raises(StatusError) as exc:
        parse_label_selector(selector)
    assert exc.value.code == 400
    assert exc.value.reason == "BadRequest"
    assert exc.value.message.startswith(message), exc.value.message


def test_regex_error_wording_matches_upstream() -> None:
    msgs = is_qualified_name("-bad")
    assert msgs == ["name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]


@pytest.mark.parametrize("sel,labels,want", [
    (None, {"a": "1"}, False),
    ({}, {"a": "1"}, True),
    ({}, {}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
    ({"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]}, {"a": "1"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, {"a": "1"}, False),
], ids=["nil-nothing", "empty-everything", "empty-empty", "labels", "labels-miss", "in", "notin-missing",
        "exists", "does-not-exist", "anded", "bad-operator-selects-nothing"])
def test_label_selector_from_dict(sel: dict | None, labels: dict, want: bool) -> None:
    assert label_selector_matches(sel, labels) is want


def test_nil_or_everything_helper() -> None:
    assert label_selector_from_dict_or_everything(None).matches({"x": "y"})
    assert label_selector_from_dict(None).is_nothing()
    assert label_selector_from_dict({}).empty()


def test_bad_operator_raises_with_upstream_message() -> None:
    with pytest.raises(ValueError, match='"Bogus" is not a valid label selector operator'):
        label_selector_from_dict({"matchExpressions": [{"key": "a", "operator": "Bogus"}]})


@pytest.mark.parametrize("sel,want", [
    ({"matchLabels": {"app": "web"}}, []),
    ({"matchLabels": {"bad key": "v"}}, ["spec.selector.matchLabels"]),
    ({"matchLabels": {"k": "bad value"}}, ["spec.selector.matchLabels"]),
    ({"matchExpressions": [{"key": "a", "operator": "In"}]}, ["spec.selector.matchExpressions[0].values"]),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
     ["spec.selector.matchExpressions[0].values"]),
    ({"matchExpressions": [{"key": "a", "operator": "Nope"}]}, ["spec.selector.matchExpressions[0].operator"]),
    ({"matchExpressions": [{"key": "-a", "operator": "Exists"}]}, ["spec.selector.matchExpressions[0].key"]),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["ok", "not ok"]}]},
     ["spec.selector.matchExpressions[0].values[1]"]),
], ids=["ok", "bad-key", "bad-value", "in-needs-values", "exists-forbids-values", "bad-op", "bad-expr-key",
        "bad-expr-value"])
def test_validate_label_selector_dict(sel: dict, want: list[str]) -> None:
    assert [e.field for e in validate_label_selector_dict(sel, "spec.selector")] == want


def test_validate_selector_error_types() -> None:
    errs = validate_label_selector_dict({"matchExpressions": [
        {"key": "a", "operator": "In"}, {"key": "b", "operator": "Exists", "values": ["x"]}]}, "s")
    assert [e.type for e in errs] == ["FieldValueRequired", "FieldValueForbidden"]
    assert str(errs[0]) == "s.matchExpressions[0].values: Required value: must be specified when `operator` is " \
                           "'In' or 'NotIn'"


@pytest.mark.parametrize("key,ok", [
    ("app", True), ("example.com/app", True), ("app.kubernetes.io/name", True), ("a" * 63, True),
    ("a" * 64, False), ("/a", False), ("a/", False), ("a/b/c", False), ("-a", False), ("UPPER.com/a", False),
])
def test_validate_label_key(key: str, ok: bool) -> None:
    assert (validate_label_key(key, "metadata.labels") == []) is ok


@pytest.mark.parametrize("value,ok", [("", True), ("a.b-c_d", True), ("a" * 64, False), ("-a", False),
                                      ("a b", False)])
def test_validate_label_value(value: str, ok: bool) -> None:
    assert (validate_label_value(value, "metadata.labels") == []) is ok


def test_selector_to_dict_round_trip() -> None:
    sel = parse_label_selector("app=web,tier in (a,b),!gone,x,y!=z")
    d = selector_to_dict(sel)
    assert d == {"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "gone", "operator": "DoesNotExist"}, {"key": "tier", "operator": "In", "values": ["a", "b"]},
        {"key": "x", "operator": "Exists"}, {"key": "y", "operator": "NotIn", "values": ["z"]}]}
    for labels in ({"app": "web", "tier": "a", "x": "1"}, {"app": "web", "tier": "c", "x": "1"}, {}):
        assert label_selector_from_dict(d).matches(labels) == sel.matches(labels)


def test_requires_exact_match_and_equality() -> None:
    sel = parse_label_selector("app=web,b in (x)")
    assert sel.requires_exact_match("app") == "web"
    assert sel.requires_exact_match("b") == "x"
    assert sel.requires_exact_match("c") is None
    assert sel == parse_label_selector("b in (x),app=web")
    assert LabelSelector.nothing() != LabelSelector.everything()

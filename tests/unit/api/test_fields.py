"""Tests for field selectors: parsing and escaping, supported labels per resource, and object field sets."""

from __future__ import annotations

import pytest

from kybernetes.api.errors import StatusError
from kybernetes.api.fields import (
    FieldSelector, convert_field_selector, escape_value, field_set, parse_and_convert, parse_field_selector,
    supported_field_labels, unescape_value,
)
from kybernetes.api.registry import ResourceInfo

PODS = ResourceInfo("", "v1", "Pod", "pods", "pod", True)
NODES = ResourceInfo("", "v1", "Node", "nodes", "node", False)
EVENTS = ResourceInfo("", "v1", "Event", "events", "event", True)
EVENTS_V1 = ResourceInfo("events.k8s.io", "v1", "Event", "events", "event", True)
SECRETS = ResourceInfo("", "v1", "Secret", "secrets", "secret", True)
CONFIGMAPS = ResourceInfo("", "v1", "ConfigMap", "configmaps", "configmap", True)
JOBS = ResourceInfo("batch", "v1", "Job", "jobs", "job", True)
SLICES = ResourceInfo("resource.k8s.io", "v1beta1", "ResourceSlice", "resourceslices", "resourceslice", False)
WIDGETS = ResourceInfo("example.com", "v1", "Widget", "widgets", "widget", True, crd=True)
CLUSTER_WIDGETS = ResourceInfo("example.com", "v1", "CWidget", "cwidgets", "cwidget", False, crd=True)

POD = {"metadata": {"name": "p1", "namespace": "ns"},
       "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                "serviceAccountName": "sa", "hostNetwork": True},
       "status": {"phase": "Running", "podIP": "198.18.0.5", "podIPs": [{"ip": "198.18.0.5"}]}}


@pytest.mark.parametrize("selector,want", [
    ("", []),
    ("a=b", [("a", "=", "b")]),
    ("a==b", [("a", "=", "b")]),
    ("a!=b", [("a", "!=", "b")]),
    ("b=2,a=1", [("a", "=", "1"), ("b", "=", "2")]),
    ("a=x\\,y", [("a", "=", "x,y")]),
    ("a=x\\=y", [("a", "=", "x=y")]),
    ("a=x\\\\y", [("a", "=", "x\\y")]),
    ("a=", [("a", "=", "")]),
    ("a=b,,", [("a", "=", "b")]),
], ids=lambda v: repr(v))
def test_parse(selector: str, want: list[tuple[str, str, str]]) -> None:
    got = parse_field_selector(selector)
    assert [(r.field, r.operator, r.value) for r in got.requirements] == want


@pytest.mark.parametrize("selector,message", [
    ("abc", "invalid selector: 'abc'; can't understand 'abc'"),
    ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
    ("a=x\\y", "invalid field selector: invalid escape sequence: \\y"),
    ("a=x\\", "invalid field selector: invalid escape sequence: \\"),
    ("a=b=c", "invalid field selector: unescaped character in value: 61"),
], ids=lambda v: repr(v))
def test_parse_errors(selector: str, message: str) -> None:
    with pytest.raises(StatusError) as exc:
        parse_field_selector(selector)
    assert (exc.value.code, exc.value.reason, exc.value.message) == (400, "BadRequest", message)


@pytest.mark.parametrize("value", ["plain", "a,b", "a=b", "a\\b", "\\,=", ""])
def test_escape_round_trip(value: str) -> None:
    assert unescape_value(escape_value(value)) == value
    assert parse_field_selector(f"f={escape_value(value)}").requires_exact_match("f") == value


@pytest.mark.parametrize("info,selector,want", [
    (PODS, "spec.nodeName=n1", True),
    (PODS, "spec.nodeName=n2", False),
    (PODS, "spec.nodeName!=n2", True),
    (PODS, "spec.nodeName=", False),
    (PODS, "status.phase=Running,metadata.namespace=ns", True),
    (PODS, "spec.hostNetwork=true", True),
    (PODS, "status.podIP=198.18.0.5", True),
    (PODS, "metadata.name=p1", True),
    (PODS, "status.nominatedNodeName=", True),
], ids=lambda v: v if isinstance(v, str) else None)
def test_pod_matching(info: ResourceInfo, selector: str, want: bool) -> None:
    sel = parse_and_convert(selector, info)
    assert sel.matches_object(POD, info) is want


def test_spec_host_is_converted_to_node_name() -> None:
    sel = parse_and_convert("spec.host=n1", PODS)
    assert str(sel) == "spec.nodeName=n1"
    assert sel.matches_object(POD, PODS)


@pytest.mark.parametrize("info,selector,message", [
    (PODS, "spec.foo=x", "field label not supported: spec.foo"),
    (NODES, "metadata.namespace=x", "field label not supported: metadata.namespace"),
    (CONFIGMAPS, "data.x=y", '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    (SLICES, "spec.pool.name=x",
     "field label not supported for resource.k8s.io/v1beta1, Kind=ResourceSlice: spec.pool.name"),
    (WIDGETS, "spec.size=x", "field label not supported for example.com/v1, Kind=Widget: spec.size"),
    (CLUSTER_WIDGETS, "metadata.namespace=x",
     "field label not supported for example.com/v1, Kind=CWidget: metadata.namespace"),
    (EVENTS_V1, "involvedObject.name=x", "field label not supported: involvedObject.name"),
], ids=["pod", "node-namespace", "default", "resourceslice", "crd", "crd-cluster-namespace", "events-v1"])
def test_unsupported_labels_are_400(info: ResourceInfo, selector: str, message: str) -> None:
    with pytest.raises(StatusError) as exc:
        parse_and_convert(selector, info)
    assert (exc.value.code, exc.value.reason, exc.value.message) == (400, "BadRequest", message)


@pytest.mark.parametrize("info,obj,selector,want", [
    (NODES, {"metadata": {"name": "n"}, "spec": {"unschedulable": True}}, "spec.unschedulable=true", True),
    (NODES, {"metadata": {"name": "n"}}, "spec.unschedulable=false", True),
    (SECRETS, {"metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/tls"},
     "type=kubernetes.io/tls", True),
    (JOBS, {"metadata": {"name": "j", "namespace": "d"}, "status": {"succeeded": 2}}, "status.successful=2", True),
    (EVENTS, {"metadata": {"name": "e", "namespace": "d"},
              "involvedObject": {"kind": "Pod", "name": "p", "namespace": "d", "uid": "u1"},
              "reason": "Started", "type": "Normal", "source": {"component": "kubelet"}},
     "involvedObject.kind=Pod,involvedObject.name=p,involvedObject.uid=u1,source=kubelet,type=Normal", True),
    (EVENTS_V1, {"metadata": {"name": "e", "namespace": "d"}, "regarding": {"kind": "Pod", "name": "p"},
                 "reportingController": "kubelet"}, "regarding.kind=Pod,reportingController=kubelet", True),
    (CONFIGMAPS, {"metadata": {"name": "c", "namespace": "d"}}, "metadata.name!=c", False),
], ids=["node-unschedulable", "node-default-false", "secret-type", "job-successful", "event", "events-v1",
        "configmap"])
def test_other_resources(info: ResourceInfo, obj: dict, selector: str, want: bool) -> None:
    assert parse_and_convert(selector, info).matches_object(obj, info) is want


def test_custom_resource_selectable_fields() -> None:
    paths = [".spec.color", ".spec.size"]
    sel = parse_and_convert("spec.color=red,.spec.size=3", WIDGETS, paths)
    assert str(sel) == "spec.size=3,spec.color=red"  # terms are sorted before conversion, as upstream
    red = {"metadata": {"name": "w", "namespace": "d"}, "spec": {"color": "red", "size": 3}}
    blue = {"metadata": {"name": "w", "namespace": "d"}, "spec": {"color": "blue", "size": 3}}
    assert sel.matches_object(red, WIDGETS, paths)
    assert not sel.matches_object(blue, WIDGETS, paths)
    assert supported_field_labels(WIDGETS, paths) == ("metadata.name", "metadata.namespace", "spec.color",
                                                      "spec.size")


def test_cluster_scoped_field_set_has_no_namespace() -> None:
    assert field_set({"metadata": {"name": "n"}}, NODES) == {"metadata.name": "n", "spec.unschedulable": "false"}


def test_convert_returns_new_selector_and_everything_matches() -> None:
    sel = parse_field_selector("metadata.name=x")
    assert convert_field_selector(sel, CONFIGMAPS) == sel
    assert FieldSelector.everything().matches({}) and FieldSelector.everything().empty()

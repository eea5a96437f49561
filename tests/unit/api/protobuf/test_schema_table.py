"""The schema table against upstream's OpenAPI: every message's JSON field names match its definition's."""

from __future__ import annotations

import pytest

from kybernetes.api import schema
from kybernetes.api.protobuf import schema_data, table
from kybernetes.api.registry import BUILTIN_RESOURCES


def openapi_name(message: str) -> str:
    """'k8s.io.api.core.v1.Pod' -> 'io.k8s.api.core.v1.Pod' (apiextensions' '_' is '-' in OpenAPI)."""
    return "io.k8s." + message.removeprefix("k8s.io.").replace("_", "-")


def json_names(message: str) -> set[str]:
    """JSON field names of a message, with inline messages' fields taken into the parent."""
    out: set[str] = set()
    for f in table.message(message).fields:
        out |= json_names(f.ref) if f.inline else {f.name}
    return out


def openapi_properties(message: str) -> set[str] | None:
    definition = schema.definition(openapi_name(message))
    if not definition or not definition.get("properties"):
        return None
    return set(definition["properties"])


IMPORTANT = [
    "k8s.io.api.core.v1.Pod", "k8s.io.api.core.v1.PodSpec", "k8s.io.api.core.v1.Container",
    "k8s.io.api.core.v1.Volume", "k8s.io.api.core.v1.Probe", "k8s.io.api.core.v1.Service",
    "k8s.io.api.core.v1.ServiceSpec", "k8s.io.api.core.v1.ConfigMap", "k8s.io.api.core.v1.Secret",
    "k8s.io.api.core.v1.Namespace", "k8s.io.api.apps.v1.Deployment", "k8s.io.api.apps.v1.DeploymentSpec",
    "k8s.io.api.batch.v1.Job", "k8s.io.api.batch.v1.JobSpec", "k8s.io.api.batch.v1.CronJob",
    "k8s.io.api.batch.v1.CronJobSpec", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta",
    "k8s.io.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry", "k8s.io.apimachinery.pkg.apis.meta.v1.Status",
    "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionVersion",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.ValidationRule",
]


@pytest.mark.parametrize("message", IMPORTANT, ids=lambda m: m.rsplit(".", 1)[1])
def test_important_messages_match_openapi_both_ways(message: str) -> None:
    props = openapi_properties(message)
    assert props is not None, f"no OpenAPI definition for {message}"
    ours = json_names(message)
    assert ours - props == set(), "fields the OpenAPI definition does not have"
    assert props - {"apiVersion", "kind"} - ours == set(), "OpenAPI fields missing from the table"


def test_every_message_with_a_definition_matches_openapi() -> None:
    gaps = {}
    for message in schema_data.MESSAGES:
        props = openapi_properties(message)
        if props is None:
            continue
        ours = json_names(message)
        # top-level objects carry apiVersion and kind in the envelope, not in the message
        missing = props - ours - ({"apiVersion", "kind"} - ours)
        extra = ours - props
        if missing or extra:
            gaps[message] = (sorted(missing), sorted(extra))
    assert gaps == {}


@pytest.mark.parametrize("info", list(BUILTIN_RESOURCES),
                         ids=lambda i: f"{i.group_version}/{i.kind}")
def test_every_builtin_resource_has_a_message_and_list(info) -> None:
    name = table.message_for_kind(info.group_version, info.kind)
    assert openapi_name(name) == info.definition
    if "list" in info.verbs:
        assert table.message_for_kind(info.group_version, info.list_kind)


@pytest.mark.parametrize(("api_version", "kind", "message"), [
    pytest.param("v1", "DeleteOptions", "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions", id="core-delete"),
    pytest.param("apps/v1", "DeleteOptions", "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
                 id="apps-delete"),
    pytest.param("v1", "Status", "k8s.io.apimachinery.pkg.apis.meta.v1.Status", id="status"),
    pytest.param("policy/v1", "Eviction", "k8s.io.api.policy.v1.Eviction", id="eviction"),
    pytest.param("autoscaling/v1", "Scale", "k8s.io.api.autoscaling.v1.Scale", id="scale"),
    pytest.param("authentication.k8s.io/v1", "TokenRequest", "k8s.io.api.authentication.v1.TokenRequest",
                 id="token-request"),
    pytest.param("authorization.k8s.io/v1", "SelfSubjectAccessReview",
                 "k8s.io.api.authorization.v1.SelfSubjectAccessReview", id="ssar"),
    pytest.param("v1", "Event", "k8s.io.api.core.v1.Event", id="core-event"),
    pytest.param("events.k8s.io/v1", "Event", "k8s.io.api.events.v1.Event", id="events-event"),
])
def test_message_for_kind(api_version: str, kind: str, message: str) -> None:
    assert table.message_for_kind(api_version, kind) == message


def test_unknown_kind_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        table.message_for_kind("example.com/v1", "Widget")


@pytest.mark.parametrize(("message", "field", "number", "flags"), [
    pytest.param("k8s.io.api.core.v1.PodSpec", "resources", 40, "p", id="podspec-resources-1.32"),
    pytest.param("k8s.io.api.apps.v1.DeploymentSpec", "replicas", 1, "p", id="replicas-pointer"),
    pytest.param("k8s.io.api.apps.v1.DeploymentSpec", "minReadySeconds", 5, "", id="min-ready-omitempty"),
    pytest.param("k8s.io.api.core.v1.ContainerPort", "containerPort", 3, "e", id="container-port-required"),
    pytest.param("k8s.io.api.core.v1.Volume", "volumeSource", 2, "ei", id="volume-source-inline"),
    pytest.param("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", "managedFields", 17, "r", id="managed-fields"),
    pytest.param("k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
                 "x-kubernetes-preserve-unknown-fields", 38, "p", id="preserve-unknown-fields"),
])
def test_known_wire_facts(message: str, field: str, number: int, flags: str) -> None:
    f = table.message(message).by_number[number]
    assert f.name == field
    assert (f.pointer, f.emit_zero, f.inline) == ("p" in flags, "e" in flags, "i" in flags)

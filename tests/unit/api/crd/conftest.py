"""A CronTab CRD (after the kubernetes.io CRD docs) with printer columns, scale, status, enum, defaults,
a preserve-unknown-fields subtree, a map list, a set list, an embedded resource and CEL rules."""

from __future__ import annotations

import copy

import pytest

from kybernetes.api.crd import apply_crd_defaults, resources_for_crd

CRONTAB_SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["cronSpec"],
            "x-kubernetes-validations": [
                {"rule": "self.replicas <= self.maxReplicas", "message": "replicas must not exceed maxReplicas"},
            ],
            "properties": {
                "cronSpec": {"type": "string", "pattern": r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$"},
                "image": {"type": "string", "maxLength": 20},
                "replicas": {"type": "integer", "format": "int32", "minimum": 0, "default": 1},
                "maxReplicas": {"type": "integer", "maximum": 10, "default": 5},
                "size": {"type": "string", "enum": ["S", "M", "L"], "default": "M"},
                "startAt": {"type": "string", "format": "date-time"},
                "ratio": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "multipleOf": 0.5},
                "port": {"x-kubernetes-int-or-string": True},
                "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                           "properties": {"level": {"type": "string"}}},
                "tags": {"type": "array", "maxItems": 3, "items": {"type": "string", "minLength": 1},
                         "x-kubernetes-list-type": "set"},
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "required": ["name"],
                              "properties": {"name": {"type": "string"},
                                             "protocol": {"type": "string", "default": "TCP"},
                                             "port": {"type": "integer"}}},
                },
                "limits": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 2},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "x-kubernetes-preserve-unknown-fields": True},
                "backoff": {"type": "object", "default": {},
                            "properties": {"limit": {"type": "integer", "default": 6}}},
                "history": {"type": "object", "properties": {"keep": {"type": "integer", "default": 3}}},
                "nickname": {"type": "string", "nullable": True},
            },
        },
        "status": {"type": "object", "properties": {"replicas": {"type": "integer"},
                                                    "labelSelector": {"type": "string"}}},
    },
}


def crontab_crd() -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"], "categories": ["all"]},
            "versions": [
                {"name": "v1", "served": True, "storage": True,
                 "schema": {"openAPIV3Schema": copy.deepcopy(CRONTAB_SCHEMA)},
                 "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                          "statusReplicasPath": ".status.replicas",
                                                          "labelSelectorPath": ".status.labelSelector"}},
                 "additionalPrinterColumns": [
                     {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
                     {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                     {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
                 "selectableFields": [{"jsonPath": ".spec.size"}]},
                {"name": "v1beta1", "served": True, "storage": False,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}},
                {"name": "v1alpha1", "served": False, "storage": False,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}},
            ],
        },
    }


@pytest.fixture
def crd() -> dict:
    c = crontab_crd()
    apply_crd_defaults(c)
    return c


@pytest.fixture
def info(crd):
    return next(i for i in resources_for_crd(crd) if i.version == "v1")


def crontab(**spec) -> dict:
    body = {"cronSpec": "*/5 * * * *"}
    body.update(spec)
    return {"apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "my-cron", "namespace": "default"}, "spec": body}


@pytest.fixture
def make_crontab():
    return crontab

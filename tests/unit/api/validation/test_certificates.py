"""CertificateSigningRequest validation (create, /status, /approval) and its write strategy."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kybernetes.api.validation.certificates import (validate_csr, validate_csr_approval_update,
                                                    validate_csr_status_update)
from kybernetes.apiserver import csrstrategy
from kybernetes.pki import csr as csrs
from kybernetes.pki.ca import CertificateAuthority, cert_to_pem, generate_key

PEM = csrs.make_csr(generate_key(), cn="alice")
CERT = base64.b64encode(cert_to_pem(CertificateAuthority.create().cert)).decode()


def csr(**spec: Any) -> dict[str, Any]:
    base = {"request": base64.b64encode(PEM).decode(), "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"]}
    base.update(spec)
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": "c1", "resourceVersion": "1"}, "spec": base}


def with_status(obj: dict[str, Any], *conditions: dict[str, Any], certificate: str = "") -> dict[str, Any]:
    out = dict(obj, status={"conditions": list(conditions)})
    if certificate:
        out["status"]["certificate"] = certificate
    return out


def cond(ctype: str, status: str = "True") -> dict[str, Any]:
    return {"type": ctype, "status": status}


def messages(errs: list) -> list[str]:
    return [str(e) for e in errs]


@pytest.mark.parametrize("spec,want", [
    ({}, []),
    ({"request": base64.b64encode(b"nope").decode()},
     ['spec.request: Invalid value: "bm9wZQ==": PEM block type must be CERTIFICATE REQUEST']),
    ({"usages": []}, ["spec.usages: Required value: usages must be provided"]),
    ({"usages": ["client auth", "client auth"]}, ['spec.usages[1]: Duplicate value: "client auth"']),
    ({"signerName": ""}, ["spec.signerName: Required value"]),
    ({"signerName": "example"}, ["spec.signerName: Invalid value: \"example\": must be a fully qualified domain "
                                 "and path of the form 'example.com/signer-name'"]),
    ({"signerName": "kubernetes.io/legacy-unknown"},
     ['spec.signerName: Invalid value: "kubernetes.io/legacy-unknown": the legacy signerName is not allowed via '
      'this API version']),
    ({"expirationSeconds": 599},
     ["spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)"]),
    ({"expirationSeconds": 600}, []),
], ids=["ok", "bad-pem", "no-usages", "duplicate-usage", "no-signer", "bad-signer", "legacy-signer",
        "short-expiration", "min-expiration"])
def test_validate_create(spec: dict, want: list[str]) -> None:
    assert messages(validate_csr(csr(**spec), None)) == want


def test_validate_create_reports_unknown_usage() -> None:
    errs = messages(validate_csr(csr(usages=["bogus"]), None))
    assert len(errs) == 1 and errs[0].startswith('spec.usages[0]: Unsupported value: "bogus": supported values:')


@pytest.mark.parametrize("conditions,want", [
    ([cond("Approved")], []),
    ([cond("Approved"), cond("Denied")],
     ['status.conditions[1].type: Invalid value: "Denied": Approved and Denied conditions are mutually exclusive']),
    ([cond("Approved", "False")],
     ['status.conditions[0].status: Unsupported value: "False": supported values: "True"']),
    ([cond("Approved"), cond("Approved")], ['status.conditions[1].type: Duplicate value: "Approved"']),
    ([{"type": "Custom"}], ["status.conditions[0].status: Required value"]),
    ([cond("Custom", "Maybe")],
     ['status.conditions[0].status: Unsupported value: "Maybe": supported values: "False", "True", "Unknown"']),
], ids=["approved", "both", "approved-false", "duplicate", "no-status", "bad-status"])
def test_validate_approval_conditions(conditions: list, want: list[str]) -> None:
    old = csr()
    assert messages(validate_csr_approval_update(with_status(csr(), *conditions), old)) == want


def test_approval_may_not_drop_a_decision() -> None:
    old = with_status(csr(), cond("Approved"))
    assert messages(validate_csr_approval_update(csr(), old)) == [
        "status.conditions: Forbidden: updates may not remove a condition of type 'Approved'"]


def test_status_sets_a_certificate_once() -> None:
    old = with_status(csr(), cond("Approved"))
    issued = with_status(csr(), cond("Approved"), certificate=CERT)
    assert validate_csr_status_update(issued, old) == []
    other = base64.b64encode(cert_to_pem(CertificateAuthority.create().cert)).decode()
    assert messages(validate_csr_status_update(with_status(csr(), cond("Approved"), certificate=other), issued)) == [
        "status.certificate: Forbidden: updates may not modify existing certificate content"]


def test_status_certificate_must_be_pem() -> None:
    bad = with_status(csr(), certificate=base64.b64encode(b"nope").decode())
    assert len(validate_csr_status_update(bad, csr())) == 1


def test_create_records_the_requester_not_the_body() -> None:
    obj = csr(username="root", groups=["system:masters"])
    obj["status"] = {"conditions": [cond("Approved")]}
    csrstrategy.prepare_for_create(obj, user="alice", groups=["devs", "system:authenticated"])
    assert obj["spec"]["username"] == "alice"
    assert obj["spec"]["groups"] == ["devs", "system:authenticated"]
    assert "status" not in obj


@pytest.mark.parametrize("subresource", ["", "status", "approval"])
def test_spec_never_changes(subresource: str) -> None:
    old, new = csr(), csr(usages=["server auth"])
    csrstrategy.prepare_for_update(new, old, subresource)
    assert new["spec"] == old["spec"]


def test_status_cannot_approve_and_approval_cannot_issue() -> None:
    old = csr()
    through_status = with_status(csr(), cond("Approved"), cond("Failed"), certificate=CERT)
    csrstrategy.prepare_for_update(through_status, old, "status")
    assert [c["type"] for c in through_status["status"]["conditions"]] == ["Failed"]
    assert through_status["status"]["certificate"] == CERT
    through_approval = with_status(csr(), cond("Approved"), certificate=CERT)
    csrstrategy.prepare_for_update(through_approval, old, "approval")
    assert [c["type"] for c in through_approval["status"]["conditions"]] == ["Approved"]
    assert "certificate" not in through_approval["status"]


def test_status_keeps_existing_approval() -> None:
    old = with_status(csr(), cond("Approved"))
    new = with_status(csr(), certificate=CERT)
    csrstrategy.prepare_for_update(new, old, "status")
    assert [c["type"] for c in new["status"]["conditions"]] == ["Approved"]


def test_condition_timestamps() -> None:
    old = with_status(csr(), dict(cond("Approved"), lastTransitionTime="2020-01-01T00:00:00Z"))
    new = with_status(csr(), cond("Approved"), cond("Failed"))
    csrstrategy.populate_condition_timestamps(new, old, now="2024-01-01T00:00:00Z")
    approved, failed = new["status"]["conditions"]
    assert approved["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert approved["lastUpdateTime"] == "2024-01-01T00:00:00Z"
    assert failed["lastTransitionTime"] == "2024-01-01T00:00:00Z"

"""Audit annotations added while a request is served: levels, first value wins, the request's context."""

from __future__ import annotations

import asyncio
import contextvars
from types import SimpleNamespace
from typing import Any

import pytest

from kybernetes.apiserver import audit
from kybernetes.apiserver.admission.interfaces import Attributes


class Backend:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def write(self, event: dict[str, Any]) -> None:
        self.events.append(event)


class User:
    name, groups = "alice", ("system:authenticated",)

    def as_dict(self) -> dict[str, Any]:
        return {"username": self.name, "groups": list(self.groups)}


def _request() -> Any:
    return SimpleNamespace(remote="127.0.0.1", headers={}, method="POST", path_qs="/api/v1/namespaces/d/pods")


def _ri() -> Any:
    return SimpleNamespace(verb="create", is_resource_request=True, resource="pods", namespace="d", name="",
                           group="", version="v1", subresource="", path="/api/v1/namespaces/d/pods")


def _auditor(level: str) -> tuple[audit.Auditor, Backend]:
    backend = Backend()
    policy = audit.parse_policy({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": level}]})
    return audit.Auditor(policy, backend), backend  # type: ignore[arg-type]


def _serve(auditor: audit.Auditor, annotate: Any) -> None:
    """One request in its own context, as aiohttp serves each: begin, authenticate, annotate, complete."""
    def run() -> None:
        record = auditor.begin(_request(), _ri())
        record.authenticated(User(), None)
        record.authorized("allow", "")
        annotate()
        record.complete(201, request_body=None, response=None)
    contextvars.copy_context().run(run)


@pytest.mark.parametrize("level,shown", [
    ("Metadata", {"a": "1"}), ("Request", {"a": "1", "b": "2"}), ("RequestResponse", {"a": "1", "b": "2"}),
], ids=["metadata", "request", "request-response"])
def test_leveled_annotations_shown_from_their_level(level: str, shown: dict[str, str]) -> None:
    auditor, backend = _auditor(level)
    _serve(auditor, lambda: audit.add_annotations({"a": "1", "b": "2"}, {"b": "Request"}))
    complete = [e for e in backend.events if e["stage"] == "ResponseComplete"]
    assert {k: v for k, v in complete[0]["annotations"].items() if not k.startswith("authorization")} == shown


def test_first_value_of_a_key_stays() -> None:
    auditor, backend = _auditor("Metadata")
    _serve(auditor, lambda: (audit.add_annotations({"k": "first"}), audit.add_annotations({"k": "second"})))
    assert backend.events[-1]["annotations"]["k"] == "first"


def test_annotations_only_on_events_after_they_were_added() -> None:
    auditor, backend = _auditor("Metadata")
    _serve(auditor, lambda: audit.add_annotations({"k": "v"}))
    by_stage = {e["stage"]: e for e in backend.events}
    assert "k" not in by_stage["RequestReceived"].get("annotations", {})
    assert by_stage["ResponseComplete"]["annotations"]["k"] == "v"


def test_outside_an_audited_request_nothing_happens() -> None:
    contextvars.copy_context().run(lambda: audit.add_annotations({"k": "v"}))  # no record: no error
    assert contextvars.copy_context().run(audit.current) is None


async def test_concurrent_requests_keep_their_own_annotations() -> None:
    auditor, backend = _auditor("Metadata")

    async def one(i: int) -> None:
        record = auditor.begin(_request(), _ri())
        record.authenticated(User(), None)
        await asyncio.sleep(0)
        audit.add_annotations({"who": str(i)})
        await asyncio.sleep(0)
        record.complete(201, request_body=None, response=None)
        assert audit.current() is None

    await asyncio.gather(*(asyncio.create_task(one(i)) for i in range(5)))
    assert sorted(e["annotations"]["who"] for e in backend.events if e["stage"] == "ResponseComplete") == \
        [str(i) for i in range(5)]


def test_admission_attributes_keep_the_first_value_and_level() -> None:
    a = Attributes(info=SimpleNamespace(group="", plural="pods"), operation="CREATE", namespace="d", name="p",
                   obj={})  # type: ignore[arg-type]
    a.add_audit_annotation("x", "1", level="Request")
    a.add_audit_annotation("x", "2")
    assert (a.audit_annotations, a.audit_annotation_levels) == ({"x": "1"}, {"x": "Request"})

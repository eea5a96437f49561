"""core/v1 and events.k8s.io/v1 Events are one stored resource served in two shapes."""

from __future__ import annotations

import pytest

from tests.integration.apiserver.conftest import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _core_event(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
            "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "x", "apiVersion": "v1"},
            "reason": "Started", "message": "Started container web", "type": "Normal",
            "source": {"component": "kubelet", "host": "node-1"}, "count": 3,
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:01:00Z",
            "reportingComponent": "kubelet", "reportingInstance": "node-1"}


async def test_core_event_read_through_events_k8s_io(api: Api, ns: str) -> None:
    await api.client.create(f"/api/v1/namespaces/{ns}/events", _core_event("e1"))
    ev = await api.client.get(f"/apis/events.k8s.io/v1/namespaces/{ns}/events/e1")
    assert ev["apiVersion"] == "events.k8s.io/v1"
    assert ev["regarding"]["name"] == "web-1"
    assert ev["note"] == "Started container web"
    assert ev["reportingController"] == "kubelet"
    assert ev["deprecatedSource"] == {"component": "kubelet", "host": "node-1"}
    assert ev["deprecatedCount"] == 3
    assert "involvedObject" not in ev and "message" not in ev


async def test_events_k8s_io_event_read_through_core(api: Api, ns: str) -> None:
    await api.client.create(f"/apis/events.k8s.io/v1/namespaces/{ns}/events", {
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e2"},
        "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "example.com/ctl",
        "reportingInstance": "ctl-1", "action": "Reconcile", "reason": "Synced", "type": "Normal",
        "note": "all good", "regarding": {"kind": "ConfigMap", "name": "c", "namespace": ns}})
    ev = await api.client.get(f"/api/v1/namespaces/{ns}/events/e2")
    assert ev["apiVersion"] == "v1"
    assert ev["message"] == "all good"
    assert ev["involvedObject"]["name"] == "c"
    assert ev["reportingComponent"] == "example.com/ctl"
    listed = await api.client.list(f"/apis/events.k8s.io/v1/namespaces/{ns}/events",
                                   {"fieldSelector": "regarding.name=c"})
    assert [e["metadata"]["name"] for e in listed["items"]] == ["e2"]
    # one object: a change through one group shows through the other
    await api.client.patch(f"/apis/events.k8s.io/v1/namespaces/{ns}/events/e2", {"note": "changed"}, "merge")
    assert (await api.client.get(f"/api/v1/namespaces/{ns}/events/e2"))["message"] == "changed"

"""Endpoint selection: ready endpoints, the serving-terminating fallback, and internal/external traffic policies."""

from __future__ import annotations

import pytest

from kybernetes.proxy.topology import categorize_endpoints, external_endpoints, internal_endpoints
from kybernetes.proxy.types import EndpointInfo, ServicePortInfo, ServicePortName

SPN = ServicePortName("default", "web", "", "TCP")


def ep(ip: str, *, ready: bool = True, serving: bool | None = None, terminating: bool = False,
       local: bool = False) -> EndpointInfo:
    return EndpointInfo(ip, 80, ready=ready, serving=ready if serving is None else serving, terminating=terminating,
                        is_local=local)


def svc(**kw) -> ServicePortInfo:
    return ServicePortInfo(SPN, "198.19.0.1", 80, "TCP", **kw)


READY_A, READY_B_LOCAL = ep("198.18.0.1"), ep("198.18.0.2", local=True)
TERM_C = ep("198.18.0.3", ready=False, serving=True, terminating=True)
TERM_D_LOCAL = ep("198.18.0.4", ready=False, serving=True, terminating=True, local=True)
NOT_SERVING = ep("198.18.0.5", ready=False, serving=False, terminating=True)


@pytest.mark.parametrize("service,endpoints,internal,external,has_any", [
    (svc(), [READY_A, TERM_C], ["198.18.0.1"], ["198.18.0.1"], True),
    (svc(), [TERM_C, NOT_SERVING], ["198.18.0.3"], ["198.18.0.3"], True),
    (svc(), [NOT_SERVING], [], [], False),
    (svc(), [], [], [], False),
    (svc(internal_policy_local=True), [READY_A, READY_B_LOCAL], ["198.18.0.2"], [], True),
    (svc(internal_policy_local=True), [READY_A], [], [], True),
    (svc(internal_policy_local=True), [READY_A, TERM_D_LOCAL], ["198.18.0.4"], [], True),
    (svc(node_port=30080, external_policy_local=True), [READY_A, READY_B_LOCAL],
     ["198.18.0.1", "198.18.0.2"], ["198.18.0.2"], True),
    (svc(node_port=30080, external_policy_local=True), [READY_A], ["198.18.0.1"], [], True),
    (svc(node_port=30080, external_policy_local=True, internal_policy_local=True), [READY_B_LOCAL, READY_A],
     ["198.18.0.2"], ["198.18.0.2"], True),
], ids=["ready-only", "terminating-fallback", "not-serving-unused", "none", "itp-local", "itp-local-none-local",
        "itp-local-terminating-fallback", "etp-local", "etp-local-none-local", "both-local"])
def test_categorize(service, endpoints, internal, external, has_any) -> None:
    cat = categorize_endpoints(endpoints, service)
    assert [e.ip for e in internal_endpoints(cat, service)] == internal
    assert [e.ip for e in external_endpoints(cat, service)] == external
    assert cat.has_any == has_any
    assert {e.ip for e in cat.all_reachable} == set(internal) | set(external)

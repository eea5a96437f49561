"""nftables rendering: the full ruleset for a set of Services (golden text) and incremental transactions."""

from __future__ import annotations

import os

import pytest

from kybernetes.proxy.nftables.ruleset import (RenderContext, chain_base, endpoint_chain, render_base,
                                               render_service, render_transaction, table_name)
from kybernetes.proxy.types import EndpointInfo, ServicePortInfo, ServicePortName

GOLDEN = os.path.join(os.path.dirname(__file__), "testdata", "ruleset.nft")
CTX = RenderContext(service_cidr="198.19.0.0/16", cluster_cidr="198.18.200.0/22")

WEB = ServicePortName("ns1", "web", "http", "TCP")
DNS = ServicePortName("ns1", "dns", "", "UDP")
EMPTY = ServicePortName("ns1", "empty", "", "TCP")
SCTP = ServicePortName("ns1", "sig", "", "SCTP")


def services() -> dict[ServicePortName, tuple[ServicePortInfo, list[EndpointInfo]]]:
    return {
        WEB: (ServicePortInfo(WEB, "198.19.0.10", 80, "TCP", type="NodePort", node_port=30080,
                              session_affinity_timeout=100),
              [EndpointInfo("198.18.201.2", 8080), EndpointInfo("198.18.202.2", 8080),
               EndpointInfo("198.18.203.2", 8080, ready=False, serving=True, terminating=True)]),
        DNS: (ServicePortInfo(DNS, "198.19.0.11", 53, "UDP", type="LoadBalancer", node_port=30053,
                              load_balancer_ips=("198.18.250.1",), external_policy_local=True),
              [EndpointInfo("198.18.201.2", 5353, is_local=True), EndpointInfo("198.18.202.2", 5353)]),
        EMPTY: (ServicePortInfo(EMPTY, "198.19.0.12", 80, "TCP"), []),
        SCTP: (ServicePortInfo(SCTP, "198.19.0.13", 9999, "SCTP"), [EndpointInfo("198.18.201.2", 9999)]),
    }


def full_script() -> str:
    new = {spn: render_service(svc, eps, CTX) for spn, (svc, eps) in services().items()}
    return "\n".join(render_transaction({}, new, base=render_base(CTX), reset=True)) + "\n"


def test_full_ruleset_matches_golden() -> None:
    script = full_script()
    if os.environ.get("UPDATE_GOLDEN"):
        with open(GOLDEN, "w") as f:
            f.write(script)
    with open(GOLDEN) as f:
        assert script == f.read()


def _loaded() -> dict:
    return {spn: render_service(svc, eps, CTX) for spn, (svc, eps) in services().items()}


@pytest.mark.parametrize("change,touches,must_have,must_not_have", [
    ("remove-endpoint", WEB, ["flush chain ip kybernetes service-", "delete chain ip kybernetes endpoint-",
                              "delete set ip kybernetes affinity-"], ["delete table"]),
    ("delete-service", DNS, ["delete element ip kybernetes service-ips { 198.19.0.11 . udp . 53, 198.18.250.1 . udp . 53 }",
                             "delete chain ip kybernetes local-"], ["add rule", " map "]),
    ("first-endpoint", EMPTY, ["delete element ip kybernetes no-endpoint-services { 198.19.0.12 . tcp . 80 }",
                               "add element ip kybernetes service-ips { 198.19.0.12 . tcp . 80 : goto service-"],
     ["flush chain"]),
], ids=["remove-endpoint", "delete-service", "first-endpoint"])
def test_incremental_transaction_touches_only_the_changed_service(change, touches, must_have,
                                                                   must_not_have) -> None:
    loaded = _loaded()
    svc, eps = services()[touches]
    if change == "remove-endpoint":
        after = render_service(svc, eps[1:], CTX)
    elif change == "delete-service":
        after = None
    else:
        after = render_service(svc, [EndpointInfo("198.18.201.9", 80)], CTX)
    lines = render_transaction(loaded, {touches: after})
    text = "\n".join(lines)
    for s in must_have:
        assert s in text
    for s in must_not_have:
        assert s not in text
    others = [chain_base(s) for s in services() if s != touches]
    assert not any(o in line for line in lines for o in others)


def test_unchanged_service_renders_nothing() -> None:
    loaded = _loaded()
    svc, eps = services()[WEB]
    assert render_transaction(loaded, {WEB: render_service(svc, eps, CTX)}) == []


def test_no_endpoints_rejects_and_local_policy_without_local_endpoints_drops() -> None:
    svc = ServicePortInfo(EMPTY, "198.19.0.12", 80, "TCP", internal_policy_local=True)
    objs = render_service(svc, [EndpointInfo("198.18.201.2", 80)], CTX)
    assert objs.elements == {("no-endpoint-services", "198.19.0.12 . tcp . 80"): "drop"}
    objs = render_service(svc, [], CTX)
    assert objs.elements == {("no-endpoint-services", "198.19.0.12 . tcp . 80"): "goto reject-chain"}


def test_deferred_deletes_only_flush_and_record_stale_names() -> None:
    loaded = _loaded()
    svc, eps = services()[WEB]
    stale: set[str] = set()
    lines = render_transaction(loaded, {WEB: render_service(svc, eps[1:], CTX)}, stale=stale)
    gone = endpoint_chain(WEB, eps[0])
    assert not any(line.startswith("delete chain") or line.startswith("delete set") for line in lines)
    assert f"flush chain ip kybernetes {gone}" in lines
    assert gone in stale and any(n.startswith("set:affinity-") for n in stale)


@pytest.mark.parametrize("n", [1, 2, 3, 5], ids=["1", "2", "3", "5"])
def test_numgen_cascade_picks_each_endpoint_with_equal_probability(n) -> None:
    from fractions import Fraction
    eps = [EndpointInfo(f"198.18.201.{i + 2}", 80) for i in range(n)]
    objs = render_service(ServicePortInfo(WEB, "198.19.0.10", 80, "TCP"), eps, CTX)
    rules = [r for name, body in objs.chains.items() if name.startswith("service-") for r in body][1:]
    assert len(rules) == n and rules[-1].startswith("goto endpoint-")
    left, probs = Fraction(1), []
    for r in rules:
        p = Fraction(1, int(r.split("mod ")[1].split()[0])) if "numgen" in r else Fraction(1)
        probs.append(left * p)
        left -= left * p
    assert probs == [Fraction(1, n)] * n


@pytest.mark.parametrize("service_cidr,expected", [
    ("", "kybernetes"),
    ("198.19.0.0/16", "kybernetes"),
    ("198.19.160.0/20", "kybernetes-204f35"),
], ids=["unset", "default-range", "own-range"])
def test_table_name_follows_the_service_range(service_cidr: str, expected: str) -> None:
    assert table_name(service_cidr) == expected


def test_every_command_names_the_context_table() -> None:
    ctx = RenderContext(service_cidr="198.19.160.0/20", cluster_cidr="198.18.160.0/20", table="kybernetes-x")
    svc, eps = services()[WEB]
    new = {WEB: render_service(svc, eps, ctx)}
    lines = render_transaction({}, new, base=render_base(ctx), reset=True, table=ctx.table)
    lines += render_transaction(new, {WEB: None}, table=ctx.table)
    assert lines and all(" ip kybernetes-x" in line for line in lines)

"""Service admission: ClusterIP and NodePort allocation, uniqueness under concurrency, release, immutability."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from tests.integration.apiserver.conftest import Api, service

pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVICE_CIDR = ipaddress.ip_network("198.19.0.0/16")


def svc_path(ns: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/services" + (f"/{name}" if name else "")


async def test_kubernetes_service_has_the_first_address(api: Api) -> None:
    svc = await api.client.get(svc_path("default", "kubernetes"))
    assert svc["spec"]["clusterIP"] == "198.19.0.1"


async def test_cluster_ips_are_allocated_once_under_concurrency(api: Api, ns: str) -> None:
    created = await asyncio.gather(*(api.client.create(svc_path(ns), service(f"s{i}")) for i in range(30)))
    ips = [s["spec"]["clusterIP"] for s in created]
    assert len(set(ips)) == 30
    for s, ip in zip(created, ips):
        assert ipaddress.ip_address(ip) in SERVICE_CIDR
        assert s["spec"]["clusterIPs"] == [ip]
        assert s["spec"]["ipFamilies"] == ["IPv4"]
        assert s["spec"]["ipFamilyPolicy"] == "SingleStack"
    everything = await api.client.list("/api/v1/services")
    all_ips = [s["spec"]["clusterIP"] for s in everything["items"] if s["spec"].get("clusterIP") not in (None, "None")]
    assert len(all_ips) == len(set(all_ips))


async def test_specific_cluster_ip_is_honoured_and_taken_once(api: Api, ns: str) -> None:
    out = await api.client.create(svc_path(ns), service("fixed", cluster_ip="198.19.200.10"))
    assert out["spec"]["clusterIP"] == "198.19.200.10"
    before = await api.revision()
    err = await api.error(api.client.create(svc_path(ns), service("clash", cluster_ip="198.19.200.10")))
    assert err.code == 422 and err.reason == "Invalid"
    assert err.message.startswith('Service "clash" is invalid: spec.clusterIPs: Invalid value: ')
    assert "provided IP is already allocated" in err.message
    [cause] = err.status["details"]["causes"]
    assert cause["field"] == "spec.clusterIPs"
    assert err.status["details"]["name"] == "clash"
    assert await api.revision() == before


async def test_cluster_ip_outside_range_is_422(api: Api, ns: str) -> None:
    err = await api.error(api.client.create(svc_path(ns), service("far", cluster_ip="198.18.0.5")))
    assert err.code == 422
    assert "not in the valid range" in err.message


async def test_headless(api: Api, ns: str) -> None:
    out = await api.client.create(svc_path(ns), service("headless", cluster_ip="None"))
    assert out["spec"]["clusterIP"] == "None"
    assert out["spec"]["clusterIPs"] == ["None"]


async def test_node_ports_are_allocated_once_under_concurrency(api: Api, ns: str) -> None:
    created = await asyncio.gather(*(api.client.create(svc_path(ns), service(f"np{i}", type_="NodePort"))
                                     for i in range(30)))
    ports = [s["spec"]["ports"][0]["nodePort"] for s in created]
    assert len(set(ports)) == 30
    assert all(30000 <= p <= 32767 for p in ports)


async def test_specific_node_port_taken_once_and_reusable_after_delete(api: Api, ns: str) -> None:
    await api.client.create(svc_path(ns), service("np-a", type_="NodePort", node_port=31234))
    err = await api.error(api.client.create(svc_path(ns), service("np-b", type_="NodePort", node_port=31234)))
    assert err.code == 422
    [cause] = err.status["details"]["causes"]
    assert cause["field"] == "spec.ports[0].nodePort"
    assert cause["message"] == "Invalid value: 31234: provided port is already allocated"
    await api.client.delete(svc_path(ns, "np-a"))
    out = await api.client.create(svc_path(ns), service("np-b", type_="NodePort", node_port=31234))
    assert out["spec"]["ports"][0]["nodePort"] == 31234


async def test_node_port_out_of_range_is_422(api: Api, ns: str) -> None:
    err = await api.error(api.client.create(svc_path(ns), service("np-far", type_="NodePort", node_port=80)))
    assert err.code == 422


async def test_cluster_ip_released_on_delete(api: Api, ns: str) -> None:
    await api.client.create(svc_path(ns), service("rel-a", cluster_ip="198.19.201.1"))
    await api.client.delete(svc_path(ns, "rel-a"))
    out = await api.client.create(svc_path(ns), service("rel-b", cluster_ip="198.19.201.1"))
    assert out["spec"]["clusterIP"] == "198.19.201.1"


async def test_failed_create_releases_what_it_took(api: Api, ns: str) -> None:
    await api.client.create(svc_path(ns), service("dup"))
    # a port and an address nothing else in this server holds (others are allocated at random)
    port = next(p for p in range(31999, 30000, -1) if p not in api.server.ports.used)
    ip = next(f"198.19.202.{i}" for i in range(2, 250) if f"198.19.202.{i}" not in api.server.ips.used)
    # AlreadyExists after allocation: the allocations are rolled back
    err = await api.error(api.client.create(svc_path(ns), service("dup", type_="NodePort", node_port=port,
                                                                   cluster_ip=ip)))
    assert err.code == 409
    out = await api.client.create(svc_path(ns), service("dup2", type_="NodePort", node_port=port, cluster_ip=ip))
    assert out["spec"]["clusterIP"] == ip


@pytest.mark.parametrize("field,value", [
    pytest.param("clusterIP", "198.19.203.9", id="clusterIP"),
    pytest.param("clusterIPs", ["198.19.203.9"], id="clusterIPs"),
])
async def test_cluster_ip_is_immutable(api: Api, ns: str, field: str, value: object) -> None:
    svc = await api.client.create(svc_path(ns), service("immut"))
    body = dict(svc, spec=dict(svc["spec"], **{field: value}))
    if field == "clusterIP":
        body["spec"]["clusterIPs"] = [value]
    before = await api.revision()
    err = await api.error(api.client.update(svc_path(ns, "immut"), body))
    assert err.code == 422
    assert "may not change once set" in err.message
    assert await api.revision() == before
    assert (await api.client.get(svc_path(ns, "immut")))["spec"]["clusterIP"] == svc["spec"]["clusterIP"]


async def test_update_without_cluster_ip_keeps_it(api: Api, ns: str) -> None:
    svc = await api.client.create(svc_path(ns), service("keep", type_="NodePort"))
    spec = dict(svc["spec"])
    spec.pop("clusterIP")
    spec.pop("clusterIPs")
    spec["ports"] = [{k: v for k, v in spec["ports"][0].items() if k != "nodePort"}]
    out = await api.client.update(svc_path(ns, "keep"), dict(svc, spec=spec))
    assert out["spec"]["clusterIP"] == svc["spec"]["clusterIP"]
    assert out["spec"]["ports"][0]["nodePort"] == svc["spec"]["ports"][0]["nodePort"]


async def test_type_change_to_cluster_ip_releases_node_port(api: Api, ns: str) -> None:
    svc = await api.client.create(svc_path(ns), service("down", type_="NodePort", node_port=32001))
    spec = dict(svc["spec"], type="ClusterIP")
    spec["ports"] = [{k: v for k, v in spec["ports"][0].items() if k != "nodePort"}]
    out = await api.client.update(svc_path(ns, "down"), dict(svc, spec=spec))
    assert "nodePort" not in out["spec"]["ports"][0]
    again = await api.client.create(svc_path(ns), service("up", type_="NodePort", node_port=32001))
    assert again["spec"]["ports"][0]["nodePort"] == 32001

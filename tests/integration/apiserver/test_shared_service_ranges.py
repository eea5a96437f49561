"""Two apiservers on one etcd share the Service ranges: many Services created at once through both get distinct
ClusterIPs and NodePorts, and what one apiserver releases the other can take."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from kybernetes.apiserver.server import APIServer, APIServerConfig
from kybernetes.client import ApiError, RESTClient, load_kubeconfig
from kybernetes.pki.bootstrap import ensure_pki
from tests.conftest import free_port
from tests.etcd_server import EtcdServer, running_etcd
from tests.integration.apiserver.conftest import service
from tests.integration.apiserver.test_multiple_apiservers import share_pki

SERVICE_CIDR = "198.19.64.0/25"  # 126 addresses
NODE_PORTS = "30000-30099"  # 100 ports
PER_APISERVER = 40


@pytest.fixture
def etcd() -> Iterator[EtcdServer]:
    """A fresh etcd per test: the stored ranges start empty."""
    with running_etcd() as server:
        yield server


@pytest.fixture
async def pair(etcd: EtcdServer, tmp_path) -> AsyncIterator[list[APIServer]]:
    servers = []
    dirs = [str(tmp_path / f"apiserver-{i}") for i in range(2)]
    ensure_pki(dirs[0])
    share_pki(dirs[0], dirs[1])
    try:
        for d in dirs:
            server = APIServer(APIServerConfig(data_dir=d, bind_address="127.0.0.1", secure_port=free_port(),
                                               service_cluster_ip_range=SERVICE_CIDR,
                                               service_node_port_range=NODE_PORTS, datastore_endpoint=etcd.url))
            await server.start()
            servers.append(server)
        yield servers
    finally:
        for server in servers:
            await server.stop()


def path(name: str = "") -> str:
    return "/api/v1/namespaces/default/services" + (f"/{name}" if name else "")


async def test_services_created_at_once_on_two_apiservers_get_distinct_ips_and_ports(pair: list[APIServer]) -> None:
    clients = [RESTClient(load_kubeconfig(s.kubeconfig_path), timeout=30) for s in pair]
    try:
        async def create(i: int) -> dict:
            return await clients[i % 2].create(path(), service(f"s-{i}", type_="NodePort"))
        created = await asyncio.gather(*(create(i) for i in range(2 * PER_APISERVER)))
        ips = [s["spec"]["clusterIP"] for s in created]
        ports = [s["spec"]["ports"][0]["nodePort"] for s in created]
        assert len(set(ips)) == len(ips), "a ClusterIP was handed out twice"
        assert len(set(ports)) == len(ports), "a NodePort was handed out twice"
        # the kubernetes Service holds the first address; the stored ranges hold exactly what Services hold
        for server in pair:
            await server.service_ranges.ip_range.load()
            assert set(server.ips.used) == {*ips, pair[0].ips.kubernetes_ip}
            await server.service_ranges.port_range.load()
            assert set(server.ports.used) == set(ports)

        # released on one apiserver, taken on the other by name
        await clients[0].delete(path("s-0"))
        out = await clients[1].create(path(), service("again", type_="NodePort", cluster_ip=ips[0],
                                                      node_port=ports[0]))
        assert (out["spec"]["clusterIP"], out["spec"]["ports"][0]["nodePort"]) == (ips[0], ports[0])
        with pytest.raises(ApiError) as e:
            await clients[0].create(path(), service("taken", cluster_ip=ips[1]))
        assert e.value.code == 422 and "already allocated" in e.value.message
    finally:
        for c in clients:
            await c.close()


async def test_the_repair_loop_marks_an_address_a_service_holds(pair: list[APIServer]) -> None:
    a, b = pair
    async with RESTClient(load_kubeconfig(a.kubeconfig_path)) as client:
        svc = await client.create(path(), service("kept", type_="NodePort"))
    # a lost release: the bitmap says free though the Service holds it (as after a crash mid-write)
    ranges = a.service_ranges
    async with ranges.ip_range.lock:
        await ranges.ip_range.load()
        bitmap = ranges.ip_range.bitmap.copy()
        bitmap.clear(a.ips.offset_of(svc["spec"]["clusterIP"]))
        assert await ranges.ip_range.write(bitmap)
    assert await ranges.repairs[0].run_once()
    await b.service_ranges.ip_range.load()
    assert svc["spec"]["clusterIP"] in b.ips.used

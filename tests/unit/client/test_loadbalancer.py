"""LoadBalancer: sticky choice, failover order, back-off, the retry contract, discovery from Endpoints."""

from __future__ import annotations

import types

import aiohttp
import pytest

from kybernetes.client.config import ClientConfig, ServerOverrides
from kybernetes.client.loadbalancer import LoadBalancer, servers_from_endpoints

S1, S2, S3 = "https://10.0.0.1:6443", "https://10.0.0.2:6443", "https://10.0.0.3:6443"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def refused() -> aiohttp.ClientConnectorError:
    key = types.SimpleNamespace(host="10.0.0.1", port=6443, ssl=True)
    return aiohttp.ClientConnectorError(key, OSError(111, "Connection refused"))  # type: ignore[arg-type]


def test_failed_servers_go_last_until_their_backoff_ends() -> None:
    clock = Clock()
    lb = LoadBalancer([S1, S2, S3], monotonic=clock)
    assert lb.candidates() == [S1, S2, S3]
    lb.mark_failed(S1)
    assert lb.current == S2
    assert lb.candidates() == [S2, S3, S1]
    clock.now += 1.5
    assert lb.candidates() == [S2, S3, S1]  # the current server stays first (sticky)
    lb.mark_failed(S2)
    assert lb.candidates() == [S3, S1, S2]


def test_backoff_grows_and_a_success_resets_it() -> None:
    clock = Clock()
    lb = LoadBalancer([S1, S2], monotonic=clock)
    lb.mark_failed(S1)
    first = lb._down_until[S1] - clock.now
    lb.mark_failed(S1)
    assert lb._down_until[S1] - clock.now == 2 * first
    lb.mark_ok(S1)
    assert lb.current == S1 and S1 not in lb._down_until


async def test_connect_errors_fail_over_for_every_verb() -> None:
    lb = LoadBalancer([S1, S2])
    tried = []

    async def send(server: str) -> str:
        tried.append(server)
        if server == S1:
            raise refused()
        return server

    assert await lb.call(send, idempotent=False) == S2
    assert tried == [S1, S2] and lb.current == S2


@pytest.mark.parametrize("idempotent,expect", [(True, S2), (False, None)], ids=["get-retried", "post-not-retried"])
async def test_a_broken_connection_retries_only_idempotent_requests(idempotent: bool, expect: str | None) -> None:
    lb = LoadBalancer([S1, S2])

    async def send(server: str) -> str:
        if server == S1:
            raise aiohttp.ServerDisconnectedError()
        return server

    if expect is None:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await lb.call(send, idempotent=idempotent)
        assert lb.current == S2  # the next request goes elsewhere
    else:
        assert await lb.call(send, idempotent=idempotent) == expect


async def test_all_servers_down_raises_the_last_error() -> None:
    lb = LoadBalancer([S1, S2])

    async def send(server: str) -> str:
        raise refused()

    with pytest.raises(aiohttp.ClientConnectorError):
        await lb.call(send, idempotent=True)


def test_discovered_servers_join_the_configured_ones_and_an_empty_list_is_ignored() -> None:
    lb = LoadBalancer([S1])
    lb.set_discovered([S2, S3])
    assert lb.servers == [S1, S2, S3]
    lb.set_discovered([])
    assert lb.servers == [S1, S2, S3]
    lb.set_discovered([S1, S3])
    assert lb.servers == [S1, S3]


def test_servers_from_endpoints() -> None:
    ep = {"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}],
                       "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]},
                      {"addresses": [{"ip": "10.0.0.3"}], "ports": [{"port": 7443}]},
                      {"addresses": [{"ip": "10.0.0.4"}]}]}
    assert servers_from_endpoints(ep) == ["https://10.0.0.1:6443", "https://[fd00::1]:6443", "https://10.0.0.3:7443"]
    assert servers_from_endpoints({}) == []


@pytest.mark.parametrize("overrides,server,servers,balanced", [
    pytest.param(ServerOverrides(), S1, [], False, id="none"),
    pytest.param(ServerOverrides([S2]), S2, [], False, id="one-server"),
    pytest.param(ServerOverrides([S2, S3]), S2, [S3], True, id="two-servers"),
    pytest.param(ServerOverrides([], discover=True), S1, [], True, id="discover"),
])
def test_server_overrides(overrides: ServerOverrides, server: str, servers: list[str], balanced: bool) -> None:
    cfg = overrides.apply(ClientConfig(server=S1))
    assert (cfg.server, cfg.servers, cfg.load_balanced) == (server, servers, balanced)


def test_server_flags_apply_to_every_kubeconfig_the_process_loads(tmp_path) -> None:
    from kybernetes.cli.apiservers import apply_client_flags
    from kybernetes.cli.main import build_parser
    from kybernetes.client import config as client_config

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: k, cluster: {server: 'https://10.9.9.9:6443'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n")
    args = build_parser().parse_args(["scheduler", "--kubeconfig", str(kubeconfig), "--server", f"{S1},{S2}/",
                                      "--server", S3, "--discover-servers"])
    try:
        apply_client_flags(args)
        cfg = client_config.load_kubeconfig(str(kubeconfig))
        assert (cfg.server, cfg.servers, cfg.discover_servers, cfg.token) == (S1, [S2, S3], True, "t")
    finally:
        client_config.set_server_overrides([])
    assert client_config.load_kubeconfig(str(kubeconfig)).server == "https://10.9.9.9:6443"

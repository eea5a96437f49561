"""The agent's apiserver list: refreshed from the kubernetes Endpoints of the first server that answers, in the
order its clients and its children's --server flags use."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.agent.apiservers import APIServers, child_server_flags
from kybernetes.client import ApiError

A, B, C = "https://127.0.0.1:6443", "https://127.0.0.2:6443", "https://127.0.0.3:6443"


def endpoints(*addresses: str, port: int = 6443) -> dict[str, Any]:
    return {"kind": "Endpoints", "subsets": [{"addresses": [{"ip": ip} for ip in addresses],
                                              "ports": [{"name": "https", "port": port}]}]}


class Fetch:
    """fetch(server) for APIServers.refresh: refuses the connection on `down` servers, else answers `answer`."""

    def __init__(self, answer: dict[str, Any], down: set[str] = frozenset(), error: Exception | None = None) -> None:
        self.answer, self.down, self.error, self.asked = answer, down, error, []

    async def __call__(self, server: str) -> dict[str, Any]:
        self.asked.append(server)
        if server in self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        if self.error is not None:
            raise self.error
        return self.answer


async def test_refresh_adds_the_live_apiservers() -> None:
    servers = APIServers([A])
    changes: list[list[str]] = []
    servers.on_change = changes.append
    assert await servers.refresh(Fetch(endpoints("127.0.0.1", "127.0.0.2"))) == [A, B]
    assert servers.ordered() == [A, B]
    assert changes == [[A, B]]


async def test_refresh_fails_over_and_puts_the_dead_server_last() -> None:
    servers = APIServers([A, B])
    changes: list[list[str]] = []
    servers.on_change = changes.append
    fetch = Fetch(endpoints("127.0.0.2", "127.0.0.3"), down={A})
    await servers.refresh(fetch)
    assert fetch.asked == [A, B]
    assert servers.ordered() == [B, C, A]
    assert changes == [[B, C, A]]


async def test_configured_servers_are_kept_when_the_endpoints_drop_them() -> None:
    servers = APIServers([A])
    await servers.refresh(Fetch(endpoints("127.0.0.2")))
    assert servers.ordered() == [A, B]


async def test_no_server_answering_raises_and_keeps_the_list() -> None:
    servers = APIServers([A, B])
    with pytest.raises(ConnectionRefusedError):
        await servers.refresh(Fetch(endpoints("127.0.0.3"), down={A, B}))
    assert set(servers.ordered()) == {A, B}


async def test_an_answer_that_is_an_error_is_not_a_dead_server() -> None:
    servers = APIServers([A, B])
    forbidden = ApiError(403, {"kind": "Status", "reason": "Forbidden", "message": "no", "code": 403})
    fetch = Fetch({}, error=forbidden)
    with pytest.raises(ApiError):
        await servers.refresh(fetch)
    assert fetch.asked == [A]
    assert servers.ordered() == [A, B]


def test_client_config_spans_every_server_in_order() -> None:
    servers = APIServers([A, B, C])
    servers.lb.mark_failed(A)
    config = servers.client_config(user_agent="test")
    assert (config.server, config.servers, config.user_agent) == (B, [C, A], "test")
    assert config.load_balanced


@pytest.mark.parametrize("order,flags", [
    ([A], ["--server", A, "--discover-servers"]),
    ([B, A], ["--server", B, "--server", A, "--discover-servers"]),
], ids=["one", "two"])
def test_child_server_flags(order: list[str], flags: list[str]) -> None:
    assert child_server_flags(order) == flags

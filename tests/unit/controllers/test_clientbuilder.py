"""The controller-manager's client builders: service-account token renewal, user agents, client selection."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from kybernetes.client import ApiError, ClientConfig, RESTClient
from kybernetes.controllers.clientbuilder import (DynamicControllerClientBuilder, ServiceAccountTokenSource,
                                                  SimpleControllerClientBuilder)
from kybernetes.controllers.manager import SERVICE_ACCOUNTS, ControllerManager, client_name

SA_PATH = "/api/v1/namespaces/kube-system/serviceaccounts"


def _status(code: int) -> ApiError:
    return ApiError(code, {"kind": "Status", "code": code, "reason": "x", "message": f"HTTP {code}"})


class FakeRoot:
    """Answers get/create of ServiceAccounts and TokenRequests; tokens live `lifetime` seconds of the clock."""

    def __init__(self, clock: list[float], lifetime: int = 3600) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.accounts: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.fail_tokens = False
        self.issued = 0

    async def get(self, path: str, params: Any = None) -> dict:
        self.calls.append(("get", path))
        if path.rsplit("/", 1)[-1] not in self.accounts:
            raise _status(404)
        return {}

    async def create(self, path: str, body: dict, params: Any = None) -> dict:
        self.calls.append(("create", path))
        if path == SA_PATH:
            self.accounts.add(body["metadata"]["name"])
            return body
        if self.fail_tokens:
            raise _status(503)
        self.issued += 1
        exp = datetime.fromtimestamp(self.clock[0] + self.lifetime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"status": {"token": f"token-{self.issued}", "expirationTimestamp": exp}}


def _source(root: FakeRoot, clock: list[float]) -> ServiceAccountTokenSource:
    return ServiceAccountTokenSource(root, "kube-system", "replicaset-controller",  # type: ignore[arg-type]
                                     clock=lambda: clock[0])


async def test_first_use_creates_the_account_and_requests_a_token() -> None:
    clock = [1000.0]
    root = FakeRoot(clock)
    src = _source(root, clock)
    assert src.token() is None
    await src.ensure_fresh()
    assert src.token() == "token-1"
    assert root.accounts == {"replicaset-controller"}
    assert root.calls == [("get", f"{SA_PATH}/replicaset-controller"), ("create", SA_PATH),
                          ("create", f"{SA_PATH}/replicaset-controller/token")]


@pytest.mark.parametrize("elapsed,want", [
    (0, "token-1"), (2879, "token-1"), (2881, "token-2"), (3599, "token-2"),
], ids=["new", "just-before-leeway", "inside-leeway", "near-expiry"])
async def test_token_renewed_once_less_than_a_fifth_of_its_life_is_left(elapsed: float, want: str) -> None:
    clock = [0.0]
    root = FakeRoot(clock)
    src = _source(root, clock)
    await src.ensure_fresh()
    clock[0] = elapsed
    await src.ensure_fresh()
    assert src.token() == want


async def test_failed_renewal_keeps_a_valid_token_and_retries_later() -> None:
    clock = [0.0]
    root = FakeRoot(clock)
    src = _source(root, clock)
    await src.ensure_fresh()
    root.fail_tokens = True
    clock[0] = 3000.0
    await src.ensure_fresh()  # no raise: token-1 is still valid for 600 s
    assert src.token() == "token-1"
    tries = len(root.calls)
    await src.ensure_fresh()
    assert len(root.calls) == tries  # paused after the failure
    clock[0] = 3011.0
    root.fail_tokens = False
    await src.ensure_fresh()
    assert src.token() == "token-2"


async def test_without_a_valid_token_a_failure_raises() -> None:
    clock = [0.0]
    root = FakeRoot(clock)
    root.fail_tokens = True
    with pytest.raises(ApiError):
        await _source(root, clock).ensure_fresh()


async def test_invalidate_forces_a_new_token() -> None:
    clock = [0.0]
    root = FakeRoot(clock)
    src = _source(root, clock)
    await src.ensure_fresh()
    src.invalidate()
    assert src.token() is None
    await src.ensure_fresh()
    assert src.token() == "token-2"


def test_dynamic_config_drops_root_credentials_and_names_the_account() -> None:
    root = RESTClient(ClientConfig(server="http://127.0.0.1:1", cert_data=b"c", key_data=b"k", token="root",
                                   user_agent="kube-controller-manager/v1.32.0 (linux/amd64) kybernetes"))
    cfg = DynamicControllerClientBuilder(root).config("job-controller")
    assert (cfg.cert_data, cfg.key_data, cfg.token) == (None, None, None)
    assert cfg.token_source is not None and cfg.bearer_token() is None  # no token fetched yet
    assert cfg.user_agent.endswith("kybernetes/system:serviceaccount:kube-system:job-controller")
    assert cfg.user_agent.split("/", 1)[0] == "kube-controller-manager"  # managedFields' manager name


def test_simple_config_keeps_root_credentials() -> None:
    root = ClientConfig(server="https://127.0.0.1:1", token="root", user_agent="kube-controller-manager/x")
    cfg = SimpleControllerClientBuilder(root).config("tokens-controller")
    assert cfg.bearer_token() == "root" and cfg.user_agent == "kube-controller-manager/x/tokens-controller"


@pytest.mark.parametrize("controller,want", [
    ("replicaset", ("replicaset-controller", True)), ("daemonset", ("daemon-set-controller", True)),
    ("garbagecollector", ("generic-garbage-collector", True)), ("nodeipam", ("node-controller", True)),
    ("serviceaccount-token", ("tokens-controller", False)),
], ids=["replicaset", "daemonset", "gc", "nodeipam", "token-controller-keeps-root"])
def test_controller_accounts_are_upstreams(controller: str, want: tuple[str, bool]) -> None:
    assert client_name(controller) == want


def test_every_service_account_has_its_bootstrap_role() -> None:
    from kybernetes.apiserver.authz.bootstrappolicy import controller_role_bindings, namespace_role_bindings

    bound = {(b["roleRef"]["name"], s["name"]) for b in controller_role_bindings() + namespace_role_bindings()
             for s in b["subjects"] if s["kind"] == "ServiceAccount" and s.get("namespace") == "kube-system"}
    for account in set(SERVICE_ACCOUNTS.values()):
        assert (f"system:controller:{account}", account) in bound


async def test_each_controller_gets_its_own_client_and_recorder_but_shared_informers() -> None:
    root = RESTClient(ClientConfig(server="https://127.0.0.1:1", user_agent="kcm"))
    mgr = ControllerManager(root, controllers=["replicaset", "deployment", "nodeipam", "nodelifecycle"],
                            client_builder=DynamicControllerClientBuilder(root))
    rs, dep = mgr.context_for("replicaset"), mgr.context_for("deployment")
    assert rs.client is not dep.client and rs.recorder_factory is not dep.recorder_factory
    assert rs.informers is dep.informers is mgr.informers
    assert mgr.context_for("nodeipam").client is mgr.context_for("nodelifecycle").client  # both node-controller
    assert rs.client.config.user_agent == "kcm/system:serviceaccount:kube-system:replicaset-controller"
    await mgr.close()
    await root.close()

"""The kubelet API's authorization: request attributes as upstream maps them, SubjectAccessReviews and their cache."""

from __future__ import annotations

import pytest

from kybernetes.kubelet.server.auth import (SUBJECT_ACCESS_REVIEWS_PATH, AuthOptions, KubeletAuth, StaticAuthorizer,
                                            UserInfo, WebhookAuthorizer, request_attributes)

ALICE = UserInfo("alice", ("devs", "system:authenticated"))


@pytest.mark.parametrize("method,path,verb,subresource", [
    ("GET", "/pods", "get", "proxy"),
    ("GET", "/containerLogs/ns/p/c", "get", "proxy"),
    ("POST", "/exec/ns/p/c", "create", "proxy"),
    ("GET", "/exec/ns/p/c", "get", "proxy"),
    ("POST", "/attach/ns/p/c", "create", "proxy"),
    ("POST", "/portForward/ns/p", "create", "proxy"),
    ("POST", "/run/ns/p/c", "create", "proxy"),
    ("GET", "/stats/summary", "get", "stats"),
    ("GET", "/stats", "get", "stats"),
    ("GET", "/statsfoo", "get", "proxy"),
    ("GET", "/metrics", "get", "metrics"),
    ("GET", "/metrics/cadvisor", "get", "metrics"),
    ("GET", "/logs/syslog", "get", "log"),
    ("POST", "/checkpoint/ns/p/c", "create", "checkpoint"),
    ("GET", "/spec/", "get", "spec"),
    ("PUT", "/pods", "update", "proxy"),
    ("PATCH", "/pods", "patch", "proxy"),
    ("DELETE", "/pods", "delete", "proxy"),
    ("OPTIONS", "/pods", "", "proxy"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_request_attributes(method: str, path: str, verb: str, subresource: str) -> None:
    a = request_attributes(ALICE, method, path, "node-1")
    assert (a.verb, a.resource, a.subresource, a.name, a.api_version) == (verb, "nodes", subresource, "node-1", "v1")


class Reviews:
    """Answers SubjectAccessReviews from a set of (user, verb, subresource) that are allowed."""

    def __init__(self, allowed: set[tuple[str, str, str]], fail: bool = False) -> None:
        self.allowed, self.fail, self.calls = allowed, fail, []

    async def create(self, path: str, body: dict) -> dict:
        self.calls.append((path, body))
        if self.fail:
            raise ConnectionError("apiserver down")
        spec, ra = body["spec"], body["spec"]["resourceAttributes"]
        ok = (spec["user"], ra["verb"], ra["subresource"]) in self.allowed
        return {**body, "status": {"allowed": ok, "reason": "" if ok else "no RBAC rule"}}


async def test_review_asks_for_the_nodes_subresource() -> None:
    client = Reviews({("alice", "get", "stats")})
    auth = WebhookAuthorizer(client)
    assert await auth.authorize(request_attributes(ALICE, "GET", "/stats/summary", "node-1")) == (True, "")
    assert await auth.authorize(request_attributes(ALICE, "GET", "/pods", "node-1")) == (False, "no RBAC rule")
    path, body = client.calls[0]
    assert path == SUBJECT_ACCESS_REVIEWS_PATH and body["kind"] == "SubjectAccessReview"
    assert body["spec"] == {"user": "alice", "groups": ["devs", "system:authenticated"],
                            "resourceAttributes": {"verb": "get", "group": "", "version": "v1", "resource": "nodes",
                                                   "subresource": "stats", "name": "node-1"}}


@pytest.mark.parametrize("allowed,elapsed,reviews", [
    (True, 299, 1), (True, 301, 2), (False, 29, 1), (False, 31, 2),
], ids=["allowed-cached", "allowed-expired", "denied-cached", "denied-expired"])
async def test_decisions_cached_five_minutes_when_allowed_thirty_seconds_when_denied(
        allowed: bool, elapsed: float, reviews: int) -> None:
    clock = [0.0]
    client = Reviews({("alice", "get", "proxy")} if allowed else set())
    auth = WebhookAuthorizer(client, clock=lambda: clock[0])
    a = request_attributes(ALICE, "GET", "/pods", "node-1")
    await auth.authorize(a)
    clock[0] = elapsed
    assert (await auth.authorize(a))[0] is allowed
    assert len(client.calls) == reviews


async def test_other_users_and_verbs_are_other_questions() -> None:
    client = Reviews({("alice", "get", "proxy")})
    auth = WebhookAuthorizer(client)
    await auth.authorize(request_attributes(ALICE, "GET", "/pods", "node-1"))
    await auth.authorize(request_attributes(ALICE, "POST", "/exec/ns/p/c", "node-1"))
    await auth.authorize(request_attributes(UserInfo("bob"), "GET", "/pods", "node-1"))
    assert len(client.calls) == 3


async def test_forbidden_and_error_answers_are_upstreams() -> None:
    auth = KubeletAuth(node_name="node-1", client=Reviews(set()))
    assert await auth.authorize(ALICE, "POST", "/exec/ns/p/c") == (
        403, "Forbidden (user=alice, verb=create, resource=nodes, subresource=proxy)")
    broken = KubeletAuth(node_name="node-1", client=Reviews(set(), fail=True))
    assert await broken.authorize(ALICE, "GET", "/stats/summary") == (
        500, "Authorization error (user=alice, verb=get, resource=nodes, subresource=stats)")


class NoTransport:
    def get_extra_info(self, name: str) -> None:
        return None


@pytest.mark.parametrize("anonymous,header,want", [
    (False, "", None),
    (True, "", UserInfo("system:anonymous", ("system:unauthenticated",))),
    (True, "Bearer ", UserInfo("system:anonymous", ("system:unauthenticated",))),
    (False, "Basic abc", None),
], ids=["anonymous-off", "anonymous-on", "empty-bearer", "basic-auth"])
async def test_authentication_without_certificate(anonymous: bool, header: str, want: UserInfo | None) -> None:
    auth = KubeletAuth(node_name="n", client=Reviews(set()), options=AuthOptions(anonymous_enabled=anonymous))
    assert await auth.authenticate(NoTransport(), header) == want


async def test_without_an_apiserver_only_its_client_and_masters_are_allowed() -> None:
    auth = KubeletAuth(node_name="n", client=None)
    assert isinstance(auth.authorizer, StaticAuthorizer)
    assert (await auth.authorize(UserInfo("kube-apiserver-kubelet-client"), "GET", "/pods"))[0] == 0
    assert (await auth.authorize(UserInfo("root", ("system:masters",)), "GET", "/pods"))[0] == 0
    assert (await auth.authorize(ALICE, "GET", "/pods"))[0] == 403


def test_unknown_authorization_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown authorization mode"):
        KubeletAuth(node_name="n", options=AuthOptions(authorization_mode="RBAC"))

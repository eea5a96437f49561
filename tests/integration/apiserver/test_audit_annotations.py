"""Audit annotations from admission and authorization in a real apiserver's audit log: PodSecurity's policy and
audit violations, ValidatingAdmissionPolicy's auditAnnotations and validation failures, webhooks' auditAnnotations
and mutation/patch/failed-open records (the patch only at level Request), the authorizer's decision and reason."""

from __future__ import annotations

import asyncio
import base64
import glob
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
import pytest_asyncio
import yaml
from aiohttp import web

from kybernetes.apiserver.server import APIServer, APIServerConfig
from kybernetes.client import ApiError, RESTClient, load_kubeconfig, resource_path
from kybernetes.pki.bootstrap import PKIPaths, load_ca
from kybernetes.pki.certs import issue_serving_cert
from tests.conftest import NO_CONTROLLERS_ADMISSION, free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

REQUEST_NS = "audited-request"  # configmaps here are audited at level Request, elsewhere at Metadata
POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"], "rules": [
    {"level": "Request", "resources": [{"group": "", "resources": ["configmaps"]}], "namespaces": [REQUEST_NS]},
    {"level": "Metadata", "resources": [{"group": "", "resources": ["pods", "configmaps"]}]},
    {"level": "None"},
]}
ADMISSION = "admissionregistration.k8s.io"


async def _mutate(request: web.Request) -> web.Response:
    req = (await request.json())["request"]
    patch = [{"op": "add", "path": "/metadata/labels", "value": {"mutated": "yes"}}]
    return web.json_response({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {
        "uid": req["uid"], "allowed": True, "patchType": "JSONPatch",
        "patch": base64.b64encode(orjson.dumps(patch)).decode(), "auditAnnotations": {"decided-by": "mutator"}}})


class Env:
    def __init__(self, server: APIServer, client: RESTClient, log_path: str, bundle: str, url: str) -> None:
        self.server, self.client, self.log_path, self.bundle, self.url = server, client, log_path, bundle, url

    def events(self) -> list[dict]:
        files = sorted(glob.glob(self.log_path[:-4] + "-*.log")) + [self.log_path]
        return [orjson.loads(line) for f in files if os.path.exists(f) for line in open(f, "rb")]

    async def event(self, pred: Callable[[dict], bool], timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events() if e["stage"] == "ResponseComplete" and pred(e)]
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                raise AssertionError("no such audit event")
            await asyncio.sleep(0.05)

    async def namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        await self.client.create("/api/v1/namespaces", {"metadata": {"name": name, "labels": labels or {}}})


def created(resource: str, namespace: str, name: str) -> Callable[[dict], bool]:
    """The create of `name`: its objectRef has no name, so it is matched by the requestURI's namespace and the
    response code; the last such event is taken."""
    return lambda e: (e["verb"] == "create" and e.get("objectRef", {}).get("resource") == resource
                      and e["objectRef"].get("namespace") == namespace)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory) -> AsyncIterator[Env]:
    d = tmp_path_factory.mktemp("audit-annotations")
    (d / "policy.yaml").write_text(yaml.safe_dump(POLICY))
    log_path = str(d / "audit.log")
    cfg = APIServerConfig(data_dir=str(d / "data"), bind_address="127.0.0.1", secure_port=free_port(),
                          audit_policy_file=str(d / "policy.yaml"), audit_log_path=log_path,
                          disable_admission_plugins=NO_CONTROLLERS_ADMISSION)
    server = APIServer(cfg)
    await server.start()
    cert, key = issue_serving_cert(load_ca(PKIPaths.under(cfg.data_dir)), "webhook", dns_names=["localhost"],
                                    ips=["127.0.0.1"])
    (d / "tls.crt").write_bytes(cert)
    (d / "tls.key").write_bytes(key)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(d / "tls.crt"), str(d / "tls.key"))
    app = web.Application()
    app.router.add_post("/mutate", _mutate)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
    client = RESTClient(load_kubeconfig(server.kubeconfig_path), timeout=30)
    bundle = base64.b64encode(load_ca(PKIPaths.under(cfg.data_dir)).cert_pem).decode()
    try:
        yield Env(server, client, log_path, bundle, f"https://127.0.0.1:{port}")
    finally:
        await client.close()
        await runner.cleanup()
        await server.stop()


def pod(name: str, **container: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox", **container}]}}


async def test_pod_security_enforce_policy_and_audit_violations(env: Env) -> None:
    ns = "psa-audit"
    await env.namespace(ns, {"pod-security.kubernetes.io/enforce": "baseline",
                             "pod-security.kubernetes.io/audit": "restricted"})
    await env.client.create(resource_path("", "v1", "pods", ns), pod("ok"))
    ev = await env.event(lambda e: created("pods", ns, "ok")(e) and e["responseStatus"]["code"] == 201)
    assert ev["annotations"]["pod-security.kubernetes.io/enforce-policy"] == "baseline:latest"
    assert ev["annotations"]["pod-security.kubernetes.io/audit-violations"].startswith(
        'would violate PodSecurity "restricted:latest": ')
    with pytest.raises(ApiError) as e:
        await env.client.create(resource_path("", "v1", "pods", ns),
                                pod("bad", securityContext={"privileged": True}))
    assert e.value.code == 403
    ev = await env.event(lambda e: created("pods", ns, "bad")(e) and e["responseStatus"]["code"] == 403)
    assert ev["annotations"]["pod-security.kubernetes.io/enforce-policy"] == "baseline:latest"
    assert ev["annotations"]["authorization.k8s.io/decision"] == "allow"  # refused by admission, not RBAC


async def test_pod_in_unlabelled_namespace_is_privileged(env: Env) -> None:
    await env.namespace("psa-none")
    await env.client.create(resource_path("", "v1", "pods", "psa-none"), pod("p"))
    ev = await env.event(created("pods", "psa-none", "p"))
    assert ev["annotations"]["pod-security.kubernetes.io/enforce-policy"] == "privileged:latest"
    assert "pod-security.kubernetes.io/audit-violations" not in ev["annotations"]


async def test_validating_admission_policy_annotations(env: Env) -> None:
    ns = "vap-audit"
    await env.namespace(ns, {"vap": "audit"})
    await env.client.create(resource_path(ADMISSION, "v1", "validatingadmissionpolicies"), {
        "metadata": {"name": "cm-names"}, "spec": {
            "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                    "operations": ["CREATE"], "resources": ["configmaps"]}]},
            "validations": [{"expression": "true"},
                            {"expression": "object.metadata.name.startsWith('ok-')", "message": "name needs ok-"}],
            "auditAnnotations": [{"key": "seen", "valueExpression": "'name=' + object.metadata.name"},
                                 {"key": "skipped", "valueExpression": "null"}]}})
    await env.client.create(resource_path(ADMISSION, "v1", "validatingadmissionpolicybindings"), {
        "metadata": {"name": "cm-names-audit"}, "spec": {
            "policyName": "cm-names", "validationActions": ["Audit", "Warn"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"vap": "audit"}}}}})
    await env.client.create(resource_path("", "v1", "configmaps", ns), {"metadata": {"name": "bad-name"}})
    ev = await env.event(created("configmaps", ns, "bad-name"))
    assert ev["responseStatus"]["code"] == 201
    assert ev["annotations"]["cm-names/seen"] == "name=bad-name"
    assert "cm-names/skipped" not in ev["annotations"]
    assert orjson.loads(ev["annotations"]["validation.policy.admission.k8s.io/validation_failure"]) == [
        {"message": "name needs ok-", "policy": "cm-names", "binding": "cm-names-audit", "expressionIndex": 1,
         "validationActions": ["Audit", "Warn"]}]


async def test_webhook_annotations_and_patch_only_at_request_level(env: Env) -> None:
    hook = {"name": "labels.example.com", "clientConfig": {"url": env.url + "/mutate", "caBundle": env.bundle},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                       "resources": ["configmaps"]}],
            "namespaceSelector": {"matchLabels": {"hooked": "yes"}}, "sideEffects": "None",
            "admissionReviewVersions": ["v1"], "failurePolicy": "Fail"}
    down = {**hook, "name": "down.example.com", "failurePolicy": "Ignore",
            "clientConfig": {"url": f"https://127.0.0.1:{free_port()}/mutate", "caBundle": env.bundle}}
    await env.client.create(resource_path(ADMISSION, "v1", "mutatingwebhookconfigurations"),
                            {"metadata": {"name": "a-labels"}, "webhooks": [hook]})
    await env.client.create(resource_path(ADMISSION, "v1", "mutatingwebhookconfigurations"),
                            {"metadata": {"name": "b-down"}, "webhooks": [down]})
    for ns in ("hooked-metadata", REQUEST_NS):
        await env.namespace(ns, {"hooked": "yes"})
        obj = await env.client.create(resource_path("", "v1", "configmaps", ns), {"metadata": {"name": "c"}})
        assert obj["metadata"]["labels"] == {"mutated": "yes"}
    meta = (await env.event(created("configmaps", "hooked-metadata", "c")))["annotations"]
    assert meta["labels.example.com/decided-by"] == "mutator"
    assert orjson.loads(meta["mutation.webhook.admission.k8s.io/round_0_index_0"]) == {
        "configuration": "a-labels", "webhook": "labels.example.com", "mutated": True}
    assert orjson.loads(meta["mutation.webhook.admission.k8s.io/round_0_index_1"]) == {
        "configuration": "b-down", "webhook": "down.example.com", "mutated": False}
    assert meta["failed-open.mutation.webhook.admission.k8s.io/round_0_index_1"] == "down.example.com"
    assert "patch.webhook.admission.k8s.io/round_0_index_0" not in meta
    req = (await env.event(created("configmaps", REQUEST_NS, "c")))["annotations"]
    assert orjson.loads(req["patch.webhook.admission.k8s.io/round_0_index_0"]) == {
        "configuration": "a-labels", "webhook": "labels.example.com", "patchType": "JSONPatch",
        "patch": [{"op": "add", "path": "/metadata/labels", "value": {"mutated": "yes"}}]}


async def test_authorization_decision_and_reason(env: Env) -> None:
    ns = "authz-audit"
    await env.namespace(ns)
    await env.client.create(resource_path("", "v1", "serviceaccounts", ns), {"metadata": {"name": "editor"}})
    await env.client.create(resource_path("rbac.authorization.k8s.io", "v1", "rolebindings", ns), {
        "metadata": {"name": "editor-edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "ServiceAccount", "name": "editor", "namespace": ns}]})
    token = (await env.client.create(resource_path("", "v1", "serviceaccounts", ns, "editor", "token"),
                                     {"spec": {}}))["status"]["token"]
    cfg = load_kubeconfig(env.server.kubeconfig_path)
    cfg.cert_data = cfg.key_data = None
    cfg.token = token
    async with RESTClient(cfg) as editor:
        await editor.create(resource_path("", "v1", "configmaps", ns), {"metadata": {"name": "mine"}})
        with pytest.raises(ApiError):
            await editor.list(resource_path("", "v1", "pods", "psa-none"))
    ev = await env.event(created("configmaps", ns, "mine"))
    assert ev["annotations"]["authorization.k8s.io/decision"] == "allow"
    assert ev["annotations"]["authorization.k8s.io/reason"].startswith("RBAC: allowed by RoleBinding")
    denied = await env.event(lambda e: e["verb"] == "list" and e.get("objectRef", {}).get("namespace") == "psa-none")
    assert denied["responseStatus"]["code"] == 403
    assert denied["annotations"]["authorization.k8s.io/decision"] == "forbid"

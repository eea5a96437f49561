"""Admission against a real apiserver: webhooks served by the test over HTTPS (mutating, validating, failure
policies), ResourceQuota refusals and the quota controller, LimitRanger defaults, PodSecurity enforce and warn."""

from __future__ import annotations

import asyncio
import base64
import ssl
from typing import Any, AsyncIterator

import orjson
import pytest
import pytest_asyncio
from aiohttp import web

from kybernetes.client import SharedInformerFactory
from kybernetes.controllers.context import ControllerContext
from kybernetes.controllers.resourcequota import ResourceQuotaController
from kybernetes.pki.bootstrap import PKIPaths, load_ca
from kybernetes.pki.certs import issue_serving_cert
from tests.conftest import free_port
from tests.integration.apiserver.conftest import Api, configmap, pod, unique

pytestmark = pytest.mark.asyncio(loop_scope="module")

MWC = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
VWC = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"


def _ns_path(ns: str, plural: str) -> str:
    return f"/api/v1/namespaces/{ns}/{plural}"


async def _mutate(request: web.Request) -> web.Response:
    review = await request.json()
    req = review["request"]
    patch = [{"op": "add", "path": "/metadata/labels", "value": {}}] \
        if not (req["object"]["metadata"].get("labels")) else []
    patch.append({"op": "add", "path": "/metadata/labels/mutated", "value": req["operation"].lower()})
    return web.json_response({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                              "response": {"uid": req["uid"], "allowed": True, "patchType": "JSONPatch",
                                           "patch": base64.b64encode(orjson.dumps(patch)).decode()}})


async def _validate(request: web.Request) -> web.Response:
    req = (await request.json())["request"]
    labels = req["object"]["metadata"].get("labels") or {}
    response: dict[str, Any] = {"uid": req["uid"], "allowed": labels.get("deny") != "true"}
    if not response["allowed"]:
        response["status"] = {"code": 403, "message": "deny label set"}
    else:
        response["warnings"] = [f"seen by {req['userInfo']['username']}"]
    return web.json_response({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})


SVC_NS = "webhook-svc"


class WebhookServer:
    def __init__(self, url: str, ca_bundle: str, port: int) -> None:
        self.url = url
        self.ca_bundle = ca_bundle
        self.port = port


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def webhook_server(api: Api, tmp_path_factory) -> AsyncIterator[WebhookServer]:
    """An HTTPS webhook server whose certificate the cluster CA signed."""
    paths = PKIPaths.under(api.server.config.data_dir)
    cert, key = issue_serving_cert(load_ca(paths), "webhook", dns_names=["localhost", f"hook.{SVC_NS}.svc"],
                                    ips=["127.0.0.1"])
    d = tmp_path_factory.mktemp("webhook")
    (d / "tls.crt").write_bytes(cert)
    (d / "tls.key").write_bytes(key)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(d / "tls.crt"), str(d / "tls.key"))
    app = web.Application()
    app.router.add_post("/mutate", _mutate)
    app.router.add_post("/validate", _validate)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
    with open(paths.ca_crt, "rb") as f:
        bundle = base64.b64encode(f.read()).decode()
    try:
        yield WebhookServer(f"https://127.0.0.1:{port}", bundle, port)
    finally:
        await runner.cleanup()


def _webhook(name: str, url: str, bundle: str, ns_label: str, *, failure: str = "Fail",
             resources: tuple[str, ...] = ("configmaps",)) -> dict[str, Any]:
    return {"name": name, "clientConfig": {"url": url, "caBundle": bundle},
            "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": list(resources)}],
            "namespaceSelector": {"matchLabels": {"webhook-test": ns_label}},
            "failurePolicy": failure, "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 5}


async def _labelled_ns(api: Api, labels: dict[str, str]) -> str:
    name = unique("adm")
    await api.client.create("/api/v1/namespaces", {"metadata": {"name": name, "labels": labels}})
    return name


async def test_webhooks_change_and_refuse_objects(api: Api, webhook_server: WebhookServer) -> None:
    tag = unique("wh")
    ns = await _labelled_ns(api, {"webhook-test": tag})
    await api.client.create(MWC, {"metadata": {"name": tag}, "webhooks": [
        _webhook("label.example.com", webhook_server.url + "/mutate", webhook_server.ca_bundle, tag)]})
    await api.client.create(VWC, {"metadata": {"name": tag}, "webhooks": [
        _webhook("deny.example.com", webhook_server.url + "/validate", webhook_server.ca_bundle, tag)]})
    created = await api.client.create(_ns_path(ns, "configmaps"), configmap("a"))
    assert created["metadata"]["labels"] == {"mutated": "create"}
    stored = await api.client.get(_ns_path(ns, "configmaps") + "/a")
    assert stored["metadata"]["labels"] == {"mutated": "create"}
    err = await api.error(api.client.create(_ns_path(ns, "configmaps"), configmap("b", labels={"deny": "true"})))
    assert (err.code, err.message) == (403, 'admission webhook "deny.example.com" denied the request: deny label set')
    # the validating webhook's warnings come back as Warning headers
    raw = await api.raw("POST", _ns_path(ns, "configmaps"), body=orjson.dumps(configmap("c")),
                        content_type="application/json")
    assert raw.status == 201 and "seen by" in raw.headers.get("Warning", "")
    # objects elsewhere are not sent to the webhooks
    other = await _labelled_ns(api, {})
    plain = await api.client.create(_ns_path(other, "configmaps"), configmap("d", labels={"deny": "true"}))
    assert plain["metadata"]["labels"] == {"deny": "true"}


@pytest.mark.parametrize("policy,refused", [("Ignore", False), ("Fail", True)], ids=["ignore", "fail"])
async def test_failure_policy_with_the_webhook_down(api: Api, webhook_server: WebhookServer, policy: str,
                                                    refused: bool) -> None:
    tag = unique("down")
    ns = await _labelled_ns(api, {"webhook-test": tag})
    down = f"https://127.0.0.1:{free_port()}/validate"
    await api.client.create(VWC, {"metadata": {"name": tag}, "webhooks": [
        _webhook("down.example.com", down, webhook_server.ca_bundle, tag, failure=policy)]})
    if not refused:
        assert (await api.client.create(_ns_path(ns, "configmaps"), configmap("a")))["metadata"]["name"] == "a"
        return
    err = await api.error(api.client.create(_ns_path(ns, "configmaps"), configmap("a")))
    assert err.code == 500
    assert err.message.startswith('Internal error occurred: failed calling webhook "down.example.com": '
                                  'failed to call webhook: Post "' + down)


async def test_quota_refuses_and_controller_tracks_usage(api: Api) -> None:
    ns = await _labelled_ns(api, {})
    await api.client.create(_ns_path(ns, "resourcequotas"), {"metadata": {"name": "q"},
                                                             "spec": {"hard": {"pods": "1", "configmaps": "5"}}})
    await api.client.create(_ns_path(ns, "pods"), pod("p1"))
    err = await api.error(api.client.create(_ns_path(ns, "pods"), pod("p2")))
    assert (err.code, err.message) == (403, 'pods "p2" is forbidden: exceeded quota: q, requested: pods=1, '
                                            'used: pods=1, limited: pods=1')
    informers = SharedInformerFactory(api.client, namespace=ns)
    controller = ResourceQuotaController(ControllerContext(api.client, informers, lambda component: None))
    task = asyncio.create_task(controller.run(1))
    try:
        for _ in range(100):
            q = await api.client.get(_ns_path(ns, "resourcequotas") + "/q")
            if (q.get("status") or {}).get("used") == {"pods": "1", "configmaps": "0"}:
                break
            await asyncio.sleep(0.05)
        assert q["status"] == {"hard": {"pods": "1", "configmaps": "5"}, "used": {"pods": "1", "configmaps": "0"}}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await informers.shutdown()


async def test_limit_ranger_defaults_and_limits(api: Api) -> None:
    ns = await _labelled_ns(api, {})
    await api.client.create(_ns_path(ns, "limitranges"), {"metadata": {"name": "lr"}, "spec": {"limits": [
        {"type": "Container", "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m"}, "max": {"cpu": "1"}}]}})
    created = await api.client.create(_ns_path(ns, "pods"), pod("p"))
    c = created["spec"]["containers"][0]
    assert c["resources"] == {"requests": {"cpu": "100m"}, "limits": {"cpu": "500m"}}
    assert created["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == \
        "LimitRanger plugin set: cpu request for container c; cpu limit for container c"
    big = pod("big")
    big["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "2"}}
    err = await api.error(api.client.create(_ns_path(ns, "pods"), big))
    assert (err.code, err.message) == (403, 'pods "big" is forbidden: maximum cpu usage per Container is 1, '
                                            'but limit is 2')


async def test_pod_security_enforce_and_warn(api: Api) -> None:
    ns = await _labelled_ns(api, {"pod-security.kubernetes.io/enforce": "restricted"})
    bad = pod("priv")
    bad["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    err = await api.error(api.client.create(_ns_path(ns, "pods"), bad))
    assert err.code == 403
    assert err.message.startswith('pods "priv" is forbidden: violates PodSecurity "restricted:latest": '
                                  'privileged (container "c" must not set securityContext.privileged=true), ')
    warn_ns = await _labelled_ns(api, {"pod-security.kubernetes.io/warn": "baseline"})
    raw = await api.raw("POST", _ns_path(warn_ns, "pods"), body=orjson.dumps(bad), content_type="application/json")
    assert raw.status == 201
    assert raw.headers.get("Warning", "").startswith(
        '299 - "would violate PodSecurity \\"baseline:latest\\": privileged (container \\"c\\" must not set')


async def test_validating_admission_policy(api: Api) -> None:
    ns = await _labelled_ns(api, {"vap-test": "on"})
    vap = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies"
    vapb = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"
    name = unique("vap")
    await api.client.create(vap, {"metadata": {"name": name}, "spec": {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""],
                                                "apiVersions": ["v1"], "resources": ["configmaps"]}]},
        "validations": [{"expression": "size(object.data) <= 1", "message": "one key at most"}]}})
    await api.client.create(vapb, {"metadata": {"name": name}, "spec": {
        "policyName": name, "validationActions": ["Deny"],
        "matchResources": {"namespaceSelector": {"matchLabels": {"vap-test": "on"}}}}})
    await api.client.create(_ns_path(ns, "configmaps"), configmap("ok", {"a": "1"}))
    err = await api.error(api.client.create(_ns_path(ns, "configmaps"), configmap("no", {"a": "1", "b": "2"})))
    assert (err.code, err.message) == (
        422, f"ValidatingAdmissionPolicy '{name}' with binding '{name}' denied request: one key at most")


async def test_webhook_reached_through_a_service(api: Api, webhook_server: WebhookServer) -> None:
    await api.client.create("/api/v1/namespaces", {"metadata": {"name": SVC_NS, "labels": {"webhook-test": "svc"}}})
    await api.client.create(_ns_path(SVC_NS, "services"), {"metadata": {"name": "hook"}, "spec": {
        "ports": [{"name": "https", "port": 443, "targetPort": webhook_server.port}]}})
    await api.client.create(_ns_path(SVC_NS, "endpoints"), {"metadata": {"name": "hook"}, "subsets": [
        {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": webhook_server.port}]}]})
    hook = _webhook("svc.example.com", "", webhook_server.ca_bundle, "svc")
    hook["clientConfig"] = {"service": {"namespace": SVC_NS, "name": "hook", "path": "/mutate"},
                            "caBundle": webhook_server.ca_bundle}
    await api.client.create(MWC, {"metadata": {"name": "svc"}, "webhooks": [hook]})
    created = await api.client.create(_ns_path(SVC_NS, "configmaps"), configmap("a"))
    assert created["metadata"]["labels"] == {"mutated": "create"}

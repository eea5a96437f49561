"""End to end: the official `kubernetes` Python client against a started `kybernetes server`."""

from __future__ import annotations

import threading
import time

import pytest

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client, config, watch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

pytestmark = pytest.mark.e2e

NS = "pyclient"


@pytest.fixture(scope="module")
def api(cluster):
    api_client = config.new_client_from_config(config_file=cluster.kubeconfig)
    core = client.CoreV1Api(api_client)
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
    except ApiException as e:
        if e.status != 409:
            raise
    yield api_client
    api_client.close()


def _deployment(name: str, replicas: int = 1) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="busybox:1.36")]))))


def test_core_create_list_patch_delete(api):
    core = client.CoreV1Api(api)
    cm = core.create_namespaced_config_map(NS, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="settings", labels={"team": "a"}), data={"k": "v"}))
    assert cm.metadata.uid and cm.metadata.resource_version
    listed = core.list_namespaced_config_map(NS, label_selector="team=a")
    assert [c.metadata.name for c in listed.items] == ["settings"]
    patched = core.patch_namespaced_config_map("settings", NS, {"data": {"k": "w", "n": "1"}})
    assert patched.data == {"k": "w", "n": "1"}
    assert int(patched.metadata.resource_version) > int(cm.metadata.resource_version)
    core.delete_namespaced_config_map("settings", NS)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("settings", NS)
    assert err.value.status == 404


def test_apps_deployment_lifecycle(api):
    apps = client.AppsV1Api(api)
    created = apps.create_namespaced_deployment(NS, _deployment("api", 2))
    assert created.spec.strategy.type == "RollingUpdate"  # defaulted by the server
    assert created.metadata.generation == 1
    scaled = apps.patch_namespaced_deployment_scale("api", NS, {"spec": {"replicas": 4}})
    assert scaled.spec.replicas == 4
    dep = apps.read_namespaced_deployment("api", NS)
    assert dep.spec.replicas == 4 and dep.metadata.generation == 2
    apps.delete_namespaced_deployment("api", NS)
    assert "api" not in [d.metadata.name for d in apps.list_namespaced_deployment(NS).items]


def test_watch_streams_events_in_order(api):
    core = client.CoreV1Api(api)
    start_rv = core.list_namespaced_config_map(NS).metadata.resource_version
    seen: list[tuple[str, str]] = []
    w = watch.Watch()

    def consume() -> None:
        for ev in w.stream(core.list_namespaced_config_map, NS, resource_version=start_rv, timeout_seconds=10):
            seen.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.5)
    core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w1")))
    core.patch_namespaced_config_map("w1", NS, {"metadata": {"labels": {"x": "y"}}})
    core.delete_namespaced_config_map("w1", NS)
    t.join(15)
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


def test_custom_objects(api):
    ext = client.ApiextensionsV1Api(api)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "properties": {
                                       "size": {"type": "integer", "default": 1},
                                       "color": {"type": "string", "enum": ["red", "blue"]}}},
                                   "status": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}}}}]}}
    ext.create_custom_resource_definition(crd)
    deadline = time.time() + 20
    while time.time() < deadline:
        got = ext.read_custom_resource_definition("widgets.example.com")
        conds = {c.type: c.status for c in (got.status.conditions or [])} if got.status else {}
        if conds.get("Established") == "True":
            break
        time.sleep(0.2)
    else:
        pytest.fail("CRD never became Established")
    co = client.CustomObjectsApi(api)
    w = co.create_namespaced_custom_object("example.com", "v1", NS, "widgets", {
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {"color": "red", "unknown": 1}})
    assert w["spec"] == {"color": "red", "size": 1}  # defaulted and pruned
    items = co.list_namespaced_custom_object("example.com", "v1", NS, "widgets")["items"]
    assert [i["metadata"]["name"] for i in items] == ["w"]
    patched = co.patch_namespaced_custom_object("example.com", "v1", NS, "widgets", "w", {"spec": {"size": 3}})
    assert patched["spec"]["size"] == 3
    status = co.patch_namespaced_custom_object_status("example.com", "v1", NS, "widgets", "w",
                                                       {"status": {"ok": True}, "spec": {"size": 9}})
    assert status["status"] == {"ok": True} and status["spec"]["size"] == 3
    with pytest.raises(ApiException) as err:
        co.create_namespaced_custom_object("example.com", "v1", NS, "widgets", {
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "bad"},
            "spec": {"color": "green"}})
    assert err.value.status == 422
    assert "supported values" in err.value.body
    co.delete_namespaced_custom_object("example.com", "v1", NS, "widgets", "w")
    assert co.list_namespaced_custom_object("example.com", "v1", NS, "widgets")["items"] == []

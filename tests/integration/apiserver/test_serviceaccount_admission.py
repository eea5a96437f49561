"""The ServiceAccount admission plugin in a real apiserver (on, as in `kybernetes apiserver` by default): the
default service account, a missing one refused as upstream does, the API credentials volume mounted in every
container unless automount is off, an existing mount left alone, imagePullSecrets copied."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from kybernetes.apiserver.admission.serviceaccount import DEFAULT_API_TOKEN_MOUNT_PATH
from kybernetes.apiserver.server import APIServer, APIServerConfig
from kybernetes.client import ApiError, RESTClient, load_kubeconfig, resource_path
from tests.conftest import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

NS = "sa-admission"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(tmp_path_factory) -> AsyncIterator[RESTClient]:
    cfg = APIServerConfig(data_dir=str(tmp_path_factory.mktemp("sa") / "data"), bind_address="127.0.0.1",
                          secure_port=free_port())
    server = APIServer(cfg)
    await server.start()
    c = RESTClient(load_kubeconfig(server.kubeconfig_path))
    try:
        await c.create("/api/v1/namespaces", {"metadata": {"name": NS}})
        yield c
    finally:
        await c.close()
        await server.stop()


def pod(name: str, **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["true"]}], **spec}}


async def create_sa(client: RESTClient, name: str, **fields: object) -> None:
    await client.create(resource_path("", "v1", "serviceaccounts", NS),
                        {"metadata": {"name": name}, **fields})


async def test_missing_service_account_is_forbidden(client: RESTClient) -> None:
    with pytest.raises(ApiError) as e:
        await client.create(resource_path("", "v1", "pods", NS), pod("no-sa"))
    assert e.value.code == 403
    assert e.value.status["reason"] == "Forbidden"
    assert e.value.status["message"] == ('pods "no-sa" is forbidden: error looking up service account '
                                         f'{NS}/default: serviceaccount "default" not found')
    with pytest.raises(ApiError) as gone:
        await client.get(resource_path("", "v1", "pods", NS, "no-sa"))
    assert gone.value.code == 404


async def test_default_service_account_and_credentials_volume(client: RESTClient) -> None:
    await create_sa(client, "default")
    body = pod("web", initContainers=[{"name": "init", "image": "busybox", "command": ["true"]}])
    out = await client.create(resource_path("", "v1", "pods", NS), body)
    spec = out["spec"]
    assert spec["serviceAccountName"] == "default" and spec["serviceAccount"] == "default"
    (vol,) = [v for v in spec["volumes"] if v["name"].startswith("kube-api-access-")]
    assert len(vol["name"]) == len("kube-api-access-") + 5
    assert vol["projected"] == {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}
    for c in spec["initContainers"] + spec["containers"]:
        assert c["volumeMounts"] == [{"name": vol["name"], "readOnly": True, "mountPath": DEFAULT_API_TOKEN_MOUNT_PATH}]


async def test_automount_off_on_the_pod_or_the_service_account(client: RESTClient) -> None:
    await create_sa(client, "quiet", automountServiceAccountToken=False)
    off_by_sa = await client.create(resource_path("", "v1", "pods", NS), pod("off-by-sa", serviceAccountName="quiet"))
    assert "volumes" not in off_by_sa["spec"]
    assert "volumeMounts" not in off_by_sa["spec"]["containers"][0]
    off_by_pod = await client.create(resource_path("", "v1", "pods", NS),
                                     pod("off-by-pod", automountServiceAccountToken=False))
    assert "volumes" not in off_by_pod["spec"]
    on_by_pod = await client.create(resource_path("", "v1", "pods", NS),
                                    pod("on-by-pod", serviceAccountName="quiet", automountServiceAccountToken=True))
    assert [v["name"][:16] for v in on_by_pod["spec"]["volumes"]] == ["kube-api-access-"]


async def test_existing_mount_at_the_token_path_is_kept(client: RESTClient) -> None:
    body = pod("own-token", volumes=[{"name": "mine", "emptyDir": {}}])
    body["spec"]["containers"].append({"name": "other", "image": "busybox", "command": ["true"]})
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "mine", "mountPath": DEFAULT_API_TOKEN_MOUNT_PATH}]
    out = await client.create(resource_path("", "v1", "pods", NS), body)
    first, other = out["spec"]["containers"]
    assert first["volumeMounts"] == [{"name": "mine", "mountPath": DEFAULT_API_TOKEN_MOUNT_PATH}]
    assert other["volumeMounts"][0]["name"].startswith("kube-api-access-")
    assert [v["name"] for v in out["spec"]["volumes"]] == ["mine", other["volumeMounts"][0]["name"]]


async def test_image_pull_secrets_come_from_the_service_account(client: RESTClient) -> None:
    await create_sa(client, "puller", imagePullSecrets=[{"name": "registry-creds"}])
    out = await client.create(resource_path("", "v1", "pods", NS), pod("pulls", serviceAccountName="puller"))
    assert out["spec"]["imagePullSecrets"] == [{"name": "registry-creds"}]
    own = await client.create(resource_path("", "v1", "pods", NS),
                              pod("own-pull", serviceAccountName="puller", imagePullSecrets=[{"name": "mine"}]))
    assert own["spec"]["imagePullSecrets"] == [{"name": "mine"}]


async def test_mirror_pods_are_left_alone(client: RESTClient) -> None:
    body = pod("static-node1", nodeName="node1")
    body["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "abc"}
    out = await client.create(resource_path("", "v1", "pods", NS), body)
    assert "volumes" not in out["spec"]


async def test_pod_in_a_new_namespace_waits_for_its_default_account(client: RESTClient) -> None:
    """The serviceaccount controller makes "default" just after the namespace: a pod created in between waits for
    it instead of failing by chance (`kubectl create ns x && kubectl run -n x ...`)."""
    import asyncio

    await client.create("/api/v1/namespaces", {"metadata": {"name": "fresh"}})

    async def controller() -> None:
        await asyncio.sleep(0.5)
        await client.create(resource_path("", "v1", "serviceaccounts", "fresh"), {"metadata": {"name": "default"}})

    made = asyncio.create_task(controller())
    out = await client.create(resource_path("", "v1", "pods", "fresh"), pod("early"))
    await made
    assert out["spec"]["serviceAccountName"] == "default"
    assert out["spec"]["volumes"][0]["name"].startswith("kube-api-access-")

"""Component identities and the kubelet API on `kybernetes server`: controllers run as their own kube-system
ServiceAccounts (the controller-manager's certificate holds no controller role), and the kubelet's 10250 API
authorizes bearer tokens by SubjectAccessReview for nodes/proxy."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.conftest import Cluster

NS = "security-e2e"


def _kubelet(cluster: Cluster, path: str, token: str) -> tuple[int, str]:
    node = cluster.kubectl_json("get", "nodes")["items"][0]
    port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    ctx = ssl.create_default_context(cafile=os.path.join(cluster.data_dir, "pki", "ca.crt"))
    req = urllib.request.Request(f"https://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_controllers_run_as_their_service_accounts(cluster: Cluster) -> None:
    accounts = {a["metadata"]["name"] for a in
                cluster.kubectl_json("get", "serviceaccounts", "-n", "kube-system")["items"]}
    assert {"replicaset-controller", "deployment-controller", "namespace-controller",
            "generic-garbage-collector"} <= accounts
    can = cluster.kubectl("auth", "can-i", "create", "pods", "--as", "system:kube-controller-manager",
                          check=False)
    assert can.stdout.strip() == "no"
    can = cluster.kubectl("auth", "can-i", "create", "pods", "-n", "default",
                          "--as", "system:serviceaccount:kube-system:replicaset-controller", check=False)
    assert can.stdout.strip() == "yes"


def test_kubelet_api_authorized_by_subject_access_review(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", NS)
    cluster.kubectl("create", "clusterrole", f"{NS}-kubelet-reader", "--verb=get", "--resource=nodes/proxy")
    for name in ("nobody", "reader"):
        cluster.kubectl("create", "serviceaccount", "-n", NS, name)
    cluster.kubectl("create", "clusterrolebinding", f"{NS}-kubelet-reader",
                    f"--clusterrole={NS}-kubelet-reader", f"--serviceaccount={NS}:reader")
    nobody, reader = (cluster.kubectl("create", "token", "-n", NS, name).stdout.strip()
                      for name in ("nobody", "reader"))
    assert _kubelet(cluster, "/pods", nobody) == (
        403, f"Forbidden (user=system:serviceaccount:{NS}:nobody, verb=get, resource=nodes, subresource=proxy)")
    status, body = _kubelet(cluster, "/pods", reader)
    assert status == 200 and json.loads(body)["kind"] == "PodList"
    assert _kubelet(cluster, "/stats/summary", reader) == (
        403, f"Forbidden (user=system:serviceaccount:{NS}:reader, verb=get, resource=nodes, subresource=stats)")
    assert _kubelet(cluster, "/pods", "not-a-token") == (401, "Unauthorized")


def _until(fn, timeout: float = 60.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


IN_CLUSTER = """
from kubernetes import client, config
config.load_incluster_config()
review = client.AuthenticationV1Api().create_self_subject_review({"apiVersion": "authentication.k8s.io/v1",
                                                                  "kind": "SelfSubjectReview"})
print(review.status.user_info.username)
"""


def test_pod_gets_its_api_credentials_and_uses_them(cluster: Cluster) -> None:
    ns = f"{NS}-creds"
    cluster.kubectl("create", "namespace", ns)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client", "namespace": ns},
           "spec": {"terminationGracePeriodSeconds": 1, "hostNetwork": True,  # the apiserver is on loopback here
                    "containers": [{"name": "c", "image": "python", "command": ["sleep", "3600"]}]}}
    # Forbidden until the serviceaccount controller made the namespace's "default" (as upstream)
    _until(lambda: cluster.kubectl("apply", "-f", "-", input=json.dumps(pod)))
    cluster.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/client", "--timeout=60s")
    mounts = cluster.kubectl_json("get", "pod", "-n", ns, "client")["spec"]["containers"][0]["volumeMounts"]
    assert mounts[0]["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount" and mounts[0]["readOnly"]

    def read(name: str) -> str:  # where the process runtime shows the volume ($KYBERNETES_ROOT: without root)
        return cluster.kubectl("exec", "-n", ns, "client", "--", "sh", "-c",
                               f"cat $KYBERNETES_ROOT/var/run/secrets/kubernetes.io/serviceaccount/{name}").stdout

    assert read("namespace") == ns
    with open(os.path.join(cluster.data_dir, "pki", "ca.crt")) as f:
        assert read("ca.crt") == f.read()
    ca = os.path.join(cluster.data_dir, "pki", "ca.crt")
    res = subprocess.run(["kubectl", "--kubeconfig", os.devnull, "--server", cluster.url, "--certificate-authority", ca,
                          "--token", read("token"), "auth", "whoami", "-o", "json"],
                         capture_output=True, text=True, timeout=60, check=True)
    who = json.loads(res.stdout)
    assert who["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:default"
    if os.geteuid() == 0:  # the volume at its real path (a mount namespace) and the Service routed: root only
        out = cluster.kubectl("exec", "-n", ns, "client", "--", sys.executable, "-c", IN_CLUSTER)
        assert out.stdout.strip() == f"system:serviceaccount:{ns}:default"
    cluster.kubectl("delete", "namespace", ns, "--wait=false")

"""Component identities and the kubelet API on `kybernetes server`: controllers run as their own kube-system
ServiceAccounts (the controller-manager's certificate holds no controller role), and the kubelet's 10250 API
authorizes bearer tokens by SubjectAccessReview for nodes/proxy."""

from __future__ import annotations

import json
import os
import ssl
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

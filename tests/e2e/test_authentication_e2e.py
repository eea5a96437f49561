"""Authentication end to end on `kybernetes server`: the kubelet's projected token, the token controller's legacy
Secret tokens, `kubectl create token` and `kubectl auth whoami`, TokenReview through kubectl."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from typing import Any, Callable

from tests.conftest import Cluster

NS = "authn-e2e"


def k(cluster: Cluster, *args: str, **kw: Any) -> subprocess.CompletedProcess:
    return cluster.kubectl("-n", NS, *args, **kw)


def wait_for(what: str, fn: Callable[[], Any], timeout: float = 40, interval: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def whoami(cluster: Cluster, token: str, tmp_path) -> subprocess.CompletedProcess:
    """`kubectl auth whoami` with only the token (no client certificate to win over it)."""
    empty = tmp_path / "token.kubeconfig"
    empty.write_text("apiVersion: v1\nkind: Config\n")
    return subprocess.run(["kubectl", "--kubeconfig", str(empty), "--server", cluster.url,
                           "--certificate-authority", os.path.join(cluster.data_dir, "pki", "ca.crt"),
                           "--token", token, "auth", "whoami", "-o", "json"],
                          capture_output=True, text=True, timeout=60)


def token_review(cluster: Cluster, token: str) -> dict:
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
    return json.loads(cluster.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(review)).stdout)


def setup_namespace(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}))
    wait_for("the default service account",
             lambda: k(cluster, "get", "serviceaccount", "default", check=False).returncode == 0)


def test_create_token_and_whoami(cluster: Cluster, tmp_path) -> None:
    setup_namespace(cluster)
    token = k(cluster, "create", "token", "default", "--duration=10m").stdout.strip()
    res = whoami(cluster, token, tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["status"]["userInfo"]["username"] == f"system:serviceaccount:{NS}:default"
    assert "kubernetes-admin" in cluster.kubectl("auth", "whoami").stdout


def test_legacy_token_secret_is_filled_by_the_controller(cluster: Cluster, tmp_path) -> None:
    setup_namespace(cluster)
    k(cluster, "apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "default-token", "annotations": {"kubernetes.io/service-account.name": "default"}}}))
    secret = wait_for("the token", lambda: (lambda s: s if (s.get("data") or {}).get("token") else None)(
        json.loads(k(cluster, "get", "secret", "default-token", "-o", "json").stdout)))
    token = base64.b64decode(secret["data"]["token"]).decode()
    review = token_review(cluster, token)
    assert review["status"]["authenticated"] is True
    assert review["status"]["user"]["username"] == f"system:serviceaccount:{NS}:default"


def test_projected_token_of_a_running_pod(cluster: Cluster) -> None:
    setup_namespace(cluster)
    root = "${KYBERNETES_ROOT:-}"  # the rootless fallback exposes mounts under $KYBERNETES_ROOT
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "tokened"}, "spec": {
        "terminationGracePeriodSeconds": 1, "serviceAccountName": "default",
        "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exec sleep 3600"],
                        "volumeMounts": [{"name": "tok", "mountPath": "/var/run/secrets/tokens"}]}],
        "volumes": [{"name": "tok", "projected": {"sources": [{"serviceAccountToken": {
            "path": "token", "audience": "vault", "expirationSeconds": 600}}]}}]}}
    k(cluster, "apply", "-f", "-", input=json.dumps(pod))
    k(cluster, "wait", "--for=condition=Ready", "pod/tokened", "--timeout=40s", timeout=50)
    token = k(cluster, "exec", "tokened", "--", "sh", "-c", f"cat {root}/var/run/secrets/tokens/token").stdout
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
              "spec": {"token": token, "audiences": ["vault"]}}
    out = json.loads(cluster.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(review)).stdout)
    assert out["status"]["authenticated"] is True, out
    user = out["status"]["user"]
    assert user["username"] == f"system:serviceaccount:{NS}:default"
    assert user["extra"]["authentication.kubernetes.io/pod-name"] == ["tokened"]
    k(cluster, "delete", "pod", "tokened", "--wait=true", "--timeout=30s", timeout=40)
    review_after = json.loads(cluster.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(review)).stdout)
    assert review_after["status"]["authenticated"] is False

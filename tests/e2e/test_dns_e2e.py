"""Cluster DNS end to end: `kybernetes server` publishes kube-dns, its `dns` child answers at the ClusterIP through
the proxy, and a pod's resolver finds Services by short name through the search path."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time

import dns.message
import dns.query
import dns.rcode
import pytest

from tests.conftest import Cluster

pytestmark = pytest.mark.e2e

NS = "dns-e2e"


def _until(what: str, fn, timeout: float = 30.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (OSError, dns.exception.DNSException) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def _stays_local(ip: str) -> bool:
    """True when packets to `ip` cannot leave the machine: a loopback address, or one the proxy's pinned local
    route covers (`ip route get` says local). Nothing is sent to a ClusterIP before this holds."""
    if ipaddress.ip_address(ip).is_loopback:
        return True
    out = subprocess.run(["ip", "route", "get", ip], capture_output=True, text=True).stdout
    return out.startswith("local ")


def _ask(server: str, port: int, name: str, rdtype: str = "A", tcp: bool = False) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype)
    return (dns.query.tcp if tcp else dns.query.udp)(q, server, port=port, timeout=2)


def test_kube_dns_service_and_answers_through_the_cluster_ip(cluster: Cluster) -> None:
    svc = _until("the kube-dns Service", lambda: cluster.kubectl_json("-n", "kube-system", "get", "svc", "kube-dns"))
    ip = svc["spec"]["clusterIP"]
    kubernetes_ip = cluster.kubectl_json("get", "svc", "kubernetes")["spec"]["clusterIP"]
    assert ipaddress.ip_address(ip) == ipaddress.ip_address(kubernetes_ip) + 9  # the range's 10th address
    assert {(p["name"], p["port"], p["protocol"]) for p in svc["spec"]["ports"]} == {
        ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")}
    eps = cluster.kubectl_json("-n", "kube-system", "get", "endpointslice", "kube-dns-local")
    direct, port = eps["endpoints"][0]["addresses"][0], eps["ports"][0]["port"]
    assert _stays_local(direct)
    name = "kubernetes.default.svc.cluster.local."
    _until("the DNS serving at its endpoint", lambda: _ask(direct, port, name).answer)
    _until("the service range pinned locally (or loopback)", lambda: _stays_local(ip))
    for tcp in (False, True):
        resp = _until("an answer at the ClusterIP", lambda: _ask(ip, 53, "kubernetes.default.svc.cluster.local.",
                                                                  tcp=tcp))
        assert resp.answer, resp.to_text()
        assert [r.to_text() for r in resp.answer[0]] == [kubernetes_ip]
    assert _ask(ip, 53, "nope.default.svc.cluster.local.").rcode() == dns.rcode.NXDOMAIN


def test_pod_resolves_a_service_by_short_name(cluster: Cluster) -> None:
    if os.geteuid() != 0:
        pytest.skip("the process runtime gives a pod its own /etc/resolv.conf only as root (mount namespace)")
    cluster.kubectl("create", "namespace", NS, check=False)
    dns_ip = cluster.kubectl_json("-n", "kube-system", "get", "svc", "kube-dns")["spec"]["clusterIP"]
    _until("the service range pinned locally (or loopback)", lambda: _stays_local(dns_ip))
    web = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
           "spec": {"ports": [{"name": "http", "port": 80}]}}
    script = ("cat /etc/resolv.conf; python3 -c 'import socket; print(\"web=\" + socket.gethostbyname(\"web\")); "
              "print(\"api=\" + socket.gethostbyname(\"kubernetes.default\"))'")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "resolver", "namespace": NS},
           "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script]}]}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [web]}))
    web_ip = cluster.kubectl_json("-n", NS, "get", "svc", "web")["spec"]["clusterIP"]
    _until("web in DNS", lambda: _ask(dns_ip, 53, f"web.{NS}.svc.cluster.local.").answer)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    _until("the pod to finish", lambda: (cluster.kubectl_json("-n", NS, "get", "pod", "resolver").get("status") or {})
           .get("phase") in ("Succeeded", "Failed"), timeout=60)
    logs = cluster.kubectl("-n", NS, "logs", "resolver").stdout
    assert f"nameserver {dns_ip}" in logs
    assert f"search {NS}.svc.cluster.local svc.cluster.local cluster.local" in logs
    assert "options ndots:5" in logs
    assert f"web={web_ip}" in logs
    kubernetes_ip = cluster.kubectl_json("get", "svc", "kubernetes")["spec"]["clusterIP"]
    assert f"api={kubernetes_ip}" in logs
    cluster.kubectl("delete", "namespace", NS, "--wait=false", check=False)

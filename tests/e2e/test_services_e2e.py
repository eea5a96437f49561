"""Services end to end in nftables mode with the bridge pod network (root only): a Deployment of three HTTP and
UDP echo servers on one containerPort, each pod with its own address, reached through ClusterIPs and a NodePort
from the node and from a pod; affinity, readiness, stale UDP conntrack entries, no-endpoint rejects, and the
proxy's ruleset followed through a scale-down and a Service deletion.

A cluster of its own (`kybernetes server --pod-network bridge --proxy-mode nftables`) with pod, service and NodePort
ranges no other cluster uses, so its bridge, its nft tables (`kybernetes-<id>` for the proxy, `kybernetes-net-<id>`
for the pod network) and its routes are its own; stop_cluster removes all of them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kybernetes.kubelet.network.bridge import veth_name
from kybernetes.proxy.nftables.ruleset import table_name
from tests.conftest import Cluster, free_port, start_server_process, stop_cluster, wait_ready

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("ip", "nft", "nsenter", "kubectl")),
    reason="the bridge pod network and the nftables proxy need root, iproute2, nft, nsenter (and kubectl)")]

CLUSTER_CIDR = "198.18.160.0/20"  # inside 198.18.0.0/15, apart from the defaults other test clusters use
SERVICE_CIDR = "198.19.160.0/20"
NODE_PORTS = "29700-29799"  # outside the default range, so no other cluster's NodePort rules can match ours
NODE = "svc-e2e"
NS = "svc-e2e"
CLIENT = "client"  # a pod outside the Services: requests from it never hairpin back to their sender
PORT = 8080
PY = sys.executable
SERVER = f"""
import http.server, os, socket, threading
name = os.environ["POD_NAME"]
ready = threading.Event(); ready.set()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code, body = 200, name
        if self.path == "/down": ready.clear()
        elif self.path == "/up": ready.set()
        elif self.path == "/ready" and not ready.is_set(): code = 503
        body = body.encode()
        self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", {PORT}))
    while True:
        data, peer = s.recvfrom(2048); s.sendto(name.encode() + b":" + data, peer)
threading.Thread(target=udp, daemon=True).start()
http.server.ThreadingHTTPServer(("0.0.0.0", {PORT}), H).serve_forever()
"""
# run in a pod by `kubectl exec`: N requests, the answering pod names (or error names) as JSON
FETCH = """
import json, sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
out = []
for _ in range(int(sys.argv[2])):
    try:
        out.append(opener.open(sys.argv[1], timeout=3).read().decode())
    except OSError as e:
        out.append(type(getattr(e, "reason", e)).__name__)
print(json.dumps(out))
"""
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_for(what: str, fn: Callable[[], Any], timeout: float = 60, interval: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (OSError, AssertionError, subprocess.SubprocessError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def get(url: str, timeout: float = 3) -> str:
    with _opener.open(url, timeout=timeout) as r:
        return r.read().decode()


def names_from_node(url: str, n: int) -> list[str]:
    out = []
    for _ in range(n):
        try:
            out.append(get(url))
        except OSError as e:
            out.append(type(getattr(e, "reason", e)).__name__)
    return out


def udp_ask(ip: str, port: int, payload: bytes, sock: socket.socket | None = None) -> str:
    own = sock is None
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(2)
        s.sendto(payload, (ip, port))
        return s.recv(2048).decode()
    finally:
        if own:
            s.close()


class Services(Cluster):
    def apply(self, *objs: dict) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)}))

    def pods(self) -> list[dict]:
        return [p for p in self.kubectl_json("-n", NS, "get", "pods", "-l", "app=web")["items"]
                if not p["metadata"].get("deletionTimestamp")]

    def ready_pods(self) -> dict[str, str]:
        """{pod name: pod IP} of the Ready web pods."""
        return {p["metadata"]["name"]: p["status"]["podIP"] for p in self.pods()
                if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])}

    def exec_fetch(self, pod: str, url: str, n: int) -> list[str]:
        res = self.kubectl("-n", NS, "exec", pod, "--", PY, "-c", FETCH, url, str(n), timeout=120)
        return json.loads(res.stdout)

    def ruleset(self) -> str:
        return subprocess.run(["nft", "list", "table", "ip", table_name(SERVICE_CIDR)], capture_output=True,
                              text=True).stdout

    def service(self, name: str) -> dict:
        return self.kubectl_json("-n", NS, "get", "svc", name)

    def ready_endpoints(self, service: str) -> set[str]:
        out = set()
        for s in self.kubectl_json("-n", NS, "get", "endpointslices", "-l",
                                   f"kubernetes.io/service-name={service}")["items"]:
            for e in s.get("endpoints") or []:
                if (e.get("conditions") or {}).get("ready"):
                    out.update(e["addresses"])
        return out


def service(name: str, *, protocol: str = "TCP", selector: str = "web", **spec: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": {"app": selector}, **spec,
                     "ports": [{"name": "p", "port": 80, "targetPort": "web", "protocol": protocol}]}}


@pytest.fixture(scope="module")
def svc_cluster(tmp_path_factory) -> Iterator[Services]:
    base = tmp_path_factory.mktemp("services")
    data_dir = str(base / "data")
    port = free_port()
    log_path = str(base / "server.log")
    proc = start_server_process(data_dir, port, log_path, "--node-name", NODE, "--node-ip", "127.0.0.1",
                                "--pod-network", "bridge", "--proxy-mode", "nftables",
                                "--cluster-cidr", CLUSTER_CIDR, "--service-cluster-ip-range", SERVICE_CIDR,
                                "--service-node-port-range", NODE_PORTS, "--disable", "dns")
    cluster = Services(proc, data_dir, port, os.path.join(data_dir, "admin.kubeconfig"), log_path)
    try:
        wait_ready(port, proc)
        cluster.kubectl("create", "namespace", NS)
        wait_for("the default service account",
                 lambda: cluster.kubectl("-n", NS, "get", "serviceaccount", "default", check=False).returncode == 0)
        yield cluster
    finally:
        try:
            if proc.poll() is None:
                cluster.kubectl("delete", "namespace", NS, "--wait=true", "--timeout=60s", check=False, timeout=70)
        finally:
            stop_cluster(proc, data_dir)
    assert table_name(SERVICE_CIDR) not in subprocess.run(["nft", "list", "tables"], capture_output=True,
                                                          text=True).stdout


@pytest.fixture(scope="module")
def web(svc_cluster: Services) -> dict[str, str]:
    """Three replicas on containerPort 8080 (each answers with its pod name), and the Services in front of them."""
    container = {"name": "web", "image": "python:3", "command": [PY, "-c", SERVER],
                 "ports": [{"name": "web", "containerPort": PORT, "protocol": "TCP"},
                           {"name": "web-udp", "containerPort": PORT, "protocol": "UDP"}],
                 "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                 "readinessProbe": {"httpGet": {"path": "/ready", "port": PORT}, "periodSeconds": 1,
                                    "failureThreshold": 1}}
    udp = service("echo", protocol="UDP")
    udp["spec"]["ports"][0]["targetPort"] = "web-udp"
    svc_cluster.apply(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
         "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": CLIENT, "namespace": NS, "labels": {"app": CLIENT}},
         "spec": {"terminationGracePeriodSeconds": 1, "containers": [
             {"name": "c", "image": "python:3", "command": [PY, "-c", "import time; time.sleep(1e6)"]}]}},
        service("web"), service("sticky", sessionAffinity="ClientIP"), service("np", type="NodePort"), udp,
        service("nobody", selector="nothing-matches"))
    pods = wait_for("three Ready pods", lambda: (lambda r: r if len(r) == 3 else None)(svc_cluster.ready_pods()),
                    timeout=120)
    svc_cluster.kubectl("-n", NS, "wait", "--for=condition=Ready", f"pod/{CLIENT}", "--timeout=60s", timeout=70)
    for name in ("web", "sticky", "np", "echo"):
        wait_for(f"{name}'s three endpoints", lambda n=name: svc_cluster.ready_endpoints(n) == set(pods.values()))
    return pods


def _cluster_ip(cluster: Services, name: str) -> str:
    ip = cluster.service(name)["spec"]["clusterIP"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(SERVICE_CIDR)
    return ip


def _programmed(cluster: Services, *needles: str) -> None:
    wait_for(f"{needles} in the ruleset", lambda: all(n in cluster.ruleset() for n in needles))


def test_pods_have_own_addresses_on_one_port(svc_cluster: Services, web: dict[str, str]) -> None:
    assert len(set(web.values())) == 3
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network(CLUSTER_CIDR) for ip in web.values())
    for name, ip in web.items():
        assert get(f"http://{ip}:{PORT}/") == name


def test_clusterip_300_requests_reach_all_three_from_node_and_pod(svc_cluster: Services,
                                                                   web: dict[str, str]) -> None:
    ip = _cluster_ip(svc_cluster, "web")
    _programmed(svc_cluster, *(f"dnat to {pod_ip}:{PORT}" for pod_ip in web.values()))
    got = Counter(names_from_node(f"http://{ip}/", 300))
    assert set(got) == set(web), got  # every answer a pod name: none failed, and all three answered
    got = Counter(svc_cluster.exec_fetch(CLIENT, f"http://{ip}/", 60))  # from a pod
    assert set(got) == set(web), got


def test_a_pod_reaches_itself_through_its_service(svc_cluster: Services, web: dict[str, str]) -> None:
    """Hairpin: the endpoint chosen may be the client itself; the proxy masquerades that case, and the pod's
    bridge port must send a frame back out the port it came in on (with br_netfilter loaded, DNAT to a pod on
    the same bridge is bridged, not routed)."""
    pod = sorted(web)[0]
    uid = svc_cluster.kubectl_json("-n", NS, "get", "pod", pod)["metadata"]["uid"]
    port = subprocess.run(["bridge", "-d", "link", "show", "dev", veth_name(uid)], capture_output=True,
                          text=True).stdout
    assert "hairpin on" in port, port
    ip = _cluster_ip(svc_cluster, "web")
    got = Counter(svc_cluster.exec_fetch(pod, f"http://{ip}/", 30))
    assert set(got) == set(web), got


def test_nodeport_on_the_node_address_from_node_and_pod(svc_cluster: Services, web: dict[str, str]) -> None:
    svc = svc_cluster.service("np")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert 29700 <= node_port <= 29799
    # the node's address pods and the node share: the bridge gateway, first address of the node's podCIDR
    cidr = svc_cluster.kubectl_json("get", "node", NODE)["spec"]["podCIDR"]
    gateway = str(ipaddress.ip_network(cidr).network_address + 1)
    _programmed(svc_cluster, f"tcp . {node_port}")
    assert set(names_from_node(f"http://{gateway}:{node_port}/", 30)) == set(web)
    assert set(svc_cluster.exec_fetch(CLIENT, f"http://{gateway}:{node_port}/", 30)) == set(web)


def test_session_affinity_keeps_a_client_on_one_pod(svc_cluster: Services, web: dict[str, str]) -> None:
    ip = _cluster_ip(svc_cluster, "sticky")
    _programmed(svc_cluster, f"{ip} . tcp . 80")
    from_node = set(names_from_node(f"http://{ip}/", 30))
    assert len(from_node) == 1 and from_node <= set(web)
    from_pod = set(svc_cluster.exec_fetch(CLIENT, f"http://{ip}/", 30))
    assert len(from_pod) == 1 and from_pod <= set(web)


def test_udp_echo_reaches_all_three(svc_cluster: Services, web: dict[str, str]) -> None:
    ip = _cluster_ip(svc_cluster, "echo")
    _programmed(svc_cluster, f"{ip} . udp . 80")
    answers = [udp_ask(ip, 80, b"q%d" % i) for i in range(60)]  # a new socket each: a new flow each
    assert {a.split(":")[0] for a in answers} == set(web)
    assert all(a.endswith(f":q{i}") for i, a in enumerate(answers))


def test_not_ready_pod_gets_no_new_connections_and_its_udp_flows_are_flushed(svc_cluster: Services,
                                                                               web: dict[str, str]) -> None:
    if shutil.which("conntrack") is None:
        pytest.skip("the conntrack tool is missing: stale UDP entries cannot be flushed (Debian package conntrack)")
    ip, echo_ip = _cluster_ip(svc_cluster, "web"), _cluster_ip(svc_cluster, "echo")
    flow = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # one source port: one conntrack entry throughout
    victim = udp_ask(echo_ip, 80, b"hello", flow).split(":")[0]
    try:
        assert all(udp_ask(echo_ip, 80, b"again", flow).startswith(victim + ":") for _ in range(3))  # same flow
        get(f"http://{web[victim]}:{PORT}/down")  # its readiness probe fails from now on
        wait_for("the endpoint not ready", lambda: web[victim] not in svc_cluster.ready_endpoints("web"))
        wait_for("its rules gone", lambda: f"dnat to {web[victim]}:{PORT}" not in svc_cluster.ruleset())
        got = Counter(names_from_node(f"http://{ip}/", 60))
        assert set(got) == set(web) - {victim}, got
        # the conntrack entry of this flow pointed at the victim: flushed, so the flow moves to a ready pod
        answer = wait_for("the UDP flow to leave the victim",
                          lambda: (lambda a: a if not a.startswith(victim + ":") else None)(
                              udp_ask(echo_ip, 80, b"moved", flow)), timeout=20)
        assert answer.split(":")[0] in set(web) - {victim}
    finally:
        flow.close()
        get(f"http://{web[victim]}:{PORT}/up")
    wait_for("the endpoint ready again", lambda: svc_cluster.ready_endpoints("web") == set(web.values()))


def test_service_without_endpoints_refuses_at_once(svc_cluster: Services, web: dict[str, str]) -> None:
    ip = _cluster_ip(svc_cluster, "nobody")
    _programmed(svc_cluster, f"{ip} . tcp . 80 : goto reject-chain")
    for _ in range(3):
        t0 = time.monotonic()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((ip, 80), timeout=5).close()
        assert time.monotonic() - t0 < 1.0  # a reset, not a timeout
    assert set(svc_cluster.exec_fetch(CLIENT, f"http://{ip}/", 3)) == {"ConnectionRefusedError"}


def test_ruleset_follows_scale_down_and_service_deletion(svc_cluster: Services, web: dict[str, str]) -> None:
    ip = _cluster_ip(svc_cluster, "web")
    svc_cluster.kubectl("-n", NS, "scale", "deployment/web", "--replicas=2")
    wait_for("two pods", lambda: len(svc_cluster.pods()) == 2, timeout=60)
    left = {p["status"]["podIP"] for p in svc_cluster.pods()}
    (gone,) = set(web.values()) - left
    wait_for("the gone pod's rules removed", lambda: f"dnat to {gone}:{PORT}" not in svc_cluster.ruleset())
    table = svc_cluster.ruleset()
    assert all(f"dnat to {pod_ip}:{PORT}" in table for pod_ip in left)
    assert set(names_from_node(f"http://{ip}/", 30)) == {n for n, a in web.items() if a in left}
    svc_cluster.kubectl("-n", NS, "delete", "svc", "web")
    wait_for("the deleted Service's address gone", lambda: f"{ip} . tcp . 80" not in svc_cluster.ruleset())
    assert "service-" in svc_cluster.ruleset()  # the other Services are still programmed

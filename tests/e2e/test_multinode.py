"""A cluster of four machines on one (root only): `kybernetes server` on the host and three `kybernetes agent`
workers, each in a network namespace of its own that this test makes (a veth to a test bridge in
198.18.253.0/24, whose host end the apiserver advertises), joined with a bootstrap token.

Four Ready nodes; a Deployment of 6 HTTP servers spread over the three workers (topology spread on the hostname,
a nodeSelector on the workers' label); its ClusterIP Service reaches the pods of every worker from the host and
from a pod (the bridge pod network's host-gw routes between nodes, the nftables proxy on every node); `kill -9`
of one worker's agent and its kubelet makes the node NotReady, its pods are evicted (their
node.kubernetes.io/unreachable toleration is short) and replaced on the two others, the Deployment back at 6
available.

Everything this test makes goes with it: the agents' and the server's processes (by PID), the containers and
pod networks of every node (`kybernetes killall` inside each namespace), the namespaces, links and routes.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from kybernetes.kubelet.network.routes import ROUTE_PROTO
from kybernetes.proxy.nftables.ruleset import table_name
from tests.netns import NodeNetworks, sh
from tests.conftest import Cluster, free_cluster_cidr, free_port, start_server_process, stop_cluster, wait_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300), pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("ip", "nft", "nsenter", "kubectl")),
    reason="nodes in network namespaces need root, iproute2, nft, nsenter (and kubectl)")]

PY = sys.executable
HOST_IP = "198.18.253.1"  # the test bridge's host end: the apiserver advertises it, the server's node uses it
WORKERS = {"mn-worker-1": "198.18.253.11", "mn-worker-2": "198.18.253.12", "mn-worker-3": "198.18.253.13"}
CONTROL_PLANE = "mn-control-plane"
SERVICE_CIDR = "198.19.176.0/24"  # inside 198.18.0.0/15, apart from the ranges other test clusters use
NODE_PORTS = "29850-29899"
WORKER_LABEL = ("kybernetes.test/multinode", "worker")
APP = "mn-web"
PORT = 8080
GRACE = 16  # --node-monitor-grace-period: above the kubelet's 10 s lease renewal, with room for a loaded machine
SERVER = (
    "import http.server, socket\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = socket.gethostname().encode()\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def log_message(self, *a): pass\n"
    f"http.server.ThreadingHTTPServer(('0.0.0.0', {PORT}), H).serve_forever()\n"
)
# GET a URL until every expected name answered (or `tries` ran out): the answers (or error names) counted, as JSON
FETCH = """
import collections, json, sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
want, seen = set(sys.argv[3].split(",")), collections.Counter()
for _ in range(int(sys.argv[2])):
    try:
        seen[opener.open(sys.argv[1], timeout=3).read().decode()] += 1
    except OSError as e:
        seen[type(getattr(e, "reason", e)).__name__] += 1
    if want <= set(seen):
        break
print(json.dumps(seen))
"""


def wait_for(what: str, fn: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (OSError, AssertionError, subprocess.SubprocessError, ValueError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


@dataclass
class MultiNode(Cluster):
    machines: NodeNetworks = field(default_factory=lambda: NodeNetworks("kybm", HOST_IP, WORKERS))
    base: str = ""
    cluster_cidr: str = ""
    agents: dict[str, subprocess.Popen] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"https://{HOST_IP}:{self.port}"

    def agent_dir(self, node: str) -> str:
        return os.path.join(self.base, node)

    def start_agent(self, node: str, token: str, ca_hash: str) -> None:
        """`kybernetes agent` inside the node's namespace (nsenter --net only: the mount namespace stays the
        host's, so the pods' namespaces it makes are in /run/netns here). No --node-ip: the agent takes its
        address toward --server, the namespace's own."""
        os.makedirs(self.agent_dir(node), exist_ok=True)
        log = open(os.path.join(self.agent_dir(node), "agent.log"), "ab")
        self.agents[node] = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.machines.netns(node)}", PY, "-m", "kybernetes", "agent",
             "--server", self.api, "--token", token, "--ca-cert-hash", ca_hash, "--data-dir", self.agent_dir(node),
             "--node-name", node, "--node-labels", "=".join(WORKER_LABEL), "--pod-network", "bridge",
             "--proxy-mode", "nftables", "--cluster-cidr", self.cluster_cidr, "--service-cidr", SERVICE_CIDR],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def logs(self, lines: int = 30) -> str:
        out = []
        for node in WORKERS:
            path = os.path.join(self.agent_dir(node), "agent.log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    out.append(f"--- {node}\n" + "".join(f.readlines()[-lines:]))
        return "\n".join(out)

    def nodes(self) -> dict[str, dict]:
        return {n["metadata"]["name"]: n for n in self.kubectl_json("get", "nodes")["items"]}

    def pods(self) -> list[dict]:
        """The Deployment's pods that are not being deleted."""
        return [p for p in self.kubectl_json("get", "pods", "-l", f"app={APP}")["items"]
                if not p["metadata"].get("deletionTimestamp")]

    def fetch(self, argv_prefix: list[str], url: str, names: set[str], tries: int = 200) -> Counter:
        res = subprocess.run([*argv_prefix, PY, "-c", FETCH, url, str(tries), ",".join(sorted(names))],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        return Counter(json.loads(res.stdout))


def ready(obj: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj["status"].get("conditions") or [])


def process_children(pid: int) -> list[int]:
    """The PIDs whose parent is `pid` (from /proc: only the processes this test started are looked at)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry))
    return out


def kill_node(agent: subprocess.Popen) -> list[int]:
    """kill -9 of an agent and its children (kubelet and proxy): stopped first, so its supervisor restarts
    nothing and its children get no parent-death signal to clean up on. The pods' processes stay, as on a
    machine cut off from the cluster. Returns the PIDs killed."""
    os.kill(agent.pid, signal.SIGSTOP)
    children = process_children(agent.pid)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    os.kill(agent.pid, signal.SIGKILL)
    agent.wait(10)
    return [agent.pid, *children]


def stop_agent(agent: subprocess.Popen) -> None:
    """SIGTERM: the agent stops its kubelet and proxy (which removes its nft table) and exits."""
    if agent.poll() is None:
        agent.terminate()
        try:
            agent.wait(20)
        except subprocess.TimeoutExpired:
            for pid in process_children(agent.pid):
                os.kill(pid, signal.SIGKILL)
            agent.kill()
            agent.wait(10)


def deployment(replicas: int) -> dict:
    container = {"name": "web", "image": "python:3", "command": [PY, "-c", SERVER],
                 "ports": [{"name": "web", "containerPort": PORT}],
                 "readinessProbe": {"httpGet": {"path": "/", "port": PORT}, "periodSeconds": 1}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": APP}}, "template": {
                "metadata": {"labels": {"app": APP}},
                "spec": {
                    "terminationGracePeriodSeconds": 1, "containers": [container],
                    "nodeSelector": dict([WORKER_LABEL]),
                    # two per worker; a tainted (unreachable) node leaves the count (Honor), or the two survivors
                    # could not take the dead node's pods without exceeding the skew
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
                        "labelSelector": {"matchLabels": {"app": APP}}, "nodeTaintsPolicy": "Honor"}],
                    # evicted 2 s after their node is found unreachable (upstream's default is 300 s)
                    "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                     "effect": "NoExecute", "tolerationSeconds": 2}]}}}}


def service() -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": APP, "namespace": "default"},
            "spec": {"selector": {"app": APP}, "ports": [{"port": 80, "targetPort": "web"}]}}


def _route_net(line: str) -> ipaddress.IPv4Network:
    """The destination of an `ip -o route` line (0.0.0.0/32 for the default route and what is not IPv4)."""
    words = line.split()
    dest = words[1] if words[0] in ("blackhole", "local", "broadcast", "unreachable", "prohibit") else words[0]
    try:
        return ipaddress.IPv4Network("0.0.0.0/32" if dest == "default" else dest, strict=False)
    except ValueError:
        return ipaddress.IPv4Network("0.0.0.0/32")


@pytest.fixture
def multinode(tmp_path) -> Iterator[MultiNode]:
    machines = NodeNetworks("kybm", HOST_IP, WORKERS)
    data_dir = str(tmp_path / "server")
    port = free_port()
    log_path = str(tmp_path / "server.log")
    cluster_cidr = free_cluster_cidr()  # a /22: a /24 for each of the four nodes
    proc = None
    c = None
    try:
        machines.make()
        proc = start_server_process(
            data_dir, port, log_path, "--bind-address", "0.0.0.0", "--advertise-address", HOST_IP,
            "--node-name", CONTROL_PLANE, "--pod-network", "bridge", "--proxy-mode", "nftables",
            "--cluster-cidr", cluster_cidr, "--service-cluster-ip-range", SERVICE_CIDR,
            "--service-node-port-range", NODE_PORTS, "--disable", "dns",
            "--node-monitor-grace-period", str(GRACE))
        c = MultiNode(proc, data_dir, port, os.path.join(data_dir, "admin.kubeconfig"), log_path, machines=machines,
                      base=str(tmp_path), cluster_cidr=cluster_cidr)
        wait_ready(port, proc, timeout=90)
        yield c
    finally:
        try:
            for agent in (c.agents.values() if c else []):
                stop_agent(agent)
            for node in WORKERS:  # each node's containers and pod network (pods' namespaces, bridge, table, routes)
                sh("nsenter", f"--net=/run/netns/{machines.netns(node)}", PY, "-m", "kybernetes", "killall",
                   "--data-dir", str(tmp_path / node), check=False)
        finally:
            if proc is not None:
                stop_cluster(proc, data_dir)  # its containers, bridge, nft tables, host-gw routes and pins
            machines.remove()
    assert not [n for n in sh("ip", "netns", "list").split() if n.startswith(f"kybm-{machines.tag}")]
    # a namespace's links go once the kernel has dismantled it, shortly after `ip netns del`
    wait_for("the test's links gone", lambda: machines.bridge not in sh("ip", "-o", "link", "show"), timeout=30)
    assert "198.18.253." not in sh("ip", "route", "show", "proto", ROUTE_PROTO)
    ours = [ipaddress.ip_network(cluster_cidr), ipaddress.ip_network(SERVICE_CIDR)]
    left = [line for line in sh("ip", "-o", "route", "show", "table", "all").splitlines()
            if any(_route_net(line).subnet_of(n) for n in ours)]
    assert not left, left  # the server's pins and host-gw routes
    assert table_name(SERVICE_CIDR) not in sh("nft", "list", "tables")


def test_three_workers_join_spread_serve_and_survive_a_lost_node(multinode: MultiNode) -> None:
    c = multinode
    # join: one token, three agents at once, each from its own namespace
    created = subprocess.run([PY, "-m", "kybernetes", "token", "create", "--data-dir", c.data_dir, "--ttl", "1h"],
                             capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    token, ca_hash = created.stdout.split()
    assert f"--server {c.api}" in created.stderr  # cluster-info names the advertised address
    t0 = time.monotonic()
    for node in WORKERS:
        c.start_agent(node, token, ca_hash)

    def four_ready() -> dict[str, dict] | None:
        nodes = c.nodes()
        for node, agent in c.agents.items():
            if agent.poll() is not None:  # not retried: fails at once
                raise RuntimeError(f"the agent of {node} exited with {agent.returncode}\n{c.logs()}")
        ok = set(nodes) == {CONTROL_PLANE, *WORKERS} and all(ready(n) and n["spec"].get("podCIDR")
                                                                for n in nodes.values())
        return nodes if ok else None

    try:
        nodes = wait_for("four Ready nodes with their podCIDRs", four_ready, timeout=90)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{c.logs()}") from None
    c.timings["join: 3 agents started -> 4 nodes Ready"] = time.monotonic() - t0
    table = c.kubectl("get", "nodes").stdout
    assert table.count(" Ready ") == 4, table
    for node, ip in WORKERS.items():  # each worker is its namespace's address, with a podCIDR of the cluster's
        addresses = {a["type"]: a["address"] for a in nodes[node]["status"]["addresses"]}
        assert addresses["InternalIP"] == ip, addresses
        assert nodes[node]["metadata"]["labels"].get(WORKER_LABEL[0]) == WORKER_LABEL[1]
    assert len({n["spec"]["podCIDR"] for n in nodes.values()}) == 4
    csrs = c.kubectl_json("get", "csr")["items"]
    assert {c_["spec"]["username"] for c_ in csrs} >= {f"system:node:{n}" for n in WORKERS}
    assert all(c_["status"].get("certificate") for c_ in csrs)

    # the workers untainted (the pod network up on each) before anything is spread over them
    wait_for("workers without taints", lambda: not any(c.nodes()[n]["spec"].get("taints") for n in WORKERS), 60)

    # 6 replicas, two on each worker
    t0 = time.monotonic()
    c.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                    "items": [deployment(6), service()]}))

    def six_ready() -> list[dict] | None:
        pods = c.pods()
        return pods if len(pods) == 6 and all(map(ready, pods)) else None

    try:
        pods = wait_for("six Ready pods", six_ready, timeout=120)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{c.kubectl('get', 'pods', '-o', 'wide').stdout}\n{c.logs()}") from None
    c.timings["Deployment of 6 -> 6 Ready"] = time.monotonic() - t0
    per_node = Counter(p["spec"]["nodeName"] for p in pods)
    assert per_node == {n: 2 for n in WORKERS}, per_node
    assert all(p["status"]["hostIP"] == WORKERS[p["spec"]["nodeName"]] for p in pods)
    names = {p["metadata"]["name"] for p in pods}

    # every node routes the others' podCIDRs via their addresses (host-gw, from the kubelet's watch of Nodes)
    via = {n["spec"]["podCIDR"]: {a["type"]: a["address"] for a in n["status"]["addresses"]}["InternalIP"]
           for n in nodes.values()}

    def routes_everywhere() -> bool:
        for node in [CONTROL_PLANE, *WORKERS]:
            prefix = ["ip"] if node == CONTROL_PLANE else ["ip", "-n", c.machines.netns(node)]
            have = sh(*prefix, "route", "show", "proto", ROUTE_PROTO)
            own = nodes[node]["spec"]["podCIDR"]
            if not all(f"{cidr} via {ip} " in have for cidr, ip in via.items() if cidr != own):
                return False
        return True

    wait_for("host-gw routes on every node", routes_everywhere, timeout=30)

    # the Service reaches the pods of every worker: from the host (the server's node) and from a pod
    ip = c.kubectl_json("get", "service", APP)["spec"]["clusterIP"]
    wait_for("six endpoints", lambda: len([e for s in c.kubectl_json("get", "endpointslices", "-l",
                                                                    f"kubernetes.io/service-name={APP}")["items"]
                                           for e in s.get("endpoints") or []
                                           if (e.get("conditions") or {}).get("ready")]) == 6, timeout=30)
    t0 = time.monotonic()
    got = wait_for("every pod answering the ClusterIP from the host",
                   lambda: (lambda g: g if set(g) == names else None)(c.fetch([], f"http://{ip}/", names)), 30)
    assert set(got) == names, got  # every answer a pod's hostname: none failed
    client = sorted(pods, key=lambda p: p["metadata"]["name"])[0]
    exec_prefix = ["kubectl", "--kubeconfig", c.kubeconfig, "exec", client["metadata"]["name"], "--"]
    got = wait_for("every pod answering the ClusterIP from a pod",
                   lambda: (lambda g: g if set(g) == names else None)(c.fetch(exec_prefix, f"http://{ip}/", names)),
                   30)
    assert set(got) == names, got
    c.timings["Service: every pod seen from host and pod"] = time.monotonic() - t0

    # a worker lost: kill -9 of its agent and kubelet; its pods are replaced on the other two
    lost = "mn-worker-3"
    on_lost = {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == lost}
    t0 = time.monotonic()
    kill_node(c.agents[lost])
    wait_for(f"{lost} NotReady", lambda: not ready(c.nodes()[lost]), timeout=GRACE + 30)
    c.timings["worker killed -> NotReady"] = time.monotonic() - t0

    def replaced() -> list[dict] | None:
        pods = c.pods()
        evicted = "worker killed -> its pods evicted"
        if evicted not in c.timings and on_lost.isdisjoint(p["metadata"]["name"] for p in pods):
            c.timings[evicted] = time.monotonic() - t0
        dep = c.kubectl_json("get", "deployment", APP)
        ok = (len(pods) == 6 and all(map(ready, pods)) and lost not in {p["spec"]["nodeName"] for p in pods}
              and dep["status"].get("availableReplicas") == 6)
        return pods if ok else None

    try:
        pods = wait_for("6 available pods on the two remaining workers", replaced, timeout=90)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{c.kubectl('get', 'pods', '-o', 'wide').stdout}") from None
    c.timings["worker killed -> Deployment 6 available again"] = time.monotonic() - t0
    per_node = Counter(p["spec"]["nodeName"] for p in pods)
    assert per_node == {"mn-worker-1": 3, "mn-worker-2": 3}, per_node
    assert names - {p["metadata"]["name"] for p in pods} == on_lost  # the lost node's two replaced, only those

    # the Service follows: every live pod answers, none of the lost node's (still running there, but not ready)
    names = {p["metadata"]["name"] for p in pods}
    got = wait_for("the live pods answering, and only they",
                   lambda: (lambda g: g if set(g) == names else None)(c.fetch([], f"http://{ip}/", names, 60)), 30)
    assert set(got) == names, got
    print("\nmulti-node timings (s): " + ", ".join(f"{k}: {v:.1f}" for k, v in c.timings.items()))

"""The lifecycle controllers against a real in-process apiserver: endpoints, GC, namespaces, nodes, defaults, PodGC."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kybernetes.api import meta
from kybernetes.client import ApiError, RESTClient, SharedInformerFactory, load_kubeconfig, resource_path
from kybernetes.controllers.context import ControllerContext, ControllerOptions

Obj = dict[str, Any]


class ListRecorder:
    """Keeps events in memory: (component, reason, message, involved object name)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []

    def __call__(self, component: str) -> Any:
        outer = self

        class _R:
            def event(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
                outer.events.append((component, reason, message, (obj.get("metadata") or {}).get("name", "")))
        return _R()


class Harness:
    def __init__(self, server: Any, options: ControllerOptions) -> None:
        self.client = RESTClient(load_kubeconfig(server.kubeconfig_path))
        self.options = options
        self.recorder = ListRecorder()
        self.tasks: list[asyncio.Task[None]] = []
        self.factories: list[SharedInformerFactory] = []

    def start(self, *modules: str) -> list[Any]:
        """A fresh context (own informers) running the controllers of `modules`."""
        factory = SharedInformerFactory(self.client)
        self.factories.append(factory)
        ctx = ControllerContext(self.client, factory, self.recorder, self.options)
        controllers = [importlib.import_module(f"kybernetes.controllers.{m}").CONTROLLER(ctx) for m in modules]
        factory.start()
        self.tasks += [asyncio.create_task(c.run(2)) for c in controllers]
        return controllers

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        if self.tasks:  # a controller that ignores cancellation fails the test instead of hanging it
            _, pending = await asyncio.wait(self.tasks, timeout=20)
            assert not pending, f"controllers still running 20 s after cancel: {pending}"
        self.tasks.clear()
        for f in self.factories:
            await asyncio.wait_for(f.shutdown(), 20)
        self.factories.clear()

    async def create(self, group: str, version: str, plural: str, body: Obj, namespace: str | None = None) -> Obj:
        return await self.client.create(resource_path(group, version, plural, namespace), body)

    async def get(self, group: str, version: str, plural: str, name: str, namespace: str | None = None
                  ) -> Obj | None:
        try:
            return await self.client.get(resource_path(group, version, plural, namespace, name))
        except ApiError as e:
            if e.not_found:
                return None
            raise


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    """Poll `check` until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met in {timeout}s (last: {last!r})")


@pytest.fixture
async def harness(apiserver) -> AsyncIterator[Harness]:
    opts = ControllerOptions(node_monitor_period=0.3, node_monitor_grace_period=1.5, node_startup_grace_period=1.5,
                             node_eviction_rate=10.0, root_ca_file=apiserver.config.client_ca_file,
                             extra={"podgc_period": 0.2, "podgc_quarantine": 0.0, "gc_discovery_period": 1.0})
    h = Harness(apiserver, opts)
    try:
        yield h
    finally:
        await h.stop()
        await h.client.close()


def pod(name: str, labels: Obj | None = None, node: str | None = None, **spec: Any) -> Obj:
    body: Obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
                 "spec": {"containers": [{"name": "c", "image": "busybox",
                                          "ports": [{"name": "web", "containerPort": 8080}]}], **spec}}
    if node:
        body["spec"]["nodeName"] = node
    return body


def node(name: str, ready: bool = True) -> Obj:
    now = meta.now_rfc3339()
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "KubeletReady",
                                       "lastHeartbeatTime": now, "lastTransitionTime": now}]}}


async def set_pod_status(h: Harness, name: str, ip: str, ready: bool) -> None:
    await h.client.patch(resource_path("", "v1", "pods", "default", name, "status"), {"status": {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}, "strategic")


async def test_endpoints_and_slices_follow_pod_readiness(harness: Harness) -> None:
    h = harness
    h.start("endpoints", "endpointslice")
    await h.create("", "v1", "services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                                           "spec": {"selector": {"app": "web"},
                                                    "ports": [{"name": "http", "port": 80, "targetPort": "web"}]}},
                   "default")
    await h.create("", "v1", "pods", pod("web-1", {"app": "web"}), "default")
    await set_pod_status(h, "web-1", "198.18.0.5", ready=False)

    async def not_ready() -> Any:
        ep = await h.get("", "v1", "endpoints", "web", "default")
        subsets = (ep or {}).get("subsets") or []
        return subsets and subsets[0].get("notReadyAddresses") and not subsets[0].get("addresses") and ep
    ep = await eventually(not_ready)
    assert ep["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert "endpoints.kubernetes.io/last-change-trigger-time" in ep["metadata"]["annotations"]

    await set_pod_status(h, "web-1", "198.18.0.5", ready=True)

    async def ready() -> Any:
        ep = await h.get("", "v1", "endpoints", "web", "default")
        subsets = (ep or {}).get("subsets") or []
        return subsets and subsets[0].get("addresses") and subsets[0]
    subset = await eventually(ready)
    assert subset["addresses"][0]["ip"] == "198.18.0.5"
    assert subset["addresses"][0]["targetRef"]["name"] == "web-1"

    async def slice_ready() -> Any:
        lst = await h.client.list(resource_path("discovery.k8s.io", "v1", "endpointslices", "default"),
                                  {"labelSelector": "kubernetes.io/service-name=web"})
        items = lst.get("items") or []
        return len(items) == 1 and items[0].get("endpoints") and \
            items[0]["endpoints"][0]["conditions"].get("ready") and items[0]
    es = await eventually(slice_ready)
    assert es["addressType"] == "IPv4"
    assert es["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert es["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
    assert es["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert es["endpoints"][0]["conditions"] == {"ready": True, "serving": True, "terminating": False}
    # the kubernetes Service's Endpoints are the apiserver's, untouched
    kube = await h.get("", "v1", "endpoints", "kubernetes", "default")
    assert kube["metadata"]["labels"] == {"endpointslice.kubernetes.io/skip-mirror": "true"}


async def test_endpointslice_mirroring(harness: Harness) -> None:
    h = harness
    h.start("endpointslicemirroring")
    await h.create("", "v1", "services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                                           "spec": {"ports": [{"port": 53, "protocol": "UDP"}]}}, "default")
    await h.create("", "v1", "endpoints", {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ext"},
                                            "subsets": [{"addresses": [{"ip": "198.18.9.9"}],
                                                         "ports": [{"port": 53, "protocol": "UDP"}]}]}, "default")

    async def mirrored() -> Any:
        lst = await h.client.list(resource_path("discovery.k8s.io", "v1", "endpointslices", "default"),
                                  {"labelSelector": "kubernetes.io/service-name=ext"})
        return lst.get("items")
    items = await eventually(mirrored)
    assert len(items) == 1
    assert items[0]["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
        "endpointslicemirroring-controller.k8s.io"
    assert items[0]["endpoints"][0]["addresses"] == ["198.18.9.9"]
    assert items[0]["metadata"]["ownerReferences"][0]["kind"] == "Endpoints"


def configmap(name: str, owner: Obj | None = None, block: bool = False) -> Obj:
    md: Obj = {"name": name}
    if owner is not None:
        md["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
                                  "uid": owner["metadata"]["uid"], "blockOwnerDeletion": block}]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": {}}


async def _owner_and_dependent(h: Harness, prefix: str, block: bool = False) -> tuple[Obj, Obj]:
    owner = await h.create("", "v1", "configmaps", configmap(f"{prefix}-owner"), "default")
    dep = await h.create("", "v1", "configmaps", configmap(f"{prefix}-dep", owner, block), "default")
    return owner, dep


@pytest.mark.parametrize("policy", ["Background", "Foreground", "Orphan"])
async def test_garbage_collector_propagation(harness: Harness, policy: str) -> None:
    h = harness
    h.start("garbagecollector")
    owner, dep = await _owner_and_dependent(h, policy.lower(), block=True)
    await asyncio.sleep(0.5)  # let the graph see both
    await h.client.delete(resource_path("", "v1", "configmaps", "default", owner["metadata"]["name"]),
                          body={"propagationPolicy": policy})

    async def owner_gone() -> bool:
        return await h.get("", "v1", "configmaps", owner["metadata"]["name"], "default") is None
    await eventually(owner_gone)
    if policy == "Orphan":
        await asyncio.sleep(0.5)
        left = await h.get("", "v1", "configmaps", dep["metadata"]["name"], "default")
        assert left is not None and not left["metadata"].get("ownerReferences")
    else:
        async def dep_gone() -> bool:
            return await h.get("", "v1", "configmaps", dep["metadata"]["name"], "default") is None
        await eventually(dep_gone)


async def test_garbage_collector_across_restart(harness: Harness) -> None:
    h = harness
    h.start("garbagecollector")
    owner, dep = await _owner_and_dependent(h, "restart")
    await asyncio.sleep(0.3)
    await h.stop()
    await h.client.delete(resource_path("", "v1", "configmaps", "default", owner["metadata"]["name"]),
                          body=None)
    assert await h.get("", "v1", "configmaps", dep["metadata"]["name"], "default") is not None
    h.start("garbagecollector")

    async def dep_gone() -> bool:
        return await h.get("", "v1", "configmaps", dep["metadata"]["name"], "default") is None
    await eventually(dep_gone)


CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.example.com"},
       "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [{"name": "v1", "served": True, "storage": True,
                              "schema": {"openAPIV3Schema": {"type": "object",
                                                             "x-kubernetes-preserve-unknown-fields": True}}}]}}


async def test_namespace_is_emptied_and_removed(harness: Harness) -> None:
    h = harness
    await h.create("apiextensions.k8s.io", "v1", "customresourcedefinitions", CRD)

    async def crd_served() -> bool:
        try:
            await h.client.list(resource_path("example.com", "v1", "widgets"))
            return True
        except ApiError:
            return False
    await eventually(crd_served)
    await h.create("", "v1", "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}})
    await h.create("", "v1", "configmaps", configmap("cm"), "doomed")
    await h.create("", "v1", "pods", pod("p"), "doomed")
    await h.create("example.com", "v1", "widgets", {"apiVersion": "example.com/v1", "kind": "Widget",
                                                    "metadata": {"name": "w"}}, "doomed")
    h.start("namespace")
    await h.client.delete(resource_path("", "v1", "namespaces", name="doomed"))

    async def ns_gone() -> bool:
        return await h.get("", "v1", "namespaces", "doomed") is None
    await eventually(ns_gone, timeout=20)
    assert await h.get("example.com", "v1", "widgets", "w", "doomed") is None


async def test_namespace_reports_finalizers_remaining(harness: Harness) -> None:
    h = harness
    await h.create("", "v1", "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "held"}})
    cm = configmap("stuck")
    cm["metadata"]["finalizers"] = ["example.com/hold"]
    await h.create("", "v1", "configmaps", cm, "held")
    h.start("namespace")
    await h.client.delete(resource_path("", "v1", "namespaces", name="held"))

    async def conditions() -> Any:
        ns = await h.get("", "v1", "namespaces", "held")
        conds = {c["type"]: c for c in (ns or {}).get("status", {}).get("conditions") or []}
        return conds.get("NamespaceFinalizersRemaining", {}).get("status") == "True" and conds
    conds = await eventually(conditions)
    assert conds["NamespaceFinalizersRemaining"]["message"] == \
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    assert conds["NamespaceContentRemaining"]["message"] == \
        "Some resources are remaining: configmaps has 1 resource instances"
    assert conds["NamespaceDeletionDiscoveryFailure"]["status"] == "False"
    await h.client.patch(resource_path("", "v1", "configmaps", "held", "stuck"), {"metadata": {"finalizers": None}})

    async def ns_gone() -> bool:
        return await h.get("", "v1", "namespaces", "held") is None
    await eventually(ns_gone, timeout=20)


def lease(name: str) -> Obj:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": meta.now_micro()}}


async def keep_renewing(h: Harness, name: str) -> None:
    """A stand-in kubelet: renews the node's Lease every 0.2 s."""
    while True:
        await h.client.patch(resource_path("coordination.k8s.io", "v1", "leases", "kube-node-lease", name),
                             {"spec": {"renewTime": meta.now_micro()}})
        await asyncio.sleep(0.2)


async def test_silent_node_gets_unknown_taints_and_evictions(harness: Harness) -> None:
    h = harness
    for name in ("n1", "healthy"):  # one live node keeps the zone out of full disruption
        await h.create("", "v1", "nodes", node(name))
        await h.create("coordination.k8s.io", "v1", "leases", lease(name), "kube-node-lease")
    renewer = asyncio.create_task(keep_renewing(h, "healthy"))
    h.tasks.append(renewer)
    tolerate = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 1},
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 1}]
    await h.create("", "v1", "pods", pod("victim", node="n1", tolerations=tolerate), "default")
    h.start("nodelifecycle")

    async def unknown() -> Any:
        n = await h.get("", "v1", "nodes", "n1")
        ready = next(c for c in n["status"]["conditions"] if c["type"] == "Ready")
        return ready["status"] == "Unknown" and n
    n = await eventually(unknown)
    ready = next(c for c in n["status"]["conditions"] if c["type"] == "Ready")
    assert ready["message"] == "Kubelet stopped posting node status."

    async def tainted() -> Any:
        n = await h.get("", "v1", "nodes", "n1")
        taints = {(t["key"], t["effect"]) for t in n.get("spec", {}).get("taints") or []}
        return {("node.kubernetes.io/unreachable", "NoSchedule"),
                ("node.kubernetes.io/unreachable", "NoExecute")} <= taints
    await eventually(tainted)

    async def evicted() -> bool:
        p = await h.get("", "v1", "pods", "victim", "default")
        return p is None or bool(p["metadata"].get("deletionTimestamp"))
    await eventually(evicted)
    assert any(reason == "TaintManagerEviction" for _, reason, _, _ in h.recorder.events)
    assert ("node-controller", "NodeNotReady", "Node n1 status is now: NodeNotReady", "n1") in h.recorder.events
    healthy = await h.get("", "v1", "nodes", "healthy")
    assert next(c for c in healthy["status"]["conditions"] if c["type"] == "Ready")["status"] == "True"
    assert not healthy.get("spec", {}).get("taints")


async def test_taint_eviction_rerun_on_a_stale_cache_leaves_the_pod_terminating(harness: Harness) -> None:
    """A second eviction pass that still sees the pod without its deletionTimestamp repeats only the delete:
    the pod stays Terminating (its kubelet is gone), it is not removed outright by a status write."""
    h = harness
    for name in ("dead", "healthy"):  # one live node keeps the zone out of full disruption
        await h.create("", "v1", "nodes", node(name))
        await h.create("coordination.k8s.io", "v1", "leases", lease(name), "kube-node-lease")
    h.tasks.append(asyncio.create_task(keep_renewing(h, "healthy")))
    no_patience = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                    "tolerationSeconds": 0}]  # else DefaultTolerationSeconds gives it 300 s
    await h.create("", "v1", "pods", pod("victim", node="dead", tolerations=no_patience), "default")
    await set_pod_status(h, "victim", "198.18.0.9", ready=True)
    ctl, = h.start("nodelifecycle")
    await eventually(lambda: _cached(ctl, "victim", "198.18.0.9"))
    evicted = await eventually(lambda: _terminating(h, "victim"), timeout=30)
    stale = await h.get("", "v1", "pods", "victim", "default")
    assert stale is not None
    stale["metadata"].pop("deletionTimestamp")
    ctl.pods.apply("MODIFIED", stale)  # the cache has not seen the delete yet
    await ctl.reconcile_pod("default/victim")
    after = await h.get("", "v1", "pods", "victim", "default")
    assert after is not None and after["metadata"]["deletionTimestamp"] == evicted["metadata"]["deletionTimestamp"]
    conds = [c for c in after["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert [c["reason"] for c in conds] == ["DeletionByTaintManager"]
    assert [r for _, r, _, name in h.recorder.events if name == "victim"] == ["TaintManagerEviction"]


async def _cached(ctl: Any, name: str, ip: str) -> bool:
    p = ctl.pods.store.get(name, "default")
    return bool(p and (p.get("status") or {}).get("podIP") == ip)


async def _terminating(h: Harness, name: str) -> Obj | None:
    p = await h.get("", "v1", "pods", name, "default")
    return p if p and p["metadata"].get("deletionTimestamp") else None


async def test_each_node_gets_a_pod_cidr(harness: Harness) -> None:
    h = harness
    await h.create("", "v1", "nodes", node("a"))
    h.start("nodeipam")
    await h.create("", "v1", "nodes", node("b"))

    async def cidrs() -> Any:
        got = [((await h.get("", "v1", "nodes", n)) or {}).get("spec", {}).get("podCIDR") for n in ("a", "b")]
        return all(got) and got
    got = await eventually(cidrs)
    assert len(set(got)) == 2
    assert all(c.startswith("198.18.") and c.endswith("/24") for c in got)
    b = await h.get("", "v1", "nodes", "b")
    assert b["spec"]["podCIDRs"] == [b["spec"]["podCIDR"]]


async def test_new_namespace_gets_default_service_account_and_root_ca(harness: Harness) -> None:
    h = harness
    h.start("serviceaccount", "rootcacert")
    await h.create("", "v1", "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fresh"}})

    async def both() -> bool:
        return (await h.get("", "v1", "serviceaccounts", "default", "fresh") is not None
                and await h.get("", "v1", "configmaps", "kube-root-ca.crt", "fresh") is not None)
    await eventually(both)
    cm = await h.get("", "v1", "configmaps", "kube-root-ca.crt", "fresh")
    with open(h.options.root_ca_file, encoding="utf-8") as f:
        assert cm["data"] == {"ca.crt": f.read()}
    await h.client.delete(resource_path("", "v1", "serviceaccounts", "fresh", "default"))

    async def recreated() -> bool:
        return await h.get("", "v1", "serviceaccounts", "default", "fresh") is not None
    await eventually(recreated)


async def test_podgc_removes_pods_of_deleted_node(harness: Harness) -> None:
    h = harness
    await h.create("", "v1", "nodes", node("gone"))
    await h.create("", "v1", "pods", pod("orphan", node="gone"), "default")
    h.start("podgc")
    await asyncio.sleep(0.5)
    assert await h.get("", "v1", "pods", "orphan", "default") is not None
    await h.client.delete(resource_path("", "v1", "nodes", name="gone"))

    async def pod_gone() -> bool:
        return await h.get("", "v1", "pods", "orphan", "default") is None
    await eventually(pod_gone)

"""NodeResourcesFit and NodeResourcesBalancedAllocation on upstream's documented cases."""

from __future__ import annotations

import pytest

from kybernetes.scheduler.framework.interface import Code, CycleState
from kybernetes.scheduler.framework.types import pod_requests
from kybernetes.scheduler.plugins.noderesources import NodeResourcesBalancedAllocation, NodeResourcesFit

from .builders import make_node, make_pod, node_info, pod_info

MI = 1024 * 1024


def container(cpu: str, memory: str = "0", restart: str | None = None) -> dict:
    c = {"name": "x", "image": "i", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
    if restart:
        c["restartPolicy"] = restart
    return c


@pytest.mark.parametrize("pod,cpu,mem", [
    (make_pod(cpu="1", memory="1Gi"), 1000, 1024 * MI),
    (make_pod(cpu="1", init=[container("2")]), 2000, 0),
    (make_pod(cpu="3", init=[container("2")]), 3000, 0),
    # sidecar (restartPolicy Always) adds to the app containers and to every later init container
    (make_pod(cpu="1", init=[container("500m", restart="Always"), container("2")]), 2500, 0),
    (make_pod(cpu="1", init=[container("2"), container("500m", restart="Always")]), 2000, 0),
    (make_pod(cpu="1", overhead={"cpu": "250m", "memory": "10Mi"}), 1250, 10 * MI),
], ids=["app", "init-larger", "app-larger", "sidecar-before-init", "sidecar-after-init", "overhead"])
def test_pod_requests(pod, cpu, mem):
    r = pod_requests(pod)
    assert (r.milli_cpu, r.memory) == (cpu, mem)


def test_non_zero_requests_default_for_scoring():
    r = pod_requests(make_pod(), non_zero=True)
    assert (r.milli_cpu, r.memory) == (100, 200 * MI)


@pytest.mark.parametrize("pod,existing,node,reasons", [
    (make_pod(), [make_pod(cpu="10", memory="20Gi")], make_node(cpu="10", memory="20Gi"), []),
    (make_pod(cpu="1", memory="1Gi"), [make_pod(cpu="5", memory="5Gi")], make_node(cpu="10", memory="20Gi"), []),
    (make_pod(cpu="1", memory="1Gi"), [make_pod(cpu="10", memory="19Gi")], make_node(cpu="10", memory="20Gi"),
     ["Insufficient cpu"]),
    (make_pod(cpu="1", memory="2Gi"), [make_pod(cpu="10", memory="19Gi")], make_node(cpu="10", memory="20Gi"),
     ["Insufficient cpu", "Insufficient memory"]),
    (make_pod(cpu="1", init=[container("3")]), [make_pod(cpu="8")], make_node(cpu="10"), ["Insufficient cpu"]),
    (make_pod(), [make_pod()], make_node(pods="1"), ["Too many pods"]),
    (make_pod(extended={"example.com/gpu": "2"}), [make_pod(extended={"example.com/gpu": "3"})],
     make_node(extended={"example.com/gpu": "4"}), ["Insufficient example.com/gpu"]),
    (make_pod(extended={"example.com/gpu": "1"}), [], make_node(), ["Insufficient example.com/gpu"]),
], ids=["no-request-always-fits", "fits", "cpu", "cpu-and-memory", "init-container", "too-many-pods",
        "extended", "extended-missing"])
def test_fit_filter(pod, existing, node, reasons):
    fit = NodeResourcesFit({})
    ni = node_info(node, *existing)
    st = fit.filter(CycleState(), pod_info(pod), ni)
    assert st.reasons == reasons
    assert fit.filter_nodes(CycleState(), pod_info(pod), [ni])[0].reasons == reasons


def test_fit_ignored_resources():
    fit = NodeResourcesFit({"ignoredResources": ["example.com/gpu"]})
    assert fit.filter(CycleState(), pod_info(make_pod(extended={"example.com/gpu": "1"})),
                      node_info(make_node())).is_success()


def test_request_beyond_allocatable_is_unresolvable():
    st = NodeResourcesFit({}).filter(CycleState(), pod_info(make_pod(cpu="20")), node_info(make_node(cpu="10")))
    assert st.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE


NODES = [make_node("node1", cpu="4000m", memory="10000"), make_node("node2", cpu="6000m", memory="10000")]
POD = make_pod(cpu="3000m", memory="5000")


@pytest.mark.parametrize("strategy,want", [
    ({"type": "LeastAllocated"}, [37, 50]),
    ({"type": "MostAllocated"}, [62, 50]),
    ({"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {
        "shape": [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]}}, [62, 50]),
    ({"type": "LeastAllocated", "resources": [{"name": "cpu", "weight": 2}, {"name": "memory", "weight": 1}]},
     [33, 50]),
], ids=["least", "most", "ratio", "weighted"])
def test_fit_score_strategies(strategy, want):
    fit = NodeResourcesFit({"scoringStrategy": strategy})
    nodes = [node_info(n) for n in NODES]
    assert [fit.score(CycleState(), pod_info(POD), ni)[0] for ni in nodes] == want
    assert fit.score_nodes(CycleState(), pod_info(POD), nodes) == want


def test_balanced_allocation():
    ba = NodeResourcesBalancedAllocation({})
    nodes = [node_info(n) for n in NODES]
    assert [ba.score(CycleState(), pod_info(POD), ni)[0] for ni in nodes] == [87, 100]
    assert ba.score_nodes(CycleState(), pod_info(POD), nodes) == [87, 100]
    assert ba.pre_score(CycleState(), pod_info(make_pod()), nodes).is_skip()

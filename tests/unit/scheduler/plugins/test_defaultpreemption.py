"""DefaultPreemption: candidate nodes, victim selection with priorities and PDBs, node choice, eligibility,
messages, and the API calls that evict victims and nominate the node (upstream's cases, in-memory Handle)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from kybernetes.scheduler.framework.interface import Code, CycleState, NodeInfo, PodInfo, Status
from kybernetes.scheduler.plugins import defaultpreemption as dp
from kybernetes.scheduler.plugins import interpodaffinity
from tests.unit.scheduler.plugins.fixtures import HOSTNAME, FakeHandle, node, node_info, pi, pod


class CPUFit:
    """A minimal NodeResourcesFit for CPU, enough to make preemption decisions observable."""

    name = "CPUFit"

    def filter(self, state: CycleState, pod: PodInfo, n: NodeInfo) -> Status:
        if n.requested.milli_cpu + pod.requests.milli_cpu > n.allocatable.milli_cpu:
            return Status.unschedulable("Insufficient cpu")
        return Status()


def pdb(name: str, labels: dict[str, str], allowed: int, ns: str = "default") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"selector": {"matchLabels": labels}},
            "status": {"disruptionsAllowed": allowed}}


def setup(nodes: dict[str, list[dict[str, Any]]], pdbs: list[dict[str, Any]] | None = None,
          cpu: str = "2", filters: list[Any] | None = None) -> tuple[FakeHandle, dp.DefaultPreemption]:
    infos = [node_info(node(n, cpu=cpu), *pods) for n, pods in nodes.items()]
    handle = FakeHandle(infos, {"poddisruptionbudgets": pdbs or []}, filters or [CPUFit()])
    return handle, dp.DefaultPreemption({}, handle, rng=random.Random(0))


async def run(handle: FakeHandle, plugin: dp.DefaultPreemption, preemptor: dict[str, Any],
              statuses: dict[str, Status] | None = None) -> tuple[str | None, Status]:
    p, state = pi(preemptor), CycleState()
    handle.run_pre_filters(state, p)
    if statuses is None:
        statuses = {}
        for ni in handle.snapshot().list():
            s = handle.run_filter_plugins_with_nominated_pods(state, p, ni)
            assert not s.is_success(), f"{ni.name} fits without preemption"
            statuses[ni.name] = s
    return await plugin.post_filter(state, p, statuses)


def victim_names(handle: FakeHandle) -> list[str]:
    return sorted(path.rsplit("/", 1)[1] for m, path, _ in handle.client.calls if m == "DELETE")


T1, T2, T3 = "2024-01-01T00:00:01Z", "2024-01-01T00:00:02Z", "2024-01-01T00:00:03Z"

# (id, pods per node (2 cpu each), pdbs, preemptor cpu, expected node, expected victims)
CASES = [
    ("lowest-priority-node", {"n1": [pod("a", cpu="2", priority=5)], "n2": [pod("b", cpu="2", priority=1)]},
     [], "1", "n2", ["b"]),
    ("reprieve-higher-priority-victims", {"n1": [pod("low", cpu="1", priority=1), pod("mid", cpu="1", priority=2)]},
     [], "1", "n1", ["low"]),
    ("all-lower-needed", {"n1": [pod("low", cpu="1", priority=1), pod("mid", cpu="1", priority=2)]},
     [], "2", "n1", ["low", "mid"]),
    ("higher-priority-pods-stay", {"n1": [pod("hi", cpu="1", priority=100), pod("low", cpu="1", priority=1)]},
     [], "1", "n1", ["low"]),
    ("fewest-pdb-violations", {"n1": [pod("guarded", cpu="2", priority=1, labels={"app": "db"})],
                               "n2": [pod("free", cpu="2", priority=3)]},
     [pdb("db", {"app": "db"}, 0)], "1", "n2", ["free"]),
    ("pdb-with-budget-is-not-violated", {"n1": [pod("guarded", cpu="2", priority=1, labels={"app": "db"})],
                                         "n2": [pod("free", cpu="2", priority=3)]},
     [pdb("db", {"app": "db"}, 1)], "1", "n1", ["guarded"]),
    ("pdb-violating-victims-reprieved-first",
     {"n1": [pod("guarded", cpu="1", priority=1, labels={"app": "db"}), pod("plain", cpu="1", priority=2)]},
     [pdb("db", {"app": "db"}, 0)], "1", "n1", ["plain"]),
    ("empty-pdb-selector-matches-nothing",
     {"n1": [pod("a", cpu="2", priority=1, labels={"x": "y"})], "n2": [pod("b", cpu="2", priority=2)]},
     [{"metadata": {"name": "all", "namespace": "default"}, "spec": {"selector": {}},
       "status": {"disruptionsAllowed": 0}}], "1", "n1", ["a"]),
    ("lowest-highest-priority-victim", {"n1": [pod("a", cpu="1", priority=5), pod("b", cpu="1", priority=5)],
                                        "n2": [pod("c", cpu="2", priority=6)]}, [], "2", "n1", ["a", "b"]),
    ("smallest-priority-sum", {"n1": [pod("a", cpu="1", priority=3), pod("b", cpu="1", priority=3)],
                               "n2": [pod("c", cpu="2", priority=3)]}, [], "2", "n2", ["c"]),
    ("fewest-victims", {"n1": [pod("a", cpu="1", priority=-5), pod("b", cpu="1", priority=-5)],
                        "n2": [pod("c", cpu="2", priority=-10)]}, [], "2", "n2", ["c"]),
    ("latest-start-time", {"n1": [pod("old", cpu="2", priority=1, start=T1)],
                           "n2": [pod("new", cpu="2", priority=1, start=T3)]}, [], "2", "n2", ["new"]),
]


@pytest.mark.parametrize("nodes,pdbs,cpu,want_node,want_victims", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_preemption_picks_node_and_victims(nodes: dict[str, list[dict[str, Any]]], pdbs: list[dict[str, Any]],
                                                 cpu: str, want_node: str, want_victims: list[str]) -> None:
    handle, plugin = setup(nodes, pdbs)
    preemptor = pod("preemptor", cpu=cpu, priority=10)
    nominated, status = await run(handle, plugin, preemptor)
    assert status.is_success(), status
    assert nominated == want_node
    assert victim_names(handle) == want_victims


async def test_victims_get_disruption_target_then_deleted() -> None:
    handle, plugin = setup({"n1": [pod("v", cpu="2", priority=1)]})
    nominated, _ = await run(handle, plugin, pod("preemptor", cpu="1", priority=10, schedulerName="my-scheduler"))
    assert nominated == "n1"  # the scheduler writes it with the PodScheduled condition, in one patch
    calls = handle.client.calls
    assert [(m, path) for m, path, _ in calls] == [
        ("PATCH", "/api/v1/namespaces/default/pods/v/status"),
        ("DELETE", "/api/v1/namespaces/default/pods/v")]
    cond = calls[0][2]["status"]["conditions"][0]
    assert cond == {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                    "message": "my-scheduler: preempting to accommodate a higher priority pod"}


class _AsyncHandle(FakeHandle):
    """A FakeHandle whose framework has DefaultPreemption at PreEnqueue and records activations."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.points: dict[str, list[Any]] = {"preEnqueue": []}
        self.activated: list[str] = []

    def activate(self, pods: list[dict[str, Any]]) -> None:
        self.activated += [p["metadata"]["name"] for p in pods]


@pytest.mark.parametrize("victims,released_by_us", [(["v1", "v2"], False), ([], True)],
                         ids=["last-victim-deletion-releases", "nothing-to-delete-releases-at-once"])
async def test_async_preemption_holds_preemptor_until_evictions_are_sent(victims: list[str],
                                                                         released_by_us: bool) -> None:
    infos = [node_info(node("n1", cpu="2"), *[pod(v, cpu="1", priority=1) for v in victims])]
    handle = _AsyncHandle(infos, {"poddisruptionbudgets": []}, [CPUFit()])
    plugin = dp.DefaultPreemption({}, handle, rng=random.Random(0), async_preemption=True)
    handle.points["preEnqueue"].append(plugin)
    preemptor = pod("preemptor", cpu="2" if victims else "1", priority=10)
    p = pi(preemptor)
    c = dp.Candidate("n1", [pi(pod(v, cpu="1", priority=1)) for v in victims])
    plugin.prepare_candidate_async(c, p)
    assert handle.client.calls == []  # nothing sent within the scheduling cycle
    assert plugin.pre_enqueue(preemptor).code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert plugin.is_pod_schedulable_after_pod_deletion(preemptor, None, None) == dp.QueueingHint.QUEUE_SKIP
    await plugin.wait_for_preemptions()
    assert plugin.pre_enqueue(preemptor).is_success()
    assert plugin.is_pod_schedulable_after_pod_deletion(preemptor, None, None) == dp.QueueingHint.QUEUE
    assert sorted(path for m, path, _ in handle.client.calls if m == "DELETE") == \
        [f"/api/v1/namespaces/default/pods/{v}" for v in victims]
    assert handle.activated == (["preemptor"] if released_by_us else [])


async def test_async_preemption_through_post_filter_returns_before_evicting() -> None:
    infos = [node_info(node("n1", cpu="2"), pod("v", cpu="2", priority=1))]
    handle = _AsyncHandle(infos, {"poddisruptionbudgets": []}, [CPUFit()])
    plugin = dp.DefaultPreemption({}, handle, rng=random.Random(0), async_preemption=True)
    handle.points["preEnqueue"].append(plugin)
    nominated, status = await run(handle, plugin, pod("preemptor", cpu="1", priority=10))
    assert (nominated, status.is_success()) == ("n1", True)
    assert handle.client.calls == []
    await plugin.wait_for_preemptions()
    assert [m for m, _, _ in handle.client.calls] == ["PATCH", "DELETE"]


UNRESOLVABLE = {"n2": Status.unschedulable("node(s) had untolerated taint {k: v}", resolvable=False),
                "n3": Status.unschedulable("node(s) didn't match Pod's node affinity/selector", resolvable=False)}

# (id, pods per node, filter statuses (None: run the filters), preemptor cpu, nominated node, failure message)
MESSAGE_CASES = [
    ("no-lower-priority-pods", {"n1": [pod("a", cpu="2", priority=50)], "n2": [pod("b", cpu="2", priority=50)]},
     None, "1", None, "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."),
    ("only-resolvable-node-is-candidate", {"n1": [pod("a", cpu="2", priority=1)], "n2": [], "n3": []},
     {"n1": Status.unschedulable("Insufficient cpu"), **UNRESOLVABLE}, "1", "n1", None),
    ("histogram-of-reasons", {"n1": [pod("a", cpu="2", priority=50)], "n2": [], "n3": []},
     {"n1": Status.unschedulable("Insufficient cpu"), **UNRESOLVABLE}, "1", None,
     "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, "
     "2 Preemption is not helpful for scheduling."),
    ("all-unresolvable", {"n1": [], "n2": []},
     {"n1": Status.unschedulable("x", resolvable=False), "n2": Status.unschedulable("y", resolvable=False)}, "1",
     None, "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."),
    ("still-does-not-fit", {"n1": [pod("a", cpu="1", priority=1)]}, None, "3", None,
     "preemption: 0/1 nodes are available: 1 Insufficient cpu."),
]


@pytest.mark.parametrize("nodes,statuses,cpu,want_node,message", [c[1:] for c in MESSAGE_CASES],
                         ids=[c[0] for c in MESSAGE_CASES])
async def test_candidates_and_failure_messages(nodes: dict[str, list[dict[str, Any]]],
                                               statuses: dict[str, Status] | None, cpu: str, want_node: str | None,
                                               message: str | None) -> None:
    handle, plugin = setup(nodes)
    nominated, status = await run(handle, plugin, pod("preemptor", cpu=cpu, priority=10), statuses)
    assert nominated == want_node
    if message is None:
        assert status.is_success()
        return
    assert status.code == Code.UNSCHEDULABLE and status.reasons == [message]
    assert not any(m == "DELETE" for m, _, _ in handle.client.calls)


async def test_preemption_policy_never() -> None:
    handle, plugin = setup({"n1": [pod("v", cpu="2", priority=1)]})
    nominated, status = await run(handle, plugin, pod("p", cpu="1", priority=10, preemptionPolicy="Never"))
    assert nominated is None and status.code == Code.UNSCHEDULABLE
    assert status.reasons == ["preemption: not eligible due to preemptionPolicy=Never."]
    assert handle.client.calls == []


async def test_not_eligible_while_a_victim_on_the_nominated_node_terminates() -> None:
    terminating = pod("v", cpu="2", priority=1)
    terminating["metadata"]["deletionTimestamp"] = T2
    terminating["status"]["conditions"] = [{"type": "DisruptionTarget", "status": "True",
                                            "reason": "PreemptionByScheduler"}]
    handle, plugin = setup({"n1": [terminating]})
    preemptor = pod("p", cpu="1", priority=10)
    preemptor["status"]["nominatedNodeName"] = "n1"
    nominated, status = await run(handle, plugin, preemptor)
    assert status.reasons == ["preemption: not eligible due to a terminating pod on the nominated node."]


async def test_removing_an_anti_affinity_victim_uses_pre_filter_extensions() -> None:
    """The preemptor's anti-affinity rejects n1 only because of a low-priority pod: preempting it helps."""
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "noisy"}}, "topologyKey": HOSTNAME}]}}
    infos = [node_info(node("n1", cpu="4"), pod("noisy", cpu="1", priority=1, labels={"app": "noisy"})),
             node_info(node("n2", cpu="4"), pod("big", cpu="4", priority=100))]
    handle = FakeHandle(infos, {}, [])
    handle.filters = [CPUFit(), interpodaffinity.new({}, handle)]
    plugin = dp.DefaultPreemption({}, handle, rng=random.Random(0))
    nominated, status = await run(handle, plugin, pod("p", cpu="1", priority=10, affinity=anti))
    assert status.is_success() and nominated == "n1"
    assert victim_names(handle) == ["noisy"]


@pytest.mark.parametrize("nodes,percentage,absolute,want", [
    (10, 10, 100, 10), (1000, 10, 100, 100), (5000, 10, 100, 500), (5000, 0, 5, 5)],
    ids=["few-nodes-all", "absolute-floor", "percentage", "absolute-only"])
def test_num_candidates(nodes: int, percentage: int, absolute: int, want: int) -> None:
    plugin = dp.DefaultPreemption({"minCandidateNodesPercentage": percentage,
                                   "minCandidateNodesAbsolute": absolute}, FakeHandle())
    assert plugin.num_candidates(nodes) == want

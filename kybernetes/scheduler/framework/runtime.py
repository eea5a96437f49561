"""The Framework: one profile's plugins run at each extension point, in order, with score weights.

Like upstream's frameworkImpl it is also the Handle given to plugins. Filtering walks the snapshot's nodes from a
start index that rotates between cycles and stops once numFeasibleNodesToFind nodes passed, as upstream does.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import operator
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kybernetes.scheduler.framework.diagnosis import Diagnosis, FitError
from kybernetes.scheduler.framework.interface import (SUCCESS, ClusterEvent, ClusterEventWithHint, Code, CycleState,
                                                      NodeInfo, NodeInfoLister, Pod, PodInfo, Status, with_hint)
from kybernetes.scheduler.framework.types import add_pod, pod_priority

log = logging.getLogger(__name__)

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
DEFAULT_PERMIT_TIMEOUT = 15 * 60.0
EVENT_ALL = ClusterEvent("*", "All")
MAX_NOMINATED_VIEWS = 4096
_EXTENSIONS_KEY = "framework/preFilterExtensions"
_REJECTED_CODES = frozenset((Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE, Code.PENDING))

# extension point (config name) -> the method a plugin must have to take part in it
EXTENSION_POINTS = {
    "preEnqueue": "pre_enqueue", "queueSort": "less", "preFilter": "pre_filter", "filter": "filter",
    "postFilter": "post_filter", "preScore": "pre_score", "score": "score", "reserve": "reserve",
    "permit": "permit", "preBind": "pre_bind", "bind": "bind", "postBind": "post_bind",
}


def num_feasible_nodes_to_find(percentage: int, num_all_nodes: int) -> int:
    """How many feasible nodes to look for before scoring (upstream's numFeasibleNodesToFind)."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if percentage <= 0:
        percentage = 50 - num_all_nodes // 125
        if percentage < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND:
            percentage = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND
    n = num_all_nodes * min(percentage, 100) // 100
    return max(n, MIN_FEASIBLE_NODES_TO_FIND)


class Rotated:
    """The nodes from `start` on, wrapping around, without copying the list: len(), iteration and [lo:hi] slices."""

    __slots__ = ("nodes", "start", "n")

    def __init__(self, nodes: list[NodeInfo], start: int) -> None:
        self.nodes, self.start, self.n = nodes, start, len(nodes)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Any:
        return itertools.chain(itertools.islice(self.nodes, self.start, None),
                               itertools.islice(self.nodes, 0, self.start))

    def __getitem__(self, s: slice) -> list[NodeInfo]:
        lo, hi, _ = s.indices(self.n)
        a, b, n = self.start + lo, self.start + hi, self.n
        if b <= n:
            return self.nodes[a:b]
        if a >= n:
            return self.nodes[a - n:b - n]
        return self.nodes[a:] + self.nodes[:b - n]


@dataclass
class ScheduleResult:
    suggested_host: str
    evaluated_nodes: int
    feasible_nodes: int


class WaitingPod:
    """A pod held at Permit until every waiting plugin allows it, one rejects it, or the timeout passes."""

    def __init__(self, pod: PodInfo, plugins: dict[str, float]) -> None:
        self.pod = pod
        self.pending = set(plugins)
        self.timeout = max(plugins.values()) if plugins else 0.0
        self.future: asyncio.Future[Status] = asyncio.get_running_loop().create_future()

    def allow(self, plugin: str) -> None:
        self.pending.discard(plugin)
        if not self.pending and not self.future.done():
            self.future.set_result(SUCCESS)

    def reject(self, plugin: str, msg: str) -> None:
        if not self.future.done():
            self.future.set_result(Status(Code.UNSCHEDULABLE, [msg], plugin))


class Framework:
    """Runs one profile's plugins. Built by registry.new_framework from a profile of the configuration."""

    def __init__(self, *, profile_name: str, percentage_of_nodes_to_score: int = 0,
                 client: Any = None, lister: Callable[[str, str, str], Any] | None = None,
                 nominator: Any = None, recorder: Callable[..., None] | None = None) -> None:
        self.profile_name = profile_name
        self.percentage_of_nodes_to_score = percentage_of_nodes_to_score
        self._client = client
        self._lister = lister
        self.nominator = nominator
        self.recorder = recorder
        self._snapshot: NodeInfoLister | None = None
        self.plugins: dict[str, Any] = {}  # name -> instance
        self.points: dict[str, list[Any]] = {p: [] for p in EXTENSION_POINTS}
        self.score_weights: dict[str, int] = {}
        self.waiting_pods: dict[str, WaitingPod] = {}
        # node name -> (snapshot NodeInfo, nominated PodInfos, clone with them added): see _with_nominated
        self._nominated_views: dict[str, tuple[NodeInfo, list[PodInfo], NodeInfo]] = {}
        self.next_start_node_index = 0

    # -- Handle --------------------------------------------------------------------------------------------

    def snapshot(self) -> NodeInfoLister:
        assert self._snapshot is not None, "no scheduling cycle has started"
        return self._snapshot

    def set_snapshot(self, snapshot: NodeInfoLister) -> None:
        self._snapshot = snapshot

    def lister(self, group: str, version: str, plural: str) -> Any:
        if self._lister is None:
            raise KeyError(f"no informer for {group}/{version}/{plural}")
        return self._lister(group, version, plural)

    @property
    def client(self) -> Any:
        return self._client

    def event(self, obj: Pod, event_type: str, reason: str, action: str, message: str) -> None:
        """Record an Event about obj (fire and forget)."""
        if self.recorder is not None:
            self.recorder(obj, event_type, reason, action, message)

    def nominated_node_name(self, pod: PodInfo) -> str | None:
        """The pod's nominated node: status.nominatedNodeName, or the nomination the scheduler made and has not
        seen come back from the API yet."""
        name = (pod.pod.get("status") or {}).get("nominatedNodeName")
        if not name and self.nominator is not None and hasattr(self.nominator, "nominated_node_name"):
            name = self.nominator.nominated_node_name(pod.uid)
        return name or None

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return self.nominator.nominated_pods_for_node(node_name) if self.nominator is not None else []

    def activate(self, pods: list[Pod]) -> None:
        """Move these pods to activeQ if they wait in backoffQ or among the unschedulable pods (upstream's
        Handle.Activate)."""
        if self.nominator is not None and hasattr(self.nominator, "activate"):
            self.nominator.activate(pods)

    def get_waiting_pod(self, uid: str) -> WaitingPod | None:
        return self.waiting_pods.get(uid)

    def reject_waiting_pod(self, uid: str) -> bool:
        wp = self.waiting_pods.get(uid)
        if wp is None:
            return False
        wp.reject("", "removed")
        return True

    # -- wiring --------------------------------------------------------------------------------------------

    def add_plugin(self, point: str, plugin: Any, weight: int = 0) -> None:
        """Enable plugin at an extension point (in call order); weight is for score."""
        self.plugins[plugin.name] = plugin
        if plugin not in self.points[point]:
            self.points[point].append(plugin)
        if point == "score":
            self.score_weights[plugin.name] = weight or 1

    def has_plugins(self, point: str) -> bool:
        return bool(self.points[point])

    def queue_sort_less(self) -> Callable[[Any, Any], bool]:
        return self.points["queueSort"][0].less

    def events_to_register(self) -> dict[str, list[ClusterEventWithHint]]:
        """Plugin name -> the cluster events (with their QueueingHintFns) that may make pods it rejected
        schedulable. Plugins without events_to_register are registered for every event, as upstream."""
        out = {}
        for name, p in self.plugins.items():
            fn = getattr(p, "events_to_register", None)
            out[name] = [with_hint(e) for e in fn()] if fn is not None else [ClusterEventWithHint(EVENT_ALL)]
        return out

    # -- PreEnqueue ----------------------------------------------------------------------------------------

    def run_pre_enqueue_plugins(self, pod: Pod) -> Status:
        for p in self.points["preEnqueue"]:
            st = p.pre_enqueue(pod)
            if not st.is_success():
                st.plugin = p.name
                return st
        return SUCCESS

    # -- PreFilter / Filter ----------------------------------------------------------------------------------

    def run_pre_filter_plugins(self, state: CycleState, pod: PodInfo,
                               nodes: list[NodeInfo]) -> tuple[set[str] | None, Status]:
        result: set[str] | None = None
        with_nodes: list[str] = []
        for p in self.points["preFilter"]:
            names, st = p.pre_filter(state, pod, nodes)
            if st.is_skip():
                state.skip_filter_plugins.add(p.name)
                continue
            if not st.is_success():
                st.plugin = p.name
                if not st.is_rejected():
                    st.reasons = [f'running PreFilter plugin "{p.name}": {st.message()}']
                return None, st
            if names is not None:
                with_nodes.append(p.name)
                result = set(names) if result is None else result & names
                if not result:
                    msg = (f"node(s) didn't satisfy plugin {with_nodes[0]}" if len(with_nodes) == 1 else
                           f"node(s) didn't satisfy plugin(s) [{' '.join(with_nodes)}] simultaneously")
                    return result, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [msg], p.name)
        return result, SUCCESS

    def run_pre_filter_extension_add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo,
                                         node: NodeInfo) -> Status:
        return self._run_pre_filter_extensions(state, pod, to_add, node, add=True)

    def run_pre_filter_extension_remove_pod(self, state: CycleState, pod: PodInfo, to_remove: PodInfo,
                                            node: NodeInfo) -> Status:
        return self._run_pre_filter_extensions(state, pod, to_remove, node, add=False)

    def _run_pre_filter_extensions(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo, *,
                                   add: bool) -> Status:
        """Tell each PreFilter plugin with extensions that `other` joins (or leaves) node, for preemption's what-if."""
        for name, ext in self._pre_filter_extensions(state):
            st = ext.add_pod(state, pod, other, node) if add else ext.remove_pod(state, pod, other, node)
            if not st.is_success():
                st.plugin = name
                return st
        return SUCCESS

    def _pre_filter_extensions(self, state: CycleState) -> list[tuple[str, Any]]:
        """(plugin name, extensions) of the PreFilter plugins that ran for this cycle's pod, worked out once per
        cycle (kept in the state, which clones share)."""
        exts = state.get(_EXTENSIONS_KEY)
        if exts is None or exts[0] != len(state.skip_filter_plugins):
            skip = state.skip_filter_plugins
            found = [(p.name, ext) for p in self.points["preFilter"]
                     if p.name not in skip and (ext := p.pre_filter_extensions()) is not None]
            exts = (len(skip), found)
            state.write(_EXTENSIONS_KEY, exts)
        return exts[1]

    def run_filter_plugins(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        """The first non-success status of the filters on one node (with .plugin set), or SUCCESS."""
        skip = state.skip_filter_plugins
        for p in self.points["filter"]:
            if skip and p.name in skip:
                continue
            st = p.filter(state, pod, node)
            if st is not SUCCESS and st.code != Code.SUCCESS:
                st.plugin = p.name
                return st
        return SUCCESS

    def run_filter_plugins_with_nominated_pods(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        """Filter as if the pods nominated to this node with priority >= pod's were already there (and without)."""
        nominated = self.nominated_pods_for_node(node.name) if self.nominator is not None else ()
        prio = pod_priority(pod.pod)
        others = [pi for pi in nominated if pi.uid != pod.uid and pod_priority(pi.pod) >= prio]
        if others:
            if self._has_pre_filter_extensions(state):
                state2 = state.clone()
                node2 = node.clone()
                for pi in others:
                    add_pod(node2, pi)
                    st = self.run_pre_filter_extension_add_pod(state2, pod, pi, node2)
                    if not st.is_success():
                        return st
            else:  # nothing in the cycle state depends on the pods added: only the node changes
                state2, node2 = state, self._with_nominated(node, others)
            st = self.run_filter_plugins(state2, pod, node2)
            if not st.is_success():
                return st
        return self.run_filter_plugins(state, pod, node)

    def _has_pre_filter_extensions(self, state: CycleState) -> bool:
        """Some PreFilter plugin that ran for this pod keeps state that pods added to a node change."""
        return bool(self._pre_filter_extensions(state))

    def _with_nominated(self, node: NodeInfo, others: list[PodInfo]) -> NodeInfo:
        """A clone of a snapshot node with these nominated pods added, reused while neither changes (nodes not of
        the snapshot, such as preemption's what-if copies, are cloned every time)."""
        snapshot = self._snapshot
        own = snapshot is not None and snapshot.get(node.name) is node
        if own:
            hit = self._nominated_views.get(node.name)
            if hit is not None and hit[0] is node and len(hit[1]) == len(others) and \
                    all(a is b for a, b in zip(hit[1], others)):
                return hit[2]
        node2 = node.clone()
        for pi in others:
            add_pod(node2, pi)
        if own:
            if len(self._nominated_views) > MAX_NOMINATED_VIEWS:
                self._nominated_views.clear()
            self._nominated_views[node.name] = (node, others, node2)
        return node2

    def find_nodes_that_fit(self, state: CycleState, pod: PodInfo) -> tuple[list[NodeInfo], Diagnosis, int]:
        """(feasible nodes, diagnosis, number of nodes in the snapshot), running PreFilter then Filter."""
        snapshot = self.snapshot()
        all_nodes = snapshot.list()
        diagnosis = Diagnosis()
        names, st = self.run_pre_filter_plugins(state, pod, all_nodes)
        if not st.is_success():
            if not st.is_rejected():
                raise RuntimeError(st.message())
            diagnosis.pre_filter_msg = st.message()
            for ni in all_nodes:
                diagnosis.node_to_status[ni.name] = st
            if st.plugin:
                diagnosis.unschedulable_plugins.add(st.plugin)
            return [], diagnosis, len(all_nodes)
        nominated = self.nominated_node_name(pod)
        if nominated:  # upstream evaluates the nominated node first and alone
            ni = snapshot.get(nominated)
            if ni is not None and ni.node is not None and (names is None or nominated in names):
                if self.run_filter_plugins_with_nominated_pods(state, pod, ni).is_success():
                    return [ni], diagnosis, len(all_nodes)
        nodes = all_nodes
        if names is not None:
            nodes = [ni for n in names if (ni := snapshot.get(n)) is not None and ni.node is not None]
            plugins = sorted({p.name for p in self.points["preFilter"]} - state.skip_filter_plugins)
            diagnosis.absent_nodes_status = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                                                   [f"node(s) didn't satisfy plugin(s) [{' '.join(plugins)}]"])
        feasible = self._find_feasible(state, pod, nodes, diagnosis, len(all_nodes))
        return feasible, diagnosis, len(all_nodes)

    def _find_feasible(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], diagnosis: Diagnosis,
                       num_all: int) -> list[NodeInfo]:
        """Filter nodes from the rotating start index until to_find pass. Nodes are taken in chunks and each
        filter runs over a chunk's survivors (its filter_nodes fast path when it has one)."""
        n = len(nodes)
        if n == 0:
            return []
        to_find = num_feasible_nodes_to_find(self.percentage_of_nodes_to_score, n)
        start = self.next_start_node_index % n
        order: Any = Rotated(nodes, start) if start else nodes
        if self.nominator is not None and self.nominator.has_nominated_pods():
            names = getattr(self.nominator, "nominated_node_names", None)
            if names is None:
                feasible, processed = self._find_feasible_one_by_one(state, pod, order, to_find, diagnosis)
            else:  # only nodes with nominated pods need the one-by-one what-if evaluation
                feasible, processed = self._find_feasible_adaptive(state, pod, order, to_find, diagnosis, names())
        else:
            feasible, processed = self._find_feasible_adaptive(state, pod, order, to_find, diagnosis)
        self.next_start_node_index = (start + processed) % n
        return feasible

    def _record(self, diagnosis: Diagnosis, ni: NodeInfo, st: Status, plugin: str) -> None:
        if not st.is_rejected():
            raise RuntimeError(f'running "{plugin}" filter plugin: {st.message()}')
        st.plugin = plugin
        diagnosis.node_to_status[ni.name] = st
        diagnosis.unschedulable_plugins.add(plugin)

    def _find_feasible_one_by_one(self, state: CycleState, pod: PodInfo, order: list[NodeInfo], to_find: int,
                                  diagnosis: Diagnosis) -> tuple[list[NodeInfo], int]:
        feasible: list[NodeInfo] = []
        processed = 0
        for ni in order:
            processed += 1
            st = self.run_filter_plugins_with_nominated_pods(state, pod, ni)
            if st.is_success():
                feasible.append(ni)
                if len(feasible) >= to_find:
                    break
            else:
                self._record(diagnosis, ni, st, st.plugin)
        return feasible, processed

    def _find_feasible_adaptive(self, state: CycleState, pod: PodInfo, order: list[NodeInfo], to_find: int,
                                diagnosis: Diagnosis,
                                nominated: set[str] | None = None) -> tuple[list[NodeInfo], int]:
        """_find_feasible_chunked with the most rejecting filters first after the first chunk. Filters are side-effect
        free, so which nodes pass does not depend on their order; only a rejected node's reason (the first failing
        filter in the configured order) does, and it matters only when no node fits: then each rejected node goes
        through the filters configured before the one that rejected it, for upstream's exact diagnosis."""
        feasible, processed, reordered = self._find_feasible_chunked(state, pod, order, to_find, diagnosis,
                                                                     nominated, adaptive=True)
        if not feasible and reordered:
            self._exact_diagnosis(state, pod, diagnosis, nominated or set())
        return feasible, processed

    def _exact_diagnosis(self, state: CycleState, pod: PodInfo, diagnosis: Diagnosis, nominated: set[str]) -> None:
        """Make each rejected node's status the first failing filter in the configured order: a node rejected by
        filter F in another order runs the filters configured before F (nodes with nominated pods were already
        evaluated in the configured order)."""
        filters = [p for p in self.points["filter"] if p.name not in state.skip_filter_plugins]
        position = {p.name: i for i, p in enumerate(filters)}
        by_plugin: dict[str, list[str]] = {}
        for name, st in diagnosis.node_to_status.items():
            if name not in nominated:
                by_plugin.setdefault(st.plugin, []).append(name)
        snapshot = self.snapshot()
        for plugin, names in by_plugin.items():
            nodes = [ni for n in names if (ni := snapshot.get(n)) is not None]
            for p in filters[:position.get(plugin, 0)]:
                batch = getattr(p, "filter_nodes", None)
                statuses = batch(state, pod, nodes) if batch is not None else [p.filter(state, pod, ni) for ni in nodes]
                keep = []
                for ni, st in zip(nodes, statuses):
                    if st is SUCCESS or st.code == Code.SUCCESS:
                        keep.append(ni)
                    else:
                        self._record(diagnosis, ni, st, p.name)
                nodes = keep
                if not nodes:
                    break
        diagnosis.unschedulable_plugins = {st.plugin for st in diagnosis.node_to_status.values() if st.plugin}

    def _find_feasible_chunked(self, state: CycleState, pod: PodInfo, order: list[NodeInfo], to_find: int,
                               diagnosis: Diagnosis, nominated: set[str] | None = None,
                               adaptive: bool = False) -> tuple[list[NodeInfo], int, bool]:
        """Chunks of nodes through the batch filters; nodes named in `nominated` (they have nominated pods) go
        through run_filter_plugins_with_nominated_pods one by one instead, and keep their place in the order.
        adaptive: from the second chunk on, run the filters that rejected most nodes so far first. Returns
        (feasible, nodes processed, whether the filters ran in another order than configured)."""
        skip = state.skip_filter_plugins
        filters = [(p.name, getattr(p, "filter_nodes", None), p.filter) for p in self.points["filter"]
                   if p.name not in skip]
        run_order = filters
        rejections = dict.fromkeys((f[0] for f in filters), 0)
        reordered = False
        feasible: list[NodeInfo] = []
        pos, n = 0, len(order)
        while pos < n and len(feasible) < to_find:
            chunk = order[pos:pos + max(to_find - len(feasible), 32)]
            pos += len(chunk)
            survivors = chunk
            special: list[NodeInfo] = []
            if nominated:
                special = [ni for ni in chunk if ni.name in nominated]
                if special:
                    survivors = [ni for ni in chunk if ni.name not in nominated]
            for name, batch, single in run_order:
                statuses = batch(state, pod, survivors) if batch is not None else \
                    [single(state, pod, ni) for ni in survivors]
                if statuses.count(SUCCESS) == len(survivors):  # all passed: a C-speed check, no per-node loop
                    continue
                keep = []
                rejected = diagnosis.node_to_status
                for ni, st in zip(survivors, statuses):
                    if st is SUCCESS or st.code == Code.SUCCESS:
                        keep.append(ni)
                    elif st.code not in _REJECTED_CODES:
                        self._record(diagnosis, ni, st, name)  # raises: an error is not a rejection
                    else:
                        st.plugin = name
                        rejected[ni.name] = st
                if len(keep) < len(survivors):
                    diagnosis.unschedulable_plugins.add(name)
                    rejections[name] += len(survivors) - len(keep)
                survivors = keep
                if not survivors:
                    break
            if special:
                passed = {id(ni) for ni in survivors}
                for ni in special:
                    st = self.run_filter_plugins_with_nominated_pods(state, pod, ni)
                    if st.is_success():
                        passed.add(id(ni))
                    else:
                        self._record(diagnosis, ni, st, st.plugin)
                survivors = [ni for ni in chunk if id(ni) in passed]
            feasible.extend(survivors)
            if adaptive:
                run_order = sorted(filters, key=lambda f: -rejections[f[0]])  # stable: ties keep their order
                reordered = reordered or run_order != filters
        if len(feasible) > to_find:  # the chunk went past the last node needed
            last = feasible[to_find - 1]
            feasible = feasible[:to_find]
            pos = pos - len(chunk) + chunk.index(last) + 1
        return feasible, pos, reordered

    # -- PostFilter ----------------------------------------------------------------------------------------

    async def run_post_filter_plugins(self, state: CycleState, pod: PodInfo,
                                      statuses: dict[str, Status]) -> tuple[str | None, Status]:
        """The first plugin to nominate a node wins; otherwise the reasons of all of them."""
        reasons: list[str] = []
        for p in self.points["postFilter"]:
            nominated, st = await p.post_filter(state, pod, statuses)
            if st.is_success():
                return nominated, st
            if not st.is_rejected():
                st.plugin = p.name
                return None, st
            reasons.extend(st.reasons)
        return None, Status(Code.UNSCHEDULABLE, reasons)

    # -- PreScore / Score ------------------------------------------------------------------------------------

    def run_pre_score_plugins(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        for p in self.points["preScore"]:
            st = p.pre_score(state, pod, nodes)
            if st.is_skip():
                state.skip_score_plugins.add(p.name)
            elif not st.is_success():
                st.plugin = p.name
                return Status.error(f'running PreScore plugin "{p.name}": {st.message()}')
        return SUCCESS

    def run_score_plugins(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> dict[str, int]:
        """Node name -> weighted sum of normalized plugin scores. Raises RuntimeError on a plugin error."""
        return dict(zip([ni.name for ni in nodes], self._score_totals(state, pod, nodes)))

    def _score_totals(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        """The weighted sums of the normalized scores, in the order of nodes (names built only to normalize)."""
        names: list[str] | None = None
        totals: list[int] | None = None
        skip = state.skip_score_plugins
        for p in self.points["score"]:
            if p.name in skip:
                continue
            batch = getattr(p, "score_nodes", None)
            if batch is not None:
                scores = batch(state, pod, nodes)
            else:
                scores = []
                score = p.score
                for ni in nodes:
                    s, st = score(state, pod, ni)
                    if st is not SUCCESS and not st.is_success():
                        raise RuntimeError(f'running Score plugin "{p.name}": {st.message()}')
                    scores.append(s)
            ext = p.score_extensions()
            if ext is not None:
                if names is None:
                    names = [ni.name for ni in nodes]
                by_name = dict(zip(names, scores))
                st = ext.normalize_score(state, pod, by_name)
                if not st.is_success():
                    raise RuntimeError(f'running Normalize on Score plugin "{p.name}": {st.message()}')
                scores = [by_name[name] for name in names]
            w = self.score_weights.get(p.name, 1)
            if w != 1:
                scores = [s * w for s in scores]
            totals = list(scores) if totals is None else list(map(operator.add, totals, scores))
        return totals if totals is not None else [0] * len(nodes)

    @staticmethod
    def select_host(totals: dict[str, int]) -> str:
        """The best-scored node, chosen at random among ties."""
        best = max(totals.values())
        return random.choice([n for n, s in totals.items() if s == best])

    def schedule_pod(self, state: CycleState, pod: PodInfo) -> ScheduleResult:
        """Filter and score on the current snapshot; FitError when no node fits."""
        feasible, diagnosis, num_all = self.find_nodes_that_fit(state, pod)
        if not feasible:
            raise FitError(pod.key, num_all, diagnosis)
        evaluated = len(feasible) + len(diagnosis.node_to_status)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, evaluated, 1)
        st = self.run_pre_score_plugins(state, pod, feasible)
        if not st.is_success():
            raise RuntimeError(st.message())
        totals = self._score_totals(state, pod, feasible)
        best = max(totals)
        if totals.count(best) == 1:
            return ScheduleResult(feasible[totals.index(best)].name, evaluated, len(feasible))
        ties = [i for i, t in enumerate(totals) if t == best]
        return ScheduleResult(feasible[random.choice(ties)].name, evaluated, len(feasible))

    # -- Reserve / Permit / binding ----------------------------------------------------------------------------

    async def run_reserve_plugins_reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        for p in self.points["reserve"]:
            st = await p.reserve(state, pod, node_name)
            if not st.is_success():
                st.plugin = p.name
                return st
        return SUCCESS

    async def run_reserve_plugins_unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        for p in reversed(self.points["reserve"]):
            try:
                await p.unreserve(state, pod, node_name)
            except Exception:  # unreserve must go on for the others
                log.exception("unreserve of plugin %s failed for %s", p.name, pod.key)

    async def run_permit_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        waits: dict[str, float] = {}
        for p in self.points["permit"]:
            st, timeout = await p.permit(state, pod, node_name)
            if st.code == Code.WAIT:
                waits[p.name] = min(timeout or DEFAULT_PERMIT_TIMEOUT, DEFAULT_PERMIT_TIMEOUT)
            elif not st.is_success():
                st.plugin = p.name
                return st
        if waits:
            self.waiting_pods[pod.uid] = WaitingPod(pod, waits)
            return Status(Code.WAIT, [f"one or more plugins asked to wait: {sorted(waits)}"])
        return SUCCESS

    async def wait_on_permit(self, pod: PodInfo) -> Status:
        wp = self.waiting_pods.get(pod.uid)
        if wp is None:
            return SUCCESS
        try:
            return await asyncio.wait_for(asyncio.shield(wp.future), wp.timeout)
        except asyncio.TimeoutError:
            return Status(Code.UNSCHEDULABLE, ["rejected due to timeout after waiting at permit"])
        finally:
            self.waiting_pods.pop(pod.uid, None)

    async def run_pre_bind_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        for p in self.points["preBind"]:
            st = await p.pre_bind(state, pod, node_name)
            if not st.is_success():
                st.plugin = p.name
                return st
        return SUCCESS

    async def run_bind_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        for p in self.points["bind"]:
            st = await p.bind(state, pod, node_name)
            if st.is_skip():
                continue
            if not st.is_success():
                st.plugin = p.name
            return st
        return Status.error("all bind plugins skipped the pod")

    async def run_post_bind_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        for p in self.points["postBind"]:
            await p.post_bind(state, pod, node_name)

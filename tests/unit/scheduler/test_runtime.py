"""The framework runtime: numFeasibleNodesToFind, rotation, diagnosis messages, score weights, configuration."""

from __future__ import annotations

import pytest

from kybernetes.scheduler.cache import Cache
from kybernetes.scheduler.config import ConfigError, parse_config
from kybernetes.scheduler.framework.diagnosis import Diagnosis, FitError
from kybernetes.scheduler.framework.interface import SUCCESS, Code, CycleState, Status
from kybernetes.scheduler.framework.registry import new_framework, register_default_plugins
from kybernetes.scheduler.framework.runtime import num_feasible_nodes_to_find

from .builders import make_node, make_pod, pod_info


@pytest.mark.parametrize("pct,nodes,want", [
    (0, 50, 50), (0, 99, 99), (0, 100, 100), (0, 500, 230), (0, 1000, 420), (0, 5000, 500), (0, 6000, 300),
    (0, 10000, 500), (10, 500, 100), (50, 5000, 2500), (100, 5000, 5000), (1, 1000, 100),
], ids=lambda v: str(v))
def test_num_feasible_nodes_to_find(pct, nodes, want):
    assert num_feasible_nodes_to_find(pct, nodes) == want


def fit_error(statuses: dict[str, Status], num: int, **kw) -> str:
    return str(FitError("default/p", num, Diagnosis(node_to_status=statuses, **kw)))


def test_fit_error_message_histogram():
    taint = "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"
    msg = fit_error({"a": Status(Code.UNSCHEDULABLE, ["Insufficient cpu"]),
                     "b": Status(Code.UNSCHEDULABLE, [taint]), "c": Status(Code.UNSCHEDULABLE, [taint])}, 3)
    assert msg == f"0/3 nodes are available: 1 Insufficient cpu, 2 {taint}."


def test_fit_error_message_with_prefilter_and_postfilter():
    msg = fit_error({"a": Status(Code.UNSCHEDULABLE, ["x"])}, 1, pre_filter_msg="pod has unbound PVCs",
                    post_filter_msg="preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
    assert msg == ("0/1 nodes are available: pod has unbound PVCs. preemption: 0/1 nodes are available: "
                   "1 Preemption is not helpful for scheduling..")


def test_fit_error_counts_absent_nodes():
    msg = fit_error({"a": Status(Code.UNSCHEDULABLE, ["Insufficient cpu"])}, 3,
                    absent_nodes_status=Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                                               ["node(s) didn't satisfy plugin(s) [NodeAffinity]"]))
    assert msg == "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]."


def only(*names: str, point_names=("filter", "score")) -> dict:
    """A profile enabling just these plugins (plus sort and binder)."""
    enabled = [{"name": n} for n in ("PrioritySort", "DefaultBinder", *names)]
    return {"profiles": [{"plugins": {"multiPoint": {"enabled": enabled, "disabled": [{"name": "*"}]}}}]}


def framework_with_nodes(cfg: dict, nodes: list[dict]):
    config = parse_config(cfg)
    fwk = new_framework(config.profiles[0], register_default_plugins())
    cache = Cache()
    for n in nodes:
        cache.add_node(n)
    fwk.set_snapshot(cache.snapshot())
    return fwk


def test_filter_stops_at_num_feasible_and_rotates_start():
    nodes = [make_node(f"n{i:03}") for i in range(500)]
    fwk = framework_with_nodes(only("NodeResourcesFit"), nodes)
    feasible, diagnosis, total = fwk.find_nodes_that_fit(CycleState(), pod_info(make_pod(cpu="1")))
    assert total == 500 and len(feasible) == 230
    assert feasible[0].name == "n000" and fwk.next_start_node_index == 230
    feasible, _, _ = fwk.find_nodes_that_fit(CycleState(), pod_info(make_pod(cpu="1")))
    assert feasible[0].name == "n230" and fwk.next_start_node_index == 460


def test_schedule_pod_diagnosis_from_filters():
    nodes = [make_node("small", cpu="1"), make_node("cordoned", unschedulable=True), make_node("full", pods="0")]
    fwk = framework_with_nodes(only("NodeResourcesFit", "NodeUnschedulable"), nodes)
    with pytest.raises(FitError) as e:
        fwk.schedule_pod(CycleState(), pod_info(make_pod(cpu="2")))
    assert str(e.value) == ("0/3 nodes are available: 1 Insufficient cpu, 1 Too many pods, "
                            "1 node(s) were unschedulable.")
    assert e.value.diagnosis.unschedulable_plugins == {"NodeResourcesFit", "NodeUnschedulable"}


def test_score_weights_choose_host():
    nodes = [make_node("big", cpu="8"), make_node("small", cpu="2")]
    fwk = framework_with_nodes(only("NodeResourcesFit"), nodes)
    assert fwk.schedule_pod(CycleState(), pod_info(make_pod(cpu="1"))).suggested_host == "big"
    cfg = only("NodeResourcesFit")
    cfg["profiles"][0]["pluginConfig"] = [{"name": "NodeResourcesFit", "args": {
        "scoringStrategy": {"type": "MostAllocated"}}}]
    fwk = framework_with_nodes(cfg, nodes)
    assert fwk.schedule_pod(CycleState(), pod_info(make_pod(cpu="1"))).suggested_host == "small"


class _Const:
    def __init__(self, name: str, scores: dict[str, int]) -> None:
        self.name, self.scores = name, scores

    def score(self, state, pod, node):
        return self.scores[node.name], SUCCESS

    def score_extensions(self):
        return None


def test_run_score_plugins_weights():
    fwk = framework_with_nodes(only(), [make_node("a"), make_node("b")])
    fwk.add_plugin("score", _Const("A", {"a": 10, "b": 20}), 3)
    fwk.add_plugin("score", _Const("B", {"a": 50, "b": 0}), 1)
    nodes = fwk.snapshot().list()
    assert fwk.run_score_plugins(CycleState(), pod_info(make_pod()), nodes) == {"a": 80, "b": 60}


def test_default_profile_and_multipoint_overrides():
    cfg = parse_config({"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
                        "percentageOfNodesToScore": 20, "profiles": [
                            {"schedulerName": "default-scheduler"},
                            {"schedulerName": "custom", "percentageOfNodesToScore": 70, "plugins": {
                                "score": {"enabled": [{"name": "NodeResourcesFit", "weight": 5}],
                                          "disabled": [{"name": "ImageLocality"}]},
                                "filter": {"disabled": [{"name": "NodePorts"}]}}}]})
    reg = register_default_plugins()
    default = new_framework(cfg.profiles[0], reg, percentage_of_nodes_to_score=cfg.percentage_of_nodes_to_score)
    custom = new_framework(cfg.profiles[1], reg, percentage_of_nodes_to_score=cfg.percentage_of_nodes_to_score)
    assert default.percentage_of_nodes_to_score == 20 and custom.percentage_of_nodes_to_score == 70
    assert default.score_weights["NodeResourcesFit"] == 1 and custom.score_weights["NodeResourcesFit"] == 5
    assert "ImageLocality" in default.score_weights and "ImageLocality" not in custom.score_weights
    assert "NodePorts" in [p.name for p in default.points["filter"]]
    assert "NodePorts" not in [p.name for p in custom.points["filter"]]
    assert "NodePorts" in [p.name for p in custom.points["preFilter"]]
    assert [p.name for p in custom.points["score"]][0] == "NodeResourcesFit"


@pytest.mark.parametrize("doc", [
    {"kind": "Other"},
    {"profiles": [{"schedulerName": "a"}, {"schedulerName": "a"}]},
    {"percentageOfNodesToScore": 101},
    {"profiles": [{"pluginConfig": [{"name": "X"}, {"name": "X"}]}]},
], ids=["kind", "duplicate-profile", "percentage", "duplicate-args"])
def test_invalid_configs(doc):
    with pytest.raises(ConfigError):
        parse_config(doc)


def test_unknown_plugin_is_an_error():
    cfg = parse_config({"profiles": [{"plugins": {"filter": {"enabled": [{"name": "Nope"}]}}}]})
    with pytest.raises(ValueError):
        new_framework(cfg.profiles[0], register_default_plugins())

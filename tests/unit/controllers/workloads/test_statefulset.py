"""StatefulSet ordinals and identity, claims and their retention owners, and the order in which the controller
creates, deletes and updates pods (OrderedReady, Parallel, partitioned RollingUpdate, OnDelete)."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.controllers import history
from kybernetes.controllers import statefulsetutil as su
from kybernetes.controllers.statefulset import StatefulSetController
from tests.unit.controllers.workloads.fakes import fake_context

Obj = dict[str, Any]


def sts(replicas: int = 3, **spec: Any) -> Obj:
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "sts-uid", "generation": 2},
            "spec": {"replicas": replicas, "serviceName": "svc", "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "v1"}]}}, **spec}}


@pytest.mark.parametrize("name,want", [
    ("web-0", ("web", 0)), ("web-12", ("web", 12)), ("my-web-3", ("my-web", 3)), ("web", ("", -1)),
    ("web-x", ("", -1)),
], ids=["zero", "two-digits", "dashed-parent", "no-ordinal", "not-a-number"])
def test_parent_and_ordinal(name: str, want: tuple[str, int]) -> None:
    assert su.parent_and_ordinal({"metadata": {"name": name}}) == want


def test_pod_identity_and_claim_volumes() -> None:
    the_sts = sts(volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {}}])
    the_sts["spec"]["template"]["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}, {"name": "tmp",
                                                                                          "emptyDir": {}}]
    pod = su.new_stateful_set_pod(the_sts, 4, "web-abc")
    md = pod["metadata"]
    assert md["name"] == "web-4"
    assert md["labels"] == {"app": "web", su.POD_NAME_LABEL: "web-4", su.POD_INDEX_LABEL: "4",
                            history.CONTROLLER_REVISION_HASH_LABEL: "web-abc"}
    assert md["ownerReferences"][0]["kind"] == "StatefulSet" and md["ownerReferences"][0]["controller"]
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("web-4", "svc")
    assert pod["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-4"}},
                                      {"name": "tmp", "emptyDir": {}}]
    claim = su.claims_for(the_sts, 4)[0]
    assert (claim["metadata"]["name"], claim["metadata"]["labels"]) == ("data-web-4", {"app": "web"})


@pytest.mark.parametrize("strategy,status,ordinal,want", [
    ({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}, {}, 1, "cur"),
    ({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}, {}, 2, "upd"),
    ({"type": "RollingUpdate"}, {"currentReplicas": 2}, 1, "cur"),
    ({"type": "RollingUpdate"}, {"currentReplicas": 2}, 2, "upd"),
    ({"type": "OnDelete"}, {}, 0, "upd"),
], ids=["below-partition", "at-partition", "no-rolling-params-below-current", "no-rolling-params-above",
        "on-delete"])
def test_new_versioned_pod(strategy: Obj, status: Obj, ordinal: int, want: str) -> None:
    current = {**sts(updateStrategy=strategy), "status": status}
    update = sts(updateStrategy=strategy)
    update["spec"]["template"]["spec"]["containers"][0]["image"] = "v2"
    pod = su.new_versioned_pod(current, update, "cur", "upd", ordinal)
    assert su.revision_of(pod) == want
    assert pod["spec"]["containers"][0]["image"] == ("v1" if want == "cur" else "v2")


@pytest.mark.parametrize("policy,ordinal,want_kinds", [
    ({"whenDeleted": "Retain", "whenScaled": "Retain"}, 5, []),
    ({"whenDeleted": "Delete", "whenScaled": "Retain"}, 1, ["StatefulSet"]),
    ({"whenDeleted": "Retain", "whenScaled": "Delete"}, 1, []),
    ({"whenDeleted": "Retain", "whenScaled": "Delete"}, 5, ["Pod"]),
    ({"whenDeleted": "Delete", "whenScaled": "Delete"}, 5, ["StatefulSet", "Pod"]),
], ids=["retain", "delete-with-set", "scaled-but-kept", "condemned-follows-pod", "both"])
def test_claim_retention_owner_refs(policy: Obj, ordinal: int, want_kinds: list[str]) -> None:
    the_sts = sts(replicas=3, persistentVolumeClaimRetentionPolicy=policy)
    pod = {"metadata": {"name": f"web-{ordinal}", "uid": "pod-uid"}}
    stale = {"metadata": {"ownerReferences": [{"kind": "Pod", "name": f"web-{ordinal}", "uid": "old-pod"}]}}
    refs = su.desired_claim_owner_refs(the_sts, pod, stale)
    assert [r["kind"] for r in refs] == want_kinds
    assert all(r["uid"] in ("sts-uid", "pod-uid") for r in refs)


def pod(ordinal: int, revision: str = "rev-1", *, ready: bool = True, deleting: bool = False,
        phase: str = "Running") -> Obj:
    md: Obj = {"name": f"web-{ordinal}", "namespace": "ns", "uid": f"uid-{ordinal}",
               "labels": {"app": "web", history.CONTROLLER_REVISION_HASH_LABEL: revision}}
    if deleting:
        md["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"metadata": md, "spec": {}, "status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}


def revision(name: str, image: str) -> Obj:
    template = sts()["spec"]["template"]
    template["spec"]["containers"][0]["image"] = image
    return {"metadata": {"name": name}, "data": history.template_patch(template), "revision": 1}


OLD, NEW = revision("rev-1", "v1"), revision("rev-2", "v2")


@pytest.mark.parametrize("spec,pods,revs,want", [
    ({"replicas": 3}, [], (OLD, OLD), [("create", "web-0")]),
    ({"replicas": 3}, [pod(0)], (OLD, OLD), [("create", "web-1")]),
    ({"replicas": 3}, [pod(0, ready=False)], (OLD, OLD), []),
    ({"replicas": 3}, [pod(0, deleting=True)], (OLD, OLD), []),
    ({"replicas": 3, "podManagementPolicy": "Parallel"}, [pod(1, ready=False)], (OLD, OLD),
     [("create", "web-0"), ("create", "web-2")]),
    ({"replicas": 1}, [pod(0), pod(1), pod(2)], (OLD, OLD), [("delete", "web-2")]),
    ({"replicas": 1}, [pod(0, ready=False), pod(1), pod(2)], (OLD, OLD), []),
    ({"replicas": 1, "podManagementPolicy": "Parallel"}, [pod(0), pod(1), pod(2)], (OLD, OLD),
     [("delete", "web-2"), ("delete", "web-1")]),
    ({"replicas": 2}, [pod(0, phase="Failed"), pod(1)], (OLD, OLD), [("delete", "web-0")]),
    ({"replicas": 3}, [pod(0), pod(1), pod(2)], (OLD, NEW), [("delete", "web-2")]),
    ({"replicas": 3}, [pod(0), pod(1), pod(2, "rev-2")], (OLD, NEW), [("delete", "web-1")]),
    ({"replicas": 3}, [pod(0), pod(1), pod(2, "rev-2", ready=False)], (OLD, NEW), []),
    ({"replicas": 3, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}},
     [pod(0), pod(1), pod(2, "rev-2")], (OLD, NEW), []),
    ({"replicas": 3, "updateStrategy": {"type": "OnDelete"}}, [pod(0), pod(1), pod(2)], (OLD, NEW), []),
    ({"replicas": 3, "updateStrategy": {"type": "OnDelete"}}, [pod(0), pod(2)], (OLD, NEW), [("create", "web-1")]),
], ids=["ordered-first", "ordered-next-after-ready", "ordered-waits-unready", "ordered-waits-terminating",
        "parallel-creates-all", "scale-down-highest-first", "scale-down-waits-unhealthy", "parallel-scale-down",
        "failed-pod-recreated", "rolling-highest-first", "rolling-next-lower", "rolling-waits-ready",
        "partition-stops", "on-delete-no-rolling", "on-delete-new-pods-updated"])
async def test_update_ordering(spec: Obj, pods: list[Obj], revs: tuple[Obj, Obj],
                               want: list[tuple[str, str]]) -> None:
    ctx, client, _, _ = fake_context()
    ctl = StatefulSetController(ctx, now=lambda: 1e10)
    the_sts = sts(**spec)
    state = ctl._new_state(the_sts, pods, revs[0], revs[1], 0)
    await ctl._update_stateful_set(state)
    calls = [(v, p.rsplit("/", 1)[-1] if v == "delete" else b["metadata"]["name"]) for v, p, b in client.calls]
    assert calls == want
    for v, _, body in client.calls:
        if v == "create" and spec.get("updateStrategy", {}).get("type") == "OnDelete":
            assert su.revision_of(body) == "rev-2"


def test_status_counts_and_rolling_completion() -> None:
    ctx, _, _, _ = fake_context()
    ctl = StatefulSetController(ctx, now=lambda: 1e10)
    state = ctl._new_state(sts(), [pod(0, "rev-2"), pod(1, "rev-2"), pod(2, "rev-2", ready=False), pod(7)],
                           OLD, NEW, 3)
    assert [p["metadata"]["name"] if p else None for p in state.replicas] == ["web-0", "web-1", "web-2"]
    assert [p["metadata"]["name"] for p in state.condemned] == ["web-7"]
    s = state.status
    assert (s["replicas"], s["readyReplicas"], s["currentReplicas"], s["updatedReplicas"], s["collisionCount"]) == \
        (4, 3, 1, 3, 3)
    done = ctl._new_state(sts(), [pod(0, "rev-2"), pod(1, "rev-2"), pod(2, "rev-2")], OLD, NEW, 0)
    ctl._complete_rolling_update(done)
    assert (done.status["currentRevision"], done.status["currentReplicas"]) == ("rev-2", 3)

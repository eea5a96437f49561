"""VolumeBinding: bound claims and PV node affinity, immediate claims, WaitForFirstConsumer matching of local
PVs (size, access modes, class, selector, node), Reserve/Unreserve assumptions and PreBind API writes."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.scheduler.framework.interface import Code, CycleState
from kybernetes.scheduler.plugins import volumebinding as vb
from tests.unit.scheduler.plugins.fixtures import HOSTNAME, FakeHandle, node, node_info, pi, pod

WFFC, IMMEDIATE = "local", "fast"
CLASSES = [{"metadata": {"name": WFFC}, "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer"},
           {"metadata": {"name": IMMEDIATE}, "provisioner": "x", "volumeBindingMode": "Immediate"}]


def pvc(name: str, size: str = "5Gi", cls: str | None = WFFC, volume: str = "", modes: tuple[str, ...] = (
        "ReadWriteOnce",), selector: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": list(modes), "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    if volume:
        spec["volumeName"] = volume
    if selector:
        spec["selector"] = selector
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": "7"},
            "spec": spec}


def pv(name: str, host: str | None, size: str = "10Gi", cls: str = WFFC, modes: tuple[str, ...] = ("ReadWriteOnce",),
       claim: str = "", labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": list(modes), "storageClassName": cls,
                            "local": {"path": "/mnt"}}
    if host:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": HOSTNAME, "operator": "In", "values": [host]}]}]}}
    if claim:
        spec["claimRef"] = {"namespace": "default", "name": claim}
    return {"metadata": {"name": name, "labels": labels or {}, "resourceVersion": "3"}, "spec": spec,
            "status": {"phase": "Available"}}


def with_claims(*names: str) -> dict[str, Any]:
    return pod("p", volumes=[{"name": f"v{i}", "persistentVolumeClaim": {"claimName": n}}
                             for i, n in enumerate(names)])


def setup(pvcs: list[dict[str, Any]], pvs: list[dict[str, Any]]) -> tuple[FakeHandle, list[Any]]:
    infos = [node_info(node("n1")), node_info(node("n2"))]
    return FakeHandle(infos, {"persistentvolumeclaims": pvcs, "persistentvolumes": pvs,
                              "storageclasses": CLASSES}), infos


CONFLICT, NODE_CONFLICT = vb.ERR_REASON_BIND_CONFLICT, vb.ERR_REASON_NODE_CONFLICT

# (id, pod, pvcs, pvs, PreFilter outcome ("skip", "ok" or a reason), per-node Filter reason)
CASES = [
    ("no-volumes-skip", pod(), [], [], "skip", {}),
    ("claim-not-found", with_claims("data"), [], [], 'persistentvolumeclaim "data" not found', {}),
    ("bound-claim-pv-affinity", with_claims("data"), [pvc("data", volume="pv1")], [pv("pv1", "n1", claim="data")],
     "ok", {"n1": None, "n2": NODE_CONFLICT}),
    ("bound-claim-pv-without-affinity", with_claims("data"), [pvc("data", volume="pv1")], [pv("pv1", None)],
     "ok", {"n1": None, "n2": None}),
    ("bound-claim-missing-pv", with_claims("data"), [pvc("data", volume="gone")], [], "ok",
     {"n1": vb.ERR_REASON_PV_NOT_EXIST, "n2": vb.ERR_REASON_PV_NOT_EXIST}),
    ("unbound-immediate", with_claims("data"), [pvc("data", cls=IMMEDIATE)], [], vb.ERR_REASON_UNBOUND_IMMEDIATE, {}),
    ("unbound-no-class", with_claims("data"), [pvc("data", cls=None)], [], vb.ERR_REASON_UNBOUND_IMMEDIATE, {}),
    ("unknown-class", with_claims("data"), [pvc("data", cls="nope")], [],
     'storageclass.storage.k8s.io "nope" not found', {}),
    ("wffc-size-decides", with_claims("data"), [pvc("data")], [pv("big", "n1"), pv("small", "n2", size="1Gi")],
     "ok", {"n1": None, "n2": CONFLICT}),
    ("wffc-access-modes", with_claims("data"), [pvc("data", modes=("ReadWriteMany",))], [pv("a", "n1")], "ok",
     {"n1": CONFLICT, "n2": CONFLICT}),
    ("wffc-class-mismatch", with_claims("data"), [pvc("data")], [pv("a", "n1", cls="other")], "ok",
     {"n1": CONFLICT, "n2": CONFLICT}),
    ("wffc-pv-bound-elsewhere", with_claims("data"), [pvc("data")], [pv("a", "n1", claim="someone")], "ok",
     {"n1": CONFLICT, "n2": CONFLICT}),
    ("wffc-pv-prebound-to-claim", with_claims("data"), [pvc("data")], [pv("a", "n2", claim="data")], "ok",
     {"n1": CONFLICT, "n2": None}),
    ("wffc-selector", with_claims("data"), [pvc("data", selector={"matchLabels": {"disk": "ssd"}})],
     [pv("a", "n1"), pv("b", "n2", labels={"disk": "ssd"})], "ok", {"n1": CONFLICT, "n2": None}),
    ("wffc-two-claims-need-two-pvs", with_claims("d1", "d2"), [pvc("d1"), pvc("d2")],
     [pv("a", "n1"), pv("b", "n1"), pv("c", "n2")], "ok", {"n1": None, "n2": CONFLICT}),
    ("bound-and-unbound-together", with_claims("d1", "d2"), [pvc("d1", volume="x"), pvc("d2")],
     [pv("x", "n1", claim="d1"), pv("y", "n2")], "ok", {"n1": CONFLICT, "n2": NODE_CONFLICT}),
]


@pytest.mark.parametrize("p,pvcs,pvs,pre,want", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_filter(p: dict[str, Any], pvcs: list[dict[str, Any]], pvs: list[dict[str, Any]], pre: str,
                want: dict[str, str | None]) -> None:
    handle, infos = setup(pvcs, pvs)
    pl = vb.new({}, handle)
    state, info = CycleState(), pi(p)
    _, s = pl.pre_filter(state, info, infos)
    if pre == "skip":
        assert s.is_skip()
        return
    if pre != "ok":
        assert s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE and s.reasons == [pre]
        return
    assert s.is_success()
    for ni in infos:
        got = pl.filter(state, info, ni)
        assert got.reasons == ([want[ni.name]] if want[ni.name] else []), ni.name
        if got.reasons:
            assert got.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE


async def test_reserve_picks_smallest_fitting_pv_and_pre_bind_writes_both_objects() -> None:
    handle, infos = setup([pvc("data")], [pv("big", "n1", size="100Gi"), pv("fit", "n1", size="6Gi"),
                                          pv("tiny", "n1", size="1Gi")])
    pl = vb.new({}, handle)
    state, info = CycleState(), pi(with_claims("data"))
    pl.pre_filter(state, info, infos)
    assert (await pl.reserve(state, info, "n1")).is_success()
    assert pl.assumed == {"fit": info.key}
    assert (await pl.pre_bind(state, info, "n1")).is_success()
    calls = {(m, path): body for m, path, body in handle.client.calls}
    put = calls[("PUT", "/api/v1/persistentvolumes/fit")]
    assert put["spec"]["claimRef"] == {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": "default",
                                       "name": "data", "uid": "uid-data", "resourceVersion": "7"}
    assert put["metadata"]["resourceVersion"] == "3"  # compare-and-swap: a lost race is a 409, not a double bind
    claim = calls[("PATCH", "/api/v1/namespaces/default/persistentvolumeclaims/data")]
    assert claim["spec"] == {"volumeName": "fit"}
    assert claim["metadata"]["annotations"][vb.ANN_BIND_COMPLETED] == "yes"


async def test_assumed_pv_is_not_offered_to_another_pod_until_unreserved() -> None:
    handle, infos = setup([pvc("d1"), pvc("d2")], [pv("only", "n1")])
    pl = vb.new({}, handle)
    first, second = pi(with_claims("d1")), pi(pod("q", volumes=[{"name": "v", "persistentVolumeClaim":
                                                                 {"claimName": "d2"}}]))
    s1, s2 = CycleState(), CycleState()
    pl.pre_filter(s1, first, infos)
    assert (await pl.reserve(s1, first, "n1")).is_success()
    pl.pre_filter(s2, second, infos)
    assert pl.filter(s2, second, infos[0]).reasons == [CONFLICT]
    await pl.unreserve(s1, first, "n1")
    assert pl.filter(s2, second, infos[0]).is_success()

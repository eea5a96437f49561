"""VolumeBinding for pre-created PersistentVolumes: bound claims pin the pod to their PV's node affinity;
WaitForFirstConsumer claims are matched to an available PV per node and bound through the API at PreBind."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from kybernetes.api.selectors import label_selector_from_dict
from kybernetes.client.rest import ApiError, resource_path
from kybernetes.scheduler.framework.interface import (SUCCESS, ClusterEvent, CycleState, Handle, Node, NodeInfo,
                                                      PodInfo, Status)
from kybernetes.scheduler.framework.types import int_value
from kybernetes.scheduler.plugins.helpers.nodeaffinity import NodeSelector
from kybernetes.scheduler.plugins.helpers.pods import lister_or_none, name_of, namespace_of

NAME = "VolumeBinding"
STATE_KEY = "PreFilter" + NAME
ERR_REASON_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
ERR_REASON_NODE_CONFLICT = "node(s) had volume node affinity conflict"
ERR_REASON_PV_NOT_EXIST = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
ERR_REASON_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
ANN_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"


def storage_class_of(obj: dict[str, Any]) -> str:
    """GetPersistentVolume(Claim)Class: the beta annotation wins over spec.storageClassName."""
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    if ANN_STORAGE_CLASS in ann:
        return ann[ANN_STORAGE_CLASS]
    return (obj.get("spec") or {}).get("storageClassName") or ""


def _storage(rl: dict[str, Any] | None) -> int:
    q = (rl or {}).get("storage")
    return int_value(q) if q is not None else 0


def pod_claim_names(pod: dict[str, Any]) -> list[str]:
    """Names of the PVCs a pod uses: persistentVolumeClaim volumes and generic ephemeral volumes."""
    out = []
    for v in (pod.get("spec") or {}).get("volumes") or ():
        if v.get("persistentVolumeClaim"):
            out.append(v["persistentVolumeClaim"].get("claimName", ""))
        elif v.get("ephemeral"):
            out.append(f"{name_of(pod)}-{v.get('name', '')}")
    return out


@dataclass
class _ClaimToBind:
    pvc: dict[str, Any]
    candidates: list[dict[str, Any]]  # available PVs matching class, size, modes and selector; smallest first


@dataclass
class _State:
    bound_pvs: list[dict[str, Any]]  # PVs of bound claims
    missing_pv: bool
    to_bind: list[_ClaimToBind]
    bindings: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # (pvc, pv) at Reserve


class VolumeBinding:
    name = NAME

    def __init__(self, args: dict[str, Any], handle: Handle | None) -> None:
        self.handle = handle
        self.assumed: dict[str, str] = {}  # PV name -> "ns/pod" holding it between Reserve and the informer update
        self._affinity_cache: dict[tuple[str, str], NodeSelector | None] = {}

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("PersistentVolumeClaim", "Add"), ClusterEvent("PersistentVolumeClaim", "Update"),
                ClusterEvent("PersistentVolume", "Add"), ClusterEvent("PersistentVolume", "Update"),
                ClusterEvent("StorageClass", "Add"), ClusterEvent("StorageClass", "Update"),
                ClusterEvent("Node", "Add"), ClusterEvent("Node", "UpdateNodeLabel")]

    def _lister(self, group: str, plural: str) -> Any:
        return lister_or_none(self.handle, group, "v1", plural)

    def _pv_affinity(self, pv: dict[str, Any]) -> NodeSelector | None:
        md = pv.get("metadata") or {}
        key = (md.get("name", ""), md.get("resourceVersion", ""))
        if key not in self._affinity_cache:
            if len(self._affinity_cache) > 10000:
                self._affinity_cache.clear()
            req = (((pv.get("spec") or {}).get("nodeAffinity")) or {}).get("required")
            self._affinity_cache[key] = NodeSelector(req) if req is not None else None
        return self._affinity_cache[key]

    def _pv_fits_node(self, pv: dict[str, Any], node: Node) -> bool:
        sel = self._pv_affinity(pv)
        return sel is None or sel.matches(node)

    # --- PreFilter / Filter ----------------------------------------------------------------------------

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> tuple[set[str] | None, Status]:
        names = pod_claim_names(pod.pod)
        if not names:
            return None, Status.skip()
        ns = namespace_of(pod.pod)
        pvcs, pvs, classes = self._lister("", "persistentvolumeclaims"), self._lister("", "persistentvolumes"), \
            self._lister("storage.k8s.io", "storageclasses")
        s = _State([], False, [])
        immediate = False
        for name in names:
            pvc = pvcs.get_by_key(f"{ns}/{name}") if pvcs is not None else None
            if pvc is None:
                return None, Status.unschedulable(f'persistentvolumeclaim "{name}" not found', resolvable=False)
            if (pvc.get("metadata") or {}).get("deletionTimestamp"):
                return None, Status.unschedulable(f'persistentvolumeclaim "{name}" is being deleted',
                                                  resolvable=False)
            volume_name = (pvc.get("spec") or {}).get("volumeName")
            if volume_name:
                pv = pvs.get_by_key(volume_name) if pvs is not None else None
                if pv is None:
                    s.missing_pv = True
                else:
                    s.bound_pvs.append(pv)
                continue
            class_name = storage_class_of(pvc)
            sc = classes.get_by_key(class_name) if classes is not None and class_name else None
            if class_name and sc is None:
                return None, Status.unschedulable(f'storageclass.storage.k8s.io "{class_name}" not found',
                                                  resolvable=False)
            if sc is None or sc.get("volumeBindingMode") != WAIT_FOR_FIRST_CONSUMER:
                immediate = True
                continue
            s.to_bind.append(_ClaimToBind(pvc, self._candidates(pvc, pvs.list() if pvs is not None else [])))
        if immediate:
            return None, Status.unschedulable(ERR_REASON_UNBOUND_IMMEDIATE, resolvable=False)
        s.to_bind.sort(key=lambda c: _storage(((c.pvc.get("spec") or {}).get("resources") or {}).get("requests")))
        self._forget_bound_assumptions(pvs)
        state.write(STATE_KEY, s)
        return None, SUCCESS

    def _forget_bound_assumptions(self, pvs: Any) -> None:
        for name in list(self.assumed):
            pv = pvs.get_by_key(name) if pvs is not None else None
            if pv is None or (pv.get("spec") or {}).get("claimRef"):
                self.assumed.pop(name, None)

    @staticmethod
    def _candidates(pvc: dict[str, Any], pvs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """FindMatchingVolume without the node: PVs pre-bound to this claim first, then available ones by size."""
        spec = pvc.get("spec") or {}
        md = pvc.get("metadata") or {}
        want = _storage((spec.get("resources") or {}).get("requests"))
        modes = set(spec.get("accessModes") or ())
        mode = spec.get("volumeMode") or "Filesystem"
        cls = storage_class_of(pvc)
        try:
            selector = label_selector_from_dict(spec["selector"]) if spec.get("selector") is not None else None
        except ValueError:
            return []
        prebound, free = [], []
        for pv in pvs:
            ps = pv.get("spec") or {}
            pmd = pv.get("metadata") or {}
            if pmd.get("deletionTimestamp") or (ps.get("volumeMode") or "Filesystem") != mode:
                continue
            size = _storage(ps.get("capacity"))
            if size < want or not modes <= set(ps.get("accessModes") or ()):
                continue
            ref = ps.get("claimRef")
            if ref:
                if ref.get("name") == md.get("name") and ref.get("namespace") == md.get("namespace") and \
                        (not ref.get("uid") or ref.get("uid") == md.get("uid")):
                    prebound.append((size, pmd.get("name", ""), pv))
                continue
            if (pv.get("status") or {}).get("phase") not in (None, "", "Available"):
                continue
            if storage_class_of(pv) != cls:
                continue
            if selector is not None and not selector.matches(pmd.get("labels") or {}):
                continue
            free.append((size, pmd.get("name", ""), pv))
        return [pv for _, _, pv in sorted(prebound, key=lambda t: t[:2])] + \
            [pv for _, _, pv in sorted(free, key=lambda t: t[:2])]

    def _match(self, s: _State, pod_key: str, node: Node) -> list[tuple[dict[str, Any], dict[str, Any]]] | None:
        """A PV for every claim to bind on this node (smallest first, each PV once), or None."""
        chosen: set[str] = set()
        out = []
        for claim in s.to_bind:
            for pv in claim.candidates:
                name = name_of(pv)
                if name in chosen or self.assumed.get(name, pod_key) != pod_key:
                    continue
                if self._pv_fits_node(pv, node):
                    chosen.add(name)
                    out.append((claim.pvc, pv))
                    break
            else:
                return None
        return out

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        s: _State | None = state.get(STATE_KEY)
        if s is None or node.node is None:
            return SUCCESS
        if s.missing_pv:
            return Status.unschedulable(ERR_REASON_PV_NOT_EXIST, resolvable=False)
        reasons = []
        if any(not self._pv_fits_node(pv, node.node) for pv in s.bound_pvs):
            reasons.append(ERR_REASON_NODE_CONFLICT)
        if s.to_bind and self._match(s, pod.key, node.node) is None:
            reasons.append(ERR_REASON_BIND_CONFLICT)
        return Status.unschedulable(*reasons, resolvable=False) if reasons else SUCCESS

    # --- Reserve / PreBind -----------------------------------------------------------------------------

    async def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        s: _State | None = state.get(STATE_KEY)
        if s is None or not s.to_bind:
            return SUCCESS
        ni = self.handle.snapshot().get(node_name) if self.handle is not None else None
        bindings = self._match(s, pod.key, ni.node) if ni is not None and ni.node is not None else None
        if bindings is None:
            return Status.unschedulable(ERR_REASON_BIND_CONFLICT)
        for _, pv in bindings:
            self.assumed[name_of(pv)] = pod.key
        s.bindings = bindings
        return SUCCESS

    async def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        s: _State | None = state.get(STATE_KEY)
        for _, pv in (s.bindings if s is not None else ()):
            if self.assumed.get(name_of(pv)) == pod.key:
                del self.assumed[name_of(pv)]

    async def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        s: _State | None = state.get(STATE_KEY)
        if s is None or not s.bindings:
            return SUCCESS
        try:
            await asyncio.gather(*(self._bind(pvc, pv) for pvc, pv in s.bindings))
        except ApiError as e:
            return Status.error(f"binding volumes: {e}")
        return SUCCESS

    async def _bind(self, pvc: dict[str, Any], pv: dict[str, Any]) -> None:
        """Point the PV at the claim (compare-and-swap on its resourceVersion), then the claim at the PV."""
        client = self.handle.client
        md = pvc.get("metadata") or {}
        ns, claim, pv_name = md.get("namespace", ""), md.get("name", ""), name_of(pv)
        updated = {**pv, "metadata": {**pv["metadata"], "annotations": {
            **((pv["metadata"].get("annotations")) or {}), ANN_BOUND_BY_CONTROLLER: "yes"}},
            "spec": {**pv.get("spec", {}), "claimRef": {
                "kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": ns, "name": claim,
                "uid": md.get("uid", ""), "resourceVersion": md.get("resourceVersion", "")}}}
        await client.update(resource_path("", "v1", "persistentvolumes", name=pv_name), updated)
        await client.patch(resource_path("", "v1", "persistentvolumes", name=pv_name, subresource="status"),
                           {"status": {"phase": "Bound"}})
        await client.patch(resource_path("", "v1", "persistentvolumeclaims", ns, claim),
                           {"metadata": {"annotations": {ANN_BIND_COMPLETED: "yes", ANN_BOUND_BY_CONTROLLER: "yes"}},
                            "spec": {"volumeName": pv_name}})
        ps = pv.get("spec") or {}
        await client.patch(resource_path("", "v1", "persistentvolumeclaims", ns, claim, subresource="status"),
                           {"status": {"phase": "Bound", "accessModes": ps.get("accessModes") or [],
                                       "capacity": ps.get("capacity") or {}}})


def new(args: dict[str, Any], handle: Handle | None) -> VolumeBinding:
    return VolumeBinding(args or {}, handle)

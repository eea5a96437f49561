"""The scheduler cache (upstream's cacheImpl): NodeInfo aggregates kept incrementally from pod and node events,
assumed pods (placed before their binding is confirmed), and cheap per-cycle snapshots that re-clone only the
NodeInfos whose generation changed since the last snapshot."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kybernetes.client.clock import Clock, RealClock
from kybernetes.scheduler.framework.interface import Node, NodeInfo, Pod, PodInfo
from kybernetes.scheduler.framework.types import (add_pod, new_node_info, new_pod_info, next_generation, pod_priority,
                                                 remove_pod, set_node)
from kybernetes.scheduler.plugins.imagelocality import normalized_image_name

log = logging.getLogger(__name__)

MAX_SNAPSHOT_CHANGES = 256  # updates a Snapshot remembers for changed_since


class CacheError(Exception):
    """A cache call that breaks its contract (assuming a pod twice, forgetting one that was never assumed)."""


def _uid(pod: Pod) -> str:
    return (pod.get("metadata") or {}).get("uid", "")


def _node_name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name", "")


@dataclass
class _PodState:
    pod_info: PodInfo
    node_name: str
    assumed: bool = False
    binding_finished: bool = False
    deadline: float | None = None


class Snapshot:
    """NodeInfos of one scheduling cycle (a NodeInfoLister); updated in place by Cache.update_snapshot."""

    def __init__(self) -> None:
        self.node_info_map: dict[str, NodeInfo] = {}
        self.node_info_list: list[NodeInfo] = []
        self._index: dict[str, int] = {}
        self.have_pods_with_affinity: list[NodeInfo] = []
        self.have_pods_with_required_anti_affinity: list[NodeInfo] = []
        self.generation = 0  # bumped by every update that changed something
        # how many nodes have taints / spec.unschedulable (0 lets filters pass every node without looking at it)
        self.num_tainted = 0
        self.num_unschedulable = 0
        self.image_names: frozenset[str] = frozenset()  # every (normalized) image some node reports
        self._changes: list[tuple[int, frozenset[str] | None]] = []  # (generation, changed node names or None)

    def changed_since(self, generation: int) -> set[str] | None:
        """Names of the nodes whose NodeInfo changed after `generation`; None when unknown (too old, or nodes were
        added or removed), so the caller must look at every node again."""
        if generation == self.generation:
            return set()
        if not self._changes or generation < self._changes[0][0] - 1 or generation > self.generation:
            return None
        out: set[str] = set()
        for gen, names in reversed(self._changes):
            if gen <= generation:
                break
            if names is None:
                return None
            out |= names
        return out

    def _record_change(self, names: frozenset[str] | None) -> None:
        self.generation += 1
        self._changes.append((self.generation, names))
        if len(self._changes) > MAX_SNAPSHOT_CHANGES:
            del self._changes[:len(self._changes) - MAX_SNAPSHOT_CHANGES]

    def list(self) -> list[NodeInfo]:
        return self.node_info_list

    def get(self, node_name: str) -> NodeInfo | None:
        return self.node_info_map.get(node_name)

    def have_pods_with_affinity_list(self) -> list[NodeInfo]:
        return self.have_pods_with_affinity

    def have_pods_with_required_anti_affinity_list(self) -> list[NodeInfo]:
        return self.have_pods_with_required_anti_affinity

    def num_nodes(self) -> int:
        return len(self.node_info_list)

    def _count(self, ni: NodeInfo, sign: int) -> None:
        if ni.taints:
            self.num_tainted += sign
        if ni.unschedulable:
            self.num_unschedulable += sign


class Cache:
    """Nodes and the pods placed on them (bound or assumed). Single-threaded: call from the event loop only."""

    def __init__(self, *, ttl: float = 0.0, clock: Clock | None = None) -> None:
        self.ttl = ttl  # how long an assumed pod whose binding finished may wait for its informer add; 0 = forever
        self.clock = clock or RealClock()
        self._nodes: dict[str, NodeInfo] = {}
        self._pods: dict[str, _PodState] = {}
        self._assumed: set[str] = set()
        self._dirty: set[str] = set()
        self._images: dict[str, tuple[int, set[str]]] = {}  # image -> (size, nodes having it)
        self._node_images: dict[str, set[str]] = {}
        self._images_changed = True

    # -- nodes -----------------------------------------------------------------------------------------------

    def _touch(self, ni: NodeInfo, name: str) -> None:
        ni.generation = next_generation()
        self._dirty.add(name)

    def _set_images(self, name: str, node: Node | None) -> None:
        before = len(self._images)
        gone = False
        for image in self._node_images.pop(name, ()):
            size, nodes = self._images[image]
            nodes.discard(name)
            if not nodes:
                del self._images[image]
                gone = True
        if node is not None:
            mine: set[str] = set()
            for img in (node.get("status") or {}).get("images") or ():
                for n in img.get("names") or ():
                    image = normalized_image_name(n)
                    mine.add(image)
                    size, nodes = self._images.get(image, (int(img.get("sizeBytes") or 0), set()))
                    nodes.add(name)
                    self._images[image] = (size, nodes)
            if mine:
                self._node_images[name] = mine
        if gone or len(self._images) != before:
            self._images_changed = True  # the set of images some node has changed (Snapshot.image_names)

    def add_node(self, node: Node) -> None:
        name = _node_name(node)
        ni = self._nodes.get(name)
        if ni is None:
            ni = self._nodes[name] = new_node_info()
        set_node(ni, node)
        self._set_images(name, node)
        self._touch(ni, name)

    def update_node(self, old: Node | None, new: Node) -> None:
        self.add_node(new)

    def remove_node(self, node: Node) -> None:
        """Forget the node; its NodeInfo stays (without node) while pods still point at it, as upstream."""
        name = _node_name(node)
        ni = self._nodes.get(name)
        if ni is None:
            return
        ni.node = None
        self._set_images(name, None)
        if not ni.pods:
            del self._nodes[name]
        self._touch(ni, name)

    def node_count(self) -> int:
        return sum(1 for ni in self._nodes.values() if ni.node is not None)

    def node_info(self, name: str) -> NodeInfo | None:
        return self._nodes.get(name)

    # -- pods ------------------------------------------------------------------------------------------------

    def _add(self, pi: PodInfo, node_name: str) -> None:
        ni = self._nodes.get(node_name)
        if ni is None:
            ni = self._nodes[node_name] = new_node_info()
        add_pod(ni, pi)
        self._touch(ni, node_name)

    def _drop(self, pod: Pod, node_name: str) -> None:
        ni = self._nodes.get(node_name)
        if ni is None:
            return
        remove_pod(ni, pod)
        self._touch(ni, node_name)
        if ni.node is None and not ni.pods:
            del self._nodes[node_name]

    def assume_pod(self, pi: PodInfo) -> None:
        """Place a pod (its spec.nodeName set) before its binding is confirmed."""
        uid = pi.uid
        if uid in self._pods:
            raise CacheError(f"pod {pi.key} ({uid}) is in the cache, so can't be assumed")
        node = (pi.pod.get("spec") or {}).get("nodeName") or ""
        self._add(pi, node)
        self._pods[uid] = _PodState(pi, node, assumed=True)
        self._assumed.add(uid)

    def finish_binding(self, pi: PodInfo) -> None:
        """The bind call returned; start the expiry clock (when ttl > 0)."""
        st = self._pods.get(pi.uid)
        if st is not None and st.assumed:
            st.binding_finished = True
            st.deadline = self.clock.now() + self.ttl if self.ttl > 0 else None

    def forget_pod(self, pi: PodInfo) -> None:
        """Undo assume_pod (binding failed)."""
        st = self._pods.get(pi.uid)
        if st is None or not st.assumed:
            raise CacheError(f"pod {pi.key} wasn't assumed so cannot be forgotten")
        self._drop(st.pod_info.pod, st.node_name)
        del self._pods[pi.uid]
        self._assumed.discard(pi.uid)

    def is_assumed(self, uid: str) -> bool:
        return uid in self._assumed

    def add_pod(self, pod: Pod) -> None:
        """An assigned pod from the informer; confirms it if it was assumed (moving it if bound elsewhere)."""
        uid = _uid(pod)
        node = (pod.get("spec") or {}).get("nodeName") or ""
        st = self._pods.get(uid)
        if st is not None:
            self._drop(st.pod_info.pod, st.node_name)
        pi = new_pod_info(pod)
        self._add(pi, node)
        self._pods[uid] = _PodState(pi, node)
        self._assumed.discard(uid)

    def update_pod(self, old: Pod | None, new: Pod) -> None:
        self.add_pod(new)

    def remove_pod(self, pod: Pod) -> None:
        uid = _uid(pod)
        st = self._pods.pop(uid, None)
        if st is None:
            return
        self._assumed.discard(uid)
        self._drop(st.pod_info.pod, st.node_name)

    def victims_pending(self, node_name: str, priority: int) -> bool:
        """Whether pods of lower priority than `priority` are terminating on the node (preemption victims on
        their way out)."""
        ni = self._nodes.get(node_name)
        if ni is None:
            return False
        for p in ni.pods:
            pod = p.pod
            if (pod.get("metadata") or {}).get("deletionTimestamp") and pod_priority(pod) < priority:
                return True
        return False

    def pod_count(self) -> int:
        return len(self._pods)

    def cleanup_assumed_pods(self) -> list[PodInfo]:
        """Expire assumed pods whose binding finished more than ttl ago without the informer confirming them."""
        now = self.clock.now()
        expired = []
        for uid in list(self._assumed):
            st = self._pods[uid]
            if st.binding_finished and st.deadline is not None and now > st.deadline:
                log.warning("assumed pod %s expired", st.pod_info.key)
                self._drop(st.pod_info.pod, st.node_name)
                del self._pods[uid]
                self._assumed.discard(uid)
                expired.append(st.pod_info)
        return expired

    # -- snapshot ----------------------------------------------------------------------------------------------

    def _image_states(self, name: str) -> dict[str, tuple[int, int]]:
        return {img: (self._images[img][0], len(self._images[img][1])) for img in self._node_images.get(name, ())}

    def update_snapshot(self, snap: Snapshot) -> None:
        """Bring snap up to date, cloning only NodeInfos changed since the last call."""
        if not self._dirty:
            return
        structural = affinity = False
        if self._images_changed:
            snap.image_names = frozenset(self._images)
            self._images_changed = False
        for name in self._dirty:
            ni = self._nodes.get(name)
            old = snap.node_info_map.get(name)
            if old is not None:
                snap._count(old, -1)
            if ni is None or ni.node is None:
                if old is not None:
                    del snap.node_info_map[name]
                    structural = True
                continue
            clone = ni.clone()
            clone.image_states = self._image_states(name)
            snap.node_info_map[name] = clone
            snap._count(clone, 1)
            if old is None:
                structural = True
            else:
                snap.node_info_list[snap._index[name]] = clone
                if old.pods_with_affinity or clone.pods_with_affinity or old.pods_with_required_anti_affinity \
                        or clone.pods_with_required_anti_affinity:
                    affinity = True
        snap._record_change(None if structural else frozenset(self._dirty))
        self._dirty.clear()
        if structural:
            snap.node_info_list = list(snap.node_info_map.values())
            snap._index = {ni.name: i for i, ni in enumerate(snap.node_info_list)}
        if structural or affinity:
            snap.have_pods_with_affinity = [ni for ni in snap.node_info_list if ni.pods_with_affinity]
            snap.have_pods_with_required_anti_affinity = [
                ni for ni in snap.node_info_list if ni.pods_with_required_anti_affinity]

    def snapshot(self) -> Snapshot:
        """A fresh snapshot of everything (tests; the scheduler keeps one and updates it)."""
        snap = Snapshot()
        snap.image_names = frozenset(self._images)
        for name, ni in self._nodes.items():
            if ni.node is not None:
                clone = ni.clone()
                clone.image_states = self._image_states(name)
                snap.node_info_map[name] = clone
                snap._count(clone, 1)
        snap.node_info_list = list(snap.node_info_map.values())
        snap._index = {ni.name: i for i, ni in enumerate(snap.node_info_list)}
        snap.have_pods_with_affinity = [ni for ni in snap.node_info_list if ni.pods_with_affinity]
        snap.have_pods_with_required_anti_affinity = [
            ni for ni in snap.node_info_list if ni.pods_with_required_anti_affinity]
        return snap

"""The pod manager: the pods this node must run (API pods bound to it and static pods) by uid, and the mirror
pods that stand for static pods in the API (upstream pkg/kubelet/pod/pod_manager.go)."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
ANNOTATION_CONFIG_MIRROR = "kubernetes.io/config.mirror"


def is_mirror(pod: Obj) -> bool:
    return ANNOTATION_CONFIG_MIRROR in ((pod.get("metadata") or {}).get("annotations") or {})


def full_name(pod: Obj) -> str:
    md = pod.get("metadata") or {}
    return f"{md.get('name')}_{md.get('namespace', 'default')}"


class PodManager:
    """In-memory index; every change comes from the informer or the static pod source."""

    def __init__(self) -> None:
        self._pods: dict[str, Obj] = {}
        self._static: dict[str, Obj] = {}
        self._mirrors: dict[str, Obj] = {}  # by full name

    def set_api_pod(self, pod: Obj) -> None:
        if is_mirror(pod):
            self._mirrors[full_name(pod)] = pod
        else:
            self._pods[pod["metadata"]["uid"]] = pod

    def delete_api_pod(self, pod: Obj) -> None:
        if is_mirror(pod):
            cur = self._mirrors.get(full_name(pod))
            if cur is not None and cur["metadata"].get("uid") == pod["metadata"].get("uid"):
                del self._mirrors[full_name(pod)]
        else:
            self._pods.pop(pod["metadata"]["uid"], None)

    def set_static_pods(self, pods: list[Obj]) -> tuple[set[str], set[str]]:
        """Replace the static pods; returns (uids added or changed, uids removed)."""
        new = {p["metadata"]["uid"]: p for p in pods}
        removed = set(self._static) - set(new)
        changed = {uid for uid, p in new.items() if self._static.get(uid) != p}
        self._static = new
        return changed, removed

    def get(self, uid: str) -> Obj | None:
        pod = self._static.get(uid)
        if pod is None:
            return self._pods.get(uid)
        mirror = self._mirrors.get(full_name(pod))
        if mirror is not None:  # the status the API has for it lives on the mirror pod
            return {**pod, "status": mirror.get("status") or {}}
        return pod

    def pods(self) -> list[Obj]:
        return [p for uid in self.uids() if (p := self.get(uid)) is not None]

    def uids(self) -> list[str]:
        return list(self._pods) + list(self._static)

    def static_pods(self) -> list[Obj]:
        return list(self._static.values())

    def mirror_of(self, static_pod: Obj) -> Obj | None:
        return self._mirrors.get(full_name(static_pod))

    def mirrors(self) -> list[Obj]:
        return list(self._mirrors.values())

    def by_name(self, namespace: str, name: str) -> Obj | None:
        for uid in self.uids():
            pod = self.get(uid)
            md = (pod or {}).get("metadata") or {}
            if md.get("name") == name and md.get("namespace", "default") == namespace:
                return pod
        return None

"""ImageLocality: favour nodes that already have the pod's container images (node.status.images), weighted by
how widely each image is spread so that one node does not attract every pod."""

from __future__ import annotations

from typing import Any

from kybernetes.scheduler.framework.interface import (MAX_NODE_SCORE, SUCCESS, CycleState, Handle, NodeInfo, PodInfo,
                                                      Status)
from kybernetes.scheduler.plugins.helpers.pods import snapshot_or_none

NAME = "ImageLocality"
MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


def normalized_image_name(name: str) -> str:
    """Add ':latest' when the image has neither a tag nor a digest (how upstream matches node images)."""
    if "@" in name or ":" in name.rsplit("/", 1)[-1]:
        return name
    return name + ":latest"


def calculate_priority(sum_scores: int, num_containers: int) -> int:
    max_threshold = MAX_CONTAINER_THRESHOLD * num_containers
    if sum_scores < MIN_THRESHOLD:
        sum_scores = MIN_THRESHOLD
    elif sum_scores > max_threshold:
        sum_scores = max_threshold
    return MAX_NODE_SCORE * (sum_scores - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


class ImageLocality:
    name = NAME

    def __init__(self, handle: Handle | None) -> None:
        self.handle = handle

    def _images(self, pod: PodInfo) -> list[str]:
        images = pod.cache.get("images")
        if images is None:
            spec = pod.pod.get("spec") or {}
            cs = list(spec.get("initContainers") or ()) + list(spec.get("containers") or ())
            images = pod.cache["images"] = [normalized_image_name(c.get("image") or "") for c in cs]
        return images

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        """Skip when no node has any of the pod's images (or no candidate node reports any image)."""
        snap = snapshot_or_none(self.handle)
        if snap is not None:
            names = snap.image_names
            return SUCCESS if any(image in names for image in self._images(pod)) else Status.skip()
        return SUCCESS if any(ni.image_states for ni in nodes) else Status.skip()

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        images = self._images(pod)
        if not node.image_states or not images:
            return 0, SUCCESS
        total_nodes = state.get("ImageLocality/totalNodes")
        if total_nodes is None:
            total_nodes = len(self.handle.snapshot().list()) if self.handle is not None else 1
            state.write("ImageLocality/totalNodes", total_nodes)
        s = 0
        for image in images:
            st = node.image_states.get(image)
            if st is not None:
                size, num_nodes = st
                s += int(size * (num_nodes / max(total_nodes, 1)))
        return calculate_priority(s, len(images)), SUCCESS

    def score_extensions(self) -> None:
        return None


def new(args: dict[str, Any], handle: Handle | None) -> ImageLocality:
    return ImageLocality(handle)

"""Score normalization as upstream's helper.DefaultNormalizeScore, and a per-node memo for batch scorers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kybernetes.scheduler.framework.interface import MAX_NODE_SCORE, NodeInfo


def default_normalize_score(scores: dict[str, int], *, reverse: bool, max_priority: int = MAX_NODE_SCORE) -> None:
    """Scale scores in place to [0, max_priority] by the highest one; reverse: max_priority - scaled."""
    if not scores:
        return
    highest = max(scores.values())
    if highest == 0:
        if reverse:
            for name in scores:
                scores[name] = max_priority
        return
    for name, s in scores.items():
        s = max_priority * s // highest
        scores[name] = max_priority - s if reverse else s


class GenerationMemo:
    """Per-node values of one plugin for one pod shape (`key`), remembered by NodeInfo generation: a generation is
    one state of one NodeInfo (framework.types.next_generation), so a value stays right until the node changes.
    NodeInfos without a generation (0) are always computed."""

    MAX_ENTRIES = 50000

    def __init__(self) -> None:
        self.key: Any = None
        self.by_generation: dict[int, Any] = {}

    def values(self, key: Any, nodes: list[NodeInfo], compute: Callable[[list[NodeInfo]], list[Any]]) -> list[Any]:
        """compute(nodes) (never None values), reusing what was computed for the same key and generation."""
        if key != self.key or len(self.by_generation) > self.MAX_ENTRIES:
            self.key, self.by_generation = key, {}
        memo = self.by_generation
        out = [memo.get(ni.generation) for ni in nodes]
        if None not in out:
            return out
        missing = [i for i, v in enumerate(out) if v is None]
        for i, v in zip(missing, compute([nodes[i] for i in missing])):
            out[i] = v
            gen = nodes[i].generation
            if gen > 0:
                memo[gen] = v
        return out

"""Score normalization as upstream's helper.DefaultNormalizeScore."""

from __future__ import annotations

from kybernetes.scheduler.framework.interface import MAX_NODE_SCORE


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

"""Selection steps: turning per-item scores into the ids to query."""

from energizer.selection.top_k import ScoreOrder, top_k_ids

__all__ = ["ScoreOrder", "top_k_ids"]

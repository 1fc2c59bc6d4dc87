"""Selection steps: turning per-item scores into the ids to query."""

from energizer.selection.base import ScoreOrder, Selection
from energizer.selection.stochastic import PowerSampling, SoftmaxSampling, SoftRankSampling
from energizer.selection.top_k import TopK, top_k_ids

__all__ = [
    "PowerSampling",
    "ScoreOrder",
    "Selection",
    "SoftRankSampling",
    "SoftmaxSampling",
    "TopK",
    "top_k_ids",
]

"""Turning per-item scores into a query: top-k with ties broken by dataset id."""

from __future__ import annotations

from enum import Enum

import numpy as np

__all__ = ["ScoreOrder", "top_k_ids"]


class ScoreOrder(Enum):
    """Which end of the score range a strategy queries first."""

    HIGHER_FIRST = "higher_first"
    """Higher scores are more informative (every uncertainty score in energizer)."""

    LOWER_FIRST = "lower_first"
    """Lower scores are more informative."""


def top_k_ids(
    ids: np.ndarray, scores: np.ndarray, k: int, order: ScoreOrder = ScoreOrder.HIGHER_FIRST
) -> np.ndarray:
    """Return the ``k`` ids with the best scores, best first.

    Equal scores are ordered by ascending dataset id, so the result does not
    depend on the order in which the pool was scored.

    Args:
        ids: Dataset ids, shape ``(N,)``.
        scores: One finite score per id, shape ``(N,)``.
        k: Number of ids to return, at most ``N``.
        order: Whether high or low scores come first.
    """
    # float64 so that negating unsigned integer scores cannot wrap around.
    values = np.asarray(scores, dtype=np.float64)
    keys = -values if order is ScoreOrder.HIGHER_FIRST else values
    # np.lexsort sorts by the last key first, so ids only break ties.
    ranking = np.lexsort((ids, keys))
    return ids[ranking[:k]]

"""Turning per-item scores into a query: top-k with ties broken by dataset id."""

from __future__ import annotations

import numpy as np

# ScoreOrder is defined next to Selection, which needs it, and re-exported here.
from energizer.selection.base import ScoreOrder, Selection

__all__ = ["ScoreOrder", "TopK", "top_k_ids"]


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


class TopK(Selection):
    """Deterministic selection of the ``k`` best-scored ids, with ties broken by ascending id.

    The selection step that query strategies use unless given another. It has
    no state, so :meth:`state_dict` returns an empty dict.

    Example:
        >>> import numpy as np
        >>> TopK().select(np.array([4, 7, 9]), np.array([0.2, 0.9, 0.9]), k=2)
        array([7, 9])
    """

    def _select(self, ids: np.ndarray, scores: np.ndarray, k: int, order: ScoreOrder) -> np.ndarray:
        return top_k_ids(ids, scores, k, order)

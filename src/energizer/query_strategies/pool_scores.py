"""Collecting one score per pool item, keyed by dataset id."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from energizer.errors import InvalidScoresError

if TYPE_CHECKING:
    from energizer.loop.ranks import Ranks

__all__ = ["PoolScores"]


class PoolScores:
    """Scores of the pool items seen so far, stored by dataset id.

    Memory grows with the number of pool items (one id and one float64 each),
    never with the model's output size.
    """

    def __init__(self) -> None:
        # Two growing buffers, doubled when full: a few large blocks instead of two small
        # arrays per batch, which would fragment the heap between each batch's temporaries.
        self._ids = np.empty(0, dtype=np.int64)
        self._scores = np.empty(0, dtype=np.float64)
        self._size = 0

    def add(self, ids: torch.Tensor, scores: torch.Tensor) -> None:
        """Store ``scores[i]`` as the score of dataset id ``ids[i]``."""
        count = int(ids.shape[0])
        end = self._size + count
        if end > self._ids.size:
            capacity = max(end, 2 * self._ids.size, 1024)
            self._ids = np.resize(self._ids[: self._size], capacity)
            self._scores = np.resize(self._scores[: self._size], capacity)
        self._ids[self._size : end] = ids.detach().cpu().numpy()
        # float64 keeps apart scores that float32 would round to ties.
        self._scores[self._size : end] = scores.detach().to(torch.float64).cpu().numpy()
        self._size = end

    def gather(self, ranks: Ranks) -> None:
        """Replace the scores seen by this process with those seen by every process."""
        ids, scores = self._ids[: self._size], self._scores[: self._size]
        ids, columns = ranks.gather_rows(ids, {"scores": torch.from_numpy(np.ascontiguousarray(scores))})
        self._ids, self._scores, self._size = ids, columns["scores"].numpy(), len(ids)

    def aligned_to(self, pool_ids: np.ndarray, *, round_index: int) -> np.ndarray:
        """Return the scores of ``pool_ids``, in that order.

        Raises:
            InvalidScoresError: When a pool item was scored twice or never,
                when an id outside the pool was scored, or when a score is
                NaN or infinite.
        """
        ids, scores = self._ids[: self._size], self._scores[: self._size]
        order = np.argsort(ids, kind="stable")
        ids, scores = ids[order], scores[order]
        repeated = ids[1:][ids[1:] == ids[:-1]]
        if repeated.size:
            raise InvalidScoresError(
                f"Pool items were scored more than once in round {round_index} "
                f"(dataset ids {np.unique(repeated)[:10].tolist()}). The pool loader must yield "
                "each item once: check its sampler and pool_collate_fn."
            )
        if not np.array_equal(ids, pool_ids):
            missing = np.setdiff1d(pool_ids, ids)
            foreign = np.setdiff1d(ids, pool_ids)
            raise InvalidScoresError(
                f"The scored ids do not match the pool in round {round_index}: "
                f"{missing.size} pool items were not scored (e.g. {missing[:10].tolist()}) and "
                f"{foreign.size} scored ids are not in the pool (e.g. {foreign[:10].tolist()}). "
                "The pool loader must yield every pool item once, with its dataset id."
            )
        bad = ~np.isfinite(scores)
        if bad.any():
            raise InvalidScoresError(
                f"pool_step returned {int(bad.sum())} NaN or infinite scores out of "
                f"{scores.size} pool items in round {round_index} "
                f"(dataset ids {ids[bad][:10].tolist()}). Check the model for a diverged "
                "training (NaN weights or outputs), or make pool_step return finite scores."
            )
        return scores

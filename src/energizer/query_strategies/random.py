"""Random sampling: the baseline every strategy is compared against."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from torch import nn

from energizer.query_strategies.base import ModelOutput, QueryStrategy

__all__ = ["RandomStrategy"]


class RandomStrategy(QueryStrategy):
    """Query pool items uniformly at random, without running the model over the pool.

    Successive queries draw from one generator seeded with ``seed``, so a run
    with the same seed queries the same ids.
    """

    requires: ClassVar[frozenset[ModelOutput]] = frozenset()

    def __init__(self, model: nn.Module, *, seed: int | None = None, subpool_size: int | None = None) -> None:
        super().__init__(model, seed=seed, subpool_size=subpool_size)
        self._rng = np.random.default_rng(self.seed)

    def query(self, pool_ids: np.ndarray, scores: np.ndarray | None, query_size: int) -> np.ndarray:
        return self._rng.choice(pool_ids, size=query_size, replace=False)

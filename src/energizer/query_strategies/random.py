"""Random sampling: the baseline every strategy is compared against."""

from __future__ import annotations

from typing import Any, ClassVar

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

    def query_state_dict(self) -> dict[str, Any]:
        """Also return the state of the generator that draws the queries."""
        return {**super().query_state_dict(), "generator": self._rng.bit_generator.state}

    def load_query_state_dict(self, state: dict[str, Any]) -> None:
        super().load_query_state_dict(state)
        self._rng.bit_generator.state = state["generator"]

    def query(self, pool_ids: np.ndarray, scores: np.ndarray | None, query_size: int) -> np.ndarray:
        return self._rng.choice(pool_ids, size=query_size, replace=False)

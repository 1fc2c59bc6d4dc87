"""Uncertainty sampling: query the items whose predictions are least certain."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from energizer.acquisition import entropy, least_confidence, margin
from energizer.query_strategies.base import QueryStrategy

__all__ = ["UncertaintyStrategy", "EntropyStrategy", "MarginStrategy", "LeastConfidenceStrategy"]


class UncertaintyStrategy(QueryStrategy):
    """Score each pool item by a function of the model's logits; query the highest scores.

    Subclasses implement :meth:`score_logits` with an
    :mod:`energizer.acquisition` function.
    """

    def score_logits(self, logits: Tensor) -> Tensor:
        """Return one score per row of ``logits`` (shape ``(B, C)``), higher is more informative."""
        raise NotImplementedError(f"{type(self).__name__} must implement score_logits(logits).")

    def pool_step(self, batch: Any, batch_idx: int) -> Tensor:
        logits = self.compute_logits(self.get_inputs_from_batch(batch))
        return self.score_logits(logits)


class EntropyStrategy(UncertaintyStrategy):
    """Query the items with the highest predictive entropy (in nats)."""

    def score_logits(self, logits: Tensor) -> Tensor:
        return entropy(logits)


class MarginStrategy(UncertaintyStrategy):
    """Query the items with the smallest gap between the two most likely classes."""

    def score_logits(self, logits: Tensor) -> Tensor:
        return margin(logits)


class LeastConfidenceStrategy(UncertaintyStrategy):
    """Query the items whose most likely class has the lowest probability."""

    def score_logits(self, logits: Tensor) -> Tensor:
        return least_confidence(logits)

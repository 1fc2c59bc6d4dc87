"""Predictions on the stop set: the class probabilities of a fixed sample of items after each round."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor

from energizer.data.pool import PoolBatch
from energizer.query_strategies.base import QueryStrategy
from energizer.query_strategies.pool_features import PoolFeatures

if TYPE_CHECKING:
    from energizer.loop.ranks import Ranks

__all__ = ["StopSetPredictor", "draw_stop_set"]


def draw_stop_set(pool_ids: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Return ``min(size, len(pool_ids))`` pool ids drawn uniformly without replacement, sorted."""
    if size >= pool_ids.size:
        return np.sort(pool_ids)
    return np.sort(np.random.default_rng(seed).choice(pool_ids, size=size, replace=False))


class StopSetPredictor(pl.LightningModule):
    """Runs the strategy's model on stop-set batches and keeps the class probabilities by dataset id.

    It reads inputs with the strategy's ``get_inputs_from_batch`` and
    logits with its ``compute_logits``, so custom batch layouts and model
    outputs work as they do for pool scoring. ``Trainer.predict`` puts the
    model in eval mode and runs without gradients.
    """

    def __init__(self, strategy: QueryStrategy) -> None:
        super().__init__()
        self.model = strategy.model
        self._get_inputs = strategy.get_inputs_from_batch
        self._compute_logits = strategy.compute_logits
        self.collected = PoolFeatures()

    def on_predict_epoch_start(self) -> None:
        self.collected = PoolFeatures()

    def predict_step(self, batch: PoolBatch, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        ids, data = batch
        probabilities = torch.softmax(self._compute_logits(self._get_inputs(data)).float(), dim=1)
        self.collected.add(ids, {"probabilities": probabilities})
        return probabilities

    def gather_collected(self, ranks: Ranks) -> None:
        """Gather the probabilities of every process's share."""
        self.collected.gather(ranks)

    def probabilities(self, ids: np.ndarray, round_index: int) -> Tensor:
        """Return the probabilities of the last pass, aligned with ``ids``."""
        return self.collected.aligned_to(ids, round_index=round_index)["probabilities"]

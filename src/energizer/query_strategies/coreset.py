"""Coreset: a query that covers the embedding space, chosen by greedy k-center."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from torch import nn

from energizer.diversity import k_center_greedy
from energizer.query_strategies.embedding_strategy import EmbeddingStrategy

__all__ = ["CoresetStrategy"]


class CoresetStrategy(EmbeddingStrategy):
    """Query the pool items that greedy k-center picks around the labelled items.

    Sener and Savarese (2018), "Active Learning for Convolutional Neural
    Networks: A Core-Set Approach", ICLR, arXiv:1708.00489. Each pick is the
    pool item farthest (in Euclidean distance between embeddings) from its
    nearest labelled or already picked item, so the labelled set covers the
    pool with a small radius. Ties go to the lowest dataset id. With no
    labelled item, the first pick is a pool item drawn with the round's seed.

    The strategy runs a predict pass over the labelled items (validation
    hold-out included) and one over the pool, and keeps ``D`` float32 values
    per item, where ``D`` is the embedding width. See
    :func:`~energizer.diversity.k_center_greedy` for the time and the
    memory of the selection.

    Args:
        model: The user's model, with a ``torch.nn.Linear`` head or an
            overridden :meth:`get_embeddings`.
        seed: Seed of the first pick when nothing is labelled.
        subpool_size: See :class:`~energizer.query_strategies.QueryStrategy`.
        max_block_bytes: Memory bound of each block of the distance matrix.
    """

    needs_labelled_pass: ClassVar[bool] = True

    def __init__(
        self,
        model: nn.Module,
        *,
        seed: int | None = None,
        subpool_size: int | None = None,
        max_block_bytes: int = 8 * 2**20,
    ) -> None:
        super().__init__(model, seed=seed, subpool_size=subpool_size)
        self.max_block_bytes = max_block_bytes

    def query(self, pool_ids: np.ndarray, scores: np.ndarray | None, query_size: int) -> np.ndarray:
        embeddings = self.pool_features(pool_ids)["embeddings"]
        labelled = self.labelled_features(pool_ids)
        positions = k_center_greedy(
            embeddings,
            query_size,
            centers=None if labelled is None else labelled["embeddings"],
            seed=self.round_seed(stream=1),
            max_block_bytes=self.max_block_bytes,
        )
        return pool_ids[positions.numpy()]

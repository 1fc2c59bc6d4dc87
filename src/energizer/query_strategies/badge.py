"""BADGE: k-means++ seeding on gradient embeddings, for batches that are uncertain and diverse."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor, nn

from energizer.diversity import OuterProductPoints, kmeans_plus_plus
from energizer.query_strategies.embedding_strategy import EmbeddingStrategy
from energizer.query_strategies.embeddings import gradient_embedding_factors

__all__ = ["BADGEStrategy"]


class BADGEStrategy(EmbeddingStrategy):
    """Query the pool items chosen by k-means++ seeding on their gradient embeddings (BADGE).

    Ash et al. (2020), "Deep Batch Active Learning by Diverse, Uncertain
    Gradient Lower Bounds", ICLR, arXiv:1906.03671. An item's gradient
    embedding is the gradient of the cross-entropy at the model's predicted
    class with respect to the weights of the last linear layer: the outer
    product ``(p - onehot(y_hat)) h^T`` of the softmax probabilities ``p``
    and the embedding ``h`` (see
    :func:`~energizer.query_strategies.embeddings.gradient_embedding`). Its
    norm is large for uncertain items, and k-means++ seeding spreads the
    query over the pool, so the query is both uncertain and diverse.

    Memory: the gradient embedding has ``C * D`` values per item (``C``
    classes, embedding width ``D``). This strategy keeps only its two factors,
    ``C + D`` float32 values per item, and computes the distances from them
    (:class:`~energizer.diversity.OuterProductPoints`). The selection
    (:func:`~energizer.diversity.kmeans_plus_plus`) makes one pass over
    those values per 64 queried items or fewer. ``subpool_size`` bounds both.

    k-means++ draws are seeded with the strategy's ``seed`` and the round,
    and taken in dataset-id order. No id is chosen twice, also when items
    are duplicates.

    Args:
        model: The user's model, with a ``torch.nn.Linear`` head or an
            overridden :meth:`get_embeddings`.
        seed: Seed of the k-means++ draws.
        subpool_size: See :class:`~energizer.query_strategies.QueryStrategy`.
        max_block_bytes: Memory bound of each block of distances.
    """

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

    def compute_features(self, inputs: Any) -> dict[str, Tensor]:
        """Keep the embeddings ``h`` and the logit gradients ``p - onehot(y_hat)``."""
        embeddings, logits = self.compute_embeddings_and_logits(inputs)
        return {"embeddings": embeddings, "logit_gradients": gradient_embedding_factors(logits.float())}

    def query(self, pool_ids: np.ndarray, scores: np.ndarray | None, query_size: int) -> np.ndarray:
        features = self.pool_features(pool_ids)
        points = OuterProductPoints(features["logit_gradients"], features["embeddings"])
        positions = kmeans_plus_plus(
            points, query_size, seed=self.round_seed(stream=1), max_block_bytes=self.max_block_bytes
        )
        return pool_ids[positions.numpy()]

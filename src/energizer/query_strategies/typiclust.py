"""TypiClust: typical items of uncovered clusters, for a cold start with few or no labels."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from torch import nn

from energizer.diversity._checks import check_positive
from energizer.diversity.typiclust import typiclust
from energizer.query_strategies.embedding_strategy import EmbeddingStrategy

__all__ = ["TypiClustStrategy"]


class TypiClustStrategy(EmbeddingStrategy):
    """Query the most typical pool item of each cluster that no labelled item covers (TypiClust).

    Hacohen, Dekel and Weinshall (2022), "Active Learning on a Budget:
    Opposite Strategies Suit High and Low Budgets", ICML, arXiv:2202.02794.
    With few labels, uncertainty sampling picks outliers; TypiClust picks
    dense, representative items instead, spread over clusters. The labelled
    and pool embeddings are clustered with seeded k-means into ``|L| + k``
    clusters. Each pick comes from the largest cluster with the fewest
    labelled or picked items, and is its most typical pool item: the one
    with the smallest mean distance to its ``num_neighbors`` nearest
    neighbours in the cluster. See :func:`energizer.diversity.typiclust.typiclust`.

    It suits the first rounds, with no or few labels. The strategy runs a
    predict pass over the labelled items and one over the pool, and keeps
    ``D`` float32 values per item. k-means over ``|L| + k`` clusters grows
    with the pool times that count, which ``subpool_size`` bounds.

    Args:
        model: The user's model, with a ``torch.nn.Linear`` head or an
            overridden :meth:`get_embeddings`.
        num_neighbors: Neighbours ``K`` of the typicality.
        seed: Seed of the clustering.
        subpool_size: See :class:`~energizer.query_strategies.QueryStrategy`.
    """

    needs_labelled_pass: ClassVar[bool] = True

    def __init__(
        self,
        model: nn.Module,
        *,
        num_neighbors: int = 20,
        seed: int | None = None,
        subpool_size: int | None = None,
    ) -> None:
        super().__init__(model, seed=seed, subpool_size=subpool_size)
        self.num_neighbors = check_positive(num_neighbors, "num_neighbors")

    def query(self, pool_ids: np.ndarray, scores: np.ndarray | None, query_size: int) -> np.ndarray:
        embeddings = self.pool_features(pool_ids)["embeddings"]
        labelled = self.labelled_features(pool_ids)
        positions = typiclust(
            embeddings,
            query_size,
            labelled=None if labelled is None else labelled["embeddings"],
            num_neighbors=self.num_neighbors,
            seed=self.round_seed(stream=1),
        )
        return pool_ids[positions.numpy()]

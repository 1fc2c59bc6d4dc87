"""Cluster-margin: the smallest-margin items, spread over clusters, for large queries."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np
from torch import Tensor, nn

from energizer.acquisition import margin
from energizer.diversity.cluster_margin import cluster_margin
from energizer.errors import InvalidArgumentError
from energizer.query_strategies.embedding_strategy import EmbeddingStrategy

__all__ = ["ClusterMarginStrategy"]


class ClusterMarginStrategy(EmbeddingStrategy):
    """Query small-margin items round-robin over clusters of the pool (cluster-margin).

    Citovsky et al. (2021), "Batch Active Learning at Scale", NeurIPS,
    arXiv:2107.14263. Top-k margin sampling fills a large query with
    near-duplicates from one uncertain region. Cluster-margin takes the
    ``candidate_multiple * query_size`` items with the smallest margin
    between the two most likely classes, groups them by their cluster in
    the pool, and takes one random item per group in turn, smallest groups
    first. See :func:`energizer.diversity.cluster_margin.cluster_margin`,
    whose note describes how the clustering differs from the paper's.

    The pool pass keeps ``D + 1`` float32 values per item (the embedding and
    the margin score). Clustering runs k-means over the scored items every
    round, which ``subpool_size`` bounds.

    Args:
        model: The user's model, with a ``torch.nn.Linear`` head or an
            overridden :meth:`get_embeddings`.
        candidate_multiple: Candidates per queried item (the paper's ratio
            of margin candidates to query size), at least 1.
        num_clusters: Number of k-means clusters of the scored items.
            ``None`` uses the query size. At most the number of scored items
            is used.
        seed: Seed of the clustering and of the draws within clusters.
        subpool_size: See :class:`~energizer.query_strategies.QueryStrategy`.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        candidate_multiple: float = 10.0,
        num_clusters: int | None = None,
        seed: int | None = None,
        subpool_size: int | None = None,
    ) -> None:
        super().__init__(model, seed=seed, subpool_size=subpool_size)
        is_number = isinstance(candidate_multiple, Real) and not isinstance(candidate_multiple, bool)
        if not is_number or not candidate_multiple >= 1:
            raise InvalidArgumentError(
                "candidate_multiple",
                "a number >= 1 (candidates per queried item)",
                repr(candidate_multiple),
                "Pass e.g. candidate_multiple=10.",
            )
        invalid_clusters = isinstance(num_clusters, bool) or not isinstance(num_clusters, Integral) or num_clusters < 1
        if num_clusters is not None and invalid_clusters:
            raise InvalidArgumentError(
                "num_clusters",
                "a positive integer or None",
                repr(num_clusters),
                "Pass e.g. num_clusters=100, or None for one cluster per queried item.",
            )
        self.candidate_multiple = float(candidate_multiple)
        self.num_clusters = num_clusters

    def compute_features(self, inputs: Any) -> dict[str, Tensor]:
        """Keep the embeddings and the margin scores ``1 - (p_top1 - p_top2)``."""
        embeddings, logits = self.compute_embeddings_and_logits(inputs)
        return {"embeddings": embeddings, "margin_scores": margin(logits).float()}

    def query(self, pool_ids: np.ndarray, scores: np.ndarray | None, query_size: int) -> np.ndarray:
        features = self.pool_features(pool_ids)
        size = pool_ids.size
        num_candidates = min(size, max(query_size, math.ceil(self.candidate_multiple * query_size)))
        num_clusters = min(size, self.num_clusters if self.num_clusters is not None else query_size)
        positions = cluster_margin(
            features["embeddings"],
            features["margin_scores"],
            query_size,
            num_candidates=num_candidates,
            num_clusters=num_clusters,
            seed=self.round_seed(stream=1),
        )
        return pool_ids[positions.numpy()]

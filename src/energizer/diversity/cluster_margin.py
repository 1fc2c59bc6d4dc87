"""Cluster-margin: the most uncertain points, spread round-robin over clusters.

Citovsky et al. (2021), "Batch Active Learning at Scale", NeurIPS,
arXiv:2107.14263. The ``m`` points with the smallest margin are the
candidates. They are grouped by cluster, the groups are sorted by size,
smallest first, and the query takes one random candidate from each group in
turn until it has ``k``. Small groups come first, so rare regions of the
embedding space are not crowded out by a dense uncertain one.

NOTE: the paper clusters the pool once, before the first round, with
average-linkage agglomerative clustering and a distance threshold. That
needs memory quadratic in the pool. Here the points are clustered every
round with seeded k-means (:func:`~energizer.diversity.kmeans_labels`) into a
given number of clusters.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from energizer.diversity._checks import check_count
from energizer.diversity.clustering import kmeans_labels
from energizer.diversity.points import as_point_rows
from energizer.errors import InvalidArgumentError

__all__ = ["cluster_margin"]


def cluster_margin(
    points: Tensor,
    scores: Tensor,
    k: int,
    *,
    num_candidates: int,
    num_clusters: int,
    seed: int | None = None,
) -> Tensor:
    """Choose ``k`` points among the most uncertain, round-robin over their clusters.

    The candidates are the ``num_candidates`` points with the highest
    ``scores``, ties going to the lowest position. All ``N`` points are
    clustered into ``num_clusters`` clusters, and the candidates are grouped
    by cluster. Groups are visited by ascending number of candidates (then
    ascending cluster number), each visit taking one candidate drawn
    uniformly from the group, and the visits cycle until ``k`` are chosen.

    Args:
        points: Embeddings, shape ``(N, D)``.
        scores: Uncertainty of each point, shape ``(N,)``, higher is more
            uncertain, such as :func:`energizer.acquisition.margin`.
        k: Number of points to choose, ``1 <= k <= num_candidates``.
        num_candidates: Number of candidates ``m``, ``k <= m <= N``.
        num_clusters: Number of clusters, ``1 <= num_clusters <= N``.
        seed: Seed of the clustering and of the draws within groups.

    Returns:
        Int64 tensor of shape ``(k,)``: positions into ``points``, in the
        order chosen.

    Raises:
        InvalidArgumentError: On points that are not a finite floating 2-D
            tensor, scores that are not one finite value per point, or counts
            out of range.
    """
    embeddings = as_point_rows(points).factors[0]
    size = embeddings.shape[0]
    num_candidates = check_count(num_candidates, "num_candidates", size)
    k = check_count(k, "k", num_candidates)
    num_clusters = check_count(num_clusters, "num_clusters", size)
    values = _check_scores(scores, size)
    clustering_seed, draw_seed = np.random.SeedSequence(seed).spawn(2)
    clusters = kmeans_labels(embeddings, num_clusters, seed=int(clustering_seed.generate_state(1)[0]))
    # Highest score first; np.lexsort sorts by the last key, so positions break ties.
    candidates = np.lexsort((np.arange(size), -values))[:num_candidates]
    generator = np.random.default_rng(draw_seed)
    groups = []
    for cluster in np.unique(clusters[candidates]):
        members = np.sort(candidates[clusters[candidates] == cluster])
        groups.append(generator.permutation(members))
    groups.sort(key=len)
    chosen: list[int] = []
    turn = 0
    while len(chosen) < k:
        for group in groups:
            if turn < len(group) and len(chosen) < k:
                chosen.append(int(group[turn]))
        turn += 1
    return torch.tensor(chosen, dtype=torch.int64)


def _check_scores(scores: Tensor, size: int) -> np.ndarray:
    if not isinstance(scores, Tensor) or scores.shape != (size,) or not torch.is_floating_point(scores):
        received = f"shape {tuple(scores.shape)}" if isinstance(scores, Tensor) else type(scores).__name__
        raise InvalidArgumentError(
            "scores",
            f"a floating-point tensor of shape ({size},), one per point",
            received,
            "Pass one score per point.",
        )
    values = scores.detach().double().cpu().numpy()
    if not np.isfinite(values).all():
        count = int((~np.isfinite(values)).sum())
        raise InvalidArgumentError(
            "scores", "finite values", f"{count} NaN or infinite scores", "Check the model outputs."
        )
    return values

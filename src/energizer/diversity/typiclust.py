"""TypiClust: the most typical point of each uncovered cluster, for a cold start with few labels.

Hacohen, Dekel and Weinshall (2022), "Active Learning on a Budget: Opposite
Strategies Suit High and Low Budgets", ICML, arXiv:2202.02794. With few
labels, typical points teach a model more than uncertain ones. The labelled
and pool points are clustered into ``|L| + k`` clusters, and each pick is the
most typical pool point of the largest cluster that contains the fewest
labelled or picked points.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from energizer.diversity._checks import check_count, check_positive
from energizer.diversity.clustering import kmeans_labels
from energizer.diversity.points import as_point_rows
from energizer.diversity.typicality import typicality
from energizer.errors import InvalidArgumentError

__all__ = ["typiclust"]


def typiclust(
    points: Tensor,
    k: int,
    *,
    labelled: Tensor | None = None,
    num_neighbors: int = 20,
    seed: int | None = None,
) -> Tensor:
    """Choose ``k`` pool points by TypiClust.

    The ``M`` labelled and ``N`` pool points are clustered together with
    :func:`~energizer.diversity.kmeans_labels` into ``min(M + k, M + N)``
    clusters. Each step takes, among the clusters that still contain an
    unpicked pool point, the one with the fewest labelled and picked points, then the
    largest, then the lowest cluster number. It picks that cluster's pool
    point of highest :func:`~energizer.diversity.typicality`, computed among
    all points of the cluster, with ties going to the lowest position.

    Args:
        points: Pool points, shape ``(N, D)``.
        k: Number of points to choose, ``1 <= k <= N``.
        labelled: Labelled points, shape ``(M, D)``, or ``None``.
        num_neighbors: Neighbours ``K`` of the typicality.
        seed: Seed of the clustering.

    Returns:
        Int64 tensor of shape ``(k,)``: positions into ``points``, in the
        order chosen.

    Raises:
        InvalidArgumentError: On points that are not finite floating 2-D
            tensors of one width, ``k`` outside ``[1, N]`` or
            ``num_neighbors`` below 1.
    """
    pool = as_point_rows(points).factors[0]
    size = pool.shape[0]
    k = check_count(k, "k", size)
    num_neighbors = check_positive(num_neighbors, "num_neighbors")
    known = _check_labelled(labelled, pool)
    everything = torch.cat([known, pool]) if known.shape[0] else pool
    num_known = known.shape[0]
    num_clusters = min(num_known + k, everything.shape[0])
    clusters = kmeans_labels(everything, num_clusters, seed=seed)
    pool_clusters = clusters[num_known:]
    covered = np.bincount(clusters[:num_known], minlength=num_clusters)
    sizes = np.bincount(clusters, minlength=num_clusters)
    available = np.ones(size, dtype=bool)
    typicality_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    chosen = []
    for _ in range(k):
        remaining = np.bincount(pool_clusters[available], minlength=num_clusters)
        candidates = np.flatnonzero(remaining > 0)
        # Fewest covering points first, then the largest, then the lowest number.
        best = candidates[np.lexsort((candidates, -sizes[candidates], covered[candidates]))[0]]
        if best not in typicality_cache:
            typicality_cache[best] = _pool_typicality(everything, clusters, num_known, best, num_neighbors)
        members, values = typicality_cache[best]
        open_members = available[members]
        top = np.flatnonzero(open_members)[np.argmax(values[open_members])]
        position = int(members[top])
        chosen.append(position)
        available[position] = False
        covered[best] += 1
    return torch.tensor(chosen, dtype=torch.int64)


def _pool_typicality(
    everything: Tensor, clusters: np.ndarray, num_known: int, cluster: int, num_neighbors: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return the pool positions in ``cluster`` (ascending) and their typicality within it."""
    members = np.flatnonzero(clusters == cluster)
    values = typicality(everything[torch.from_numpy(members)], num_neighbors).double().numpy()
    in_pool = members >= num_known
    return members[in_pool] - num_known, values[in_pool]


def _check_labelled(labelled: Tensor | None, pool: Tensor) -> Tensor:
    if labelled is None:
        return pool.new_empty((0, pool.shape[1]))
    known = as_point_rows(labelled, "labelled").factors[0]
    if known.shape[1] != pool.shape[1]:
        raise InvalidArgumentError(
            "labelled",
            f"rows of the pool points' width {pool.shape[1]}",
            f"rows of width {known.shape[1]}",
            "Embed the labelled items with the same model as the pool.",
        )
    return known.to(pool.dtype)

"""k-means++ seeding: spread-out points drawn with probability proportional to squared distance.

Arthur and Vassilvitskii (2007), "k-means++: The Advantages of Careful
Seeding", SODA. BADGE (Ash et al. 2020, "Deep Batch Active Learning by
Diverse, Uncertain Gradient Lower Bounds", ICLR, arXiv:1906.03671) runs this
seeding on gradient embeddings to choose a batch that is both uncertain
(long gradients) and diverse (far apart).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from energizer.diversity._checks import check_block_bytes, check_count
from energizer.diversity.k_center import min_squared_distances
from energizer.diversity.points import OuterProductPoints, as_point_rows

__all__ = ["kmeans_plus_plus"]


def kmeans_plus_plus(
    points: Tensor | OuterProductPoints,
    k: int,
    *,
    seed: int | None = None,
    max_block_bytes: int = 32 * 2**20,
) -> Tensor:
    """Choose ``k`` distinct points by k-means++ seeding.

    The first point is drawn uniformly. Each later point is drawn with
    probability proportional to its squared Euclidean distance to the
    nearest point chosen so far. Chosen points are never drawn again: when
    every remaining point is at distance zero (duplicates of chosen points),
    the next point is drawn uniformly among the points not chosen yet.
    Draws use one NumPy generator seeded with ``seed`` and are taken by
    position, so the same points and seed give the same result.

    Each step is one pass over the points: ``O(k * N * width)`` time in all,
    where the width of :class:`OuterProductPoints` is ``C + D``.

    Args:
        points: Candidate points, a tensor of shape ``(N, D)`` or
            :class:`OuterProductPoints`. Float16 and bfloat16 are computed in
            float32.
        k: Number of points to choose, ``1 <= k <= N``.
        seed: Seed of the draws.
        max_block_bytes: Memory bound of each block of distances.

    Returns:
        Int64 tensor of shape ``(k,)``: positions into ``points``, in the
        order chosen.

    Raises:
        InvalidArgumentError: On points that are not finite floating 2-D
            tensors, or ``k`` outside ``[1, N]``.
    """
    rows = as_point_rows(points)
    size = len(rows)
    k = check_count(k, "k", size)
    block_bytes = check_block_bytes(max_block_bytes)
    generator = np.random.default_rng(seed)
    chosen = torch.empty(k, dtype=torch.int64)
    is_chosen = np.zeros(size, dtype=bool)
    weights = np.empty(0)
    for step in range(k):
        if step == 0:
            position = int(generator.integers(size))
        else:
            position = _draw(weights, is_chosen, generator)
        chosen[step] = position
        is_chosen[position] = True
        nearest = min_squared_distances(rows, rows.take(chosen[step : step + 1]), block_bytes)
        # float64 weights keep the cumulative sum exact enough for N of millions.
        distances = nearest.to(dtype=torch.float64, device="cpu").numpy()
        weights = distances if step == 0 else np.minimum(weights, distances)
        weights[is_chosen] = 0.0
    return chosen


def _draw(weights: np.ndarray, is_chosen: np.ndarray, generator: np.random.Generator) -> int:
    cumulative = np.cumsum(weights)
    total = cumulative[-1]
    if not total > 0.0:
        remaining = np.flatnonzero(~is_chosen)
        return int(remaining[generator.integers(remaining.size)])
    # The first position whose cumulative weight exceeds the draw. A point of
    # zero weight repeats its predecessor's cumulative value, so it is never
    # the first to exceed it.
    position = int(np.searchsorted(cumulative, generator.random() * total, side="right"))
    position = min(position, weights.size - 1)
    while weights[position] == 0.0:
        position -= 1
    return position

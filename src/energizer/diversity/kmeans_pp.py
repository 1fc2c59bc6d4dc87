"""k-means++ seeding: spread-out points drawn with probability proportional to squared distance.

Arthur and Vassilvitskii (2007), "k-means++: The Advantages of Careful
Seeding", SODA. BADGE (Ash et al. 2020, "Deep Batch Active Learning by
Diverse, Uncertain Gradient Lower Bounds", ICLR, arXiv:1906.03671) runs this
seeding on gradient embeddings to choose a batch that is both uncertain
(long gradients) and diverse (far apart).

A plain implementation updates every point's distance after every draw: one
pass over the points per draw. This one draws from the same distribution
with less work, by rejection sampling. Each point keeps a weight ``w`` that
is its squared distance to the nearest of the centers it was last compared
with, so ``w`` is at least its true squared distance ``d^2``. A draw proposes
a point with probability proportional to ``w``, brings that point up to date,
and accepts it with probability ``d^2 / w``. Accepted points are distributed
exactly in proportion to ``d^2``. When proposals are rejected too often, or
many centers were added since the last full update, every point is brought
up to date at once with one chunked matrix product.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from energizer.diversity._checks import check_block_bytes, check_count
from energizer.diversity._threads import single_threaded
from energizer.diversity.k_center import min_squared_distances
from energizer.diversity.points import OuterProductPoints, PointRows, as_point_rows

__all__ = ["kmeans_plus_plus"]

# A full update runs once this many centers were added since the last one.
_MAX_PENDING_CENTERS = 64

# A full update also runs once a draw has rejected this many proposals.
_MAX_REJECTIONS = 16


def kmeans_plus_plus(
    points: Tensor | OuterProductPoints,
    k: int,
    *,
    seed: int | None = None,
    max_block_bytes: int = 8 * 2**20,
) -> Tensor:
    """Choose ``k`` distinct points by k-means++ seeding.

    The first point is drawn uniformly. Each later point is drawn with
    probability proportional to its squared Euclidean distance to the
    nearest point chosen so far. Chosen points are never drawn again: when
    every remaining point is at distance zero (duplicates of chosen points),
    the next point is drawn uniformly among the points not chosen yet.
    Draws use one NumPy generator seeded with ``seed`` and are taken by
    position, so the same points and seed give the same result.

    The draws are exact, but made by rejection sampling from stale distances
    (see the module's documentation), so the time grows with ``N * width``
    per full update instead of per draw. The width of
    :class:`OuterProductPoints` is ``C + D``.

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
    k = check_count(k, "k", len(rows))
    seeding = _Seeding(rows, k, check_block_bytes(max_block_bytes), np.random.default_rng(seed))
    with single_threaded():
        while seeding.num_chosen < k:
            seeding.choose_next()
    return seeding.chosen.clone()


class _Seeding:
    """State of one k-means++ seeding.

    ``weights[p]`` is the squared distance of point ``p`` to the nearest of
    the first ``version[p]`` chosen points (0 for chosen points), an upper
    bound of its squared distance to all of them.
    """

    def __init__(self, rows: PointRows, k: int, max_block_bytes: int, generator: np.random.Generator) -> None:
        self.rows = rows
        self.max_block_bytes = max_block_bytes
        self.generator = generator
        size = len(rows)
        self.chosen = torch.empty(k, dtype=torch.int64)
        self.num_chosen = 0
        self.is_chosen = np.zeros(size, dtype=bool)
        self.weights = np.zeros(size)
        self.version = np.zeros(size, dtype=np.int64)
        self.synced = 0

    def choose_next(self) -> None:
        if self.num_chosen == 0:
            self._record(int(self.generator.integers(len(self.rows))))
            self._sync()
            return
        if self.num_chosen - self.synced >= _MAX_PENDING_CENTERS:
            self._sync()
        position = self._draw()
        if position is None:
            self._sync()
            position = self._draw()
        # With every weight exact after a full update, the first proposal is accepted.
        assert position is not None
        self._record(position)

    def _draw(self) -> int | None:
        """Return a point drawn in proportion to squared distance, or None after too many rejections."""
        proposal = self.weights.copy()
        cumulative = np.cumsum(proposal)
        total = cumulative[-1]
        if not total > 0.0:
            if self.synced < self.num_chosen:
                return None
            remaining = np.flatnonzero(~self.is_chosen)
            return int(remaining[self.generator.integers(remaining.size)])
        for _ in range(_MAX_REJECTIONS):
            # The first position whose cumulative weight exceeds the draw. A
            # point of zero weight repeats its predecessor's cumulative value,
            # so it is never the first to exceed it.
            position = int(np.searchsorted(cumulative, self.generator.random() * total, side="right"))
            position = min(position, proposal.size - 1)
            while proposal[position] == 0.0:
                position -= 1
            exact = self._refresh(position)
            if self.generator.random() * proposal[position] < exact:
                return position
        return None

    def _refresh(self, position: int) -> float:
        count = self.num_chosen
        oldest = int(self.version[position])
        if oldest < count:
            point = self.rows.take(torch.tensor([position]))
            centers = self.rows.take(self.chosen[oldest:count])
            nearest = float(point.squared_distances(centers).min())
            self.weights[position] = min(self.weights[position], nearest)
            self.version[position] = count
        return float(self.weights[position])

    def _sync(self) -> None:
        """Bring every point up to date against the centers added since the last full update."""
        count = self.num_chosen
        if count == self.synced:
            return
        centers = self.rows.take(self.chosen[self.synced : count])
        nearest = min_squared_distances(self.rows, centers, self.max_block_bytes)
        distances = nearest.to(dtype=torch.float64, device="cpu").numpy()
        if self.synced == 0:
            self.weights = distances
        else:
            # Points refreshed since the last update may already be lower.
            np.minimum(self.weights, distances, out=self.weights)
        self.weights[self.is_chosen] = 0.0
        self.version[:] = count
        self.synced = count

    def _record(self, position: int) -> None:
        self.chosen[self.num_chosen] = position
        self.num_chosen += 1
        self.is_chosen[position] = True
        self.weights[position] = 0.0

"""Greedy k-center: farthest-first traversal with lazily updated distances.

Sener and Savarese (2018), "Active Learning for Convolutional Neural Networks:
A Core-Set Approach", ICLR, arXiv:1708.00489. Step ``i`` adds the point whose
distance to its nearest center is largest. The centers are the given ones
(the labelled items) and the points chosen in steps ``1..i-1``. This greedy
choice is a 2-approximation of the minimax facility location problem.

A plain implementation updates every point's distance after every step: one
full pass over the points per step, so the time is bound by memory bandwidth.
This one computes the same choice with less work, using two facts:

- a point's distance to the nearest center only decreases, so a value
  computed against fewer centers is an upper bound of the true one;
- the farthest point is found without knowing every distance: walk the
  points in decreasing order of their upper bounds, bring each walked point
  up to date, and stop once the best exact distance exceeds the bound of
  every point not yet walked.

The walk is in an order sorted once and re-sorted only when walks get long,
and walked points are brought up to date against only the centers added
since their last update. The initial distances to the given centers are one
chunked matrix product, which runs at the speed of the matrix unit instead
of memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from energizer.diversity._checks import check_block_bytes, check_count
from energizer.diversity._threads import single_threaded
from energizer.diversity.points import OuterProductPoints, PointRows, as_point_rows
from energizer.errors import InvalidArgumentError

__all__ = ["k_center_greedy", "min_squared_distances"]

# Size of the first block of a walk; each further block doubles.
_FIRST_BLOCK = 64

# Walked points updated within this many steps are brought up to date against
# the newest centers only, apart from the points that were not walked for longer.
_RECENT_STEPS = 8

# Version of chosen points, which are never brought up to date again.
_NEVER_STALE = 2**62


def k_center_greedy(
    points: Tensor | OuterProductPoints,
    k: int,
    *,
    centers: Tensor | OuterProductPoints | None = None,
    seed: int | None = None,
    max_block_bytes: int = 8 * 2**20,
) -> Tensor:
    """Choose ``k`` points by greedy k-center selection (farthest-first traversal).

    Step ``i`` chooses the point with the largest Euclidean distance to its
    nearest center, where the centers are ``centers`` and the points chosen
    in earlier steps. Among equal distances the lowest position wins, so with
    points sorted by dataset id, ties go to the lowest id. Without centers
    (``None`` or zero rows) the first point is drawn uniformly with ``seed``.
    Chosen points are never chosen again, also when duplicates leave every
    remaining distance at zero.

    Distances are computed as ``|x|^2 + |y|^2 - 2 <x, y>`` in the dtype of
    ``points`` (float32 for float16 and bfloat16 input). Squared distances
    within rounding error of zero count as zero.

    Args:
        points: Candidate points, a tensor of shape ``(N, D)`` or
            :class:`OuterProductPoints`.
        k: Number of points to choose, ``1 <= k <= N``.
        centers: Points that are already centers (for example the labelled
            items' embeddings), of the same kind and width as ``points``.
        seed: Seed of the first point when there are no centers.
        max_block_bytes: Memory bound of each block of the distance matrix.
            Memory beyond the inputs is about ``max_block_bytes`` plus
            ``40 * N`` bytes of per-point state (float32 points).

    Returns:
        Int64 tensor of shape ``(k,)``: positions into ``points``, in the
        order chosen.

    Raises:
        InvalidArgumentError: On points or centers that are not finite
            floating 2-D tensors of the same width, or on ``k`` outside
            ``[1, N]``.
    """
    rows = as_point_rows(points)
    k = check_count(k, "k", len(rows))
    block_bytes = check_block_bytes(max_block_bytes)
    center_rows = _check_centers(centers, points, rows)
    traversal = _FarthestFirst(rows, k, block_bytes)
    with single_threaded():
        if center_rows is not None and len(center_rows) > 0:
            traversal.start_from_centers(center_rows)
        else:
            traversal.start_from_point(int(np.random.default_rng(seed).integers(len(rows))))
        while traversal.num_chosen < k:
            traversal.choose_next()
    return traversal.chosen[: traversal.num_chosen].clone()


def min_squared_distances(points: PointRows, centers: PointRows, max_block_bytes: int) -> Tensor:
    """Return each point's squared distance to its nearest center, shape ``(len(points),)``.

    The distance matrix is computed in blocks of at most about
    ``max_block_bytes``.
    """
    element_bytes = torch.finfo(points.dtype).bits // 8
    # Per element of a block: the distance, the norm sum and a boolean mask
    # (see PointRows.squared_distances).
    elements = max(1, max_block_bytes // (2 * element_bytes + 1))
    column_block = min(len(centers), max(1, elements // 256))
    row_block = max(1, elements // column_block)
    result = torch.empty(len(points), dtype=points.dtype, device=points.device)
    for row_start in range(0, len(points), row_block):
        part = points.slice(row_start, row_start + row_block)
        nearest = None
        for column_start in range(0, len(centers), column_block):
            distances = part.squared_distances(centers.slice(column_start, column_start + column_block))
            block_min = distances.amin(dim=1)
            nearest = block_min if nearest is None else torch.minimum(nearest, block_min)
        result[row_start : row_start + len(part)] = nearest
    return result


class _FarthestFirst:
    """State of one farthest-first traversal.

    ``upper[p]`` is the squared distance of point ``p`` to its nearest center
    among the given centers and the first ``version[p]`` chosen points: an
    upper bound of its distance to all current centers. Chosen points hold
    ``-inf``. ``order`` lists the points by decreasing ``bounds``, the values
    of ``upper`` when the order was last sorted.
    """

    def __init__(self, rows: PointRows, k: int, max_block_bytes: int) -> None:
        self.rows = rows
        self.max_block_bytes = max_block_bytes
        size = len(rows)
        self.upper = torch.full((size,), float("inf"), dtype=rows.dtype, device=rows.device)
        self.version = torch.zeros(size, dtype=torch.int64, device=rows.device)
        self.chosen = torch.empty(k, dtype=torch.int64, device=rows.device)
        self.num_chosen = 0
        self.order = torch.empty(0, dtype=torch.int64)
        self.negated_bounds = torch.empty(0, dtype=rows.dtype)
        self.walked_since_sort = 0

    def start_from_centers(self, centers: PointRows) -> None:
        self.upper = min_squared_distances(self.rows, centers, self.max_block_bytes)
        self._sort()

    def start_from_point(self, position: int) -> None:
        self._record(position)
        first = self.rows.take(self.chosen[:1])
        self.upper = min_squared_distances(self.rows, first, self.max_block_bytes)
        self.version.fill_(1)
        self.upper[position] = float("-inf")
        self.version[position] = _NEVER_STALE
        self._sort()

    def choose_next(self) -> None:
        best_value = float("-inf")
        best_position = -1
        size = len(self.rows)
        start, step = 0, _FIRST_BLOCK
        stop = min(step, size)
        while True:
            block = self.order[start:stop]
            values = self._refresh(block)
            block_max = float(values.max())
            if block_max >= best_value:
                position = int(block[values == block_max].min())
                if block_max > best_value or position < best_position:
                    best_value, best_position = block_max, position
            # Only points whose sorted bound reaches the best value can beat
            # or tie it (a tie matters when its position is lower).
            limit = self._count_bounds_at_least(best_value)
            if limit <= stop:
                break
            start, step = stop, 2 * step
            stop = min(limit, start + step)
        self.walked_since_sort += stop
        self._record(best_position)
        self.upper[best_position] = float("-inf")
        self.version[best_position] = _NEVER_STALE
        if self.walked_since_sort >= size:
            self._sort()

    def _count_bounds_at_least(self, value: float) -> int:
        threshold = torch.tensor([-value], dtype=self.negated_bounds.dtype)
        return int(torch.searchsorted(self.negated_bounds, threshold, right=True))

    def _record(self, position: int) -> None:
        self.chosen[self.num_chosen] = position
        self.num_chosen += 1

    def _sort(self) -> None:
        bounds, self.order = torch.sort(self.upper, descending=True)
        self.negated_bounds = (-bounds).cpu()
        self.walked_since_sort = 0

    def _refresh(self, block: Tensor) -> Tensor:
        """Bring ``upper`` of the points in ``block`` up to date; return their exact values."""
        count = self.num_chosen
        versions = self.version[block]
        stale = versions < count
        if bool(stale.any()):
            stale_points = block[stale]
            stale_versions = versions[stale]
            recent = stale_versions >= count - _RECENT_STEPS
            for group_mask in (recent, ~recent):
                group = stale_points[group_mask]
                if group.numel() == 0:
                    continue
                oldest = int(stale_versions[group_mask].min())
                centers = self.rows.take(self.chosen[oldest:count])
                nearest = min_squared_distances(self.rows.take(group), centers, self.max_block_bytes)
                self.upper[group] = torch.minimum(self.upper[group], nearest)
            self.version[stale_points] = count
        return self.upper[block]


def _check_centers(centers: Any, points: Any, rows: PointRows) -> PointRows | None:
    if centers is None:
        return None
    if isinstance(points, OuterProductPoints) != isinstance(centers, OuterProductPoints):
        raise InvalidArgumentError(
            "centers",
            f"the same kind of points as `points` ({type(points).__name__})",
            f"a {type(centers).__name__}",
            "Pass dense centers with dense points, and OuterProductPoints with OuterProductPoints.",
        )
    center_rows = as_point_rows(centers, "centers")
    widths = [factor.shape[1] for factor in rows.factors]
    center_widths = [factor.shape[1] for factor in center_rows.factors]
    if widths != center_widths:
        raise InvalidArgumentError(
            "centers",
            f"rows of the points' width {widths}",
            f"rows of width {center_widths}",
            "Embed the centers with the same model as the points.",
        )
    return PointRows(tuple(factor.to(rows.dtype) for factor in center_rows.factors))

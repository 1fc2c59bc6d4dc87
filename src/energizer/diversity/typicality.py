"""Typicality: how dense the neighbourhood of each point is.

Hacohen, Dekel and Weinshall (2022), "Active Learning on a Budget: Opposite
Strategies Suit High and Low Budgets", ICML, arXiv:2202.02794, define the
typicality of ``x`` as the inverse of its mean Euclidean distance to its
``K`` nearest neighbours.
"""

from __future__ import annotations

import torch
from torch import Tensor

from energizer.diversity._checks import check_block_bytes, check_positive
from energizer.diversity.points import as_point_rows

__all__ = ["typicality"]


def typicality(points: Tensor, num_neighbors: int = 20, *, max_block_bytes: int = 8 * 2**20) -> Tensor:
    """Return the typicality of every point: ``1 / mean distance to its nearest neighbours``.

    The neighbours are the ``min(num_neighbors, N - 1)`` nearest other
    points, by Euclidean distance. A point whose neighbours are all
    duplicates of it has typicality ``inf``, and a set of one point gets
    ``0``. Higher is more typical.

    Args:
        points: Tensor of shape ``(N, D)``.
        num_neighbors: Number of neighbours ``K``, at least 1.
        max_block_bytes: Memory bound of each block of the distance matrix.

    Returns:
        Tensor of shape ``(N,)`` in the dtype of ``points`` (float32 for
        float16 and bfloat16).

    Raises:
        InvalidArgumentError: On points that are not a finite floating 2-D
            tensor, or ``num_neighbors`` below 1.
    """
    rows = as_point_rows(points)
    size = len(rows)
    num_neighbors = check_positive(num_neighbors, "num_neighbors")
    block_bytes = check_block_bytes(max_block_bytes)
    neighbors = min(num_neighbors, size - 1)
    result = torch.zeros(size, dtype=rows.dtype, device=rows.device)
    if neighbors == 0:
        return result
    element_bytes = torch.finfo(rows.dtype).bits // 8
    row_block = max(1, block_bytes // ((2 * element_bytes + 1) * size))
    for start in range(0, size, row_block):
        part = rows.slice(start, start + row_block)
        distances = part.squared_distances(rows)
        # A point is not its own neighbour, but its duplicates are.
        own = torch.arange(start, start + len(part), device=rows.device)
        distances[torch.arange(len(part), device=rows.device), own] = float("inf")
        nearest = distances.topk(neighbors, dim=1, largest=False).values
        result[start : start + len(part)] = 1.0 / nearest.sqrt().mean(dim=1)
    return result

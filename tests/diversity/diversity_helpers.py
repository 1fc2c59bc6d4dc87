"""Point sets shared by the diversity tests.

A uniquely named module rather than conftest.py, for the reason given in
tests/query_strategies/strategy_helpers.py.
"""

from __future__ import annotations

import numpy as np
import torch


def make_blobs(num_blobs: int, per_blob: int | list[int], seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Blobs of standard deviation 0.1 around centers 100 apart in 8 dimensions, with the blob of each point.

    ``per_blob`` is one size for all blobs or one size per blob.
    """
    sizes = [per_blob] * num_blobs if isinstance(per_blob, int) else per_blob
    generator = torch.Generator().manual_seed(seed)
    centers = 100.0 * torch.eye(num_blobs, 8)
    blob = np.repeat(np.arange(num_blobs), sizes)
    points = centers[torch.from_numpy(blob)] + 0.1 * torch.randn(blob.size, 8, generator=generator)
    return points, blob

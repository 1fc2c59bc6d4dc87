"""Seeded k-means clustering of embeddings, with scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning
from torch import Tensor

from energizer.diversity._checks import check_count
from energizer.diversity.points import as_point_rows

__all__ = ["kmeans_labels"]

# Above this many points times clusters, full-batch k-means gets slow (each
# Lloyd iteration costs that many distances) and mini-batch k-means is used.
_MINIBATCH_ABOVE = 50_000_000


def kmeans_labels(points: Tensor, num_clusters: int, *, seed: int | None = None) -> np.ndarray:
    """Cluster the points with k-means and return the cluster of each, shape ``(N,)``.

    Uses scikit-learn's ``KMeans`` (k-means++ initialisation, one run) while
    ``N * num_clusters`` is at most 50 million, and ``MiniBatchKMeans``
    (batches of 4096 points, three initialisations) above that. Both are
    seeded with ``seed``. Cluster numbers are in ``[0, num_clusters)``; with
    fewer distinct points than clusters, some numbers stay unused.

    Args:
        points: Tensor of shape ``(N, D)``; computed in float32 or float64.
        num_clusters: Number of clusters, ``1 <= num_clusters <= N``.
        seed: Seed of the initialisation and of the mini-batches.

    Raises:
        InvalidArgumentError: On points that are not a finite floating 2-D
            tensor, or ``num_clusters`` outside ``[1, N]``.
    """
    rows = as_point_rows(points)
    num_clusters = check_count(num_clusters, "num_clusters", len(rows))
    data = rows.factors[0].detach().cpu().numpy()
    random_state = None if seed is None else int(seed) % 2**32
    if len(rows) * num_clusters <= _MINIBATCH_ABOVE:
        model = KMeans(n_clusters=num_clusters, n_init=1, random_state=random_state)
    else:
        model = MiniBatchKMeans(n_clusters=num_clusters, batch_size=4096, n_init=3, random_state=random_state)
    with warnings.catch_warnings():
        # Raised when duplicates leave fewer distinct points than clusters;
        # the unused cluster numbers are documented above.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        return model.fit_predict(data).astype(np.int64)
